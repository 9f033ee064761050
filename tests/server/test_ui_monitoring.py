"""The dashboard's monitoring pages on real windows: a classifier's traffic for three days
(the last one drifted) written by the real log writer, labelled, and monitored by
shipyard.monitor, with an alert rule that fires on the drifted day."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from served import LiveServer

import shipyard
from flight_table import delay_pipeline, flights
from monitor_log import log_labels, log_predictions
from shipyard.server import create_app

DAY = datetime(2024, 5, 1, tzinfo=UTC)
COLUMNS = ["carrier", "distance", "temp"]


def _times(day: datetime, rows: int) -> list[datetime]:
    return [day + timedelta(seconds=int(s)) for s in np.linspace(0, 86_000, rows)]


def _monitored(root: Path) -> shipyard.Store:
    """Endpoint ``flights``: three days of labelled traffic, monitored by day."""
    store = shipyard.Store.from_settings(
        shipyard.Settings(
            home=root / "home",
            project_dir=root,
            serve_poll_seconds=0.1,
            monitor={"alerts": ["drift_share > 0.3"]},
        )
    )
    store.upgrade()
    frame, status = flights(400, seed=1)
    model = delay_pipeline().fit(frame, status)
    shipyard.register_model(
        model,
        "flights",
        training_data=frame,
        metrics={"auc": 0.95, "accuracy": 0.9},
        store=store,
    )
    shipyard.create_endpoint("flights", "flights/1", store=store)
    for day in range(3):
        served, truth = flights(300, seed=10 + day)
        if day == 2:  # warmer, and one carrier only: drift
            served = served.assign(temp=served["temp"] + 30, carrier="UA")
        proba = model.predict_proba(served)
        ids = log_predictions(
            store,
            "flights",
            "flights",
            1,
            served,
            _times(DAY + timedelta(days=day), len(served)),
            model.classes_[proba.argmax(axis=1)],
            proba,
            list(model.classes_),
            latency_ms=np.linspace(1.0, 20.0 + 10 * day, len(served)),
        )
        log_labels(store, "flights", ids, truth.tolist())
    result = shipyard.monitor("flights", every="1d", store=store)
    assert len(result.windows) == 3
    assert result.alerts
    return store


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    """A server on a store with monitored windows (the tests only read)."""
    store = _monitored(tmp_path_factory.mktemp("ui-monitoring"))
    server = LiveServer(create_app(store)).start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            yield http
    finally:
        server.stop()
        store.close()


def _option(page: str, test_id: str) -> dict[str, Any]:
    found = re.search(rf'<div ([^>]*)data-testid="{re.escape(test_id)}"', page)
    assert found, f"no chart {test_id}"
    option = re.search(r'data-option="([^"]*)"', found.group(1))
    assert option
    parsed: dict[str, Any] = json.loads(html.unescape(option.group(1)))
    return parsed


def _series(option: dict[str, Any], name: str) -> list[Any]:
    return next(s["data"] for s in option["series"] if s["name"] == name)


def test_the_list_shows_monitored_endpoints_and_their_latest_figures(
    client: httpx.Client,
) -> None:
    answer = client.get("/ui/monitoring")
    assert answer.status_code == 200
    assert 'data-testid="monitoring-table"' in answer.text
    assert 'href="/ui/monitoring/flights"' in answer.text
    row = re.search(r"<tr><td><a href=\"/ui/monitoring/flights\">.*?</tr>", answer.text)
    assert row is not None
    cells = re.findall(r"<td>(.*?)</td>", row.group(0))
    assert cells[1] == "3"  # windows
    assert 'class="badge bad"' in row.group(0)  # the alert


def test_the_endpoint_page_carries_every_chart(client: httpx.Client) -> None:
    answer = client.get("/ui/monitoring/flights")
    assert answer.status_code == 200
    page = answer.text
    for test_id in [
        "drift-heatmap",
        "drift-share-chart",
        "performance-chart",
        "latency-chart",
        "alerts-table",
        *(f"distribution-{c}" for c in COLUMNS),
    ]:
        assert f'data-testid="{test_id}"' in page, test_id

    heatmap = _option(page, "drift-heatmap")
    assert heatmap["xAxis"]["data"] == ["2024-05-01", "2024-05-02", "2024-05-03"]
    assert sorted(heatmap["yAxis"]["data"]) == COLUMNS
    cells = heatmap["series"][0]["data"]
    assert len(cells) == 9
    temp = heatmap["yAxis"]["data"].index("temp")
    assert next(c[2] for c in cells if c[:2] == [2, temp]) >= 1  # drifted on day 3
    assert next(c[2] for c in cells if c[:2] == [0, temp]) < 1

    shares = _series(_option(page, "drift-share-chart"), "drift share")
    assert shares[0] < 0.3 < shares[2]

    distribution = _option(page, "distribution-carrier")
    current = _series(distribution, "current")
    assert max(current) == pytest.approx(1.0)  # one carrier only in the latest window
    assert sum(_series(distribution, "reference")) == pytest.approx(1.0)

    performance = _option(page, "performance-chart")
    accuracy = _series(performance, "accuracy")
    assert len(accuracy) == 3
    assert all(0 <= v <= 1 for v in accuracy)
    assert _series(performance, "auc (reference)") == [0.95] * 3

    latency = _option(page, "latency-chart")
    p99 = _series(latency, "p99")
    assert p99[0] < p99[2]

    assert "drift_share &gt; 0.3" in page  # the alert, escaped


def test_a_time_filter_narrows_the_windows(client: httpx.Client) -> None:
    page = client.get("/ui/monitoring/flights", params={"since": "2024-05-02"}).text
    assert _option(page, "drift-heatmap")["xAxis"]["data"] == ["2024-05-02", "2024-05-03"]
    bad = client.get("/ui/monitoring/flights", params={"since": "yesterday-ish"})
    assert bad.status_code == 400
    assert "since" in bad.text


@pytest.mark.parametrize(
    ("path", "status"),
    [("/ui/monitoring/%3Cscript%3Ealert(1)%3C%5Cscript%3E", 400), ("/ui/monitoring/nope", 404)],
    ids=["hostile", "unknown"],
)
def test_an_unknown_endpoint_is_an_error_page_with_the_name_escaped(
    client: httpx.Client, path: str, status: int
) -> None:
    answer = client.get(path)
    assert answer.status_code == status
    assert answer.headers["content-type"].startswith("text/html")
    assert "<script>alert" not in answer.text
