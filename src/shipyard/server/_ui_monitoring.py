"""The dashboard's monitoring pages: every monitored endpoint, and one endpoint's windows.

The endpoint page draws what ``shipyard.monitor_report`` returns (the stored windows,
oldest first, and their alerts): drift per feature and window as a heatmap, the share
of drifted features, reference against current distributions of the latest window,
performance from late labels against the reference, latency, traffic and alerts.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from shipyard.core.errors import ShipyardError
from shipyard.server._ui import chart, esc, fmt, link, page, section, store_of, table
from shipyard.server._ui_endpoints import problem_page
from shipyard.services import list_alerts, list_endpoints, monitor_report, monitor_series
from shipyard.services._report_html import drift_severity

__all__ = ["router"]

router = APIRouter(prefix="/ui", include_in_schema=False)

_MAIN = ("auc", "accuracy")  # what the performance chart shows, when the task has them
_BOUNDED = ("auc", "accuracy", "f1", "precision", "recall")  # scores in [0, 1]
_ERRORS = ("rmse", "mae", "mape", "r2")
_HEAT = ["#e3f4ea", "#fbe3b6", "#f7a08f", "#b42318"]
_REFERENCE = "#94a3b8"
_CURRENT = "#2456c9"
_MAX_LABELLED_CELLS = 240


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _last(points: Sequence[tuple[datetime, datetime, float]]) -> float | None:
    return next((v for _, _, v in reversed(points) if not math.isnan(v)), None)


# -- the list -----------------------------------------------------------------------------


def _summaries(store: Any) -> tuple[list[list[str]], list[str]]:
    """One row per monitored endpoint, and the names of those never monitored."""
    rows, unmonitored = [], []
    for e in list_endpoints(store=store):
        windows = monitor_series(e.name, "rows", store=store)
        if not windows:
            unmonitored.append(e.name)
            continue

        def latest(name: str, endpoint: str = e.name) -> float | None:
            return _last(monitor_series(endpoint, name, store=store))

        performance = latest("auc")
        metric = "auc"
        if performance is None:
            performance, metric = latest("accuracy"), "accuracy"
        alerts = list_alerts(e.name, limit=100, store=store)
        first, last = windows[0], windows[-1]
        rows.append(
            [
                link(f"/ui/monitoring/{quote(e.name, safe='')}", e.name),
                esc(len(windows)),
                esc(f"{fmt(first[0])} → {fmt(last[1])}"),
                esc(fmt(latest("drift_share"), 3)),
                esc(f"{metric} {fmt(performance, 3)}" if performance is not None else "-"),
                esc(fmt(latest("p99_ms"), 3)),
                esc(fmt(latest("error_rate"), 3)),
                (
                    f'<span class="badge bad">{len(alerts)}{"+" if len(alerts) >= 100 else ""}'
                    "</span>"
                    if alerts
                    else '<span class="badge ok">0</span>'
                ),
            ]
        )
    return rows, unmonitored


@router.get("/monitoring", response_class=HTMLResponse)
async def monitoring_page(request: Request) -> Response:
    """Every endpoint with monitoring windows, and the latest of its figures."""
    rows, unmonitored = await asyncio.to_thread(_summaries, store_of(request))
    headers = [
        "endpoint",
        "windows",
        "span",
        "drift share",
        "performance",
        "p99 ms",
        "error rate",
        "alerts",
    ]
    body = section(
        "Monitored endpoints",
        table(
            headers,
            rows,
            empty="No endpoint has monitoring windows yet: run `shipyard monitor run ENDPOINT`.",
            test_id="monitoring-table",
        ),
        note="Figures of each endpoint's latest window.",
    )
    if unmonitored:
        names = ", ".join(link(f"/ui/endpoints/{quote(n, safe='')}", n) for n in unmonitored)
        body += section("Not monitored yet", f"<p>{names}</p>")
    return page("Monitoring", body, active="Monitoring")


# -- one endpoint --------------------------------------------------------------------------


def _labels(windows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Window start times, as short as the windows' length allows."""
    starts: list[datetime | None] = []
    spans = []
    for w in windows:
        try:
            start = datetime.fromisoformat(str(w.get("start")))
            end = datetime.fromisoformat(str(w.get("end")))
        except ValueError:
            starts.append(None)
            continue
        starts.append(start)
        spans.append(end - start)
    daily = bool(spans) and min(spans) >= timedelta(days=1)
    form = "%Y-%m-%d" if daily else "%m-%d %H:%M"
    return [f"#{i + 1}" if s is None else s.strftime(form) for i, s in enumerate(starts)]


def _base(
    title: str, labels: list[str], y_name: str = "", percent: bool = False, bars: bool = False
) -> dict[str, Any]:
    """A category-axis chart over the windows; bars start at zero, lines fit their values."""
    axis: dict[str, Any] = {"type": "value", "name": y_name, "scale": not (percent or bars)}
    if percent:
        axis.update({"min": 0, "max": 1})
    return {
        "title": {"text": title, "left": "center", "textStyle": {"fontSize": 13}},
        "tooltip": {"trigger": "axis"},
        "legend": {"type": "scroll", "bottom": 0},
        "grid": {"left": 56, "right": 24, "top": 40, "bottom": 56},
        "xAxis": {"type": "category", "data": labels},
        "yAxis": axis,
        "series": [],
    }


def _line(
    name: str, values: Sequence[float | None], color: str | None = None, dashed: bool = False
) -> dict[str, Any]:
    found: dict[str, Any] = {
        "name": name,
        "type": "line",
        "data": list(values),
        "connectNulls": False,
        "showSymbol": len(values) <= 60,
    }
    if color:
        found["color"] = color
    if dashed:
        found["lineStyle"] = {"type": "dashed"}
    return found


def _heatmap(windows: Sequence[Mapping[str, Any]], labels: list[str]) -> str:
    results = [_map(_map(w.get("drift")).get("columns")) for w in windows]
    names = sorted({name for r in results for name in r})
    cells = []
    for x, result in enumerate(results):
        for y, name in enumerate(names):
            found = _map(result.get(name))
            severity = drift_severity(found)
            if severity is not None:
                score = _num(found.get("score"))
                cells.append([x, y, round(min(severity, 4.0), 4), fmt(score, 3)])
    option = {
        "title": {"text": "Drift per feature and window", "left": "center"},
        "tooltip": {"position": "top"},
        "grid": {"left": 120, "right": 24, "top": 40, "bottom": 90},
        "xAxis": {"type": "category", "data": labels, "splitArea": {"show": True}},
        "yAxis": {"type": "category", "data": names, "splitArea": {"show": True}},
        "visualMap": {
            "min": 0,
            "max": 2,
            "dimension": 2,
            "calculable": True,
            "orient": "horizontal",
            "left": "center",
            "bottom": 0,
            "text": ["drifted", "stable"],
            "inRange": {"color": _HEAT},
        },
        "series": [
            {
                "name": "score / threshold",
                "type": "heatmap",
                "data": cells,
                "label": {"show": len(cells) <= _MAX_LABELLED_CELLS, "formatter": "{@[3]}"},
            }
        ],
    }
    note = (
        "Each cell: a feature's drift score in a window against the reference profile "
        "(p-value for KS and chi-square, distance otherwise), coloured by how far it is "
        "towards (1) or past its threshold."
    )
    if not names:
        note = "No drift computed: the windows have no reference profile to compare with."
    height = max(220, 60 + 26 * len(names) + 90)
    return f'<p class="note">{esc(note)}</p>' + chart(
        option, height=height, test_id="drift-heatmap"
    )


def _drift_share(windows: Sequence[Mapping[str, Any]], labels: list[str]) -> str:
    drift = [_map(w.get("drift")) for w in windows]
    option = _base("Share of drifted features", labels, percent=True)
    line = _line("drift share", [_num(d.get("share")) for d in drift], _CURRENT)
    threshold = next((_num(d.get("threshold")) for d in reversed(drift) if d), None)
    if threshold is not None:
        line["markLine"] = {
            "symbol": "none",
            "lineStyle": {"color": "#b3261e", "type": "dashed"},
            "data": [{"yAxis": threshold, "name": "threshold"}],
        }
    option["series"] = [line]
    return chart(option, height=240, test_id="drift-share-chart")


def _bins(histogram: Mapping[str, Any]) -> list[str]:
    labels = [str(x) for x in histogram.get("labels") or []]
    if labels:
        return labels
    edges = [_num(x) for x in histogram.get("edges") or []]
    return [f"{fmt(a, 3)} to {fmt(b, 3)}" for a, b in pairwise(edges)]


def _distributions(windows: Sequence[Mapping[str, Any]]) -> str:
    columns = _map(_map(windows[-1].get("drift")).get("columns")) if windows else {}
    if not columns:
        return '<p class="empty">No drift results in the latest window.</p>'
    cards = []
    for name in sorted(columns, key=lambda n: (not _map(columns[n]).get("drifted"), n)):
        found = _map(columns[name])
        histogram = _map(found.get("histogram"))
        option = _base(name, _bins(histogram), "share of rows", bars=True)
        option["tooltip"] = {"trigger": "axis", "axisPointer": {"type": "shadow"}}
        option["series"] = [
            {"name": "reference", "type": "bar", "color": _REFERENCE,
             "data": [_num(v) for v in histogram.get("reference") or []]},
            {"name": "current", "type": "bar", "color": _CURRENT,
             "data": [_num(v) for v in histogram.get("current") or []]},
        ]  # fmt: skip
        drifted = found.get("drifted") is True
        badge = f'<span class="badge {"bad" if drifted else "ok"}">'
        badge += f"{'drifted' if drifted else 'stable'}</span>"
        meta = f"{found.get('method') or '-'} {fmt(_num(found.get('score')), 3)}"
        meta += f" (threshold {fmt(_num(found.get('threshold')), 3)})"
        cards.append(
            f"<div>{badge} <span class=note>{esc(meta)}</span>"
            + chart(option, height=240, test_id=f"distribution-{name}")
            + "</div>"
        )
    return f'<div class="grid">{"".join(cards)}</div>'


def _performance(windows: Sequence[Mapping[str, Any]], labels: list[str]) -> str:
    performance = [_map(w.get("performance")) for w in windows]
    metrics = [_map(p.get("metrics")) for p in performance]
    references = [_map(p.get("reference")) for p in performance]
    present = {name for m in metrics for name, v in m.items() if _num(v) is not None}
    names = [n for n in _MAIN if n in present] or [n for n in _BOUNDED if n in present]
    names = names or [n for n in _ERRORS if n in present]
    option = _base(
        "Performance from labelled predictions", labels, percent=set(names) <= set(_BOUNDED)
    )
    palette = ["#2456c9", "#e08a00", "#1e7a46", "#8b5cf6", "#db2777"]
    series = []
    for i, name in enumerate(names):
        color = palette[i % len(palette)]
        series.append(_line(name, [_num(m.get(name)) for m in metrics], color))
        reference = [_num(r.get(name)) for r in references]
        if any(v is not None for v in reference):
            series.append(_line(f"{name} (reference)", reference, color, dashed=True))
    option["series"] = series
    note = "Dashed: the served version's own evaluation when it was registered."
    if not names:
        note = "No labelled predictions in these windows: log feedback to see performance."
    return f'<p class="note">{esc(note)}</p>' + chart(
        option, height=280, test_id="performance-chart"
    )


def _operations(windows: Sequence[Mapping[str, Any]], labels: list[str]) -> str:
    ops = [_map(w.get("operations")) for w in windows]
    latency = _base("Latency", labels, "ms")
    latency["series"] = [
        _line(name, [_num(o.get(f"{name}_ms")) for o in ops], color)
        for name, color in (("p50", "#93c5fd"), ("p95", "#3b82f6"), ("p99", "#1e3a8a"))
    ]
    volume = _base("Requests per window", labels, "requests", bars=True)
    versions = list(dict.fromkeys(v for o in ops for v in _map(o.get("versions"))))
    volume["series"] = [
        {
            "name": f"v{version}",
            "type": "bar",
            "stack": "requests",
            "data": [_num(_map(_map(o.get("versions")).get(version)).get("requests")) for o in ops],
        }
        for version in versions
    ]
    errors = _base("Error rate (5xx)", labels, percent=False)
    errors["series"] = [_line("error rate", [_num(o.get("error_rate")) for o in ops], "#b3261e")]
    return (
        '<div class="grid">'
        + chart(latency, height=260, test_id="latency-chart")
        + chart(errors, height=260, test_id="error-chart")
        + "</div>"
        + chart(volume, height=240, test_id="requests-chart")
    )


def _moment(value: Any) -> str:
    try:
        return fmt(datetime.fromisoformat(str(value)))
    except ValueError:
        return str(value)


def _alerts(alerts: Sequence[Mapping[str, Any]]) -> str:
    rows = [
        [
            esc(f"{_moment(a.get('window_start'))} → {_moment(a.get('window_end'))}"),
            f"<code>{esc(a.get('rule'))}</code>",
            esc(fmt(_num(a.get("value")), 4)),
            esc(fmt(_num(a.get("threshold")), 4)),
            esc(a.get("message")),
            esc("yes" if a.get("delivered") else "no" if a.get("delivered") is False else "-"),
        ]
        for a in alerts[:200]
    ]
    return table(
        ["window", "rule", "value", "threshold", "message", "sent"],
        rows,
        empty="No alert fired in these windows.",
        test_id="alerts-table",
    )


def _quality(windows: Sequence[Mapping[str, Any]]) -> str:
    quality = _map(windows[-1].get("quality")) if windows else {}
    columns = _map(quality.get("columns"))
    rows = [
        [
            f"<code>{esc(name)}</code>",
            esc(fmt(_num(_map(q).get("missing_rate")), 3)),
            esc(fmt(_num(_map(q).get("reference_missing_rate")), 3)),
            esc(fmt(_num(_map(q).get("out_of_range_rate")), 3)),
            esc(", ".join(str(c) for c in _map(q).get("new_categories") or []) or "-"),
        ]
        for name, q in sorted(columns.items())
    ]
    violations = f"Schema violations: {fmt(quality.get('schema_violations'))}."
    return f'<p class="note">{esc(violations)}</p>' + table(
        ["feature", "missing", "reference missing", "out of range", "new categories"],
        rows,
        empty="No data-quality checks in the latest window.",
    )


def _endpoint_body(report: Mapping[str, Any], name: str) -> str:
    windows = [w for w in report.get("windows") or [] if isinstance(w, Mapping)]
    alerts = [a for a in report.get("alerts") or [] if isinstance(a, Mapping)]
    quoted = quote(name, safe="")
    links = (
        f"<p>{link(f'/ui/endpoints/{quoted}', 'endpoint')} · "
        f"{link(f'/ui/decisions?endpoint={quoted}', 'the loop decisions')}</p>"
    )
    if not windows:
        empty = (
            "No monitoring windows yet: run `shipyard monitor run ENDPOINT` (or let the loop "
            "monitor it) once predictions are logged."
        )
        return links + section("Windows", f'<p class="empty">{esc(empty)}</p>')
    labels = _labels(windows)
    latest = windows[-1]
    reference = _map(latest.get("reference"))
    facts = [
        (str(len(windows)), "windows"),
        (f"{labels[0]} → {labels[-1]}", "span"),
        (fmt(latest.get("rows")), "rows in the latest"),
        (fmt(latest.get("labelled")), "labelled in the latest"),
        (f"v{reference.get('version')}" if reference else "-", "reference version"),
        (str(len(alerts)), "alerts"),
    ]
    tiles = "".join(
        f'<div class="tile"><b>{esc(v)}</b><span>{esc(k)}</span></div>' for v, k in facts
    )
    return (
        links
        + f'<div class="tiles">{tiles}</div>'
        + section("Drift", _heatmap(windows, labels) + _drift_share(windows, labels))
        + section(
            "Distributions in the latest window",
            _distributions(windows),
            note="Reference (grey) against current (blue) on the same bins, drifted first.",
        )
        + section("Performance", _performance(windows, labels))
        + section("Operations", _operations(windows, labels))
        + section("Alerts", _alerts(alerts))
        + section("Data quality in the latest window", _quality(windows))
    )


@router.get("/monitoring/{endpoint}", response_class=HTMLResponse)
async def endpoint_monitoring(
    endpoint: str, request: Request, since: str | None = None, until: str | None = None
) -> Response:
    """One endpoint's windows: drift, distributions, performance, latency, alerts."""
    store = store_of(request)
    crumbs = [link("/ui/monitoring", "Monitoring"), esc(endpoint)]
    try:
        report = await asyncio.to_thread(
            monitor_report, endpoint, since or None, until or None, store=store
        )
    except ShipyardError as exc:
        return problem_page(endpoint, exc, active="Monitoring", crumbs=crumbs)
    form = (
        '<form class="filters" method="get">'
        f'<label>since<input type="text" name="since" value="{esc(since or "")}" '
        'placeholder="2024-05-01"></label>'
        f'<label>until<input type="text" name="until" value="{esc(until or "")}" '
        'placeholder="2024-06-01"></label><button type="submit">Show</button></form>'
    )
    body = form + _endpoint_body(report, endpoint)
    return page(f"Monitoring: {endpoint}", body, active="Monitoring", crumbs=crumbs)
