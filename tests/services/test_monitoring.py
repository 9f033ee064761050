"""shipyard.monitor on a real log: windows, drift, quality, performance, operations, alerts.

A small classifier and regressor are registered with their training data (the
reference profile); their predictions are written to the log by the real writer, on
chosen days, with chosen latencies and statuses, and labels through log_feedback.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest

import shipyard
from flight_table import delay_pipeline, flights
from monitor_log import log_labels, log_predictions
from shipyard import InvalidInputError, NotFoundError
from shipyard.core.settings import ColumnDriftRule, MonitorSettings

DAY = datetime(2024, 5, 1, tzinfo=UTC)
MakeStore = Callable[..., shipyard.Store]  # the make_store fixture of tests/conftest.py


def _times(day: datetime, rows: int) -> list[datetime]:
    """``rows`` arrival times spread over one day."""
    return [day + timedelta(seconds=int(s)) for s in np.linspace(0, 86_000, rows)]


class Delays:
    """A registered delay classifier with an endpoint, and a way to log its traffic."""

    def __init__(self, store: shipyard.Store, rows: int = 600) -> None:
        self.store = store
        self.frame, self.status = flights(rows, seed=1)
        self.model = delay_pipeline().fit(self.frame, self.status)
        shipyard.register_model(
            self.model,
            "delays",
            training_data=self.frame,
            metrics={"auc": 0.95, "accuracy": 0.9},
            store=store,
        )
        shipyard.create_endpoint("delays", "delays/1", store=store)

    def log(
        self,
        day: datetime,
        frame: pd.DataFrame,
        *,
        version: int = 1,
        role: str = "primary",
        latency_ms: Any = None,
        status: int = 200,
    ) -> list[str]:
        proba = self.model.predict_proba(frame)
        return log_predictions(
            self.store,
            "delays",
            "delays",
            version,
            frame,
            _times(day, len(frame)),
            None if status != 200 else self.model.classes_[proba.argmax(axis=1)],
            None if status != 200 else proba,
            list(self.model.classes_),
            role=role,
            latency_ms=latency_ms,
            status=status,
        )


@pytest.fixture
def delays(make_store: MakeStore) -> Delays:
    return Delays(make_store(monitor=MonitorSettings(alerts=["drift_share > 0.3"])))


def test_an_unknown_endpoint_is_not_found(store: shipyard.Store) -> None:
    with pytest.raises(NotFoundError, match="nowhere"):
        shipyard.monitor("nowhere", store=store)
    with pytest.raises(NotFoundError, match="nowhere"):
        shipyard.monitor_report("nowhere", store=store)


def test_an_empty_log_is_a_warning_not_a_crash(delays: Delays) -> None:
    result = shipyard.monitor("delays", store=delays.store)
    assert result.windows == []
    assert "no logged predictions" in result.warnings[0]


def test_bad_arguments_say_what_was_expected(delays: Delays) -> None:
    with pytest.raises(InvalidInputError, match="1h, 6h, 1d, 7d or 1mo; got '3y'"):
        shipyard.monitor("delays", every="3y", store=delays.store)
    with pytest.raises(InvalidInputError, match="must be before"):
        shipyard.monitor("delays", "2024-05-02", "2024-05-01", store=delays.store)


def test_days_without_traffic_are_skipped_and_reported(delays: Delays) -> None:
    delays.log(DAY, delays.frame.head(50))
    delays.log(DAY + timedelta(days=3), delays.frame.head(50))
    result = shipyard.monitor("delays", store=delays.store)
    assert [w.start for w in result.windows] == [DAY, DAY + timedelta(days=3)]
    assert [start for start, _ in result.empty] == [DAY + timedelta(days=1), DAY + timedelta(2)]


def test_drift_is_flagged_on_the_shifted_column_only(delays: Delays) -> None:
    same = delays.frame.sample(300, random_state=2)
    shifted = same.assign(temp=same["temp"] + 25)
    delays.log(DAY, same)
    delays.log(DAY + timedelta(days=1), shifted)
    first, second = shipyard.monitor("delays", store=delays.store).windows
    assert [c for c, v in first.results["drift"]["columns"].items() if v["drifted"]] == []
    drifted = second.results["drift"]["columns"]
    assert [c for c, v in drifted.items() if v["drifted"]] == ["temp"]
    assert drifted["temp"]["method"] == "ks"  # a reference of 600 rows: the small-sample test
    assert drifted["temp"]["score"] < 0.05
    assert second.results["drift"]["share"] == pytest.approx(1 / 3)
    # The model's outputs moved with the temperature: prediction drift.
    assert second.results["drift"]["prediction"]["output.proba.late"]["drifted"]
    (alert,) = shipyard.list_alerts("delays", store=delays.store)
    assert alert.window_start == second.start
    assert alert.message.startswith("drift_share 0.33 > 0.3")


def test_a_column_rule_in_settings_picks_the_method_and_threshold(make_store: MakeStore) -> None:
    rules = {"temp": ColumnDriftRule(method="psi", threshold=5.0)}
    delays = Delays(make_store(monitor=MonitorSettings(columns=rules)))
    delays.log(DAY, delays.frame.assign(temp=delays.frame["temp"] + 25))
    (window,) = shipyard.monitor("delays", store=delays.store).windows
    temp = window.results["drift"]["columns"]["temp"]
    assert (temp["method"], temp["threshold"]) == ("psi", 5.0)
    assert temp["drifted"] is (temp["score"] >= 5.0)


def test_data_quality_counts_missing_out_of_range_and_new_values(delays: Delays) -> None:
    frame = delays.frame.head(200).copy()
    frame["carrier"] = frame["carrier"].astype(object)
    frame.loc[:9, "carrier"] = "ZZ"  # a carrier the model never saw
    frame["distance"] = frame["distance"].astype(float)
    frame.loc[10:29, "distance"] = np.nan
    frame.loc[30:33, "temp"] = 500.0  # far above anything in training
    # Logged as a server that imputes would log them; this model cannot score NaN itself.
    answers = np.array(["late"] * len(frame))
    log_predictions(delays.store, "delays", "delays", 1, frame, _times(DAY, 200), answers)
    (window,) = shipyard.monitor("delays", store=delays.store).windows
    quality = window.results["quality"]["columns"]
    assert quality["carrier"]["new_categories"] == ["ZZ"]
    assert quality["distance"]["missing_rate"] == pytest.approx(20 / 200)
    assert quality["distance"]["missing_rate_change"] == pytest.approx(20 / 200)
    assert quality["temp"]["out_of_range_rate"] == pytest.approx(4 / 200)
    assert quality["carrier"]["constant"] is False
    assert window.results["quality"]["schema_violations"] == 0


def test_operations_per_version_and_role(delays: Delays) -> None:
    rows = delays.frame.head(100)
    primary_latency = np.linspace(1, 100, 100)
    delays.log(DAY, rows, latency_ms=primary_latency)
    delays.log(DAY, rows.head(20), version=1, role="shadow", latency_ms=7.0)
    delays.log(DAY, rows.head(10), status=500, latency_ms=3.0)
    (window,) = shipyard.monitor("delays", store=delays.store).windows
    ops = window.results["operations"]
    assert ops["requests"] == 110  # served traffic: the shadow's copies are not requests
    assert ops["errors"] == 10
    assert ops["error_rate"] == pytest.approx(10 / 110)
    every = np.concatenate([primary_latency, np.full(10, 3.0)])
    assert ops["p99_ms"] == pytest.approx(np.quantile(every, 0.99))
    assert ops["p50_ms"] == pytest.approx(np.quantile(every, 0.5))
    assert ops["versions"]["1:shadow"]["requests"] == 20
    assert ops["versions"]["1:primary"]["errors"] == 10
    # Drift and quality look at the served rows that were answered.
    assert window.results["drift"]["columns"]["temp"]["current_rows"] == 100


def test_performance_from_late_labels_matches_scikit_learn(delays: Delays) -> None:
    from sklearn.metrics import f1_score, roc_auc_score

    frame, truth = flights(300, seed=7)
    ids = delays.log(DAY, frame)
    labelled = 240
    log_labels(delays.store, "delays", ids[:labelled], truth.tolist()[:labelled])
    (window,) = shipyard.monitor("delays", store=delays.store).windows
    performance = window.results["performance"]
    assert performance["task"] == "classification"
    assert performance["label_coverage"] == pytest.approx(labelled / 300)
    proba = delays.model.predict_proba(frame.head(labelled))
    late = list(delays.model.classes_).index("late")
    y = truth.head(labelled)
    metrics = performance["metrics"]
    # "on_time" sorts after "late", so it is the positive class, as scikit-learn's order has it.
    assert metrics["auc"] == pytest.approx(roc_auc_score(y == "on_time", proba[:, 1 - late]))
    predicted = delays.model.classes_[proba.argmax(axis=1)]
    assert metrics["f1"] == pytest.approx(f1_score(y, predicted, pos_label="on_time"))
    assert metrics["accuracy"] == pytest.approx(float(np.mean(y == predicted)))
    assert performance["reference"] == {"auc": 0.95, "accuracy": 0.9}


def test_a_regressor_is_scored_with_regression_metrics(store: shipyard.Store) -> None:
    from sklearn.linear_model import LinearRegression

    frame, _ = flights(200, seed=3)
    numeric = frame[["distance", "temp"]].astype(float)
    target = numeric["distance"] / 10 + numeric["temp"]
    model = LinearRegression().fit(numeric, target)
    shipyard.register_model(model, "minutes", training_data=numeric, store=store)
    shipyard.create_endpoint("minutes", "minutes/1", store=store)
    predicted = model.predict(numeric)
    ids = log_predictions(store, "minutes", "minutes", 1, numeric, _times(DAY, 200), predicted)
    truth = (target + np.where(np.arange(200) % 2 == 0, 2.0, -2.0)).round(3)
    log_labels(store, "minutes", ids, truth.tolist())
    (window,) = shipyard.monitor("minutes", store=store).windows
    metrics = window.results["performance"]["metrics"]
    assert window.results["performance"]["task"] == "regression"
    assert metrics["mae"] == pytest.approx(np.mean(np.abs(predicted - truth)))
    assert metrics["rmse"] == pytest.approx(np.sqrt(np.mean((predicted - truth) ** 2)))


def test_a_log_that_no_longer_matches_the_signature_is_a_clear_error(store: shipyard.Store) -> None:
    frame, status = flights(100)
    shipyard.register_model(
        delay_pipeline().fit(frame, status), "delays", training_data=frame, store=store
    )
    shipyard.create_endpoint("delays", "delays/1", store=store)
    other = pd.DataFrame({"speed": np.arange(10.0)})
    log_predictions(store, "delays", "delays", 1, other, _times(DAY, 10), np.zeros(10))
    with pytest.raises(InvalidInputError, match=r"no longer matches version 1 .* expects inputs"):
        shipyard.monitor("delays", store=store)


def test_running_again_replaces_windows_and_never_alerts_twice(delays: Delays) -> None:
    delays.log(DAY, delays.frame.assign(temp=delays.frame["temp"] + 30))
    first = shipyard.monitor("delays", store=delays.store)
    assert len(first.alerts) == 1
    again = shipyard.monitor("delays", store=delays.store)  # resumes at the last window
    assert [w.start for w in again.windows] == [DAY]
    assert again.alerts == []
    assert len(shipyard.monitor_windows("delays", store=delays.store)) == 1
    series = shipyard.monitor_series("delays", "drift_share", store=delays.store)
    assert [(start, value) for start, _, value in series] == [
        (DAY, first.windows[0].results["drift"]["share"])
    ]
    assert "p99_ms" in shipyard.monitor_figures("delays", store=delays.store)


class _Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        type(self).received.append(json.loads(self.rfile.read(length)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def hook() -> Iterator[str]:
    _Hook.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/alerts"
    server.shutdown()
    server.server_close()


def test_new_alerts_go_to_the_webhook(make_store: MakeStore, hook: str) -> None:
    settings = MonitorSettings(alerts=["drift_share > 0.3", "p99_ms > 1"], webhook=hook)
    delays = Delays(make_store(monitor=settings))
    delays.log(DAY, delays.frame.assign(temp=delays.frame["temp"] + 30))
    result = shipyard.monitor("delays", store=delays.store)
    assert [a.delivered for a in result.alerts] == [True, True]
    assert sorted(p["alert"]["rule"] for p in _Hook.received) == ["drift_share > 0.3", "p99_ms > 1"]
    assert _Hook.received[0]["window"]["start"] == DAY.isoformat()


def test_a_dead_webhook_never_stops_monitoring(make_store: MakeStore) -> None:
    settings = MonitorSettings(
        alerts=["p99_ms > 1"],
        webhook="http://127.0.0.1:9/alerts",  # the discard port: nothing listens
        webhook_timeout_s=0.2,
        webhook_retries=1,
    )
    delays = Delays(make_store(monitor=settings))
    delays.log(DAY, delays.frame.head(50))
    delays.log(DAY + timedelta(days=1), delays.frame.head(50))
    result = shipyard.monitor("delays", store=delays.store)
    assert len(result.windows) == 2
    assert [a.delivered for a in result.alerts] == [False, False]
    listed = shipyard.list_alerts(store=delays.store)
    assert [a.delivered for a in listed] == [False, False]


def test_the_report_holds_every_window_and_alert(delays: Delays, tmp_path: Path) -> None:
    delays.log(DAY, delays.frame.head(100))
    delays.log(DAY + timedelta(days=1), delays.frame.assign(temp=delays.frame["temp"] + 30))
    shipyard.monitor("delays", store=delays.store)
    report = shipyard.monitor_report("delays", store=delays.store)
    assert [w["start"] for w in report["windows"]] == [
        DAY.isoformat(),
        (DAY + timedelta(days=1)).isoformat(),
    ]
    assert len(report["alerts"]) == 1
    assert report["windows"][1]["alerts"][0]["rule"] == "drift_share > 0.3"
    json.dumps(report, allow_nan=False)  # JSON-ready: no NaN, no datetimes
    page = shipyard.write_report("delays", tmp_path / "r.html", store=delays.store)
    text = page.read_text()
    assert "<svg" in text
    assert "temp" in text
    data = shipyard.write_report("delays", tmp_path / "r.json", as_json=True, store=delays.store)
    assert json.loads(data.read_text())["endpoint"] == "delays"
    only_first = shipyard.monitor_report(
        "delays", until=DAY + timedelta(hours=1), store=delays.store
    )
    assert len(only_first["windows"]) == 1
    assert only_first["alerts"] == []


def test_stray_labels_and_rows_without_probabilities_do_not_break_scores(
    delays: Delays,
) -> None:
    """A label outside the model's classes, and a version that logged no probabilities."""
    frame, truth = flights(200, seed=11)
    ids = delays.log(DAY, frame)
    plain = log_predictions(
        delays.store,
        "delays",
        "delays",
        2,
        frame.head(50),
        _times(DAY, 50),
        delays.model.predict(frame.head(50)),
        role="canary",
    )
    labels = truth.tolist()
    labels[0] = "cancelled"  # none of the model's classes
    log_labels(delays.store, "delays", ids + plain, labels + truth.tolist()[:50])
    (window,) = shipyard.monitor("delays", store=delays.store).windows
    performance = window.results["performance"]
    assert performance["labelled"] == 250
    metrics = performance["metrics"]
    assert 0.5 < metrics["accuracy"] <= 1.0
    assert metrics["auc"] is not None  # from the 199 rows with probabilities and a class
    assert set(performance["versions"]) == {"1", "2"}
    assert performance["versions"]["2"]["auc"] is None


def test_a_reference_auc_recorded_as_roc_auc_is_compared(store: shipyard.Store) -> None:
    frame, status = flights(300, seed=2)
    model = delay_pipeline().fit(frame, status)
    shipyard.register_model(
        model, "delays", training_data=frame, metrics={"roc_auc": 0.99}, store=store
    )
    shipyard.create_endpoint("delays", "delays/1", store=store)
    proba = model.predict_proba(frame)
    ids = log_predictions(
        store,
        "delays",
        "delays",
        1,
        frame,
        _times(DAY, 300),
        model.predict(frame),
        proba,
        list(model.classes_),
    )
    log_labels(store, "delays", ids, status.sample(frac=1.0, random_state=0).tolist())
    (window,) = shipyard.monitor("delays", store=store).windows
    assert window.results["performance"]["reference"] == {"auc": 0.99}


def test_no_comparable_column_is_an_unknown_drift_share_not_zero(delays: Delays) -> None:
    # Only failed calls: nothing answered to profile.
    delays.log(DAY, delays.frame.head(20), status=500)
    (window,) = shipyard.monitor("delays", store=delays.store).windows
    drift = window.results["drift"]
    assert drift["share"] is None
    assert drift["drifted"] is None
    assert drift["compared"] == 0
    assert window.results["operations"]["error_rate"] == 1.0


def test_a_column_with_many_categories_does_not_drift_against_itself(
    store: shipyard.Store,
) -> None:
    """300 airports: more than a profile lists by default, on both sides."""
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    rng = np.random.default_rng(0)
    airports = np.array([f"A{i:03d}" for i in range(300)])
    weights = np.linspace(2, 1, 300) / np.linspace(2, 1, 300).sum()

    def sample(rows: int) -> pd.DataFrame:
        return pd.DataFrame({"dest": rng.choice(airports, rows, p=weights)})

    train = sample(20_000)
    model = Pipeline(
        [
            (
                "encode",
                ColumnTransformer([("d", OneHotEncoder(handle_unknown="ignore"), ["dest"])]),
            ),
            ("model", LogisticRegression(max_iter=200)),
        ]
    ).fit(train, train["dest"] < "A100")
    shipyard.register_model(model, "routes", training_data=train, store=store)
    shipyard.create_endpoint("routes", "routes/1", store=store)
    same = sample(20_000)
    log_predictions(store, "routes", "routes", 1, same, _times(DAY, 20_000), model.predict(same))
    (window,) = shipyard.monitor("routes", store=store).windows
    dest = window.results["drift"]["columns"]["dest"]
    assert dest["method"] == "jensenshannon"
    assert dest["drifted"] is False, dest["score"]
