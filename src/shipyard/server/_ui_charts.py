"""ECharts option builders shared by the dashboard's pages (plain dicts, drawn by ui.js)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

__all__ = ["graph_chart", "line_chart"]


def _number(value: Any) -> Any:
    """A JSON-safe point value: NaN and infinities become gaps (None)."""
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None
    return value


def line_chart(
    series: Mapping[str, Sequence[tuple[Any, Any]]],
    *,
    title: str = "",
    x_type: Literal["value", "time", "category"] = "value",
    y_name: str = "",
    x_name: str = "",
    smooth: bool = False,
) -> dict[str, Any]:
    """An ECharts line chart option: one line per named series of ``(x, y)`` points.

    Args:
        series: Series name -> points; ``x`` is a number, or a datetime/epoch-ms when
            ``x_type="time"`` (datetimes are written as ISO text by ``chart()``).
        title: The chart's title, shown above it.
        x_type: ECharts axis type of ``x``.
        y_name: The y axis's label.
        x_name: The x axis's label.
        smooth: Draw smoothed lines.

    Returns:
        The option dict to pass to :func:`shipyard.server._ui.chart`.
    """
    return {
        "title": {"text": title, "left": "center", "textStyle": {"fontSize": 13}},
        "tooltip": {"trigger": "axis"},
        "legend": {"type": "scroll", "bottom": 0},
        "grid": {"left": 56, "right": 24, "top": 40, "bottom": 64},
        "xAxis": {
            "type": x_type,
            "name": x_name,
            "nameLocation": "middle",
            "nameGap": 24,
            "scale": x_type == "value",
        },
        "yAxis": {"type": "value", "name": y_name, "scale": True},
        "series": [
            {
                "name": name,
                "type": "line",
                "showSymbol": len(points) <= 60,
                "smooth": smooth,
                "connectNulls": False,
                "data": [[x, _number(y)] for x, y in points],
            }
            for name, points in series.items()
        ],
    }


def graph_chart(
    nodes: Sequence[Mapping[str, Any]],
    links: Sequence[tuple[str, str]],
    *,
    categories: Sequence[str],
    title: str = "",
) -> dict[str, Any]:
    """An ECharts ``graph`` option laid out by the caller (left to right, by column).

    Args:
        nodes: Each has ``id`` (unique), ``name`` (the label), ``category`` (one of
            ``categories``), ``x`` and ``y``; other keys (``value``...) pass through.
        links: ``(source id, target id)`` pairs, drawn as arrows.
        categories: The node kinds, in legend order.
        title: The chart's title.

    Returns:
        The option dict to pass to :func:`shipyard.server._ui.chart`.
    """
    index = {name: i for i, name in enumerate(categories)}
    data = [
        {**node, "category": index[node["category"]], "kind": node["category"]} for node in nodes
    ]
    return {
        "title": {"text": title, "left": "center", "textStyle": {"fontSize": 13}},
        "tooltip": {},
        "legend": {"data": list(categories), "bottom": 0},
        "series": [
            {
                "type": "graph",
                "layout": "none",
                "roam": True,
                "symbolSize": 46,
                "label": {"show": True, "position": "bottom", "width": 200, "overflow": "truncate"},
                "edgeSymbol": ["none", "arrow"],
                "edgeSymbolSize": 9,
                "lineStyle": {"width": 1.5, "curveness": 0.08},
                "categories": [{"name": name} for name in categories],
                "data": data,
                "links": [{"source": s, "target": t} for s, t in links],
            }
        ],
    }
