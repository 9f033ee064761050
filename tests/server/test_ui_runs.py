"""The dashboard's runs pages against a real server on loopback: search (filter, sort,
pages), one run, comparison, errors and escaping."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from served import LiveServer, classifier
from sqlalchemy import event

import shipyard
from shipyard.server import create_app

HOSTILE = "<script>alert('x')</script>"
BULK = 120


@dataclass
class RunsSite:
    """A live server over a store with 120 bulk runs and a few hand-made ones."""

    store: shipyard.Store
    http: httpx.Client
    detailed: str  # a run with steps, params, a dataset, artifacts and a model
    other: str  # a second run to compare with it
    hostile: str  # a run whose name and experiment are HTML


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunsSite]:
    root = tmp_path_factory.mktemp("ui-runs")
    store = shipyard.Store.from_settings(
        shipyard.Settings(home=root / "home", project_dir=root, log_flush_seconds=0.2)
    )
    store.upgrade()
    for i in range(BULK):
        params = {"index": i, "model": "gbm" if i % 2 else "linear"}
        with shipyard.start_run(
            "bulk", name=f"bulk-{i:03d}", params=params, store=store, capture_env=False
        ) as run:
            run.log_metric("auc", i / BULK)
    model, X = classifier()
    with shipyard.start_run(
        "detail", name="detailed", params={"lr": 0.1, "depth": 3}, tags={"team": "ops"}, store=store
    ) as run:
        for step in range(5):
            run.log_metrics({"loss": 1 / (step + 1), "auc": 0.5 + step / 10}, step=step)
        run.log_text("first notes", "notes/readme.txt")
        run.log_model(model, "ui-runs-model", training_data=X)
        detailed = run.run_id
    with shipyard.start_run(
        "detail", name="other", params={"lr": 0.2, "depth": 3}, store=store, capture_env=False
    ) as run:
        for step in range(3):
            run.log_metric("auc", 0.4 + step / 10, step=step)
        other = run.run_id
    with shipyard.start_run(HOSTILE, name=HOSTILE, params={"p": HOSTILE}, store=store) as run:
        run.log_metric("auc", 0.99)
        hostile = run.run_id
    server = LiveServer(create_app(store)).start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            yield RunsSite(store, http, detailed, other, hostile)
    finally:
        server.stop()
        store.close()


def _table(text: str, test_id: str) -> str:
    match = re.search(rf'<table data-testid="{test_id}">(.*?)</table>', text, re.S)
    assert match, f"no table {test_id!r} in the page"
    return match.group(1)


def _run_names(text: str) -> list[str]:
    """The run names in the runs table, in order (the second cell of each body row)."""
    body = _table(text, "runs-table").split("<tbody>", 1)[1]
    rows = re.findall(r"<tr><td>.*?</td><td><a [^>]*>(.*?)</a>", body, re.S)
    return [html.unescape(r) for r in rows]


def _option(text: str, test_id: str) -> dict[str, Any]:
    match = re.search(rf'data-option="([^"]*)"[^>]*data-testid="{re.escape(test_id)}"', text)
    assert match, f"no chart {test_id!r} in the page"
    option: dict[str, Any] = json.loads(html.unescape(match.group(1)))
    return option


def _get(http: httpx.Client, path: str, status: int = 200, **params: Any) -> str:
    answer = http.get(path, params=params or None)
    assert answer.status_code == status, answer.text[-2000:]
    assert answer.headers["content-type"].startswith("text/html")
    return answer.text


# -- the search -----------------------------------------------------------------------------


def test_runs_come_50_to_a_page_with_a_pager(site: RunsSite) -> None:
    first = _get(site.http, "/ui/runs", experiment="bulk")
    second = _get(site.http, "/ui/runs", experiment="bulk", page=2)
    third = _get(site.http, "/ui/runs", experiment="bulk", page=3)
    pages = [_run_names(t) for t in (first, second, third)]
    assert [len(p) for p in pages] == [50, 50, 20]
    assert len({name for p in pages for name in p}) == BULK
    assert pages[0][0] == "bulk-119"  # newest first by default
    assert 'data-testid="pager"' in first
    assert 'data-testid="compare-button"' in first
    assert 'rel="next"' in first
    assert 'rel="prev"' not in first
    assert 'rel="next"' not in third
    assert "runs 101-120" in third


def test_every_experiment_is_searched_without_one(site: RunsSite) -> None:
    names = _run_names(_get(site.http, "/ui/runs"))
    assert len(names) == 50
    assert {"detailed", "other", HOSTILE} <= set(names)


@pytest.mark.parametrize(
    ("order", "first", "last"),
    [
        ("metrics.auc DESC", "bulk-119", "bulk-070"),
        ("metrics.auc ASC", "bulk-000", "bulk-049"),
        ("name DESC", "bulk-119", "bulk-070"),
        ("params.index ASC", "bulk-000", "bulk-035"),  # params sort as text: 0, 1, 10, 100...
    ],
    ids=["auc-desc", "auc-asc", "name-desc", "param-as-text"],
)
def test_the_order_is_the_databases(site: RunsSite, order: str, first: str, last: str) -> None:
    names = _run_names(_get(site.http, "/ui/runs", experiment="bulk", order=order))
    assert (names[0], names[-1]) == (first, last)


def test_column_headers_sort_and_flip(site: RunsSite) -> None:
    text = _get(site.http, "/ui/runs", experiment="bulk")
    href = html.unescape(re.search(r'<a href="([^"]*order=metrics.auc[^"]*)"', text).group(1))
    assert "order=metrics.auc+DESC" in href
    assert "experiment=bulk" in href
    by_auc = _get(site.http, href)
    assert _run_names(by_auc)[0] == "bulk-119"
    assert "auc ▼" in by_auc
    flipped = html.unescape(re.search(r'<a href="([^"]*order=metrics.auc[^"]*)"', by_auc).group(1))
    assert "order=metrics.auc+ASC" in flipped
    assert _run_names(_get(site.http, flipped))[0] == "bulk-000"


def test_a_filter_narrows_the_runs(site: RunsSite) -> None:
    query = {"experiment": "bulk", "filter": "metrics.auc > 0.5", "order": "metrics.auc ASC"}
    first = _get(site.http, "/ui/runs", **query)
    second = _get(site.http, "/ui/runs", **query, page=2)
    names = _run_names(first) + _run_names(second)
    assert len(names) == 59  # auc = i/120 > 0.5 for i in 61..119
    assert names[0] == "bulk-061"
    assert 'rel="next"' not in second
    gbm = _get(site.http, "/ui/runs", experiment="bulk", filter="params.model = 'gbm'", page=2)
    assert len(_run_names(gbm)) == 10  # 60 odd runs


def test_paging_keeps_the_filter_and_order(site: RunsSite) -> None:
    text = _get(site.http, "/ui/runs", experiment="bulk", filter="metrics.auc > 0.1")
    href = html.unescape(re.search(r'<a rel="next" href="([^"]*)"', text).group(1))
    assert "page=2" in href
    assert "filter=metrics.auc" in href
    assert "experiment=bulk" in href


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"filter": "metrics.auc >> 1"}, "invalid filter at position 13"),
        ({"filter": "colour = 'red'"}, "unknown field &#x27;colour&#x27;"),
        ({"order": "metrics.auc sideways"}, "ASC or DESC"),
    ],
    ids=["bad-operator", "unknown-field", "bad-order"],
)
def test_a_bad_search_says_why_with_400(
    site: RunsSite, params: dict[str, str], expected: str
) -> None:
    text = _get(site.http, "/ui/runs", 400, **params)
    message = re.search(r'data-testid="filter-error">(.*?)</div>', text, re.S)
    assert message
    assert expected in message.group(1)
    assert f'value="{html.escape(params.get("filter", ""))}"' in text  # kept in the box
    assert 'data-testid="pager"' in text


def test_an_unknown_experiment_is_a_404(site: RunsSite) -> None:
    text = _get(site.http, "/ui/runs", 404, experiment="nowhere")
    assert "experiment &#x27;nowhere&#x27; not found" in text


def test_a_bad_page_number_falls_back_to_the_first(site: RunsSite) -> None:
    assert len(_run_names(_get(site.http, "/ui/runs", experiment="bulk", page="x"))) == 50
    assert "No run matches." in _get(site.http, "/ui/runs", experiment="bulk", page=99)


def test_one_page_is_one_search_not_a_query_per_run(site: RunsSite) -> None:
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    engine = site.store.metadata.db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        assert len(_run_names(_get(site.http, "/ui/runs", order="metrics.auc DESC"))) == 50
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert 0 < len(statements) <= 6, statements


def test_hostile_names_are_escaped(site: RunsSite) -> None:
    pages = [
        _get(site.http, "/ui/runs"),
        _get(site.http, "/ui/runs", experiment=HOSTILE),
        _get(site.http, "/ui/runs", 400, filter=f"name = {HOSTILE}"),
        _get(site.http, f"/ui/runs/{site.hostile}"),
        _get(site.http, "/ui/compare", runs=[site.hostile, site.other]),
    ]
    for text in pages:
        assert "<script>alert" not in text
    assert html.escape(HOSTILE) in pages[0]
    assert html.escape(HOSTILE) in pages[3]
    assert _run_names(pages[1]) == [HOSTILE]


# -- one run --------------------------------------------------------------------------------


def test_a_run_page_shows_everything_about_it(site: RunsSite) -> None:
    text = _get(site.http, f"/ui/runs/{site.detailed}")
    params = _table(text, "run-params")
    assert "<td>lr</td><td>0.1</td>" in params
    assert "<td>depth</td><td>3</td>" in params
    assert "<td>loss</td><td>0.2</td>" in _table(text, "run-metrics")
    assert "<td>team</td><td>ops</td>" in _table(text, "run-tags")
    assert "shipyard.git.commit" in text or "shipyard.python" in text
    assert "ui-runs-model-training" in _table(text, "run-inputs")
    artifacts = _table(text, "run-artifacts")
    assert "notes/readme.txt" in artifacts
    assert "model/shipyard-model.json" in artifacts
    assert 'href="/ui/models/ui-runs-model/1"' in _table(text, "run-versions")
    loss = _option(text, "metric-chart-loss")
    assert loss["series"][0]["data"] == [[s, pytest.approx(1 / (s + 1))] for s in range(5)]
    assert _option(text, "metric-chart-auc")["series"][0]["name"] == "auc"


def test_an_unknown_run_is_a_404_page(site: RunsSite) -> None:
    text = _get(site.http, "/ui/runs/no-such-run", 404)
    assert "run &#x27;no-such-run&#x27; not found" in text
    assert 'data-testid="error"' in text


# -- comparing ------------------------------------------------------------------------------


def test_compare_puts_runs_side_by_side(site: RunsSite) -> None:
    text = _get(site.http, "/ui/compare", runs=[site.detailed, site.other])
    params = _table(text, "compare-params")
    lr = re.search(r"<tr><td>lr(.*?)</tr>", params).group(1)
    depth = re.search(r"<tr><td>depth(.*?)</tr>", params).group(1)
    assert "differs" in lr
    assert "<td>0.1</td><td>0.2</td>" in lr
    assert "differs" not in depth
    assert "loss" in _table(text, "compare-metrics")
    auc = _option(text, "compare-chart-auc")
    assert len(auc["series"]) == 2
    assert [len(s["data"]) for s in auc["series"]] == [5, 3]
    assert len(_option(text, "compare-chart-loss")["series"]) == 1


def test_the_runs_form_sends_its_ticks_to_compare(site: RunsSite) -> None:
    text = _get(site.http, "/ui/runs", experiment="detail")
    assert '<form method="get" action="/ui/compare">' in text
    assert f'name="runs" value="{site.detailed}"' in text


@pytest.mark.parametrize(
    ("runs", "status", "expected"),
    [
        ([], 400, "Pick runs to compare"),
        (["missing"], 404, "run &#x27;missing&#x27; not found"),
        ([f"r{i}" for i in range(21)], 400, "At most 20 runs"),
    ],
    ids=["none", "unknown", "too-many"],
)
def test_compare_refuses_what_it_cannot_show(
    site: RunsSite, runs: list[str], status: int, expected: str
) -> None:
    assert expected in _get(site.http, "/ui/compare", status, runs=runs)
