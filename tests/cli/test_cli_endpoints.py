"""``shipyard endpoints``, in-process against a real store and registered models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_runner import invoke

import shipyard

pytest.importorskip("sklearn", reason="the tests register a real scikit-learn model")


def _ok(*args: str) -> str:
    code, out, err = invoke(*args)
    assert code == 0, out + err
    return out


@pytest.fixture
def delays(project: Path) -> None:
    """Model ``delays`` v1-v3 in the project's default store, champion → 1."""
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(3)
    x = pd.DataFrame({"distance": rng.normal(size=30), "temp": rng.normal(size=30)})
    model = LogisticRegression().fit(x, (x["distance"] > 0).astype(int))
    for _ in range(3):
        shipyard.register_model(model, "delays", training_data=x, log_training_data=False)
    shipyard.set_alias("delays", "champion", 1)


def test_create_list_and_show(delays: None) -> None:
    out = _ok(
        "endpoints", "create", "api", "--model", "delays@champion", "--max-batch-size", "8",
        "--description", "flight delays",
    )  # fmt: skip
    assert "create: serves delays@champion (primary v1)" in out
    assert "api → delays@champion: primary v1" in out
    _ok("endpoints", "create", "pinned", "-m", "models:/delays/2", "--max-latency-ms", "0.5")
    out = _ok("endpoints", "list")
    assert "2 endpoints" in out
    (line,) = [row for row in out.splitlines() if row.strip().startswith("api ")]
    assert line.split()[:5] == ["api", "delays@champion", "v1", "none", "none"]
    assert "8 / 5 ms" in line
    (line,) = [row for row in out.splitlines() if row.strip().startswith("pinned ")]
    assert line.split()[:3] == ["pinned", "delays/2", "v2"]
    assert "64 / 0.5 ms" in line
    listed = json.loads(_ok("endpoints", "list", "--json"))
    assert [(e["name"], e["primary_version"], e["generation"]) for e in listed] == [
        ("api", 1, 1),
        ("pinned", 2, 1),
    ]
    out = _ok("endpoints", "show", "api")
    assert "endpoint api → delays@champion  flight delays" in out
    assert "batching 8 rows / 5 ms  generation 1" in out
    assert "primary   v1        100%" in out


def test_empty_list(project: Path) -> None:
    assert "no endpoints yet" in _ok("endpoints", "list")
    assert json.loads(_ok("endpoints", "list", "--json")) == []


def test_canary_shadow_promote_rollback(delays: None) -> None:
    _ok("endpoints", "create", "api", "--model", "delays@champion")
    out = _ok("endpoints", "canary", "api", "--version", "2", "--percent", "10")
    assert "canary: canary none → v2 at 10%" in out
    assert "primary v1 (90%), canary v2 (10%)" in out
    out = _ok("endpoints", "shadow", "api", "--version", "3")
    assert "shadow: shadows none → v3" in out
    out = _ok("endpoints", "show", "api")
    assert "primary   v1        90%" in out
    assert "canary    v2        10%" in out
    assert "shadow    v3        copy" in out
    assert "canary none → v2 at 10%" in out  # in the latest changes
    out = _ok("endpoints", "promote", "api")
    assert "promote: primary v1 → v2, canary v2 at 10% → none" in out
    assert shipyard.get_model_version("delays", "champion").version == 2
    out = _ok("endpoints", "rollback", "api")
    assert "rollback: primary v2 → v1" in out
    assert shipyard.get_model_version("delays", "champion").version == 1
    _ok("endpoints", "shadow", "api", "--version", "3", "--remove")
    _ok("endpoints", "canary", "api", "-v", "3", "-p", "50")
    assert "canary v3 at 50% → none" in _ok("endpoints", "canary", "api", "--stop")
    data = json.loads(_ok("endpoints", "show", "api", "--json", "--events", "2"))
    assert (data["primary_version"], data["canary_version"], data["generation"]) == (1, None, 8)
    assert [e["action"] for e in data["events"]] == ["canary", "canary"]
    history = json.loads(_ok("endpoints", "history", "api", "--json"))
    assert [e["action"] for e in history] == [
        "create", "canary", "shadow", "promote", "rollback", "shadow", "canary", "canary",
    ]  # fmt: skip
    out = _ok("endpoints", "history", "api", "--limit", "3")
    assert "history of endpoint api" in out
    assert "shadows v3 → none" in out


def test_update_and_delete(delays: None) -> None:
    _ok("endpoints", "create", "api", "--model", "delays/1")
    out = _ok("endpoints", "update", "api", "--model", "delays/3", "--max-batch-size", "2")
    assert "update: target delays/1 → delays/3, primary v1 → v3, batch size 64 → 2" in out
    data = json.loads(_ok("endpoints", "rollback", "api", "--json"))
    assert (data["version"], data["generation"]) == (1, 3)
    out = _ok("endpoints", "delete", "api")
    assert "deleted endpoint api (served delays/1)" in out
    assert "deleted" in _ok("endpoints", "history", "api")
    code, _, err = invoke("endpoints", "show", "api")
    assert code == 1
    assert "endpoint 'api' not found (there are no endpoints yet" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(
            ["create", "api", "--model", "delays"], "names no alias or version", id="bare-model"
        ),
        pytest.param(
            ["create", "api", "--model", "delays@staging"],
            "model 'delays' has no alias 'staging' (its aliases: champion)",
            id="alias",
        ),
        pytest.param(
            ["create", "api", "--model", "delays/9"],
            "model 'delays' has no version 9 (its versions: 1 to 3)",
            id="version",
        ),
        pytest.param(["canary", "api"], "give --version and --percent", id="canary-args"),
        pytest.param(
            ["canary", "api", "--stop", "--version", "2"], "--stop takes no", id="stop-args"
        ),
        pytest.param(
            ["canary", "api", "--version", "2", "--percent", "0"],
            "more than 0 and at most 100",
            id="percent",
        ),
        pytest.param(["canary", "api", "--stop"], "has no canary to stop", id="stop"),
        pytest.param(["promote", "api"], "has no canary to promote", id="promote"),
        pytest.param(["rollback", "api"], "nothing to roll back to", id="rollback"),
        pytest.param(
            ["shadow", "api", "--version", "1"], "version 1 is the primary", id="shadow-primary"
        ),
        pytest.param(
            ["shadow", "api", "--version", "2", "--remove"],
            "version 2 is not a shadow",
            id="shadow-remove",
        ),
        pytest.param(["update", "api"], "nothing to change on endpoint 'api'", id="update"),
        pytest.param(["delete", "apx"], "endpoint 'apx' not found (endpoints: api)", id="delete"),
        pytest.param(["history", "apx"], "endpoint 'apx' not found", id="history"),
    ],
)
def test_errors_are_one_red_line_and_exit_1(delays: None, args: list[str], message: str) -> None:
    _ok("endpoints", "create", "api", "--model", "delays@champion")
    code, out, err = invoke("endpoints", *args)
    assert code == 1
    assert message in " ".join(err.split())
    assert err.startswith("error:")
    assert "Traceback" not in out + err
    assert shipyard.get_endpoint("api").generation == 1
