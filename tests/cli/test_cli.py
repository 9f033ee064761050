"""The ``shipyard`` command, run in-process against a real store in a temp directory."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from cli_runner import invoke

import shipyard
from shipyard.stores import HEAD_REVISION, Store


def _make_runs() -> list[str]:
    ids = []
    for i, (model, auc) in enumerate([("gbm", 0.91), ("linear", 0.72), ("gbm", 0.85)]):
        with shipyard.start_run("churn", name=f"r{i}", params={"model": model}) as run:
            run.log_metric("auc", auc)
        ids.append(run.run_id)
    with shipyard.start_run("other", name="x") as run:
        run.log_metric("auc", 0.5)
    ids.append(run.run_id)
    return ids


def test_version_prints_package_and_schema(project: Path) -> None:
    code, out, _ = invoke("version")
    assert code == 0
    assert out.strip() == f"shipyard {shipyard.__version__} (schema {HEAD_REVISION})"
    code, out, _ = invoke("version", "--json")
    assert json.loads(out) == {"version": shipyard.__version__, "schema": HEAD_REVISION}


def test_init_writes_settings_and_creates_the_store(project: Path) -> None:
    code, out, _ = invoke("init")
    assert code == 0, out
    assert (project / "shipyard.toml").read_text().startswith("# shipyard settings")
    assert (project / ".shipyard" / "shipyard.db").is_file()
    assert f"schema {HEAD_REVISION}" in out
    # A second init keeps the user's file.
    (project / "shipyard.toml").write_text('home = ".shipyard"\n# mine\n')
    assert invoke("init")[0] == 0
    assert "# mine" in (project / "shipyard.toml").read_text()


def test_runs_list_empty_store(project: Path) -> None:
    code, out, _ = invoke("runs", "list")
    assert code == 0
    assert "no runs yet" in out


def test_runs_list_filters_and_orders_in_the_database(project: Path) -> None:
    ids = _make_runs()
    code, out, _ = invoke(
        "runs", "list", "-e", "churn", "-f", "params.model = 'gbm'", "-o", "metrics.auc DESC"
    )
    assert code == 0, out
    lines = [
        line for line in out.splitlines() if line.strip().startswith(tuple(i[:8] for i in ids))
    ]
    assert [line.split()[0] for line in lines] == [ids[0][:8], ids[2][:8]]
    assert "0.91" in lines[0]
    assert "0.85" in lines[1]


def test_runs_list_json_is_machine_readable(project: Path) -> None:
    ids = _make_runs()
    code, out, _ = invoke("runs", "list", "--json", "-o", "metrics.auc ASC", "-n", "2")
    assert code == 0
    data = json.loads(out)
    assert [d["run_id"] for d in data] == [ids[3], ids[1]]
    assert data[0]["metrics"] == {"auc": 0.5}
    assert data[0]["status"] == "FINISHED"
    assert data[0]["tags"]["shipyard.python"]


def test_runs_show_by_prefix_and_json(project: Path) -> None:
    ids = _make_runs()
    code, out, _ = invoke("runs", "show", ids[0][:8])
    assert code == 0, out
    assert ids[0] in out
    assert "churn" in out
    assert "0.91" in out
    code, out, _ = invoke("runs", "show", ids[0], "--json")
    data = json.loads(out)
    assert data["experiment"] == "churn"
    assert data["params"] == {"model": "gbm"}
    assert data["artifacts"] == []
    assert data["inputs"] == []


def test_runs_show_lists_artifacts_and_inputs(project: Path) -> None:
    with shipyard.start_run("churn") as run:
        run.log_text("hello", "notes/readme.txt")
        run.log_input("ab" * 32, "customers-2026-10")
    code, out, _ = invoke("runs", "show", run.run_id, "--json")
    assert code == 0
    data = json.loads(out)
    assert data["artifacts"][0]["path"] == "notes/readme.txt"
    assert data["artifacts"][0]["size"] == 5
    assert data["inputs"] == [
        {"digest": "ab" * 32, "name": "customers-2026-10", "context": "training"}
    ]


def test_unknown_run_is_one_clear_line_and_exit_1(project: Path) -> None:
    code, out, err = invoke("runs", "show", "nope")
    assert code == 1
    assert "run 'nope' not found" in err
    assert "Traceback" not in err + out


def test_bad_filter_shows_where(project: Path) -> None:
    code, _, err = invoke("runs", "list", "-f", "metrics.auc >")
    assert code == 1
    assert "invalid filter at position 13" in err
    assert "^" in err


def test_unknown_experiment_is_reported(project: Path) -> None:
    code, _, err = invoke("runs", "list", "-e", "missing")
    assert code == 1
    assert "experiment 'missing' not found" in err


def test_experiments_list_counts_runs(project: Path) -> None:
    _make_runs()
    code, out, _ = invoke("experiments", "list", "--json")
    assert code == 0
    counts = {e["name"]: e["runs"] for e in json.loads(out)}
    assert counts == {"churn": 3, "other": 1}
    code, out, _ = invoke("experiments", "list")
    assert "churn" in out
    assert "other" in out


def test_db_current_and_upgrade_on_an_empty_database(project: Path) -> None:
    (project / "shipyard.toml").write_text("auto_create = false\n")
    code, out, _ = invoke("db", "current", "--json")
    assert code == 0
    assert json.loads(out)["current"] is None
    code, _, err = invoke("runs", "list")
    assert code == 1
    assert "shipyard db upgrade" in err
    code, out, _ = invoke("db", "upgrade")
    assert code == 0
    assert f"schema none -> {HEAD_REVISION}" in out
    code, out, _ = invoke("db", "upgrade")
    assert "up to date" in out
    assert invoke("runs", "list")[0] == 0


@pytest.mark.slow
def test_run_whose_process_died_is_flagged(project: Path) -> None:
    # os._exit skips atexit: the run stays RUNNING, as after SIGKILL.
    script = textwrap.dedent(
        """
        import os, shipyard
        run = shipyard.start_run("churn", name="doomed")
        run.log_metric("auc", 0.1)
        run.flush()
        os._exit(0)
        """
    )
    subprocess.run([sys.executable, "-c", script], cwd=project, check=True)
    code, out, _ = invoke("runs", "list", "--json")
    (data,) = json.loads(out)
    assert data["status"] == "RUNNING"
    assert data["process_gone"] is True
    code, out, _ = invoke("runs", "list")
    assert code == 0
    assert "process gone" in out


@pytest.mark.slow
def test_demo_fast_trains_and_tracks_real_runs(demo_run: Any) -> None:
    # `shipyard demo --fast` as a user runs it, in a fresh project (run once per session).
    project, out = demo_run.project, demo_run.stdout
    assert "best runs by AUC" in out
    store = Store.from_settings(shipyard.Settings.load(project, env=demo_run.env))
    try:
        runs = shipyard.search_runs("flight-delays", order_by=["metrics.auc DESC"], store=store)
        assert {r.params["model"] for r in runs} == {"logistic", "gbm"}
        assert all(r.status is shipyard.RunStatus.FINISHED for r in runs)
        # A real model on real data: better than chance, far from perfect.
        assert all(0.6 < r.metrics["auc"] < 0.9 for r in runs)
        gbm = next(r for r in runs if r.params["model"] == "gbm")
        curve = shipyard.get_metric_history(gbm.run_id, "auc", store=store)
        assert [p.step for p in curve] == [20, 40, 60]
        inputs = store.metadata.list_inputs(gbm.run_id)
        assert {i.context for i in inputs} == {"training", "evaluation"}
        # Every run registered its model; the best one is the champion.
        versions = shipyard.list_model_versions("flight-delays", store=store)
        retrains = shipyard.search_runs("flight-delays-retrain", store=store)
        assert sorted(v.run_id for v in versions) == sorted(r.run_id for r in runs + retrains)
        first = shipyard.alias_history("flight-delays", "champion", store=store)[0].version
        champion = shipyard.get_model_version("flight-delays", first, store=store)
        assert champion.run_id == runs[0].run_id
        lineage = shipyard.model_lineage("flight-delays", champion.version, store=store)
        assert {d.name for d in lineage.datasets} == {"flights-jan-feb", "flights-mar"}
        # The rest of 2013 went through a real server with the loop on: monitored weekly,
        # retrained, gated against the champion, canaried, then promoted or rolled back.
        text = " ".join(out.split())  # the console wraps long lines
        assert "month by month" in text
        windows = shipyard.monitor_windows("flight-delays", store=store)
        assert len(windows) >= 40
        assert sum(w.rows for w in windows) > 20_000
        decisions = shipyard.list_decisions("flight-delays", limit=None, store=store)
        kinds = {(d.kind, d.outcome) for d in decisions}
        assert ("retrain", "finished") in kinds
        gates = [d for d in decisions if d.kind == "gate"]
        assert gates
        for gate in gates:
            # Both models scored on the same held-out rows.
            assert gate.details["rows"] >= 200
            assert {"auc", "log_loss", "accuracy"} <= gate.details["champion"].keys()
            assert {"auc", "log_loss", "accuracy"} <= gate.details["challenger"].keys()
            assert gate.version is not None
            assert gate.run_id is not None
        verdicts = [d for d in decisions if d.kind == "verdict"]
        assert verdicts, "no canary reached a verdict"
        ends = [d for d in decisions if d.kind in ("promotion", "rollback")]
        assert {d.cycle for d in ends} == {d.cycle for d in verdicts}
        for verdict in verdicts:
            assert verdict.details["test"]["method"] == "bootstrap"
            assert verdict.details["test"]["low"] <= verdict.details["test"]["high"]
        # Every cycle is in the store from its trigger on, and what the loop promoted serves.
        cycles = {d.cycle for d in decisions}
        assert all(
            any(d.kind == "trigger" and d.id == cycle for d in decisions) for cycle in cycles
        )
        promoted = [d for d in decisions if d.kind == "promotion"]
        if promoted:
            assert shipyard.get_model_version("flight-delays", "champion", store=store).version == (
                promoted[0].version  # newest first
            )
        assert " 0 failed" in text
        assert (project / ".shipyard" / "monitor-report.html").stat().st_size > 10_000
        assert (project / ".shipyard" / "demo-loop.toml").is_file()
    finally:
        store.close()
