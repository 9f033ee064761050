"""``shipyard loop`` and ``shipyard decisions``, in process, against a real model, log and pipeline.

Endpoint ``churn`` serves ``churn`` v1, a logistic regression that learned ``y = x1 > 0``.
The last 20 days of its traffic are logged with labels that follow ``y = x2 > 0`` instead,
so a retrain on that traffic beats the champion on the held-out days and passes the gate;
``gate.approval`` makes the cycle wait for a human before its canary. The CLI runs on the
wall clock, so the traffic is logged relative to now.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cli_runner import invoke

import shipyard

pytest.importorskip("sklearn", reason="the tests retrain a real scikit-learn model")

ROWS = 300  # logged over the last 20 days, all labelled
TRAINING_MODULE = "churn_training"
PIPELINE = """
import shipyard
from sklearn.linear_model import LogisticRegression


def fit(data, target):
    return LogisticRegression().fit(data.drop(columns=[target]), data[target])


def pipeline():
    return shipyard.pipeline(
        [shipyard.step(fit, inputs=["data", "params:target"], outputs="model")],
        name="churn-training",
    )
"""
# Triggers that cannot fire on this traffic (all columns must drift, and a window would
# need 100,000 labels), so `loop run` only acts when a person asked for a cycle.
SETTINGS = f"""
[models.churn]
pipeline = "{TRAINING_MODULE}:pipeline"
target = "y"
params = {{ target = "y" }}

[loop.churn]
cooldown = "7d"
trigger = {{ drift_share = 1.0, min_labels = 100000, label_delay = "1h" }}
retrain = {{ window = "14d", min_rows = 20 }}
gate = {{ holdout = "5d", min_rows = 20, approval = true }}
rollout = {{ percent = 25 }}
"""


def _ok(*args: str) -> str:
    code, out, err = invoke(*args)
    assert code == 0, out + err
    return out


def _fails(*args: str) -> str:
    """The stderr of a command that must exit 1, whitespace folded."""
    code, out, err = invoke(*args)
    assert code == 1, out + err
    return " ".join(err.split())


def _frame(rows: int, seed: int) -> Any:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    return pd.DataFrame({"x1": rng.normal(size=rows), "x2": rng.normal(size=rows)})


def _approve_id(out: str) -> int:
    match = re.search(r"shipyard loop approve (\d+) or shipyard loop veto \1 --reason TEXT", out)
    assert match is not None, out
    return int(match.group(1))


@pytest.fixture
def churn(project: Path) -> Iterator[shipyard.Store]:
    """``churn`` v1 served by endpoint ``churn``, with 20 days of labelled, drifted traffic."""
    from sklearn.linear_model import LogisticRegression

    from monitor_log import log_labels, log_predictions

    (project / f"{TRAINING_MODULE}.py").write_text(PIPELINE, encoding="utf-8")
    (project / "shipyard.toml").write_text(SETTINGS, encoding="utf-8")
    path = list(sys.path)
    train = _frame(200, seed=1)
    model = LogisticRegression().fit(train, (train["x1"] > 0).astype(int))
    shipyard.register_model(model, "churn", training_data=train)
    shipyard.create_endpoint("churn", "churn/1")
    store = shipyard.get_default_store()
    traffic = _frame(ROWS, seed=2)
    now = datetime.now(UTC)
    step = (timedelta(days=20) - timedelta(hours=2)) / ROWS
    times = [now - timedelta(days=20) + i * step for i in range(ROWS)]
    ids = log_predictions(
        store,
        "churn",
        "churn",
        1,
        traffic,
        times,
        model.predict(traffic),
        model.predict_proba(traffic),
        model.classes_,
    )
    log_labels(store, "churn", ids, (traffic["x2"] > 0).astype(int).tolist())
    yield store
    sys.path[:] = path  # load_pipeline leaves the project folder on the path
    sys.modules.pop(TRAINING_MODULE, None)


def test_a_cycle_from_trigger_to_approval_canary_and_veto(churn: shipyard.Store) -> None:
    status = _ok("loop", "status", "churn")
    assert re.search(r"phase\s+idle", status)
    assert re.search(r"last decision\s+-", status)
    assert "shipyard loop approve" not in status

    out = _ok("loop", "trigger", "churn", "--reason", "labels changed")
    lines = [line for line in out.splitlines() if "  churn  #" in line]
    assert [line.split("  churn  ")[1].split(":")[0] for line in lines] == [
        "#1 trigger requested",
        "#2 retrain started",
        "#3 retrain finished",
        "#4 gate passed",
        "#5 approval waiting",
    ]
    assert "labels changed" in lines[0]
    assert "v2 vs champion v1 on" in lines[3]
    waiting = _approve_id(out)
    assert waiting == 5
    assert "churn waits for a human to approve the canary of v2" in out

    status = _ok("loop", "status", "churn")
    assert re.search(r"phase\s+awaiting_approval", status)
    assert re.search(r"cycle\s+1\b", status)
    assert re.search(r"challenger\s+v2", status)
    assert re.search(r"last decision\s+#5 approval waiting", status)
    assert _approve_id(status) == waiting
    (data,) = json.loads(_ok("loop", "status", "--json"))
    assert (data["endpoint"], data["phase"], data["cycle"], data["challenger"]) == (
        "churn",
        "awaiting_approval",
        1,
        2,
    )
    assert data["policy"]["gate"]["approval"] is True
    assert data["last_decision"]["id"] == data["waiting_decision"]["id"] == waiting

    listed = json.loads(_ok("decisions", "list", "--json"))
    assert [(d["id"], d["kind"], d["outcome"]) for d in listed] == [
        (5, "approval", "waiting"),
        (4, "gate", "passed"),
        (3, "retrain", "finished"),
        (2, "retrain", "started"),
        (1, "trigger", "requested"),
    ]
    assert {d["cycle"] for d in listed} == {1}
    assert listed[-1]["details"] == {}
    assert listed[1]["version"] == 2
    assert listed[1]["run_id"]
    chosen = json.loads(_ok("decisions", "list", "churn", "-k", "gate", "-k", "trigger", "--json"))
    assert [d["id"] for d in chosen] == [4, 1]
    assert [d["id"] for d in json.loads(_ok("decisions", "list", "-n", "2", "--json"))] == [5, 4]
    assert json.loads(_ok("decisions", "list", "--cycle", "99", "--json")) == []
    table = _ok("decisions", "list", "churn")
    assert "5 decision(s)" in table
    assert re.search(r"4 .* churn\s+1\s+gate\s+passed\s+v2", table)

    gate = json.loads(_ok("decisions", "show", "4", "--json"))
    assert (gate["kind"], gate["outcome"], gate["version"], gate["cycle"]) == (
        "gate",
        "passed",
        2,
        1,
    )
    details = gate["details"]
    assert details["passed"] is True
    assert details["challenger"]["auc"] > details["champion"]["auc"] + 0.2
    assert details["champion_version"] == 1
    shown = _ok("decisions", "show", "4")
    assert "decision 4" in shown
    for field in ("endpoint", "model", "cycle", "kind", "outcome", "summary", "run_id"):
        assert re.search(rf"^\s*{field}\s+\S", shown, re.MULTILINE), field
    assert re.search(r"version\s+v2", shown)
    assert "details" in shown
    assert re.search(r"champion_version: 1", shown)
    challenger = shown.split("├── challenger\n")[1].split("├── rows")[0]
    assert re.search(r"│   ├── auc: (1|0\.9\d*)\n", challenger), shown

    out = _ok("loop", "approve", str(waiting))
    assert "#6 approval approved" in out
    assert "#7 canary started: v2 takes 25% of churn's traffic" in out
    endpoint = shipyard.get_endpoint("churn")
    assert (endpoint.canary_version, endpoint.canary_percent) == (2, 25)
    assert re.search(r"phase\s+canary", _ok("loop", "status", "churn"))
    assert "waits for no approval (it is canary)" in _fails("loop", "approve", str(waiting))

    out = _ok("loop", "veto", str(waiting), "--reason", "not this week")
    assert "#8 veto vetoed" in out
    assert "not this week" in out
    assert "#9 rollback rolled_back: v2's canary stopped; v1 takes all traffic again" in out
    assert shipyard.get_endpoint("churn").canary_version is None
    status = _ok("loop", "status", "churn")
    assert re.search(r"phase\s+idle", status)
    assert not re.search(r"cool-down until\s+-", status)
    assert "which is over" in _fails("loop", "veto", str(waiting))

    # In its cool-down, the controller has nothing to do; a person may still start a cycle.
    assert _ok("loop", "run", "--once").strip() == "churn: nothing to decide"
    out = _ok("loop", "trigger", "churn")
    again = _approve_id(out)
    assert "#14 approval waiting" in out
    assert again == 14
    assert "is already awaiting_approval in cycle 10" in _fails("loop", "trigger", "churn")
    out = _ok("loop", "veto", str(again))
    assert "#15 veto vetoed: " in out
    assert "vetoed v3" in out
    assert shipyard.get_endpoint("churn").canary_version is None
    assert re.search(r"phase\s+idle", _ok("loop", "status", "churn"))
    assert [d["kind"] for d in json.loads(_ok("decisions", "list", "--cycle", "10", "--json"))] == [
        "veto",
        "approval",
        "gate",
        "retrain",
        "retrain",
        "trigger",
    ]


def test_run_once_needs_a_policy(churn: shipyard.Store) -> None:
    shipyard.create_endpoint("other", "churn/1")
    err = _fails("loop", "run", "--once", "other")
    assert (
        "error: endpoint(s) 'other' have no loop policy: add [loop.other] to shipyard.toml" in err
    )
    assert re.search(
        r"policy\s+none: add \[loop.other\] to shipyard.toml", _ok("loop", "status", "other")
    )
    assert "other" not in _ok("loop", "status")  # only endpoints with a policy or a history


def test_run_without_any_policy(project: Path) -> None:
    err = _fails("loop", "run", "--once")
    assert (
        "error: no endpoint has a loop policy: add a [loop.ENDPOINT] table to shipyard.toml" in err
    )
    assert "no loop yet: add a [loop.ENDPOINT] table to shipyard.toml" in _ok("loop", "status")
    assert json.loads(_ok("loop", "status", "--json")) == []


def test_one_failing_endpoint_does_not_stop_the_round(churn: shipyard.Store, project: Path) -> None:
    (project / "shipyard.toml").write_text(SETTINGS + "\n[loop.ghost]\n", encoding="utf-8")
    previous = shipyard.set_default_store(None)  # settings are read again
    if previous is not None:
        previous.close()
    code, out, err = invoke("loop", "run", "--once")
    assert code == 1, out + err
    assert "error: ghost: endpoint 'ghost' not found" in " ".join(err.split())
    assert out.strip() == "churn: nothing to decide"


def test_ctrl_c_stops_the_controller(
    churn: shipyard.Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shipyard.cli import _loop

    def interrupt(seconds: float) -> None:
        assert seconds == 5
        raise KeyboardInterrupt

    monkeypatch.setattr(_loop.time, "sleep", interrupt)
    code, out, err = invoke("loop", "run", "churn", "--interval", "5")
    assert code == 0, out + err
    assert "loop: churn every 5s; Ctrl-C stops" in err
    assert "loop: stopped" in err


def test_unknown_decisions_and_endpoints(churn: shipyard.Store) -> None:
    message = "error: decision 999 does not exist; see `shipyard decisions list`"
    assert message in _fails("decisions", "show", "999")
    assert message in _fails("loop", "approve", "999")
    assert message in _fails("loop", "veto", "999")
    assert "endpoint 'nothing' not found" in _fails("loop", "status", "nothing")
    assert "decision kind must be one of trigger, retrain, gate" in _fails(
        "decisions", "list", "--kind", "nonsense"
    )
    assert "no decisions" in _ok("decisions", "list")
    assert json.loads(_ok("decisions", "list", "churn", "--json")) == []
