"""The dashboard's endpoints pages against a real server: the list, one endpoint's traffic
as the store says and as the server routes it, its buttons, history and live chart."""

from __future__ import annotations

import html
import json
import re
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from served import LiveServer, Served, make_served

import shipyard

ROW = {"carrier": "B6", "distance": 1065, "temp": 61.0}
HOSTILE = '<img src=x onerror="alert(1)">'


def _testids(page: str) -> set[str]:
    return set(re.findall(r'data-testid="([^"]+)"', page))


def _traffic(page: str) -> str:
    """The text of the traffic element, tags stripped."""
    found = re.search(r'<table data-testid="traffic">(.*?)</table>', page, re.S)
    assert found, "the page has no traffic element"
    return html.unescape(re.sub(r"<[^>]+>", " ", found.group(1)))


def _option(page: str, test_id: str) -> dict[str, Any]:
    """The ECharts option a chart element carries."""
    found = re.search(rf'<div ([^>]*)data-testid="{re.escape(test_id)}"', page)
    assert found, f"no chart {test_id}"
    option = re.search(r'data-option="([^"]*)"', found.group(1))
    assert option
    parsed: dict[str, Any] = json.loads(html.unescape(option.group(1)))
    return parsed


def _predict(client: httpx.Client, n: int) -> Counter[int]:
    versions: Counter[int] = Counter()
    for _ in range(n):
        answer = client.post("/v1/endpoints/delays/predict", json={"records": [ROW]})
        if answer.status_code == 200:
            versions[answer.json()["model"]["version"]] += 1
        else:
            versions[-answer.status_code] += 1
    return versions


def _served(series: list[dict[str, Any]], sid: str, bucket: float = 2.0) -> float:
    found = next(s for s in series if s["id"] == sid)
    return sum(v for _, v in found["data"] if v is not None) * (
        bucket if sid.startswith("rate") else 1
    )


@pytest.fixture(scope="module")
def reader(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    """A client of one server the read-only tests share (nothing they do changes it)."""
    found = make_served(tmp_path_factory.mktemp("ui-endpoints"))
    server = LiveServer(found.app()).start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            yield http
    finally:
        server.stop()
        found.store.close()


def test_the_list_shows_every_endpoint_and_what_is_served_here(reader: httpx.Client) -> None:
    answer = reader.get("/ui/endpoints")
    assert answer.status_code == 200
    assert "endpoints-table" in _testids(answer.text)
    assert 'href="/ui/endpoints/delays"' in answer.text
    assert "delays@champion" in answer.text
    assert "minutes/1" in answer.text


def test_traffic_follows_a_canary_started_and_rolled_back_through_the_api(
    client: httpx.Client,
) -> None:
    page = client.get("/ui/endpoints/delays")
    assert page.status_code == 200
    assert {"traffic", "live-chart", "start-canary", "stop-canary", "promote", "rollback"} <= (
        _testids(page.text)
    )
    assert 'data-source="/ui/api/endpoints/delays/live"' in page.text
    before = _traffic(page.text)
    assert before.count("no canary") == 2  # the store and this server agree
    assert "canary v2" not in before

    started = client.post("/api/endpoints/delays/canary", json={"version": 2, "percent": 25})
    assert started.status_code == 200, started.text
    during = _traffic(client.get("/ui/endpoints/delays").text)
    assert during.count("canary v2 at 25%") == 2
    assert "no canary" not in during

    assert client.post("/api/endpoints/delays/rollback").status_code == 200
    page = client.get("/ui/endpoints/delays").text
    after = _traffic(page)
    assert after.count("no canary") == 2
    assert "canary v2" not in after
    # the history lists both changes, newest first
    assert page.index("canary_version: 2 → -") < page.index("canary_version: - → 2")


def test_live_chart_has_a_series_for_every_version_that_answered(
    client: httpx.Client,
) -> None:
    client.post("/api/endpoints/delays/canary", json={"version": 2, "percent": 50})
    answered = _predict(client, 40)
    assert answered[1] > 0
    assert answered[2] > 0
    bad = client.post("/v1/endpoints/delays/predict", json={"records": [{"carrier": 1}]})
    assert bad.status_code == 400
    client.post("/api/endpoints/delays/canary", json={"version": 3, "percent": 100})
    failed = _predict(client, 3)
    assert failed[-500] == 3  # v3 raises on every row

    live = client.get("/ui/api/endpoints/delays/live")
    assert live.status_code == 200
    series = live.json()["series"]
    ids = {s["id"] for s in series}
    assert {"rate-1", "rate-2", "rate-3", "rate-none", "p50-1", "p99-2", "errors-3"} <= ids
    assert _served(series, "rate-1") == answered[1]
    assert _served(series, "rate-2") == answered[2]
    assert _served(series, "errors-3") == 3  # failed requests: 5xx
    assert _served(series, "errors-none") == 1  # and the 400 before a version was chosen
    names = {s["name"] for s in series}
    assert {"v1 (primary)", "v2 (canary)", "v3", "no version"} <= names
    latency = [v for s in series if s["id"] == "p99-1" for _, v in s["data"] if v is not None]
    assert latency
    assert all(v > 0 for v in latency)

    page = client.get("/ui/endpoints/delays").text
    assert _option(page, "live-chart")["legend"]["data"][:2] == ["v1 (primary)", "v2 (canary)"]


def test_live_chart_of_an_endpoint_not_served_here_is_a_404(reader: httpx.Client) -> None:
    answer = reader.get("/ui/api/endpoints/nope/live")
    assert answer.status_code == 404
    assert "nope" in answer.json()["error"]["message"]
    quiet = reader.get("/ui/api/endpoints/minutes/live")
    assert quiet.status_code == 200
    assert quiet.json()["series"] == []


def test_the_framework_routes_feed_the_live_figures_too(
    served: Served, live: Callable[..., LiveServer]
) -> None:
    app = served.app()
    app.user_middleware.clear()  # no fast path: FastAPI's own prediction routes answer
    server = LiveServer(app).start()
    try:
        for _ in range(3):
            httpx.post(f"{server.url}/v1/endpoints/delays/predict", json={"records": [ROW]})
        series = httpx.get(f"{server.url}/ui/api/endpoints/delays/live").json()["series"]
        assert _served(series, "rate-1") == 3
    finally:
        server.stop()


@pytest.mark.parametrize(
    "path",
    ["/ui/endpoints/%3Cscript%3Ealert(1)%3C%5Cscript%3E", "/ui/endpoints/nope"],
    ids=["hostile", "unknown"],
)
def test_an_unknown_endpoint_is_a_404_page_with_the_name_escaped(
    reader: httpx.Client, path: str
) -> None:
    answer = reader.get(path)
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("text/html")
    assert "<script>alert" not in answer.text
    if "script" in path:
        assert "&lt;script&gt;alert(1)&lt;\\script&gt;" in answer.text


def test_user_text_is_escaped_on_both_pages(served: Served, client: httpx.Client) -> None:
    shipyard.update_endpoint("delays", description=HOSTILE, store=served.store)
    for path in ("/ui/endpoints", "/ui/endpoints/delays"):
        answer = client.get(path)
        assert answer.status_code == 200
        assert HOSTILE not in answer.text
        assert html.escape(HOSTILE) in answer.text
