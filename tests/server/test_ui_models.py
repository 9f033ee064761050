"""The dashboard's models pages against a real server on loopback: the registry, one
model's versions and alias history, one version's signature and lineage graph."""

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

import shipyard
from shipyard.server import create_app

HOSTILE = "<script>alert('x')</script>"


@dataclass
class ModelsSite:
    """A live server over a store with model ``ui-model`` (v1 from a run, v2 without)."""

    http: httpx.Client
    run_id: str


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModelsSite]:
    root = tmp_path_factory.mktemp("ui-models")
    store = shipyard.Store.from_settings(
        shipyard.Settings(home=root / "home", project_dir=root, serve_poll_seconds=0.1)
    )
    store.upgrade()
    model, X = classifier()
    with shipyard.start_run("training", name=HOSTILE, params={"C": 1.0}, store=store) as run:
        run.log_metric("auc", 0.91)
        run.log_model(model, "ui-model", training_data=X, tags={"note": HOSTILE})
        run_id = run.run_id
    flipped, _ = classifier(flip=True)
    shipyard.register_model(
        flipped,
        "ui-model",
        training_data=X,
        metrics={"auc": 0.42},
        description=HOSTILE,
        store=store,
    )
    shipyard.update_model("ui-model", description=HOSTILE, store=store)
    shipyard.register_model(model, "ui-other", store=store)
    shipyard.set_alias("ui-model", "champion", 1, store=store)
    shipyard.set_alias("ui-model", "challenger", 1, store=store)
    shipyard.set_alias("ui-model", "challenger", 2, store=store)
    shipyard.create_endpoint("ui-api", "ui-model@champion", store=store)
    shipyard.set_canary("ui-api", version=2, percent=10, store=store)
    shipyard.create_endpoint("ui-fixed", "ui-model/1", store=store)
    server = LiveServer(create_app(store, log_predictions=False)).start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            yield ModelsSite(http, run_id)
    finally:
        server.stop()
        store.close()


def _get(http: httpx.Client, path: str, status: int = 200) -> str:
    answer = http.get(path)
    assert answer.status_code == status, answer.text[-2000:]
    assert answer.headers["content-type"].startswith("text/html")
    assert "<script>alert" not in answer.text
    return answer.text


def _table(text: str, test_id: str) -> str:
    match = re.search(rf'<table data-testid="{test_id}">(.*?)</table>', text, re.S)
    assert match, f"no table {test_id!r} in the page"
    return match.group(1)


def _rows(table_html: str) -> list[str]:
    return re.findall(r"<tr>(.*?)</tr>", table_html.split("<tbody>", 1)[1], re.S)


def _lineage(text: str) -> dict[str, Any]:
    match = re.search(r'data-option="([^"]*)"[^>]*data-testid="lineage-graph"', text)
    assert match, "no lineage graph in the page"
    series: dict[str, Any] = json.loads(html.unescape(match.group(1)))["series"][0]
    assert series["type"] == "graph"
    return series


def _nodes(series: dict[str, Any]) -> dict[str, str]:
    """Node kind -> the labels of that kind, joined."""
    found: dict[str, list[str]] = {}
    for node in series["data"]:
        found.setdefault(node["kind"], []).append(node["name"])
        assert series["categories"][node["category"]]["name"] == node["kind"]
    return {kind: " | ".join(sorted(names)) for kind, names in found.items()}


def test_the_models_page_lists_every_model(site: ModelsSite) -> None:
    rows = _rows(_table(_get(site.http, "/ui/models"), "models-table"))
    assert len(rows) == 2
    model = next(r for r in rows if "ui-model" in r)
    assert 'href="/ui/models/ui-model"' in model
    assert 'href="/ui/models/ui-model/2"' in model
    assert "champion → v1" in model
    assert "challenger → v2" in model
    assert "<td>2</td>" in model  # two endpoints serve it


def test_a_model_page_lists_versions_and_alias_history(site: ModelsSite) -> None:
    text = _get(site.http, "/ui/models/ui-model")
    versions = _rows(_table(text, "versions-table"))
    assert [re.search(r">v(\d+)<", r).group(1) for r in versions] == ["2", "1"]
    v2, v1 = versions
    assert "challenger" in v2
    assert "0.42" in v2
    assert "champion" in v1
    assert "0.91" in v1
    assert f'href="/ui/runs/{site.run_id}"' in v1
    history = _table(text, "alias-history")
    assert "set to v1" in history
    assert "v1 → v2" in history
    assert 'href="/ui/endpoints/ui-api"' in text
    assert "ui-model@champion" in text
    assert html.escape(HOSTILE) in text  # the model's description


def test_a_version_page_shows_signature_metrics_and_tags(site: ModelsSite) -> None:
    text = _get(site.http, "/ui/models/ui-model/1")
    inputs = _table(text, "signature-inputs")
    assert all(f"<td>{c}</td>" in inputs for c in ("carrier", "distance", "temp"))
    assert "<td>prediction</td>" in _table(text, "signature-outputs")
    assert "<td>auc</td><td>0.91</td>" in _table(text, "version-metrics")
    assert html.escape(HOSTILE) in _table(text, "version-tags")
    assert "ui-model-training" in _table(text, "lineage-datasets")
    assert "<title>ui-model v1 · shipyard</title>" in text


def test_the_lineage_graph_runs_from_data_to_endpoints(site: ModelsSite) -> None:
    series = _lineage(_get(site.http, "/ui/models/ui-model/1"))
    nodes = _nodes(series)
    assert set(nodes) == {"dataset", "run", "version", "endpoint"}
    assert "ui-model-training" in nodes["dataset"]
    assert nodes["run"] == f"run {HOSTILE}"  # escaped in the page, plain in the JSON
    assert nodes["version"] == "ui-model v1"
    assert nodes["endpoint"] == "ui-api (primary) | ui-fixed (primary)"
    kinds = {n["id"]: n["kind"] for n in series["data"]}
    edges = {(kinds[link["source"]], kinds[link["target"]]) for link in series["links"]}
    assert edges == {("dataset", "run"), ("run", "version"), ("version", "endpoint")}


def test_a_version_without_a_run_links_its_data_straight_to_it(site: ModelsSite) -> None:
    series = _lineage(_get(site.http, "/ui/models/ui-model/2"))
    nodes = _nodes(series)
    assert set(nodes) == {"dataset", "version", "endpoint"}
    assert nodes["endpoint"] == "ui-api (canary 10%)"
    kinds = {n["id"]: n["kind"] for n in series["data"]}
    edges = {(kinds[link["source"]], kinds[link["target"]]) for link in series["links"]}
    assert edges == {("dataset", "version"), ("version", "endpoint")}


def test_a_version_can_be_named_by_alias(site: ModelsSite) -> None:
    text = _get(site.http, "/ui/models/ui-model/challenger")
    assert "<h1>ui-model v2</h1>" in text


@pytest.mark.parametrize(
    ("path", "status", "expected"),
    [
        ("/ui/models/no-such-model", 404, "model &#x27;no-such-model&#x27; not found"),
        ("/ui/models/ui-model/9", 404, "has no version 9"),
        ("/ui/models/ui-model/gone", 404, "has no alias &#x27;gone&#x27;"),
        ("/ui/models/no-such-model/1", 404, "model &#x27;no-such-model&#x27; not found"),
        ("/ui/models/ui-model/0", 400, "a version number is a whole number"),
    ],
    ids=["model", "version", "alias", "model-of-version", "bad-number"],
)
def test_what_is_not_there_gets_a_clear_page(
    site: ModelsSite, path: str, status: int, expected: str
) -> None:
    text = _get(site.http, path, status)
    message = re.search(r'data-testid="error">(.*?)</p>', text, re.S)
    assert message
    assert expected in message.group(1)


def test_a_model_without_training_data_has_an_empty_lineage(site: ModelsSite) -> None:
    text = _get(site.http, "/ui/models/ui-other/1")
    assert _nodes(_lineage(text)) == {"version": "ui-other v1"}
    assert "No dataset is linked to this version." in text
    assert "Not recorded." in text  # no signature without training data
