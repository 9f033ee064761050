"""``shipyard monitor`` and ``shipyard alerts``, in-process against a real model and a real log.

The log is three days of traffic of ``delays`` v1 written by the real writer; on the third
day ``temp`` and ``distance`` shift, so two of the three input columns drift.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from cli_runner import invoke

import shipyard

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

pytest.importorskip("sklearn", reason="the tests register a real scikit-learn model")

MARCH_1 = datetime(2024, 3, 1, tzinfo=UTC)
DAYS = 3
ROWS = 60  # served per day, every 20 minutes
LABELLED = 40  # the first rows of each day get a label
RULES = '[monitor]\nalerts = ["drift_share > 0.1"]\n'


def _ok(*args: str) -> str:
    code, out, err = invoke(*args)
    assert code == 0, out + err
    return out


def _fails(*args: str) -> str:
    """The one-line error of a command that must exit 1, whitespace folded."""
    code, out, err = invoke(*args)
    assert code == 1, out + err
    return " ".join(err.split())


def _lines(out: str, prefix: str) -> list[str]:
    return [line.strip() for line in out.splitlines() if line.strip().startswith(prefix)]


def _alert_rows(out: str) -> list[list[str]]:
    """The cells of the table rows of alert 1 of endpoint ``delays``."""
    return [line.split() for line in out.splitlines() if line.split()[:2] == ["1", "delays"]]


@pytest.fixture
def model() -> Pipeline:
    """The flight-delay pipeline, fitted on 200 rows."""
    from flight_table import delay_pipeline, flights

    frame, status = flights(200)
    return delay_pipeline().fit(frame, status)


@pytest.fixture
def served(project: Path, model: Pipeline) -> shipyard.Store:
    """Endpoint ``delays`` serving ``delays/1``, with alert rules, and nothing logged yet."""
    from flight_table import flights

    (project / "shipyard.toml").write_text(RULES, encoding="utf-8")
    shipyard.register_model(model, "delays", training_data=flights(200)[0])
    shipyard.create_endpoint("delays", "delays/1")
    return shipyard.get_default_store()


@pytest.fixture
def logged(served: shipyard.Store, model: Pipeline) -> shipyard.Store:
    """Three days of logged traffic, the last one shifted; labels for part of each day."""
    from flight_table import flights
    from monitor_log import log_labels, log_predictions

    for day in range(DAYS):
        frame, truth = flights(ROWS, seed=10 + day)
        if day == DAYS - 1:
            frame["temp"] += 40
            frame["distance"] *= 3
        times = [MARCH_1 + timedelta(days=day, minutes=20 * i) for i in range(ROWS)]
        ids = log_predictions(
            served,
            "delays",
            "delays",
            1,
            frame,
            times,
            model.predict(frame),
            model.predict_proba(frame),
            model.classes_,
        )
        log_labels(served, "delays", ids[:LABELLED], truth.tolist()[:LABELLED])
    return served


@pytest.fixture
def monitored(logged: shipyard.Store) -> shipyard.Store:
    """The log above, monitored once by day."""
    _ok("monitor", "run", "delays", "--every", "1d")
    return logged


def test_run_prints_a_table_and_new_alerts(logged: shipyard.Store) -> None:
    out = _ok("monitor", "run", "delays", "--every", "1d")
    assert "delays: monitoring windows" in out
    rows = _lines(out, "2024-03-0")
    assert [row.split()[:4] for row in rows[:3]] == [
        ["2024-03-01", "00:00", "60", "0.67"],
        ["2024-03-02", "00:00", "60", "0.67"],
        ["2024-03-03", "00:00", "60", "0.67"],
    ]
    assert "0% of 3" in rows[0]
    assert "67% of 3" in rows[2]
    assert "distance, temp" in rows[2]
    assert "carrier" not in rows[2]
    assert "1 new alert(s)" in out
    (alert,) = _alert_rows(out)
    assert "drift_share > 0.1" in " ".join(alert)
    assert "shipyard monitor report delays -o report.html" in out
    # Running again recomputes the last window only; the alert does not fire twice.
    again = _ok("monitor", "run", "delays", "--every", "1d")
    assert [row.split()[0] for row in _lines(again, "2024-03-0")] == ["2024-03-03"]
    assert "no new alerts" in again
    assert len(shipyard.list_alerts("delays")) == 1


def test_run_json(logged: shipyard.Store) -> None:
    data = json.loads(_ok("monitor", "run", "delays", "--every", "1d", "--json"))
    assert data["endpoint"] == "delays"
    assert (data["empty_windows"], data["warnings"]) == ([], [])
    windows = data["windows"]
    assert [w["start"] for w in windows] == [
        (MARCH_1 + timedelta(days=d)).isoformat() for d in range(DAYS)
    ]
    assert [w["end"] for w in windows] == [
        (MARCH_1 + timedelta(days=d + 1)).isoformat() for d in range(DAYS)
    ]
    assert [(w["rows"], w["labelled"]) for w in windows] == [(ROWS, LABELLED)] * DAYS
    assert [w["reference"] for w in windows] == [{"model": "delays", "version": 1}] * DAYS
    assert [w["versions"] for w in windows] == [[1]] * DAYS
    shares = [w["drift"]["share"] for w in windows]
    assert shares[:2] == [0.0, 0.0]
    assert shares[2] == pytest.approx(2 / 3)
    last = windows[2]["drift"]
    assert set(last["columns"]) == {"carrier", "distance", "temp"}
    assert {name for name, c in last["columns"].items() if c["drifted"]} == {"distance", "temp"}
    assert "output.prediction" in last["prediction"]
    for window in windows:
        performance = window["performance"]
        assert performance["task"] == "classification"
        assert performance["label_coverage"] == pytest.approx(LABELLED / ROWS)
        assert performance["labelled"] == LABELLED
        assert 0.5 <= performance["metrics"]["accuracy"] <= 1
        operations = window["operations"]
        assert (operations["requests"], operations["errors"]) == (ROWS, 0)
        assert operations["p99_ms"] == pytest.approx(5.0)
        assert window["quality"]["schema_violations"] == 0
    (alert,) = data["alerts"]
    assert alert["endpoint"] == "delays"
    assert alert["rule"] == "drift_share > 0.1"
    assert alert["window_start"] == windows[2]["start"]
    assert alert["value"] == pytest.approx(2 / 3)
    assert alert["delivered"] is None  # no webhook


def test_show(logged: shipyard.Store) -> None:
    out = _ok("monitor", "show", "delays")
    assert "no monitoring windows for 'delays' yet: run shipyard monitor run delays" in out
    assert json.loads(_ok("monitor", "show", "delays", "--json")) == []
    _ok("monitor", "run", "delays", "--every", "1d")
    out = _ok("monitor", "show", "delays")
    assert [row.split()[:3] for row in _lines(out, "2024-03-0")] == [
        ["2024-03-01", "00:00", "60"],
        ["2024-03-02", "00:00", "60"],
        ["2024-03-03", "00:00", "60"],
    ]
    shown = json.loads(_ok("monitor", "show", "delays", "--since", "2024-03-02", "--json"))
    assert [w["start"][:10] for w in shown] == ["2024-03-02", "2024-03-03"]
    shown = json.loads(_ok("monitor", "show", "delays", "--until", "2024-03-02", "--json"))
    assert [w["start"][:10] for w in shown] == ["2024-03-01"]


def test_report_html_and_json(monitored: shipyard.Store, project: Path) -> None:
    out = _ok("monitor", "report", "delays", "-o", "out/report.html")
    assert re.search(r"wrote out/report\.html \(\d[\d,]* KiB\)", out)
    page = (project / "out" / "report.html").read_text(encoding="utf-8")
    assert page.lstrip().lower().startswith("<!doctype html>")
    assert "<svg" in page
    assert "delays" in page
    assert "drift_share &gt; 0.1" in page or "drift_share > 0.1" in page
    _ok("monitor", "report", "delays", "--json", "--output", "report.json")
    data = json.loads((project / "report.json").read_text(encoding="utf-8"))
    assert data["endpoint"] == "delays"
    assert datetime.fromisoformat(data["generated_at"]).tzinfo is not None
    assert [len(w["alerts"]) for w in data["windows"]] == [0, 0, 1]
    assert [a["rule"] for a in data["alerts"]] == ["drift_share > 0.1"]
    _ok("monitor", "report", "delays", "--json", "-o", "late.json", "--since", "2024-03-03")
    late = json.loads((project / "late.json").read_text(encoding="utf-8"))
    assert [w["start"][:10] for w in late["windows"]] == ["2024-03-03"]
    _ok("monitor", "report", "delays", "--json", "-o", "early.json", "--until", "2024-03-02")
    early = json.loads((project / "early.json").read_text(encoding="utf-8"))
    assert [w["start"][:10] for w in early["windows"]] == ["2024-03-01"]
    assert early["alerts"] == []


def test_series_and_figures(monitored: shipyard.Store) -> None:
    out = _ok("monitor", "series", "delays", "drift_share")
    assert "delays: drift_share" in out
    assert [row.split() for row in _lines(out, "2024-03-0")] == [
        ["2024-03-01", "00:00", "0.0000"],
        ["2024-03-02", "00:00", "0.0000"],
        ["2024-03-03", "00:00", "0.6667"],
    ]
    points = json.loads(_ok("monitor", "series", "delays", "p99_ms", "--json"))
    assert [p["start"][:10] for p in points] == ["2024-03-01", "2024-03-02", "2024-03-03"]
    assert [p["value"] for p in points] == pytest.approx([5.0] * DAYS)
    assert json.loads(_ok("monitor", "series", "delays", "no_such_figure", "--json")) == []
    names = json.loads(_ok("monitor", "figures", "delays", "--json"))
    assert names == sorted(names)
    wanted = {"drift_share", "drift.temp", "drift.carrier", "accuracy", "auc", "p99_ms"}
    assert wanted <= set(names)
    assert set(_ok("monitor", "figures", "delays").split()) == set(names)


def test_alerts_list(monitored: shipyard.Store) -> None:
    out = _ok("alerts", "list")
    assert "1 alert(s)" in out
    (row,) = _alert_rows(out)
    assert row[:5] == ["1", "delays", "2024-03-03", "00:00", "drift_share"]
    listed = json.loads(_ok("alerts", "list", "--endpoint", "delays", "--json"))
    assert [(a["id"], a["metric"], a["threshold"]) for a in listed] == [(1, "drift_share", 0.1)]
    assert "no alerts" in _ok("alerts", "list", "-e", "other")
    assert json.loads(_ok("alerts", "list", "--since", "2024-03-04", "--json")) == []
    assert len(json.loads(_ok("alerts", "list", "-n", "1", "--json"))) == 1
    code, _, _ = invoke("alerts", "list", "-n", "0")
    assert code == 2  # a usage error: --limit is at least 1


def test_empty_windows_are_skipped_with_a_warning(logged: shipyard.Store) -> None:
    code, out, err = invoke(
        "monitor", "run", "delays", "--since", "2024-02-28", "--until", "2024-03-02"
    )
    assert code == 0, out + err
    assert "2 window(s) had no logged predictions and were skipped (first: 2024-02-28 00:00)" in (
        " ".join(err.split())
    )
    assert [row.split()[0] for row in _lines(out, "2024-")] == ["2024-03-01"]
    data = json.loads(
        _ok("monitor", "run", "delays", "--since", "2024-02-28", "--until", "2024-03-02", "--json")
    )
    assert data["empty_windows"] == [
        ["2024-02-28T00:00:00+00:00", "2024-02-29T00:00:00+00:00"],
        ["2024-02-29T00:00:00+00:00", "2024-03-01T00:00:00+00:00"],
    ]


def test_an_empty_log_is_a_warning(served: shipyard.Store) -> None:
    code, out, err = invoke("monitor", "run", "delays")
    assert code == 0, out + err
    message = "endpoint 'delays' has no logged predictions yet; nothing to monitor"
    assert f"warning: {message}" in " ".join(err.split())
    assert "monitoring windows" not in out
    data = json.loads(_ok("monitor", "run", "delays", "--json"))
    assert (data["windows"], data["alerts"], data["warnings"]) == ([], [], [message])


def test_an_unknown_endpoint_is_an_error(served: shipyard.Store) -> None:
    message = "error: endpoint 'nothing' not found (endpoints: delays)"
    assert message in _fails("monitor", "run", "nothing")
    assert message in _fails("monitor", "report", "nothing", "-o", "x.html")
    assert message in _fails("monitor", "show", "nothing")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(
            ["--every", "0d"],
            "a window length is a count from 1 to 1000 and a unit, h (hours), d (days), "
            "w (weeks) or mo (months), such as 1h, 6h, 1d, 7d or 1mo; got '0d'",
            id="every-zero",
        ),
        pytest.param(
            ["--every", "1y"], "such as 1h, 6h, 1d, 7d or 1mo; got '1y'", id="every-years"
        ),
        pytest.param(
            ["--since", "yesterday"],
            "since must be an ISO 8601 date or time such as '2024-05-01' or "
            "'2024-05-01T12:00:00Z'; got 'yesterday'",
            id="since",
        ),
        pytest.param(
            ["--since", "2024-03-05", "--until", "2024-03-01"],
            "since (2024-03-05T00:00:00+00:00) must be before until (2024-03-01T00:00:00+00:00)",
            id="since-after-until",
        ),
    ],
)
def test_bad_arguments_are_errors(logged: shipyard.Store, args: list[str], message: str) -> None:
    err = _fails("monitor", "run", "delays", *args)
    assert err.startswith("error: ")
    assert message in err
    assert shipyard.monitor_windows("delays") == []


def test_a_bad_rule_in_shipyard_toml_is_an_error(logged: shipyard.Store, project: Path) -> None:
    (project / "shipyard.toml").write_text(
        '[monitor]\nalerts = ["drift_share >> 0.1"]\n', encoding="utf-8"
    )
    previous = shipyard.set_default_store(None)  # settings are read again
    if previous is not None:
        previous.close()
    err = _fails("monitor", "run", "delays")
    assert "alert rule 'drift_share >> 0.1': expected a number" in err


def test_the_window_length_comes_from_shipyard_toml(logged: shipyard.Store, project: Path) -> None:
    (project / "shipyard.toml").write_text('[monitor]\nevery = "1w"\n', encoding="utf-8")
    previous = shipyard.set_default_store(None)
    if previous is not None:
        previous.close()
    data = json.loads(_ok("monitor", "run", "delays", "--json"))
    # 2024-03-01 is a Friday: one week from Monday, February 26
    assert [(w["start"], w["end"], w["rows"]) for w in data["windows"]] == [
        ("2024-02-26T00:00:00+00:00", "2024-03-04T00:00:00+00:00", ROWS * DAYS)
    ]
    assert data["alerts"] == []  # no rules in this shipyard.toml


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["--since", "2025-01-01"], id="since-after-the-log"),
        pytest.param(["--until", "2024-01-01"], id="until-before-the-log"),
    ],
)
def test_a_span_outside_the_log_is_not_a_crash(logged: shipyard.Store, args: list[str]) -> None:
    code, out, err = invoke("monitor", "run", "delays", *args)
    assert code == 0, out + err
    assert "monitoring windows" not in out
    assert "nothing to monitor" in err


def test_an_absurd_window_length_is_an_error(logged: shipyard.Store) -> None:
    err = _fails("monitor", "run", "delays", "--every", "30000mo")
    assert "30000mo" in err
