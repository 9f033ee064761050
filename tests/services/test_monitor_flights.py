"""Monitoring on the demo data: a flight-delay model trained on January-February 2013.

The prediction log holds a held-out slice of the training months and samples of the
later months, each with its real arrival label. Monitoring must flag drift and an AUC
drop where the late share moves, and must not flag the held-out slice.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

import shipyard
from monitor_log import log_labels, log_predictions
from shipyard.cli._flights import FEATURES, TARGET, load_flights
from shipyard.core.settings import MonitorSettings, Settings

RULES = ["auc drop > 0.05 vs reference", "drift_share > 0.3"]
PER_MONTH = 3_000


@dataclass(frozen=True)
class Monitored:
    result: shipyard.MonitorResult
    traffic: pd.DataFrame  # the logged flights, with the model's probability of "late"


@pytest.fixture(scope="module")
def flights_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Monitored]:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score

    folder: Path = tmp_path_factory.mktemp("flights-monitor")
    settings = Settings(monitor=MonitorSettings(alerts=RULES))
    store = shipyard.Store.from_urls(
        f"sqlite:///{folder / 'shipyard.db'}", str(folder / "artifacts"), settings
    )
    flights = load_flights()
    winter = flights[flights["time"].dt.month <= 2].sample(n=20_000, random_state=0)
    held_out, train = winter.iloc[:4_000], winter.iloc[4_000:]
    model = HistGradientBoostingClassifier(
        categorical_features="from_dtype", max_iter=60, random_state=0
    ).fit(train[FEATURES], train[TARGET])
    auc = roc_auc_score(held_out[TARGET], model.predict_proba(held_out[FEATURES])[:, 1])
    shipyard.register_model(
        model,
        "delays",
        training_data=train[FEATURES],
        metrics={"auc": float(auc)},
        store=store,
    )
    shipyard.create_endpoint("delays", "delays/1", store=store)
    later = flights[flights["time"].dt.month >= 3]
    traffic = pd.concat(
        [held_out]
        + [
            part.sample(n=min(PER_MONTH, len(part)), random_state=month)
            for month, part in later.groupby(later["time"].dt.month)
        ]
    )
    traffic = traffic[
        traffic["time"].dt.year == 2013
    ]  # a few late December flights land in 2014 UTC
    proba = model.predict_proba(traffic[FEATURES])
    ids = log_predictions(
        store,
        "delays",
        "delays",
        1,
        traffic[FEATURES].reset_index(drop=True),
        traffic["time"].dt.to_pydatetime(),
        model.classes_[proba.argmax(axis=1)],
        proba,
        list(model.classes_),
    )
    log_labels(store, "delays", ids, traffic[TARGET].tolist())
    traffic = traffic.assign(late_proba=proba[:, 1])
    yield Monitored(shipyard.monitor("delays", every="2mo", store=store), traffic)
    store.close()


@pytest.fixture
def monitored(flights_run: Monitored) -> shipyard.MonitorResult:
    return flights_run.result


def _by_start(result: shipyard.MonitorResult) -> dict[int, shipyard.MonitorWindow]:
    return {w.start.month: w for w in result.windows}


def test_every_two_month_window_is_monitored(monitored: shipyard.MonitorResult) -> None:
    assert sorted(_by_start(monitored)) == [1, 3, 5, 7, 9, 11]
    assert monitored.empty == []
    for window in monitored.windows:
        assert window.version == 1
        assert window.labelled == window.rows  # every prediction got its label


def test_the_held_out_training_slice_is_not_flagged(monitored: shipyard.MonitorResult) -> None:
    winter = _by_start(monitored)[1]
    drift = winter.results["drift"]
    assert drift["drifted"] is False
    assert [c for c, v in drift["columns"].items() if v["drifted"]] == []
    performance = winter.results["performance"]
    assert performance["metrics"]["auc"] == pytest.approx(performance["reference"]["auc"], abs=0.02)
    assert [a for a in monitored.alerts if a.window_start == winter.start] == []


def test_later_months_flag_drift_and_an_auc_drop(monitored: shipyard.MonitorResult) -> None:
    windows = _by_start(monitored)
    fired = {(a.window_start.month, a.rule) for a in monitored.alerts}
    for month in (3, 5, 7, 9, 11):
        drift = windows[month].results["drift"]
        assert {"temp", "month"} <= {c for c, v in drift["columns"].items() if v["drifted"]}
        assert (month, "drift_share > 0.3") in fired
    assert all(windows[m].results["drift"]["drifted"] for m in (3, 5, 7, 9))
    auc_drops = {m for m, rule in fired if rule.startswith("auc drop")}
    assert {7, 9} <= auc_drops, fired
    assert len(auc_drops) >= 3, fired
    for month in auc_drops:
        performance = windows[month].results["performance"]
        assert performance["reference"]["auc"] - performance["metrics"]["auc"] > 0.05


def test_window_scores_match_scikit_learn_on_the_same_rows(flights_run: Monitored) -> None:
    from sklearn.metrics import accuracy_score, log_loss, roc_auc_score

    traffic = flights_run.traffic
    for window in flights_run.result.windows:
        rows = traffic[(traffic["time"] >= window.start) & (traffic["time"] < window.end)]
        metrics = window.results["performance"]["metrics"]
        assert window.rows == len(rows)
        assert metrics["auc"] == pytest.approx(roc_auc_score(rows[TARGET], rows["late_proba"]))
        assert metrics["log_loss"] == pytest.approx(
            log_loss(rows[TARGET], rows["late_proba"]), rel=1e-6
        )
        assert metrics["accuracy"] == pytest.approx(
            accuracy_score(rows[TARGET], rows["late_proba"] > 0.5), abs=1e-3
        )
