"""The monitoring store on every backend: windows replaced by span, figures, alerts per rule."""

from __future__ import annotations

import math
import threading
import time
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import insert, inspect, select

import shipyard
from shipyard import MonitorWindow, NotFoundError
from shipyard.stores import NewAlert, SqlMonitorStore
from shipyard.stores._schema import alerts, monitor_metrics, monitor_windows

DAY = timedelta(days=1)
MARCH_1 = datetime(2024, 3, 1, tzinfo=UTC)


@pytest.fixture
def monitor(store: shipyard.Store) -> SqlMonitorStore:
    return store.monitor


def _window(
    start: datetime = MARCH_1,
    end: datetime | None = None,
    *,
    endpoint: str = "api",
    rows: int = 10,
    results: dict[str, Any] | None = None,
) -> MonitorWindow:
    return MonitorWindow(
        endpoint=endpoint,
        start=start,
        end=start + DAY if end is None else end,
        rows=rows,
        labelled=rows // 2,
        model_name="delays",
        version=1,
        results={"drift": {"share": 0.25}} if results is None else results,
        computed_at=start,
    )


def _alert(
    start: datetime = MARCH_1,
    *,
    endpoint: str = "api",
    rule: str = "drift_share > 0.3",
    value: float = 0.5,
    reference: float | None = None,
) -> NewAlert:
    return NewAlert(
        endpoint=endpoint,
        window_start=start,
        window_end=start + DAY,
        rule=rule,
        metric=rule.split()[0],
        value=value,
        threshold=0.3,
        message=f"{rule.split()[0]} is {value}",
        reference=reference,
    )


def _starts(windows: list[MonitorWindow]) -> list[datetime]:
    return [w.start for w in windows]


# -- windows ------------------------------------------------------------------------------


def test_save_and_read_back(monitor: SqlMonitorStore) -> None:
    results = {
        "drift": {"share": 0.5, "columns": {"temp": {"score": 0.01, "drifted": True}}},
        "performance": None,
        "versions": [1, 2],
    }
    before = datetime.now(UTC) - timedelta(seconds=1)
    saved = monitor.save_window(_window(results=results), {"drift_share": 0.5})
    assert saved.window_id is not None
    assert saved.computed_at >= before  # the time it was stored, not the window's
    (got,) = monitor.list_windows("api")
    assert got == saved
    assert (got.start, got.end) == (MARCH_1, MARCH_1 + DAY)
    assert got.start.tzinfo is not None
    assert got.start.utcoffset() == timedelta(0)
    assert (got.rows, got.labelled, got.model_name, got.version) == (10, 5, "delays", 1)
    assert got.results == results
    assert monitor.last_window("api") == saved


def test_a_window_without_a_reference_or_figures(monitor: SqlMonitorStore) -> None:
    window = MonitorWindow(
        endpoint="api",
        start=MARCH_1,
        end=MARCH_1 + DAY,
        rows=3,
        labelled=0,
        model_name=None,
        version=None,
        results={},
        computed_at=MARCH_1,
    )
    monitor.save_window(window, {})
    (got,) = monitor.list_windows("api")
    assert (got.model_name, got.version, got.results) == (None, None, {})
    assert monitor.figure_names("api") == []


def test_saving_a_span_again_replaces_its_results_and_figures(monitor: SqlMonitorStore) -> None:
    first = monitor.save_window(
        _window(rows=10, results={"drift": {"share": 0.1}}), {"drift_share": 0.1, "auc": 0.8}
    )
    other = monitor.save_window(_window(MARCH_1 + DAY), {"drift_share": 0.2})
    again = monitor.save_window(
        _window(rows=12, results={"drift": {"share": 0.4}}), {"drift_share": 0.4}
    )
    assert again.window_id != first.window_id
    assert monitor.list_windows("api") == [again, other]
    assert monitor.list_windows("api")[0].results == {"drift": {"share": 0.4}}
    assert monitor.list_windows("api")[0].rows == 12
    assert monitor.series("api", "drift_share") == [
        (MARCH_1, MARCH_1 + DAY, 0.4),
        (MARCH_1 + DAY, MARCH_1 + 2 * DAY, 0.2),
    ]
    assert monitor.series("api", "auc") == []  # the old run's figure went with it
    assert monitor.figure_names("api") == ["drift_share"]


def test_a_span_given_in_another_zone_is_the_same_span(monitor: SqlMonitorStore) -> None:
    monitor.save_window(_window(), {"drift_share": 0.1})
    paris = timezone(timedelta(hours=1))
    shifted = MARCH_1.astimezone(paris)
    monitor.save_window(_window(shifted), {"drift_share": 0.3})
    (got,) = monitor.list_windows("api")
    assert got.start == MARCH_1
    assert got.start.utcoffset() == timedelta(0)
    assert [value for _, _, value in monitor.series("api", "drift_share")] == [0.3]


def test_a_failed_replacement_keeps_the_old_window(monitor: SqlMonitorStore) -> None:
    kept = monitor.save_window(_window(), {"drift_share": 0.1})
    with pytest.raises(ValueError, match="JSON"):
        monitor.save_window(_window(results={"share": math.nan}), {"drift_share": 0.9})
    assert monitor.list_windows("api") == [kept]
    assert monitor.series("api", "drift_share") == [(MARCH_1, MARCH_1 + DAY, 0.1)]


def test_nan_figures_are_stored_as_null_and_read_as_nan(
    store: shipyard.Store, monitor: SqlMonitorStore
) -> None:
    saved = monitor.save_window(
        _window(), {"auc": math.nan, "p99_ms": None, "mape": math.inf, "rows": 10}
    )
    with store.metadata.db.read() as conn:
        stored = dict(
            conn.execute(
                select(monitor_metrics.c.name, monitor_metrics.c.value).where(
                    monitor_metrics.c.window_id == saved.window_id
                )
            ).all()
        )
    assert stored == {"auc": None, "p99_ms": None, "mape": math.inf, "rows": 10.0}
    ((_, _, auc),) = monitor.series("api", "auc")
    assert math.isnan(auc)
    ((_, _, p99),) = monitor.series("api", "p99_ms")
    assert math.isnan(p99)
    assert monitor.series("api", "mape") == [(MARCH_1, MARCH_1 + DAY, math.inf)]
    assert monitor.figure_names("api") == ["auc", "mape", "p99_ms", "rows"]


def test_windows_are_listed_by_start(monitor: SqlMonitorStore) -> None:
    for day in (3, 0, 2, 1):
        monitor.save_window(_window(MARCH_1 + day * DAY), {"drift_share": float(day)})
    got = monitor.list_windows("api")
    assert [w.start for w in got] == [MARCH_1 + d * DAY for d in range(4)]
    assert [v for _, _, v in monitor.series("api", "drift_share")] == [0.0, 1.0, 2.0, 3.0]
    last = monitor.last_window("api")
    assert last is not None
    assert last.start == MARCH_1 + 3 * DAY


def test_a_window_of_another_length_replaces_those_it_overlaps(
    monitor: SqlMonitorStore,
) -> None:
    """Runs with another --every never leave two values for one moment in a series."""
    for day in range(5):
        monitor.save_window(_window(MARCH_1 + day * DAY), {"requests": 100.0})
    monitor.save_window(_window(MARCH_1 + DAY, MARCH_1 + 3 * DAY), {"requests": 200.0})
    spans = [(w.start, w.end) for w in monitor.list_windows("api")]
    assert spans == [
        (MARCH_1, MARCH_1 + DAY),
        (MARCH_1 + DAY, MARCH_1 + 3 * DAY),
        (MARCH_1 + 3 * DAY, MARCH_1 + 4 * DAY),
        (MARCH_1 + 4 * DAY, MARCH_1 + 5 * DAY),
    ]
    assert [v for _, _, v in monitor.series("api", "requests")] == [100.0, 200.0, 100.0, 100.0]
    monitor.save_window(_window(MARCH_1 - DAY, MARCH_1 + 6 * DAY), {"requests": 700.0})
    assert [v for _, _, v in monitor.series("api", "requests")] == [700.0]


@pytest.mark.parametrize(
    ("since", "until", "days"),
    [
        pytest.param(None, None, [0, 1, 2, 3], id="all"),
        pytest.param(MARCH_1 + DAY, None, [1, 2, 3], id="since-is-inclusive"),
        pytest.param(None, MARCH_1 + 2 * DAY, [0, 1], id="until-is-exclusive"),
        pytest.param(MARCH_1 + DAY, MARCH_1 + 3 * DAY, [1, 2], id="both"),
        pytest.param(MARCH_1 + timedelta(hours=1), None, [1, 2, 3], id="by-start-not-overlap"),
        pytest.param(
            datetime(2024, 3, 2, 1, tzinfo=timezone(timedelta(hours=1))),
            None,
            [1, 2, 3],
            id="other-zone",
        ),
        pytest.param(MARCH_1 + 2 * DAY, MARCH_1 + 2 * DAY, [], id="empty"),
    ],
)
def test_since_and_until_select_windows_by_start(
    monitor: SqlMonitorStore,
    since: datetime | None,
    until: datetime | None,
    days: list[int],
) -> None:
    for day in range(4):
        monitor.save_window(_window(MARCH_1 + day * DAY), {})
    got = monitor.list_windows("api", since, until)
    assert _starts(got) == [MARCH_1 + d * DAY for d in days]


def test_endpoints_are_kept_apart(monitor: SqlMonitorStore) -> None:
    monitor.save_window(_window(endpoint="api"), {"drift_share": 0.1, "auc": 0.7})
    monitor.save_window(_window(endpoint="batch"), {"drift_share": 0.6, "p99_ms": 3.0})
    assert [w.endpoint for w in monitor.list_windows("api")] == ["api"]
    assert monitor.series("batch", "drift_share") == [(MARCH_1, MARCH_1 + DAY, 0.6)]
    assert monitor.figure_names("api") == ["auc", "drift_share"]
    assert monitor.figure_names("batch") == ["drift_share", "p99_ms"]
    assert monitor.list_windows("nothing") == []
    assert monitor.last_window("nothing") is None
    assert monitor.series("nothing", "drift_share") == []
    assert monitor.figure_names("nothing") == []


def test_figure_names_are_distinct_and_sorted(monitor: SqlMonitorStore) -> None:
    monitor.save_window(_window(), {"p99_ms": 1.0, "drift.temp": 0.2})
    monitor.save_window(_window(MARCH_1 + DAY), {"drift_share": 0.1, "drift.temp": 0.3})
    assert monitor.figure_names("api") == ["drift.temp", "drift_share", "p99_ms"]
    assert monitor.series("api", "p99_ms") == [(MARCH_1, MARCH_1 + DAY, 1.0)]


def test_the_tables_come_with_migration_0004(make_empty_url: Any, tmp_path: Any) -> None:
    opened = shipyard.Store.from_settings(
        shipyard.Settings(
            project_dir=tmp_path,
            metadata_url=make_empty_url(),
            artifact_url=str(tmp_path / "artifacts"),
            auto_create=False,
        )
    )
    tables = {"monitor_windows", "monitor_metrics", "alerts"}
    try:
        assert opened.metadata.db.upgrade("0003") == "0003"
        assert tables.isdisjoint(inspect(opened.metadata.db.engine).get_table_names())
        assert opened.metadata.db.upgrade("0004") == "0004"
        assert tables <= set(inspect(opened.metadata.db.engine).get_table_names())
        opened.upgrade()  # the store reads and writes only at the newest revision
        opened.monitor.save_window(_window(), {"drift_share": 0.5})
        assert opened.monitor.add_alert(_alert()) is not None
        assert opened.monitor.series("api", "drift_share") == [(MARCH_1, MARCH_1 + DAY, 0.5)]
    finally:
        opened.close()


# -- alerts -------------------------------------------------------------------------------


def test_add_and_get_an_alert(monitor: SqlMonitorStore) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    alert = monitor.add_alert(_alert(value=0.5, reference=0.25))
    assert alert is not None
    assert (alert.endpoint, alert.window_start, alert.window_end) == (
        "api",
        MARCH_1,
        MARCH_1 + DAY,
    )
    assert (alert.rule, alert.metric, alert.value, alert.threshold, alert.reference) == (
        "drift_share > 0.3",
        "drift_share",
        0.5,
        0.3,
        0.25,
    )
    assert alert.message == "drift_share is 0.5"
    assert alert.delivered is None
    assert alert.created_at >= before
    assert monitor.get_alert(alert.alert_id) == alert


def test_a_rule_fires_once_per_window(monitor: SqlMonitorStore) -> None:
    first = monitor.add_alert(_alert(value=0.5))
    assert first is not None
    assert monitor.add_alert(_alert(value=0.9)) is None  # the same rule on the same window
    assert monitor.list_alerts() == [first]
    assert monitor.get_alert(first.alert_id).value == 0.5  # the first value stays
    others = [
        monitor.add_alert(_alert(rule="p99_ms > 50")),
        monitor.add_alert(_alert(MARCH_1 + DAY)),
        monitor.add_alert(_alert(endpoint="batch")),
    ]
    assert all(alert is not None for alert in others)
    assert len(monitor.list_alerts()) == 4


def test_a_nan_value_is_read_back_as_nan(monitor: SqlMonitorStore) -> None:
    alert = monitor.add_alert(_alert(value=math.nan, reference=math.nan))
    assert alert is not None
    assert math.isnan(alert.value)
    assert alert.reference is None


@pytest.mark.parametrize("delivered", [True, False], ids=["sent", "failed"])
def test_set_delivered(monitor: SqlMonitorStore, delivered: bool) -> None:
    alert = monitor.add_alert(_alert())
    assert alert is not None
    monitor.set_delivered(alert.alert_id, delivered)
    assert monitor.get_alert(alert.alert_id).delivered is delivered
    (listed,) = monitor.list_alerts()
    assert listed.delivered is delivered


def test_list_alerts_newest_window_first_with_filters(monitor: SqlMonitorStore) -> None:
    made = {}
    for day, endpoint, rule in [
        (1, "api", "drift_share > 0.3"),
        (0, "api", "drift_share > 0.3"),
        (2, "batch", "drift_share > 0.3"),
        (1, "api", "p99_ms > 50"),
    ]:
        alert = monitor.add_alert(_alert(MARCH_1 + day * DAY, endpoint=endpoint, rule=rule))
        assert alert is not None
        made[(day, endpoint, rule.split()[0])] = alert.alert_id

    def keys(alerts: list[shipyard.Alert]) -> list[tuple[int, str, str]]:
        return [((a.window_start - MARCH_1).days, a.endpoint, a.metric) for a in alerts]

    # newest window first; within a window, the newest alert first
    assert keys(monitor.list_alerts()) == [
        (2, "batch", "drift_share"),
        (1, "api", "p99_ms"),
        (1, "api", "drift_share"),
        (0, "api", "drift_share"),
    ]
    assert keys(monitor.list_alerts("api")) == [
        (1, "api", "p99_ms"),
        (1, "api", "drift_share"),
        (0, "api", "drift_share"),
    ]
    assert keys(monitor.list_alerts(since=MARCH_1 + DAY)) == [
        (2, "batch", "drift_share"),
        (1, "api", "p99_ms"),
        (1, "api", "drift_share"),
    ]
    assert keys(monitor.list_alerts("api", since=MARCH_1 + DAY, limit=1)) == [
        (1, "api", "p99_ms"),
    ]
    assert keys(monitor.list_alerts(limit=2)) == [(2, "batch", "drift_share"), (1, "api", "p99_ms")]
    assert monitor.list_alerts("nothing") == []
    assert monitor.list_alerts(since=MARCH_1 + 3 * DAY) == []
    assert made[(1, "api", "p99_ms")] > made[(1, "api", "drift_share")]


def _meanwhile(work: Any) -> dict[str, Any]:
    """Start ``work`` in a thread; the caller joins it through the returned dict."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = work()
        except Exception as exc:  # handed back to the test
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    outcome["thread"] = thread
    return outcome


@pytest.mark.parametrize("what", ["alert", "window"])
def test_a_concurrent_run_over_the_same_window(store: shipyard.Store, what: str) -> None:
    """Two monitor runs at once (an overlapping cron): the second must not crash."""
    start, end = int(MARCH_1.timestamp() * 1000), int((MARCH_1 + DAY).timestamp() * 1000)
    with store.metadata.db.write() as conn:  # the other run, not committed yet
        if what == "alert":
            new = _alert()
            conn.execute(
                insert(alerts).values(
                    endpoint="api", window_start_ms=start, window_end_ms=end, rule=new.rule,
                    metric=new.metric, value=new.value, threshold=new.threshold,
                    message=new.message, created_at=0,
                )
            )  # fmt: skip
            outcome = _meanwhile(lambda: store.monitor.add_alert(new))
        else:
            conn.execute(
                insert(monitor_windows).values(
                    endpoint="api", start_ms=start, end_ms=end, rows=1, labelled=0,
                    results="{}", computed_at=0,
                )
            )  # fmt: skip
            outcome = _meanwhile(lambda: store.monitor.save_window(_window(rows=7), {}))
        time.sleep(0.5)  # let it reach the insert and wait on the other transaction
    outcome["thread"].join(30)
    if "error" in outcome:
        raise outcome["error"]
    if what == "alert":
        assert outcome["value"] is None
        assert len(store.monitor.list_alerts()) == 1
    else:
        assert [w.rows for w in store.monitor.list_windows("api")] == [7]


def test_an_unknown_alert_is_not_found(monitor: SqlMonitorStore) -> None:
    with pytest.raises(NotFoundError, match=r"alert 42 does not exist; see `shipyard alerts list`"):
        monitor.get_alert(42)
    with pytest.raises(KeyError):
        monitor.get_alert(42)
