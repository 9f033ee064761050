"""Render a monitoring report (the dict ``monitoring.report`` returns) as one self-contained page.

The page carries its own CSS and draws every chart as inline SVG, so it opens from a file,
an e-mail attachment or an air-gapped machine alike: no script, no font, no external URL.
Every string from the report is HTML-escaped; every number may be None (shown as a dash).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from html import escape
from itertools import pairwise
from typing import Any

from shipyard._version import __version__
from shipyard.core.errors import InvalidInputError
from shipyard.services._svg import (
    CURRENT,
    REFERENCE,
    Cell,
    Series,
    bar_chart,
    blend,
    format_tick,
    heatmap,
    histogram_chart,
    line_chart,
)

__all__ = ["drift_severity", "render_report"]

Window = Mapping[str, Any]

DASH = "\u2013"  # shown for every missing value
_P_VALUE_METHODS = frozenset({"ks", "chi2"})
_PALETTE = ("#2563eb", "#f59e0b", "#10b981", "#8b5cf6", "#ec4899", "#64748b")
_METRICS = ("auc", "accuracy", "f1", "precision", "recall", "log_loss", "calibration_error",
            "rmse", "mae", "mape", "r2")  # fmt: skip
_LOWER_IS_BETTER = frozenset({"log_loss", "calibration_error", "rmse", "mae", "mape"})
_MAX_ALERTS = 50
_NO_WINDOWS = "No windows yet: nothing was logged for this endpoint in the monitored period."
_LEGEND = (("#e3f4ea", "stable"), ("#fbe3b6", "near threshold"), ("#f7a08f", "drifted"),
           ("#b42318", "far past threshold"), ("#f1f5f9", "not computed"))  # fmt: skip


def render_report(data: Mapping[str, Any]) -> str:
    """The monitoring report as one HTML page with inline CSS and SVG charts.

    Args:
        data: The report dict: ``endpoint``, ``generated_at``, ``windows`` (oldest first)
            and ``alerts``, as the monitoring service returns it. Missing parts render as
            a sentence saying what is missing.

    Returns:
        The page, starting with ``<!DOCTYPE html>``.

    Raises:
        InvalidInputError: ``data`` is not a mapping.

    Example:
        >>> page = render_report({"endpoint": "delays", "windows": [], "alerts": []})
        >>> page.startswith("<!DOCTYPE html>")
        True
    """
    if not isinstance(data, Mapping):
        raise InvalidInputError(
            f"render_report expected the report dict (endpoint, windows, alerts), got "
            f"{type(data).__name__}; pass what the monitoring report returns"
        )
    windows = [w for w in _list(data.get("windows")) if isinstance(w, Mapping)]
    labels = _window_labels(windows)
    endpoint = str(data.get("endpoint") or "unnamed endpoint")
    alerts = [a for a in _list(data.get("alerts")) if isinstance(a, Mapping)]
    if "alerts" not in data:
        alerts = [a for w in windows for a in _list(w.get("alerts")) if isinstance(a, Mapping)]
    sections = [
        ("summary", "Summary", "Latest window", _summary(windows, alerts)),
        ("alerts", "Alerts", "Alerts", _alerts(alerts)),
        ("drift", "Drift", "Feature drift", _drift(windows, labels)),
        ("prediction", "Predictions", "Prediction drift", _prediction(windows, labels)),
        ("features", "Distributions", "Distributions in the latest window", _features(windows)),
        ("quality", "Data quality", "Data quality in the latest window", _quality(windows)),
        ("performance", "Performance", "Performance", _performance(windows, labels)),
        ("operations", "Operations", "Operations", _operations(windows, labels)),
    ]
    nav = "".join(f'<a href="#{key}">{short}</a>' for key, short, _, _ in sections)
    body = "".join(f'<section id="{k}"><h2>{t}</h2>{html}</section>' for k, _, t, html in sections)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(endpoint)} · shipyard monitoring</title><style>{_CSS}</style></head>"
        f"<body><main>{_header(data, endpoint, windows)}<nav>{nav}</nav>{body}"
        f"<footer>shipyard {_e(__version__)} · monitoring report</footer></main></body></html>\n"
    )


# ---------------------------------------------------------------------------- values


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _get(value: Any, *keys: str) -> Any:
    """``value[k1][k2]...``, or None where a level is missing or not a mapping."""
    for key in keys:
        value = _map(value).get(key)
    return value


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else []


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _last(values: Sequence[float | None]) -> float | None:
    return next((v for v in reversed(values) if v is not None), None)


def _fmt(value: Any) -> str:
    number = _num(value)
    if number is None:
        return DASH if value is None or isinstance(value, int | float) else str(value)
    if number == int(number) and abs(number) < 1e15:
        return f"{int(number):,}"
    return f"{number:,.0f}" if abs(number) >= 1000 else f"{number:.3g}"


def _pct(value: Any) -> str:
    number = _num(value)
    if number is None:
        return DASH
    number *= 100
    if number == 0 or abs(number) >= 10:
        return f"{number:.1f}%".replace(".0%", "%")
    return f"{number:.2g}%"


def _ms(value: Any) -> str:
    number = _num(value)
    if number is None:
        return DASH
    return f"{format_tick(number) if number >= 100 else f'{number:.3g}'} ms"


def _score(value: Any) -> str:
    number = _num(value)
    if number is None:
        return DASH
    return "<0.001" if 0 < number < 0.001 else f"{number:.3g}"


def _compact(value: Any) -> str:
    number = _num(value)
    return DASH if number is None else format_tick(number)


def _some(items: Sequence[object], most: int = 5) -> str:
    text = ", ".join(str(i) for i in items[:most])
    return text + (f" (+{len(items) - most} more)" if len(items) > most else "")


def _date(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


def _when(value: Any) -> str:
    moment = _date(value)
    if moment is None:
        return DASH if value is None else str(value)
    offset = moment.utcoffset()
    if offset == timedelta(0) and moment.time() == datetime.min.time():
        return moment.strftime("%Y-%m-%d")  # window borders: midnight UTC says nothing
    zone = "" if offset is None else " UTC" if offset == timedelta(0) else moment.strftime(" %z")
    return moment.strftime("%Y-%m-%d %H:%M") + zone


def _window_labels(windows: Sequence[Window]) -> list[str]:
    """Short x-axis labels for the windows, as coarse as their length allows."""
    starts = [_date(w.get("start")) for w in windows]
    ends = [_date(w.get("end")) for w in windows]
    spans = [e - s for s, e in zip(starts, ends, strict=True) if s and e]
    span = min(spans) if spans else timedelta(days=1)
    known = [s for s in starts if s]
    labels = []
    for i, start in enumerate(starts):
        if start is None:
            labels.append(f"#{i + 1}")
        elif span >= timedelta(days=28):
            labels.append(start.strftime("%b %Y"))
        elif span >= timedelta(days=1):
            several_years = len({s.year for s in known}) > 1
            labels.append(start.strftime("%Y-%m-%d") if several_years else _day(start))
        elif len({s.date() for s in known}) == 1:
            labels.append(start.strftime("%H:%M"))
        else:
            labels.append(f"{_day(start)} {start:%H:%M}")
    return labels


def _day(moment: datetime) -> str:
    return f"{moment:%b} {moment.day}"


# ---------------------------------------------------------------------------- building blocks


def _note(text: str) -> str:
    return f'<p class="note">{_e(text)}</p>'


def _card(title: str, body: str, aside: str = "", css: str = "") -> str:
    return (
        f'<div class="card {css}"><div class="card-head"><h4>{_e(title)}</h4>{aside}</div>'
        f"{body}</div>"
    )


def _table(head: Sequence[str], rows: Sequence[str]) -> str:
    cells = "".join(f"<th>{_e(h)}</th>" for h in head)
    return (
        f'<div class="scroll"><table><thead><tr>{cells}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _tile(label: str, value: str, detail: str, status: str = "") -> str:
    return (
        f'<div class="tile {status}"><div class="label">{_e(label)}</div>'
        f'<div class="value">{_e(value)}</div><div class="detail">{_e(detail)}</div></div>'
    )


def _latest(windows: Sequence[Window]) -> Window:
    return windows[-1] if windows else {}


# ---------------------------------------------------------------------------- header, summary


def _header(data: Mapping[str, Any], endpoint: str, windows: Sequence[Window]) -> str:
    versions = sorted({v for w in windows for v in _list(w.get("versions")) if _num(v) is not None})
    facts = [("Generated", _e(_when(data.get("generated_at"))))]
    if windows:
        span = f"{_when(windows[0].get('start'))} → {_when(windows[-1].get('end'))}"
        count = f"{len(windows)} window{'s' if len(windows) != 1 else ''}"
        facts.append(("Windows", f'{_e(span)} <span class="muted">({count})</span>'))
    facts.append(("Versions", _e(", ".join(f"v{_fmt(v)}" for v in versions) or DASH)))
    reference = _map(_latest(windows).get("reference"))
    if reference:
        name = f"{reference.get('model', endpoint)} v{_fmt(reference.get('version'))}"
        facts.append(("Reference", _e(name)))
    items = "".join(f"<div><dt>{k}</dt><dd>{v}</dd></div>" for k, v in facts)
    return (
        f'<header><p class="eyebrow">shipyard monitoring</p><h1>{_e(endpoint)}</h1>'
        f"<dl>{items}</dl></header>"
    )


def _summary(windows: Sequence[Window], alerts: Sequence[Mapping[str, Any]]) -> str:
    if not windows:
        return _note(_NO_WINDOWS)
    latest = windows[-1]
    raised = [a for a in _list(latest.get("alerts")) if isinstance(a, Mapping)]
    fired = {str(a.get("metric")) for a in raised}
    drift, ops = _map(latest.get("drift")), _map(latest.get("operations"))
    columns = _map(drift.get("columns"))
    drifted = [name for name, c in columns.items() if _drifted(_map(c))]
    share_bad = drift.get("drifted") is True or "drift_share" in fired
    latency = f"p50 {_ms(ops.get('p50_ms'))} · p95 {_ms(ops.get('p95_ms'))}"
    requests = f"{_fmt(ops.get('errors'))} of {_fmt(ops.get('requests'))} requests"
    tiles = [
        _tile("Drift share", _pct(drift.get("share")), f"threshold {_pct(drift.get('threshold'))}",
              "bad" if share_bad else "ok" if drift else ""),
        _tile("Drifted columns", f"{len(drifted)} / {len(columns)}", _some(drifted, 4) or "none",
              "bad" if "drifted_columns" in fired else "warn" if drifted else "ok"),
        _performance_tile(_map(latest.get("performance")), fired),
        _tile("p99 latency", _ms(ops.get("p99_ms")), latency,
              "bad" if fired & {"p50_ms", "p95_ms", "p99_ms"} else ""),
        _tile("Error rate", _pct(ops.get("error_rate")), requests,
              "bad" if fired & {"error_rate", "errors"} else ""),
        _tile("Alerts", str(len(raised)), f"{len(alerts)} in this report",
              "bad" if raised else "ok"),
    ]  # fmt: skip
    return f'<div class="tiles">{"".join(tiles)}</div>'


def _performance_tile(performance: Mapping[str, Any], fired: set[str]) -> str:
    metrics = _map(performance.get("metrics"))
    name = next((m for m in _METRICS if _num(metrics.get(m)) is not None), None)
    if name is None:
        return _tile("Performance", DASH, "no labelled predictions")
    value = _num(metrics.get(name))
    reference = _num(_get(performance, "reference", name))
    detail, status = "no reference value", ""
    if value is not None and reference is not None:
        change = value - reference
        worse = change > 0 if name in _LOWER_IS_BETTER else change < 0
        detail = f"reference {_fmt(reference)} ({change:+.3g})"
        status = "warn" if worse and abs(change) > 1e-9 else "ok"
    title = name.upper() if name == "auc" else name.replace("_", " ")
    return _tile(title, _fmt(value), detail, "bad" if name in fired else status)


def _alerts(alerts: Sequence[Mapping[str, Any]]) -> str:
    if not alerts:
        return _note("No alerts fired in these windows.")
    ordered = sorted(alerts, key=lambda a: str(a.get("created_at") or a.get("window_start")))
    ordered.reverse()
    rows = []
    for alert in ordered[:_MAX_ALERTS]:
        sent = alert.get("delivered")
        delivered = "yes" if sent is True else "failed" if sent is False else DASH
        window = f"{_when(alert.get('window_start'))} → {_when(alert.get('window_end'))}"
        rows.append(
            f"<tr><td>{_e(window)}</td><td><code>{_e(alert.get('rule') or DASH)}</code></td>"
            f'<td class="num">{_e(_fmt(alert.get("value")))}</td>'
            f'<td class="num">{_e(_fmt(alert.get("threshold")))}</td>'
            f"<td>{_e(alert.get('message') or DASH)}</td>"
            f"<td>{_e(_when(alert.get('created_at')))}</td><td>{delivered}</td></tr>"
        )
    more = len(ordered) - _MAX_ALERTS
    head = ("Window", "Rule", "Value", "Threshold", "Message", "Raised", "Sent")
    return _table(head, rows) + (_note(f"{more} older alerts not shown.") if more > 0 else "")


# ---------------------------------------------------------------------------- drift


def drift_severity(result: Mapping[str, Any]) -> float | None:
    """How far a drift score is towards (1) or past (> 1) its threshold, whatever the method."""
    score, threshold = _num(result.get("score")), _num(result.get("threshold"))
    if score is None or threshold is None or threshold <= 0:
        return None
    if result.get("method") in _P_VALUE_METHODS:  # p-values: smaller is more drifted
        if threshold >= 1:
            return None
        return math.log(max(score, 1e-300)) / math.log(threshold) if score < 1 else 0.0
    return score / threshold


def _drifted(result: Mapping[str, Any]) -> bool:
    flag = result.get("drifted")
    severity = drift_severity(result)
    return flag if isinstance(flag, bool) else severity is not None and severity >= 1


def _cell(result: Mapping[str, Any], row: str, label: str) -> Cell | None:
    severity = drift_severity(result)
    if severity is None:
        return None
    drifted = _drifted(result)
    if drifted:
        fill = blend("#f7a08f", "#b42318", (severity - 1) / 3)
    else:
        fill = blend("#e3f4ea", "#fbe3b6", min(severity, 1.0) ** 2)
    tip = (
        f"{row} · {label}: {result.get('method')} {_score(result.get('score'))} "
        f"(threshold {_score(result.get('threshold'))}), {'drifted' if drifted else 'stable'}"
    )
    return Cell(fill, _score(result.get("score")), tip)


def _drift(windows: Sequence[Window], labels: list[str]) -> str:
    if not windows:
        return _note(_NO_WINDOWS)
    results = [_map(_get(w, "drift", "columns")) for w in windows]
    names = list(dict.fromkeys(name for r in results for name in r))
    if not names:
        return _note("No drift computed: the windows have no reference profile to compare with.")
    drift_counts = {n: sum(_drifted(_map(r.get(n))) for r in results) for n in names}
    names.sort(
        key=lambda n: (-drift_counts[n], -(drift_severity(_map(results[-1].get(n))) or 0), n)
    )
    cells = [
        [_cell(_map(r.get(n)), n, lb) for r, lb in zip(results, labels, strict=True)] for n in names
    ]
    grid = heatmap(names, labels, cells, title="Drift score per column and window")
    legend = "".join(f'<span><i style="background:{c}"></i>{t}</span>' for c, t in _LEGEND)
    threshold = _last([_num(_get(w, "drift", "threshold")) for w in windows])
    shares = Series("drift share", [_num(_get(w, "drift", "share")) for w in windows], CURRENT)
    share_chart = line_chart(
        labels,
        [shares],
        threshold=threshold,
        threshold_label=f"dataset drift at {_pct(threshold)}",
        y_format=_pct,
        width=1080,
        height=230,
        title="Share of drifted columns per window",
    )
    return (
        '<p class="lead">Each cell is one column in one window: its drift score (p-value for '
        "KS and chi-square, distance otherwise) against the reference profile. Hover for "
        f'the method and threshold.</p><div class="card pan">{grid}'
        f'<div class="legend">{legend}</div></div>'
        f'<h3>Share of drifted columns</h3><div class="card pan">{share_chart}</div>'
    )


def _histogram(result: Mapping[str, Any], name: str, width: float) -> str:
    hist = _map(result.get("histogram"))
    reference = [_num(v) or 0.0 for v in _list(hist.get("reference"))]
    current = [_num(v) or 0.0 for v in _list(hist.get("current"))]
    if not reference or not current:
        return _note("No histogram for this column.")
    if hist.get("kind") == "categorical" or _list(hist.get("labels")):
        labels = [str(label) for label in _list(hist.get("labels"))]
        return histogram_chart(reference, current, categories=labels, width=width, title=name)
    edges = [_num(v) for v in _list(hist.get("edges"))]
    steps = [b - a for a, b in pairwise(edges) if a is not None and b is not None]
    if steps and all(step == 1 for step in steps) and edges[0] is not None and edges[0] % 1 == 0.5:
        centers = [f"{edge + 0.5:,.0f}" for edge in edges[:-1] if edge is not None]  # integers
        return histogram_chart(reference, current, categories=centers, width=width, title=name)
    decimals = max(0, -math.floor(math.log10(min(steps)))) if steps and min(steps) > 0 else 2
    texts = [
        ""
        if e is None
        else f"{e:,.{decimals}f}".removeprefix("-")
        if round(e, decimals) == 0
        else f"{e:,.{decimals}f}"
        for e in edges
    ]
    return histogram_chart(reference, current, edges=texts, width=width, title=name)


def _result_card(name: str, result: Mapping[str, Any], extra: str = "", width: int = 340) -> str:
    drifted = _drifted(result)
    badge = f'<span class="badge {"bad" if drifted else "ok"}">'
    badge += f"{'drifted' if drifted else 'stable'}</span>"
    method = str(result.get("method") or DASH)
    rule = f"{'<' if method in _P_VALUE_METHODS else '≥'} {_score(result.get('threshold'))}"
    meta = f"{method} {_score(result.get('score'))} · drifts at {rule}"
    rows = f"{_fmt(result.get('reference_rows'))} reference rows, "
    rows += f"{_fmt(result.get('current_rows'))} current rows"
    new = _list(result.get("new_categories"))
    if new:
        extra += f'<p class="meta warn">new categories: {_e(_some(new))}</p>'
    body = f'<p class="meta" title="{_e(rows)}">{_e(meta)}</p>{_histogram(result, name, width)}'
    body += extra
    return _card(name, body, badge, "drifted" if drifted else "")


def _features(windows: Sequence[Window]) -> str:
    columns = _map(_get(_latest(windows), "drift", "columns"))
    if not columns:
        return _note(_NO_WINDOWS if not windows else "No drift results in the latest window.")
    order = sorted(
        columns,
        key=lambda n: (not _drifted(_map(columns[n])), -(drift_severity(_map(columns[n])) or 0), n),
    )
    cards = "".join(_result_card(name, _map(columns[name])) for name in order)
    return (
        '<p class="lead">Reference (grey) against the latest window (blue) on the same bins, '
        f'drifted columns first.</p><div class="grid">{cards}</div>'
    )


def _prediction(windows: Sequence[Window], labels: list[str]) -> str:
    results = [_map(_get(w, "drift", "prediction")) for w in windows]
    names = sorted({n for r in results for n in r}, key=lambda n: (n != "output.prediction", n))
    if not names:
        return _note(_NO_WINDOWS if not windows else "No prediction drift in these windows.")
    cards = []
    for name in names:
        history = [_map(r.get(name)) for r in results]
        latest = history[-1]
        scores = Series(
            str(latest.get("method") or "score"), [_num(h.get("score")) for h in history], CURRENT
        )
        chart = line_chart(
            labels, [scores], threshold=_num(latest.get("threshold")), width=520, height=180
        )
        extra = f'<p class="meta">score per window</p>{chart}'
        cards.append(_result_card(name, latest, extra, width=520))
    return f'<div class="grid two">{"".join(cards)}</div>'


# ---------------------------------------------------------------------------- quality, performance


def _quality(windows: Sequence[Window]) -> str:
    quality = _map(_latest(windows).get("quality"))
    columns = _map(quality.get("columns"))
    if not columns:
        return _note(_NO_WINDOWS if not windows else "No data-quality checks in the latest window.")
    rows = []
    for name in sorted(columns):
        q = _map(columns[name])
        new = _list(q.get("new_categories"))
        change, out = _num(q.get("missing_rate_change")), _num(q.get("out_of_range_rate"))
        constant = q.get("constant")
        rows.append(
            f"<tr><td><code>{_e(name)}</code></td>"
            f'<td class="num">{_pct(q.get("missing_rate"))}</td>'
            f'<td class="num">{_pct(q.get("reference_missing_rate"))}</td>'
            f'<td class="num{_warn(change)}">{"+" if change and change > 0 else ""}'
            f'{_pct(change)}</td><td class="num{_warn(out)}">{_pct(out)}</td>'
            f'<td class="{"warn" if new else ""}">{_e(_some(new) or DASH)}</td>'
            f'<td class="{"warn" if constant is True else ""}">'
            f"{'yes' if constant is True else 'no' if constant is False else DASH}</td></tr>"
        )
    head = ("Column", "Missing", "Reference missing", "Change", "Out of range",
            "New categories", "Constant")  # fmt: skip
    violations = _e(_fmt(quality.get("schema_violations")))
    return (
        f'<p class="lead">Schema violations in the latest window: <strong>{violations}'
        "</strong>. Rates of 1% or more are highlighted.</p>" + _table(head, rows)
    )


def _warn(rate: float | None) -> str:
    return " warn" if rate is not None and rate >= 0.01 else ""


def _performance(windows: Sequence[Window], labels: list[str]) -> str:
    performance = [_map(w.get("performance")) for w in windows]
    if not any(performance):
        return _note(
            "No performance yet: none of these windows has labelled predictions. "
            "Log feedback (the true labels) to see accuracy, AUC or error metrics here."
        )
    names = list(dict.fromkeys(n for p in performance for n in _map(p.get("metrics"))))
    names.sort(key=lambda n: (_METRICS.index(n) if n in _METRICS else len(_METRICS), n))
    cards = []
    for name in names:
        series = [Series("current", [_num(_get(p, "metrics", name)) for p in performance], CURRENT)]
        reference = [_num(_get(p, "reference", name)) for p in performance]
        if any(v is not None for v in reference):
            series.append(Series("reference", reference, REFERENCE, dashed=True))
        chart = line_chart(labels, series, floor=None, width=340, height=180, title=name)
        direction = "lower is better" if name in _LOWER_IS_BETTER else "higher is better"
        cards.append(_card(name, chart, f'<span class="meta">{direction}</span>'))
    coverage = Series(
        "label coverage", [_num(p.get("label_coverage")) for p in performance], CURRENT
    )
    chart = line_chart(labels, [coverage], y_format=_pct, width=340, height=180, title="labels")
    cards.append(
        _card("label coverage", chart, '<span class="meta">predictions with feedback</span>')
    )
    task = next((str(p["task"]) for p in reversed(performance) if p.get("task")), "")
    lead = (
        f'<p class="lead">Task: {_e(task)}. Reference (dashed): the version\'s own evaluation.</p>'
    )
    return f'{lead if task else ""}<div class="grid">{"".join(cards)}</div>'


# ---------------------------------------------------------------------------- operations


def _ms_tick(value: float) -> str:
    return f"{format_tick(value)} ms"


def _operations(windows: Sequence[Window], labels: list[str]) -> str:
    if not windows:
        return _note(_NO_WINDOWS)
    ops = [_map(w.get("operations")) for w in windows]
    percentiles = [
        Series(name, [_num(o.get(f"{name}_ms")) for o in ops], color)
        for name, color in (("p50", "#93c5fd"), ("p95", "#3b82f6"), ("p99", "#1e3a8a"))
    ]
    latency = line_chart(labels, percentiles, y_format=_ms_tick, width=520, title="Latency")
    rate = Series("error rate", [_num(o.get("error_rate")) for o in ops], "#dc2626")
    errors = line_chart(labels, [rate], y_format=_pct, width=520, title="Error rate per window")
    versions = list(dict.fromkeys(v for o in ops for v in _map(o.get("versions"))))
    series = []
    for i, version in enumerate(versions):
        infos = [_map(_get(o, "versions", version)) for o in ops]
        role = next((str(x["role"]) for x in infos if x.get("role")), "")
        # A version serving in two roles comes keyed "3:canary"; the role is said in the name.
        name = f"v{version.partition(':')[0]}" + (f" ({role})" if role else "")
        color = _PALETTE[i % len(_PALETTE)]
        series.append(Series(name, [_num(x.get("requests")) for x in infos], color))
    if not series:
        counts = [
            _num(o.get("requests")) or _num(w.get("rows"))
            for o, w in zip(ops, windows, strict=True)
        ]
        series = [Series("requests", counts, CURRENT)]
    volume = bar_chart(labels, series, width=1080, height=220, title="Requests per window")
    return (
        f'<div class="grid two">{_card("Latency", latency)}{_card("Error rate", errors)}</div>'
        f'<h3>Requests per window</h3><div class="card pan">{volume}</div>'
    )


_CSS = """
:root{--ink:#0f172a;--muted:#64748b;--line:#e2e8f0;--bg:#f8fafc;--card:#fff;
--ok:#15803d;--ok-bg:#ecfdf3;--warn:#b45309;--warn-bg:#fffbeb;--bad:#b42318;--bad-bg:#fef3f2}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);font:14px/1.5 system-ui,-apple-system,
"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;-webkit-font-smoothing:antialiased}
main{max-width:1180px;margin:0 auto;padding:32px 24px 48px}
@media (max-width:600px){main{padding:20px 12px 32px}}
header h1{margin:0 0 12px;font-size:28px;letter-spacing:-.01em}
.eyebrow{margin:0;color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.08em}
header dl{display:flex;flex-wrap:wrap;gap:8px 28px;margin:0}
header dt{color:var(--muted);font-size:12px}header dd{margin:0;font-weight:500}
nav{display:flex;flex-wrap:wrap;gap:6px;margin:20px 0 8px;padding:10px 0;
border-top:1px solid var(--line);border-bottom:1px solid var(--line)}
nav a{color:var(--muted);text-decoration:none;padding:2px 10px;border-radius:999px;font-size:13px}
nav a:hover{background:#e2e8f0;color:var(--ink)}
section{margin-top:32px}
h2{font-size:18px;margin:0 0 12px}h3{font-size:15px;margin:20px 0 8px}
h4{margin:0;font-size:14px;font-weight:600;overflow-wrap:anywhere}
.lead{color:var(--muted);margin:-4px 0 12px;max-width:80ch}
.note{color:var(--muted);background:var(--card);border:1px dashed var(--line);border-radius:8px;
padding:14px 16px;margin:0}
.tiles{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(170px,100%),1fr));gap:12px}
.tile{background:var(--card);border:1px solid var(--line);border-left:4px solid var(--line);
border-radius:8px;padding:12px 14px}
.tile.ok{border-left-color:var(--ok)}.tile.warn{border-left-color:#f59e0b}
.tile.bad{border-left-color:var(--bad);background:var(--bad-bg)}
.tile .label{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.05em}
.tile .value{font-size:26px;font-weight:600;font-variant-numeric:tabular-nums;margin:2px 0}
.tile .detail{color:var(--muted);font-size:12.5px;overflow-wrap:anywhere}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:12px 14px;
min-width:0}
.card.drifted{border-color:#fecdca}
.pan{overflow-x:auto}.pan svg.chart{min-width:680px}
.card-head{display:flex;justify-content:space-between;align-items:baseline;gap:8px;margin-bottom:2px}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(340px,100%),1fr));gap:12px}
.grid.two{grid-template-columns:repeat(auto-fit,minmax(min(420px,100%),1fr))}
.meta{color:var(--muted);font-size:12.5px;margin:0 0 6px}
.meta.warn{color:var(--warn)}
.badge{font-size:11.5px;font-weight:600;padding:1px 8px;border-radius:999px;white-space:nowrap}
.badge.ok{color:var(--ok);background:var(--ok-bg)}.badge.bad{color:var(--bad);background:var(--bad-bg)}
svg.chart{display:block;height:auto;font-family:inherit;overflow:visible}
.legend{display:flex;flex-wrap:wrap;gap:14px;color:var(--muted);font-size:12px;margin-top:8px}
.legend i{display:inline-block;width:12px;height:12px;border-radius:3px;margin-right:5px;
vertical-align:-2px;border:1px solid var(--line)}
.scroll{overflow-x:auto;background:var(--card);border:1px solid var(--line);border-radius:8px}
table{border-collapse:collapse;width:100%;min-width:720px;font-size:13px}
th,td{text-align:left;padding:7px 12px;border-bottom:1px solid var(--line);vertical-align:top}
th{color:var(--muted);font-weight:500;font-size:12px;background:#f8fafc}
tbody tr:last-child td{border-bottom:0}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.warn{color:var(--warn);background:var(--warn-bg);font-weight:500}
code{font:12.5px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;white-space:nowrap}
.muted{color:var(--muted);font-weight:400}
footer{margin-top:40px;color:var(--muted);font-size:12px}
"""
