"""Run search on every backend: filters, ordering and paging done in SQL.

One fixed set of runs is built per backend for the whole module (the tests only
read it). Expectations are written out by hand for each operator, and a
brute-force evaluation of the parsed filter in Python cross-checks the SQL.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import update

import shipyard
from shipyard import Run, RunStatus
from shipyard.core.filters import BoolOp, Comparison, FilterNode, Not, parse_filter
from shipyard.core.ids import to_ms
from shipyard.stores._schema import runs as runs_table


@dataclass(frozen=True)
class Spec:
    name: str
    experiment: str
    status: RunStatus
    start: str  # ISO date, UTC
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, list[float]] = field(default_factory=dict)  # one value per step


F, X, K, R = RunStatus.FINISHED, RunStatus.FAILED, RunStatus.KILLED, RunStatus.RUNNING
NAN, INF = math.nan, math.inf

SPECS = [
    Spec(
        "gbm-1",
        "search-a",
        F,
        "2024-01-01",
        {"model": "gbm", "lr": "0.1", "depth": "6", "size": "medium"},
        {"team": "Core", "stage": "prod"},
        {"auc": [0.5, 0.91], "loss": [0.3, 0.2]},
    ),
    Spec(
        "gbm-2",
        "search-a",
        F,
        "2024-01-02",
        {"model": "gbm", "lr": "0.01", "depth": "8", "size": "large"},
        {"team": "core", "stage": "dev"},
        {"auc": [0.85], "loss": [0.25]},
    ),
    Spec(
        "linear-1",
        "search-a",
        X,
        "2024-01-03",
        {"model": "linear", "lr": "0.1", "size": "small"},
        {"team": "Research"},
        {"auc": [0.7], "loss": [0.4, NAN]},
    ),
    Spec(
        "linear-2",
        "search-a",
        K,
        "2024-02-01",
        {"model": "linear"},
        {"stage": "prod"},
        {"auc": [0.7]},
    ),
    Spec(
        "rf-1",
        "search-b",
        F,
        "2024-02-15",
        {"model": "rf", "depth": "12", "size": "large"},
        {"team": "core"},
        {"auc": [0.88], "score": [INF]},
    ),
    Spec(
        "rf-2",
        "search-b",
        R,
        "2024-03-01",
        {"model": "rf", "depth": "3"},
        {"team": "CORE"},
        {"auc": [0.6], "score": [0.0, -INF]},
    ),
    Spec(
        "nn-1",
        "search-b",
        F,
        "2024-03-10",
        {"model": "nn_v1", "lr": "0.001", "size": "tiny"},
        {"team": "core_ml"},
        {"auc": [0.95], "loss": [0.1], "score": [1.0]},
    ),
    Spec("nn-2", "search-c", F, "2024-04-01", {"model": "nn%v2", "lr": "0.1"}),
    Spec(
        "gbm-3",
        "search-c",
        X,
        "2024-04-02",
        {"model": "GBM", "lr": "0.1"},
        {"team": "core"},
        {"auc": [0.91], "loss": [0.2]},
    ),
    Spec("baseline", "search-c", F, "2024-05-01", {"size": "small"}, {}, {"auc": [0.5]}),
]
NAMES = [spec.name for spec in SPECS]


def _ms(iso: str) -> int:
    return to_ms(datetime.fromisoformat(iso).replace(tzinfo=UTC))


def _build(store: shipyard.Store) -> None:
    meta = store.metadata
    for spec in SPECS:
        experiment = meta.get_or_create_experiment(spec.experiment)
        run = meta.create_run(experiment.experiment_id, spec.name, spec.tags, spec.params)
        points = [
            (key, value, step, 1_000 + step)
            for key, values in spec.metrics.items()
            for step, value in enumerate(values)
        ]
        meta.log_metrics(run.run_id, points)
        if spec.status is not RunStatus.RUNNING:
            meta.end_run(run.run_id, spec.status)
        with meta.db.write() as conn:  # fixed start times make the default order known
            conn.execute(
                update(runs_table)
                .where(runs_table.c.run_id == run.run_id)
                .values(start_time=_ms(spec.start))
            )


@pytest.fixture(scope="module")
def searched(
    backend: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[shipyard.Store]:
    """A store holding SPECS, on its own database (a scratch schema on PostgreSQL)."""
    home = tmp_path_factory.mktemp("search")
    settings: dict[str, Any] = {"home": home, "project_dir": home}
    if backend == "postgresql":
        settings["metadata_url"] = request.getfixturevalue("postgres_scratch")()
    store = shipyard.Store.from_settings(shipyard.Settings(**settings))
    try:
        _build(store)
        yield store
    finally:
        store.close()


Search = Callable[..., list[str]]


@pytest.fixture
def search(searched: shipyard.Store) -> Search:
    """search_runs over all experiments, returning run names in result order."""

    def run_search(filter: str | None = None, **kwargs: Any) -> list[str]:
        kwargs.setdefault("experiment", None)
        return [r.name for r in shipyard.search_runs(filter=filter, store=searched, **kwargs)]

    return run_search


@pytest.fixture
def by_name(searched: shipyard.Store) -> dict[str, Run]:
    return {run.name: run for run in shipyard.search_runs(None, store=searched)}


def _expect(*names: str) -> list[str]:
    """Names in the default order: newest start first (SPECS is oldest first)."""
    unknown = set(names) - set(NAMES)
    assert not unknown, unknown
    return [name for name in reversed(NAMES) if name in names]


# -- filters, with expectations written out ------------------------------------------------

FILTERS = [
    # metrics: the latest value of the key (gbm-1's first auc of 0.5 never matches)
    ("metrics.auc > 0.88", _expect("gbm-1", "nn-1", "gbm-3")),
    ("metrics.auc >= 0.88", _expect("gbm-1", "rf-1", "nn-1", "gbm-3")),
    ("metrics.auc < 0.6", _expect("baseline")),
    ("metrics.auc <= 0.6", _expect("rf-2", "baseline")),
    ("metrics.auc = 0.7", _expect("linear-1", "linear-2")),
    ("metrics.auc == 0.7", _expect("linear-1", "linear-2")),
    (
        "metrics.auc != 0.7",
        _expect("gbm-1", "gbm-2", "rf-1", "rf-2", "nn-1", "gbm-3", "baseline"),
    ),
    ("metrics.auc <> 0.7", _expect("gbm-1", "gbm-2", "rf-1", "rf-2", "nn-1", "gbm-3", "baseline")),
    (
        "metrics.auc > 0.5 and metrics.auc < 0.9",
        _expect("gbm-2", "linear-1", "linear-2", "rf-1", "rf-2"),
    ),
    # +/-inf compare as numbers; a NaN latest value matches nothing
    ("metrics.score > 1e308", _expect("rf-1")),
    ("metrics.score = inf", _expect("rf-1")),
    ("metrics.score < -1e308", _expect("rf-2")),
    ("metrics.score >= -inf", _expect("rf-1", "rf-2", "nn-1")),
    ("metrics.loss > 0", _expect("gbm-1", "gbm-2", "nn-1", "gbm-3")),
    ("metrics.loss < 1", _expect("gbm-1", "gbm-2", "nn-1", "gbm-3")),
    ("metrics.`loss` <= 0.2", _expect("gbm-1", "nn-1", "gbm-3")),
    # params and tags are strings; LIKE is case-sensitive on every backend
    ("params.model = 'gbm'", _expect("gbm-1", "gbm-2")),
    (
        "params.model != 'gbm'",
        _expect("linear-1", "linear-2", "rf-1", "rf-2", "nn-1", "nn-2", "gbm-3"),
    ),
    ("params.model like 'gb%'", _expect("gbm-1", "gbm-2")),
    ("params.model LIKE 'GB%'", _expect("gbm-3")),
    ("params.model ilike 'gb%'", _expect("gbm-1", "gbm-2", "gbm-3")),
    ("params.model like 'nn_v_'", _expect("nn-1", "nn-2")),
    ("params.model in ('rf', 'linear')", _expect("linear-1", "linear-2", "rf-1", "rf-2")),
    ("params.model not in ('rf', 'linear')", _expect("gbm-1", "gbm-2", "nn-1", "nn-2", "gbm-3")),
    ("params.lr = 0.1", _expect("gbm-1", "linear-1", "nn-2", "gbm-3")),  # compared as text
    ("params.lr = '0.10'", []),
    ('params.size = "small"', _expect("linear-1", "baseline")),
    ("tags.team = 'core'", _expect("gbm-2", "rf-1", "gbm-3")),
    ("tags.team != 'core'", _expect("gbm-1", "linear-1", "rf-2", "nn-1")),
    ("tags.team like 'core%'", _expect("gbm-2", "rf-1", "nn-1", "gbm-3")),
    ("tags.team like 'Core'", _expect("gbm-1")),
    ("tags.team ilike 'core'", _expect("gbm-1", "gbm-2", "rf-1", "rf-2", "gbm-3")),
    ("tags.team ILIKE 'CO%'", _expect("gbm-1", "gbm-2", "rf-1", "rf-2", "nn-1", "gbm-3")),
    ("tags.team in ('Core', 'Research')", _expect("gbm-1", "linear-1")),
    ("tags.stage not in ('prod')", _expect("gbm-2")),
    # attributes
    ("status = 'failed'", _expect("linear-1", "gbm-3")),
    ("attributes.status = 'FAILED'", _expect("linear-1", "gbm-3")),
    ("status != 'Finished'", _expect("linear-1", "linear-2", "rf-2", "gbm-3")),
    ("status in ('killed', 'Running')", _expect("linear-2", "rf-2")),
    ("status not in ('FINISHED', 'failed')", _expect("linear-2", "rf-2")),
    ("status like 'fin%'", _expect("gbm-1", "gbm-2", "rf-1", "nn-1", "nn-2", "baseline")),
    ("name = 'gbm-1'", _expect("gbm-1")),
    ("run_name like 'gbm-%'", _expect("gbm-1", "gbm-2", "gbm-3")),
    ("attributes.name in ('nn-1', 'nn-2', 'nope')", _expect("nn-1", "nn-2")),
    ("start_time >= '2024-03-01'", _expect("rf-2", "nn-1", "nn-2", "gbm-3", "baseline")),
    ("start_time < '2024-01-03'", _expect("gbm-1", "gbm-2")),
    ("start_time > '2024-01-02T12:00:00+00:00'", _expect(*NAMES[2:])),
    (f"start_time = {_ms('2024-04-01')}", _expect("nn-2")),
    ("end_time > '2020-01-01'", _expect(*(n for n in NAMES if n != "rf-2"))),
    ("end_time < '2020-01-01'", []),
    # boolean structure; keywords in any case; NOT binds tighter than AND
    ("params.model = 'gbm' or tags.team = 'Research'", _expect("gbm-1", "gbm-2", "linear-1")),
    (
        "metrics.auc > 0.8 and (params.model = 'rf' or tags.stage = 'prod')",
        _expect("gbm-1", "rf-1"),
    ),
    (
        "metrics.auc > 0.8 AND params.model = 'rf' OR tags.stage = 'prod'",
        _expect("gbm-1", "linear-2", "rf-1"),
    ),
    ("not params.model = 'gbm'", _expect(*(n for n in NAMES if n not in ("gbm-1", "gbm-2")))),
    (
        "not (metrics.auc > 0.8 or status = 'failed')",
        _expect("linear-2", "rf-2", "nn-2", "baseline"),
    ),
    ("NOT params.model = 'gbm' AND tags.team = 'core'", _expect("rf-1", "gbm-3")),
    ("not not tags.team = 'core'", _expect("gbm-2", "rf-1", "gbm-3")),
    ("((metrics.auc > 0.9))", _expect("gbm-1", "nn-1", "gbm-3")),
    ("   ", _expect(*NAMES)),
]


@pytest.mark.parametrize(("text", "expected"), [pytest.param(t, e, id=t) for t, e in FILTERS])
def test_filter(search: Search, text: str, expected: list[str]) -> None:
    assert search(text) == expected


def test_filter_on_run_id_and_experiment_id(search: Search, by_name: dict[str, Run]) -> None:
    nn1 = by_name["nn-1"]
    assert search(f"run_id = '{nn1.run_id}'") == ["nn-1"]
    assert search(f"attributes.id in ('{nn1.run_id}', '{by_name['rf-1'].run_id}')") == [
        "nn-1",
        "rf-1",
    ]
    assert search(f"experiment_id = '{nn1.experiment_id}'") == _expect("rf-1", "rf-2", "nn-1")


# -- brute force: the same filters evaluated in Python over the same runs ------------------


def _like(pattern: str, *, ignore_case: bool) -> re.Pattern[str]:
    regex = "".join(".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in pattern)
    return re.compile(regex, re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _apply(op: str, actual: Any, value: Any) -> bool:
    if op == "like":
        return _like(value, ignore_case=False).fullmatch(actual) is not None
    if op == "ilike":
        return _like(value, ignore_case=True).fullmatch(actual) is not None
    if op == "in":
        return actual in value
    if op == "not in":
        return actual not in value
    compare: dict[str, Callable[[Any, Any], bool]] = {
        "=": lambda a, b: a == b,
        "!=": lambda a, b: a != b,
        "<": lambda a, b: a < b,
        "<=": lambda a, b: a <= b,
        ">": lambda a, b: a > b,
        ">=": lambda a, b: a >= b,
    }
    return compare[op](actual, value)


def _evaluate(node: FilterNode, run: Run) -> bool | None:
    """SQL's three-valued logic: None where a NULL column makes the answer unknown."""
    if isinstance(node, BoolOp):
        values = [_evaluate(item, run) for item in node.items]
        decisive, other = (False, True) if node.op == "and" else (True, False)
        if decisive in values:
            return decisive
        return None if None in values else other
    if isinstance(node, Not):
        value = _evaluate(node.item, run)
        return None if value is None else not value
    assert isinstance(node, Comparison)
    return _compare(node, run)


def _compare(node: Comparison, run: Run) -> bool | None:
    key = node.field.key
    if node.field.kind == "attribute":
        attributes = {
            "run_id": run.run_id,
            "experiment_id": run.experiment_id,
            "name": run.name,
            "status": run.status.value,
            "start_time": to_ms(run.start_time),
            "end_time": None if run.end_time is None else to_ms(run.end_time),
        }
        actual = attributes[key]
        value = node.value
        if key == "status":
            value = (
                tuple(str(v).upper() for v in value)
                if isinstance(value, tuple)
                else str(value).upper()
            )
        return None if actual is None else _apply(node.op, actual, value)
    source: dict[str, Any] = {"metric": run.metrics, "param": run.params, "tag": run.tags}[
        node.field.kind
    ]
    actual = source.get(key)
    # A run without the key matches no comparison on it; nor does a NaN latest value.
    if actual is None or (isinstance(actual, float) and math.isnan(actual)):
        return False
    return _apply(node.op, actual, node.value)


BRUTE_FORCE_FILTERS = [text for text, _ in FILTERS if text.strip()] + [
    "metrics.auc >= 0.7 and not (tags.team ilike 'core%' or params.depth in ('6', '12'))",
    "(params.lr = '0.1' or params.lr = '0.01') and status != 'failed'",
    "not (end_time > '2024-01-01') or metrics.score > 0",
    "not end_time > '2024-01-01'",
    "tags.stage = 'prod' or (metrics.loss < 0.3 and not params.model like '%n%')",
    "params.depth not in ('6') and metrics.auc > 0.5 or tags.team like '%e%'",
    "metrics.score != 0 or not metrics.auc > 0.6",
]


@pytest.mark.parametrize("text", BRUTE_FORCE_FILTERS)
def test_filter_agrees_with_brute_force(search: Search, by_name: dict[str, Run], text: str) -> None:
    node = parse_filter(text)
    assert node is not None
    expected = {name for name, run in by_name.items() if _evaluate(node, run)}
    assert set(search(text)) == expected


# -- ordering ----------------------------------------------------------------------------

# Ties keep the default order (newest start first) whichever the direction; runs without
# the key, or whose latest value is NaN, come last either way.
ORDERS = [
    ("metrics.auc DESC", "nn-1 gbm-3 gbm-1 rf-1 gbm-2 linear-2 linear-1 rf-2 baseline nn-2"),
    ("metrics.auc asc", "baseline rf-2 linear-2 linear-1 gbm-2 rf-1 gbm-3 gbm-1 nn-1 nn-2"),
    ("metrics.loss", "nn-1 gbm-3 gbm-1 gbm-2 baseline nn-2 rf-2 rf-1 linear-2 linear-1"),
    ("metrics.score DESC", "rf-1 nn-1 rf-2 baseline gbm-3 nn-2 linear-2 linear-1 gbm-2 gbm-1"),
    ("metrics.score ASC", "rf-2 nn-1 rf-1 baseline gbm-3 nn-2 linear-2 linear-1 gbm-2 gbm-1"),
    ("params.size", "rf-1 gbm-2 gbm-1 baseline linear-1 nn-1 gbm-3 nn-2 rf-2 linear-2"),
    ("params.size DESC", "nn-1 baseline linear-1 gbm-1 rf-1 gbm-2 gbm-3 nn-2 rf-2 linear-2"),
    ("start_time ASC", " ".join(NAMES)),
    ("attributes.start_time desc", " ".join(reversed(NAMES))),
    ("name", " ".join(sorted(NAMES))),
]


@pytest.mark.parametrize(("order_by", "expected"), [pytest.param(o, e, id=o) for o, e in ORDERS])
def test_order_by(search: Search, order_by: str, expected: str) -> None:
    assert search(order_by=order_by) == expected.split()


def test_order_by_two_keys(search: Search) -> None:
    expected = "rf-1 gbm-2 gbm-1 linear-1 baseline nn-1 gbm-3 linear-2 rf-2 nn-2"
    assert search(order_by=["params.size ASC", "metrics.auc DESC"]) == expected.split()


def test_default_order_is_newest_first(search: Search) -> None:
    assert search() == search(order_by=[]) == NAMES[::-1]


@pytest.mark.parametrize("descending", [False, True], ids=["asc", "desc"])
@pytest.mark.parametrize("key", ["auc", "loss", "score"])
def test_metric_order_agrees_with_brute_force(
    search: Search, by_name: dict[str, Run], key: str, descending: bool
) -> None:
    newest_first = {name: index for index, name in enumerate(reversed(NAMES))}

    def sort_key(name: str) -> tuple[bool, float, int]:
        value = by_name[name].metrics.get(key, math.nan)
        if math.isnan(value):
            return (True, 0.0, newest_first[name])
        return (False, -value if descending else value, newest_first[name])

    direction = "DESC" if descending else "ASC"
    assert search(order_by=f"metrics.{key} {direction}") == sorted(NAMES, key=sort_key)


def test_order_by_tag_puts_untagged_runs_last(search: Search) -> None:
    # Mixed-case values sort differently under different collations; only the tail is fixed.
    for order_by in ("tags.team DESC", "tags.team ASC"):
        found = search(order_by=order_by)
        assert sorted(found) == sorted(NAMES)
        assert found[-3:] == ["baseline", "nn-2", "linear-2"]


def test_filter_and_order_together(search: Search) -> None:
    assert search("params.model ilike 'gbm'", order_by="metrics.loss DESC") == [
        "gbm-2",
        "gbm-3",
        "gbm-1",
    ]


@pytest.mark.parametrize(
    "order_by", [None, "metrics.auc DESC", "params.size", "metrics.score"], ids=str
)
@pytest.mark.parametrize("page_size", [1, 3, 4])
def test_pages_cover_everything_once(search: Search, order_by: str | None, page_size: int) -> None:
    everything = search(order_by=order_by)
    pages: list[str] = []
    for offset in range(0, len(NAMES) + page_size, page_size):
        page = search(order_by=order_by, max_results=page_size, offset=offset)
        assert len(page) <= page_size
        pages += page
    assert pages == everything
    assert len(set(pages)) == len(NAMES)


def test_page_past_the_end_is_empty(search: Search) -> None:
    assert search(max_results=5, offset=10) == []
    assert search(max_results=5, offset=8) == _expect("gbm-1", "gbm-2")


# -- experiments -------------------------------------------------------------------------


def test_search_one_experiment_by_name_or_id(searched: shipyard.Store) -> None:
    experiment = searched.metadata.get_experiment("search-b")
    for ref in ("search-b", experiment.experiment_id):
        found = shipyard.search_runs(ref, store=searched)
        assert [r.name for r in found] == _expect("rf-1", "rf-2", "nn-1")
        assert {r.experiment_id for r in found} == {experiment.experiment_id}


def test_search_several_experiments(search: Search) -> None:
    assert search(experiment=["search-a", "search-c"], filter="metrics.auc > 0.8") == _expect(
        "gbm-1", "gbm-2", "gbm-3"
    )
    assert search(experiment=[]) == []
    assert search(experiment=None) == _expect(*NAMES)


@pytest.mark.parametrize("experiment", ["nope", ["search-a", "nope"]], ids=["alone", "among-known"])
def test_unknown_experiment(searched: shipyard.Store, experiment: Any) -> None:
    with pytest.raises(shipyard.NotFoundError, match="experiment 'nope' not found"):
        shipyard.search_runs(experiment, store=searched)


# -- results -----------------------------------------------------------------------------


def test_results_are_hydrated(searched: shipyard.Store) -> None:
    (run,) = shipyard.search_runs(filter="name = 'gbm-1'", store=searched)
    assert run.status is RunStatus.FINISHED
    assert run.params == {"model": "gbm", "lr": "0.1", "depth": "6", "size": "medium"}
    assert run.tags == {"team": "Core", "stage": "prod"}
    assert run.metrics == {"auc": 0.91, "loss": 0.2}
    assert run.start_time == datetime(2024, 1, 1, tzinfo=UTC)


def test_as_frame(searched: shipyard.Store) -> None:
    frame = shipyard.search_runs(order_by="start_time", as_frame=True, store=searched)
    assert list(frame["name"]) == NAMES
    assert {
        "run_id",
        "experiment_id",
        "status",
        "start_time",
        "end_time",
        "metrics.auc",
        "metrics.loss",
        "metrics.score",
        "params.model",
        "params.size",
        "tags.team",
        "tags.stage",
    } <= set(frame.columns)
    rows = frame.set_index("name")
    assert rows.loc["gbm-1", "metrics.auc"] == 0.91
    assert rows.loc["rf-1", "metrics.score"] == INF
    assert rows.loc["rf-2", "metrics.score"] == -INF
    assert math.isnan(rows.loc["linear-1", "metrics.loss"])  # NaN logged
    assert math.isnan(rows.loc["rf-1", "metrics.loss"])  # never logged
    assert rows.loc["gbm-3", "params.model"] == "GBM"
    assert pd.isna(rows.loc["baseline", "params.model"])
    assert rows.loc["rf-2", "status"] == "RUNNING"
    assert frame["metrics.auc"].dtype.kind == "f"


def test_empty_frame(searched: shipyard.Store) -> None:
    frame = shipyard.search_runs(filter="name = 'nope'", as_frame=True, store=searched)
    assert len(frame) == 0
    assert "run_id" in frame.columns


# -- refused searches --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filter", "order_by", "message"),
    [
        pytest.param(
            "metrics.auc > 'high'",
            None,
            r"metrics\.auc is numeric; got \"'high'\"",
            id="text-metric",
        ),
        pytest.param(
            "params.lr > '0.1'", None, r"params\.lr does not support '>'", id="ordering-a-param"
        ),
        pytest.param("auc > 0.8", None, r"unknown field 'auc'", id="bare-name"),
        pytest.param(
            "metrics.auc >", None, r"expected a value, got the end of the filter", id="no-value"
        ),
        pytest.param("metrics.auc > 0.8 and", None, r"expected a field", id="dangling-and"),
        pytest.param("(metrics.auc > 0.8", None, r"expected '\)'", id="unclosed"),
        pytest.param("metrics.auc = nan", None, r"NaN never compares equal", id="nan"),
        pytest.param(
            "start_time > 'yesterday'", None, r"epoch milliseconds or an ISO date", id="date"
        ),
        pytest.param(
            None, "metrics.auc sideways", r"optionally followed by ASC or DESC", id="order"
        ),
        pytest.param(None, "colour", r"unknown field 'colour'", id="order-field"),
    ],
)
def test_invalid_search(
    searched: shipyard.Store, filter: str | None, order_by: str | None, message: str
) -> None:
    with pytest.raises(shipyard.InvalidFilterError, match=message) as caught:
        shipyard.search_runs(filter=filter, order_by=order_by, store=searched)
    assert isinstance(caught.value, ValueError)
    assert caught.value.status_code == 400


@pytest.mark.parametrize(
    ("max_results", "offset"), [(0, 0), (10, -1)], ids=["no-results", "negative-offset"]
)
def test_invalid_page(searched: shipyard.Store, max_results: int, offset: int) -> None:
    with pytest.raises(
        shipyard.InvalidInputError, match="max_results must be >= 1 and offset >= 0"
    ):
        shipyard.search_runs(max_results=max_results, offset=offset, store=searched)


def test_search_in_an_empty_store(store: shipyard.Store, tmp_path: Path) -> None:
    assert shipyard.search_runs(store=store) == []
    assert shipyard.search_runs(filter="metrics.auc > 0", order_by="metrics.auc", store=store) == []
