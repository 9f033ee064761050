"""The dashboard's runs pages: search (filtered, sorted and paged in SQL), one run, comparison."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from shipyard.core.entities import Run, RunStatus
from shipyard.core.errors import InvalidInputError, NotFoundError
from shipyard.core.filters import FieldRef, OrderKey, parse_order_by
from shipyard.server._ui import (
    chart,
    esc,
    fmt,
    link,
    page,
    problem_page,
    query_url,
    section,
    store_of,
    table,
)
from shipyard.server._ui_charts import line_chart
from shipyard.services import (
    get_metric_history,
    get_run,
    list_artifacts,
    list_experiments,
    search_runs,
)

__all__ = ["PAGE_SIZE", "order_term", "router", "run_url"]

router = APIRouter(prefix="/ui", include_in_schema=False)

#: Runs per page of the search.
PAGE_SIZE = 50
_MAX_METRIC_COLUMNS = 10
_MAX_PARAM_COLUMNS = 8
_MAX_COMPARED = 20
_MAX_CHARTS = 40
_PLAIN_FIELD = re.compile(r"[A-Za-z_][\w.\-/:]*")
_PREFIXES = {"metric": "metrics", "param": "params", "tag": "tags"}
_NEWEST_FIRST = OrderKey(FieldRef("attribute", "start_time"), descending=True)
_FILTER_HELP = (
    "e.g. metrics.auc > 0.8 and params.model = 'gbm', status = 'FAILED', "
    "tags.`shipyard.git.dirty` = 'false'"
)


def run_url(run_id: str) -> str:
    """The dashboard page of a run."""
    return f"/ui/runs/{quote(run_id, safe='')}"


def order_term(field: FieldRef, descending: bool) -> str:
    """The ``order_by`` text for a field, quoting keys the search language needs quoted."""
    if field.kind == "attribute":
        text = field.key
    else:
        prefix = _PREFIXES[field.kind]
        plain = f"{prefix}.{field.key}"
        if _PLAIN_FIELD.fullmatch(plain):
            text = plain
        elif "`" not in field.key:
            text = f"{prefix}.`{field.key}`"
        else:
            text = f'{prefix}."{field.key.replace(chr(34), chr(34) * 2)}"'
    return f"{text} {'DESC' if descending else 'ASC'}"


def status_badge(status: RunStatus) -> str:
    """A run's status as a coloured badge."""
    kind = {"FINISHED": "ok", "FAILED": "bad", "KILLED": "warn"}.get(status.value, "")
    return f'<span class="badge {kind}">{esc(status.value)}</span>'


def _problem(title: str, message: str, status: int, *, crumbs: Sequence[str] = ()) -> HTMLResponse:
    return problem_page(title, message, status, active="Runs", crumbs=crumbs)


# -- the search ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Search:
    """What the runs page was asked for."""

    experiment: str
    filter: str
    order: str
    page: int

    def url(self, **changes: Any) -> str:
        values = {
            "experiment": self.experiment,
            "filter": self.filter,
            "order": self.order,
            "page": self.page,
            **changes,
        }
        if values["page"] == 1:
            values["page"] = None
        return query_url("/ui/runs", values)

    @property
    def sorted_by(self) -> OrderKey:
        """The first ordering term in force (newest first when none is given or it is bad)."""
        try:
            keys = parse_order_by(self.order) if self.order.strip() else []
        except InvalidInputError:
            keys = []
        return keys[0] if keys else _NEWEST_FIRST


def _page_number(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        return 1
    return max(1, min(number, 10**9))


def _header(search: _Search, label: str, field: FieldRef) -> str:
    """A column header that sorts by its field, flipping the direction when already sorted."""
    current = search.sorted_by
    active = current.field == field
    descending = not (active and current.descending)
    arrow = (" ▼" if current.descending else " ▲") if active else ""
    href = search.url(order=order_term(field, descending), page=1)
    return f'<a href="{esc(href)}" title="sort by {esc(field)}">{esc(label)}{arrow}</a>'


def _columns(found: Sequence[Run], sorted_by: OrderKey) -> tuple[list[str], list[str]]:
    """The metric and param keys shown: those of the page's runs, plus the sorted one."""
    metrics = sorted({k for r in found for k in r.metrics})[:_MAX_METRIC_COLUMNS]
    params = sorted({k for r in found for k in r.params})[:_MAX_PARAM_COLUMNS]
    key = sorted_by.field.key
    if sorted_by.field.kind == "metric" and key not in metrics:
        metrics.insert(0, key)
    if sorted_by.field.kind == "param" and key not in params:
        params.insert(0, key)
    return metrics, params


def _filter_form(search: _Search, experiments: Sequence[str]) -> str:
    options = ['<option value="">all experiments</option>'] + [
        f'<option value="{esc(name)}"{" selected" if name == search.experiment else ""}>'
        f"{esc(name)}</option>"
        for name in experiments
    ]
    return (
        '<form class="filters" method="get" action="/ui/runs" data-testid="runs-filter">'
        f'<label>Experiment<select name="experiment">{"".join(options)}</select></label>'
        '<label>Filter<input type="text" name="filter" data-testid="filter-input" '
        f'value="{esc(search.filter)}" placeholder="metrics.auc &gt; 0.8"></label>'
        '<label>Order<input type="text" name="order" '
        f'value="{esc(search.order)}" placeholder="metrics.auc DESC"></label>'
        '<button class="primary" type="submit">Search</button>'
        f'<a href="/ui/runs">clear</a></form><p class="note">{esc(_FILTER_HELP)}</p>'
    )


def _pager(search: _Search, shown: int, more: bool) -> str:
    first = (search.page - 1) * PAGE_SIZE
    span = f"runs {first + 1}-{first + shown}" if shown else "no runs"
    parts = []
    if search.page > 1:
        parts.append(f'<a rel="prev" href="{esc(search.url(page=search.page - 1))}">← previous</a>')
    parts.append(f"<span>page {search.page} · {span}</span>")
    if more:
        parts.append(f'<a rel="next" href="{esc(search.url(page=search.page + 1))}">next →</a>')
    return f'<nav class="pager" data-testid="pager">{"".join(parts)}</nav>'


def _runs_table(search: _Search, found: Sequence[Run], names: Mapping[str, str]) -> str:
    metrics, params = _columns(found, search.sorted_by)
    attr = FieldRef
    headers = [
        "",
        _header(search, "run", attr("attribute", "name")),
        "experiment",
        _header(search, "status", attr("attribute", "status")),
        _header(search, "started", attr("attribute", "start_time")),
        "duration (s)",
        *(_header(search, k, attr("metric", k)) for k in metrics),
        *(_header(search, f"{k} (param)", attr("param", k)) for k in params),
    ]
    rows = [
        [
            f'<input type="checkbox" name="runs" value="{esc(r.run_id)}" '
            f'aria-label="select {esc(r.name)}">',
            link(run_url(r.run_id), r.name or r.run_id[:8]),
            esc(names.get(r.experiment_id, r.experiment_id)),
            status_badge(r.status),
            esc(fmt(r.start_time)),
            esc(fmt(r.duration_s)),
            *(esc(fmt(r.metrics.get(k))) for k in metrics),
            *(esc(r.params.get(k, "-")) for k in params),
        ]
        for r in found
    ]
    return (
        '<form method="get" action="/ui/compare">'
        + table(headers, rows, empty="No run matches.", test_id="runs-table")
        + '<div class="actions"><button class="primary" type="submit" '
        'data-testid="compare-button">Compare selected runs</button></div></form>'
    )


def _runs_body(store: Any, search: _Search) -> tuple[str, int]:
    """The runs page's body and status: one search query for the page, nothing per run."""
    experiments = list_experiments(store=store)
    names = {e.experiment_id: e.name for e in experiments}
    error, status, found = "", 200, []
    try:
        found = search_runs(
            search.experiment or None,
            search.filter.strip() or None,
            search.order.strip() or None,
            max_results=PAGE_SIZE + 1,  # one more tells whether a next page exists
            offset=(search.page - 1) * PAGE_SIZE,
            store=store,
        )
    except NotFoundError as exc:
        error, status = str(exc), 404
    except InvalidInputError as exc:  # InvalidFilterError: a filter or order that does not parse
        error, status = str(exc), 400
    more = len(found) > PAGE_SIZE
    found = found[:PAGE_SIZE]
    message = (
        f'<div class="message error" role="alert" data-testid="filter-error">'
        f"<b>The search failed.</b><pre>{esc(error)}</pre></div>"
        if error
        else ""
    )
    body = (
        _filter_form(search, [e.name for e in experiments])
        + message
        + _runs_table(search, found, names)
        + _pager(search, len(found), more)
    )
    return section("Runs", body), status


@router.get("/runs", response_class=HTMLResponse)
async def runs_page(
    request: Request,
    experiment: str = "",
    filter: str = "",
    order: str = "",
    page_number: Annotated[str, Query(alias="page")] = "1",
) -> HTMLResponse:
    """Runs found by the filter language, sorted and paged by the database."""
    search = _Search(experiment, filter, order, _page_number(page_number))
    body, status = await asyncio.to_thread(_runs_body, store_of(request), search)
    response = page("Runs", body, active="Runs")
    response.status_code = status
    return response


# -- one run ------------------------------------------------------------------------------


def _key_values(values: Mapping[str, object], *, empty: str, test_id: str) -> str:
    rows = [[esc(k), esc(fmt(v))] for k, v in sorted(values.items())]
    return table(["key", "value"], rows, empty=empty, test_id=test_id)


def _history(store: Any, run_id: str, key: str) -> list[tuple[int, float]]:
    return [(m.step, m.value) for m in get_metric_history(run_id, key, store=store)]


def _linked(store: Any, run_id: str) -> tuple[list[Any], list[Any]]:
    """The run's inputs and the versions it registered.

    No service reads these two for a run yet, so they come from the store's read
    protocol directly (both are single indexed queries).
    """
    return store.metadata.list_inputs(run_id), store.registry.versions_of_run(run_id)


def _run_body(store: Any, run_id: str) -> tuple[Run, str]:
    run = get_run(run_id, store=store)
    experiment = {e.experiment_id: e.name for e in list_experiments(store=store)}.get(
        run.experiment_id, run.experiment_id
    )
    artifacts = list_artifacts(run_id, store=store)
    inputs, versions = _linked(store, run_id)
    tiles = "".join(
        f'<div class="tile"><b>{value}</b><span>{esc(label)}</span></div>'
        for label, value in (
            ("status", status_badge(run.status)),
            ("experiment", link(query_url("/ui/runs", {"experiment": experiment}), experiment)),
            ("started", esc(fmt(run.start_time))),
            ("duration (s)", esc(fmt(run.duration_s))),
            ("code revision", esc((run.code_revision or "-")[:12])),
        )
    )
    registered = table(
        ["model version", "flavor", "created"],
        [
            [
                link(f"/ui/models/{quote(v.name, safe='')}/{v.version}", f"{v.name} v{v.version}"),
                esc(v.flavor),
                esc(fmt(v.created_at)),
            ]
            for v in versions
        ],
        empty="This run registered no model version.",
        test_id="run-versions",
    )
    user_tags = {k: v for k, v in run.tags.items() if not k.startswith("shipyard.")}
    system_tags = {k: v for k, v in run.tags.items() if k.startswith("shipyard.")}
    charts = "".join(
        chart(
            line_chart({key: _history(store, run_id, key)}, title=key, x_name="step"),
            test_id=f"metric-chart-{key}",
        )
        for key in sorted(run.metrics)[:_MAX_CHARTS]
    )
    message = f'<p class="note">{esc(run.message)}</p>' if run.message else ""
    body = (
        section("Summary", f'<div class="tiles">{tiles}</div>{message}')
        + section("Registered", registered)
        + '<div class="grid">'
        + section(
            "Latest metrics", _key_values(run.metrics, empty="No metric.", test_id="run-metrics")
        )
        + section("Params", _key_values(run.params, empty="No param.", test_id="run-params"))
        + "</div>"
        + (section("Metrics over steps", f'<div class="grid">{charts}</div>') if charts else "")
        + section(
            "Inputs",
            table(
                ["dataset", "context", "digest"],
                [
                    [esc(i.name), esc(i.context), f"<code>{esc(i.digest[:12])}</code>"]
                    for i in inputs
                ],
                empty="The run logged no dataset.",
                test_id="run-inputs",
            ),
        )
        + section(
            "Artifacts",
            table(
                ["path", "size (bytes)", "sha256"],
                [
                    [esc(a.path), esc(fmt(a.size)), f"<code>{esc(a.sha256[:12])}</code>"]
                    for a in artifacts
                ],
                empty="No artifact.",
                test_id="run-artifacts",
            ),
        )
        + '<div class="grid">'
        + section("Tags", _key_values(user_tags, empty="No tag.", test_id="run-tags"))
        + section(
            "System tags",
            _key_values(system_tags, empty="None recorded.", test_id="run-system-tags"),
        )
        + "</div>"
    )
    return run, body


@router.get("/runs/{run_id}", response_class=HTMLResponse)
async def run_page(request: Request, run_id: str) -> HTMLResponse:
    """One run: params, metrics and their charts, tags, inputs, artifacts, its versions."""
    crumbs = [link("/ui/runs", "Runs")]
    try:
        run, body = await asyncio.to_thread(_run_body, store_of(request), run_id)
    except NotFoundError as exc:
        return _problem("Run not found", str(exc), 404, crumbs=crumbs)
    return page(f"Run {run.name or run.run_id[:8]}", body, active="Runs", crumbs=crumbs)


# -- comparing runs -----------------------------------------------------------------------


def _labels(found: Sequence[Run]) -> list[str]:
    """A distinct legend label per run: its name and id prefix."""
    labels: list[str] = []
    for r in found:
        label = r.name if r.name == r.run_id[:8] else f"{r.name} ({r.run_id[:8]})"
        labels.append(label if label not in labels else f"{label} #{len(labels) + 1}")
    return labels


def _side_by_side(
    found: Sequence[Run],
    heads: Sequence[str],
    values: Callable[[Run], Mapping[str, Any]],
    name: str,
) -> str:
    keys = sorted({k for r in found for k in values(r)})
    rows = []
    for key in keys:
        cells = [values(r).get(key) for r in found]
        differs = len({repr(c) for c in cells}) > 1
        mark = ' <span class="badge warn">differs</span>' if differs else ""
        rows.append([f"{esc(key)}{mark}", *(esc(fmt(c)) for c in cells)])
    return table([esc(name), *heads], rows, empty=f"No {name}.", test_id=f"compare-{name}s")


def _compare_body(store: Any, ids: Sequence[str]) -> str:
    found = [get_run(run_id, store=store) for run_id in ids]
    labels = _labels(found)
    heads = [link(run_url(r.run_id), label) for r, label in zip(found, labels, strict=True)]
    summary = table(
        ["", *heads],
        [
            ["status", *(status_badge(r.status) for r in found)],
            ["started", *(esc(fmt(r.start_time)) for r in found)],
            ["duration (s)", *(esc(fmt(r.duration_s)) for r in found)],
        ],
    )
    keys = sorted({k for r in found for k in r.metrics})[:_MAX_CHARTS]
    charts = "".join(
        chart(
            line_chart(
                {
                    label: _history(store, r.run_id, key)
                    for r, label in zip(found, labels, strict=True)
                    if key in r.metrics
                },
                title=key,
                x_name="step",
            ),
            test_id=f"compare-chart-{key}",
        )
        for key in keys
    )
    return (
        section("Runs", summary)
        + section("Params", _side_by_side(found, heads, lambda r: r.params, "param"))
        + section("Metrics", _side_by_side(found, heads, lambda r: r.metrics, "metric"))
        + (section("Metrics over steps", f'<div class="grid">{charts}</div>') if charts else "")
    )


@router.get("/compare", response_class=HTMLResponse)
async def compare_page(
    request: Request, runs: Annotated[list[str] | None, Query()] = None
) -> HTMLResponse:
    """Runs side by side: params (differences marked), metrics, one overlaid chart per metric."""
    ids = list(dict.fromkeys(r for r in runs or [] if r))
    crumbs = [link("/ui/runs", "Runs")]
    if not ids:
        return _problem(
            "Compare runs", "Pick runs to compare: tick them on the runs page.", 400, crumbs=crumbs
        )
    if len(ids) > _MAX_COMPARED:
        return _problem(
            "Compare runs",
            f"At most {_MAX_COMPARED} runs can be compared at once; got {len(ids)}.",
            400,
            crumbs=crumbs,
        )
    try:
        body = await asyncio.to_thread(_compare_body, store_of(request), ids)
    except NotFoundError as exc:
        return _problem("Run not found", str(exc), 404, crumbs=crumbs)
    return page(f"Compare {len(ids)} runs", body, active="Runs", crumbs=crumbs)
