"""The endpoint page's live chart: an ECharts option from a :class:`LiveSnapshot`.

Three stacked panels share one time axis: requests per second, p50 (solid) and p99
(dashed) latency, and failed requests, one line per version. Series carry stable ids so
a refetched option updates the lines in place.
"""

from __future__ import annotations

from typing import Any

from shipyard.server._live import LiveSeries, LiveSnapshot

__all__ = ["live_option"]

_PALETTE = ("#2456c9", "#e08a00", "#1e7a46", "#8b5cf6", "#db2777", "#64748b")
_PANELS = (("requests/s", 6, 24), ("latency (ms)", 38, 24), ("failed requests", 70, 20))


def _color(index: int, series: LiveSeries) -> str:
    return "#b3261e" if series.version is None else _PALETTE[index % len(_PALETTE)]


def _points(ends_ms: list[int], values: list[Any]) -> list[list[Any]]:
    return [[t, v] for t, v in zip(ends_ms, values, strict=True)]


def live_option(snapshot: LiveSnapshot) -> dict[str, Any]:
    """The chart's option: requests/s, p50/p99 latency and errors per version over time."""
    ends_ms = [int(end * 1000) for end in snapshot.ends]
    grids, x_axes, y_axes = [], [], []
    for i, (name, top, height) in enumerate(_PANELS):
        grids.append({"left": 64, "right": 24, "top": f"{top}%", "height": f"{height}%"})
        x_axes.append(
            {
                "type": "time",
                "gridIndex": i,
                "axisLabel": {"show": i == len(_PANELS) - 1},
                "min": ends_ms[0] - int(snapshot.bucket_s * 1000) if ends_ms else None,
                "max": ends_ms[-1] if ends_ms else None,
            }
        )
        y_axes.append(
            {
                "type": "value",
                "gridIndex": i,
                "name": name,
                "nameLocation": "middle",
                "nameGap": 44,
                "minInterval": 1 if i == 2 else 0,
            }
        )
    series: list[dict[str, Any]] = []
    for index, found in enumerate(snapshot.series):
        key = "none" if found.version is None else str(found.version)
        color = _color(index, found)
        common = {"type": "line", "showSymbol": False, "color": color, "connectNulls": False}
        series.append(
            {
                **common,
                "id": f"rate-{key}",
                "name": found.label,
                "xAxisIndex": 0,
                "yAxisIndex": 0,
                "data": _points(ends_ms, found.requests_per_s),
            }
        )
        for metric, values, dashed in (
            ("p50", found.p50_ms, False),
            ("p99", found.p99_ms, True),
        ):
            series.append(
                {
                    **common,
                    "id": f"{metric}-{key}",
                    "name": f"{found.label} {metric}",
                    "xAxisIndex": 1,
                    "yAxisIndex": 1,
                    "lineStyle": {"type": "dashed" if dashed else "solid"},
                    "data": _points(ends_ms, values),
                }
            )
        failed = [e + r for e, r in zip(found.errors, found.rejected, strict=True)]
        series.append(
            {
                "type": "bar",
                "stack": "failed",
                "color": color,
                "id": f"errors-{key}",
                "name": found.label,
                "xAxisIndex": 2,
                "yAxisIndex": 2,
                "data": _points(ends_ms, failed),
            }
        )
    title = f"last {len(ends_ms) * snapshot.bucket_s:g} s, {snapshot.total} answered here"
    if not snapshot.series:
        title = f"no request answered here in the last {len(ends_ms) * snapshot.bucket_s:g} s"
    return {
        "animation": False,
        "title": {"text": title, "left": "center", "textStyle": {"fontSize": 12}},
        "tooltip": {"trigger": "axis"},
        "axisPointer": {"link": [{"xAxisIndex": "all"}]},
        "legend": {"type": "scroll", "bottom": 0, "data": [s.label for s in snapshot.series]},
        "grid": grids,
        "xAxis": x_axes,
        "yAxis": y_axes,
        "series": series,
    }
