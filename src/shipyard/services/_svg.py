"""Small inline-SVG charts for the monitoring report: lines, paired bars, stacked bars, heatmap.

Every chart is a self-contained ``<svg>`` string with a ``viewBox`` and ``width="100%"``,
so it scales with the page and needs no script or external asset. Every piece of text is
escaped here, so callers may pass user strings (column names, category labels) as they are.
Values may be None (not computed): lines break there and bars are left out.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

__all__ = [
    "Cell",
    "Series",
    "bar_chart",
    "blend",
    "format_tick",
    "heatmap",
    "histogram_chart",
    "line_chart",
    "nice_ticks",
]

Format = Callable[[float], str]

AXIS = "#cbd5e1"
GRID = "#eef2f6"
INK = "#475569"
REFERENCE = "#94a3b8"
CURRENT = "#2563eb"
THRESHOLD = "#dc2626"
_FONT = 'font-family="inherit" font-size="11" fill="#475569"'


@dataclass(frozen=True, slots=True)
class Series:
    """One line (or one layer of stacked bars): a value per x position, None where missing."""

    name: str
    values: Sequence[float | None]
    color: str
    dashed: bool = False


@dataclass(frozen=True, slots=True)
class Cell:
    """One heatmap cell: its fill, the short text drawn on it, and the hover tooltip."""

    fill: str
    text: str
    tooltip: str


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def _n(x: float) -> str:
    """A coordinate with at most one decimal, so the markup stays small."""
    return f"{x:.1f}".rstrip("0").rstrip(".")


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values (1, 2 or 5 times a power of ten) covering ``[lo, hi]``."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return [0.0, 1.0]
    if hi < lo:
        lo, hi = hi, lo
    if hi == lo:
        pad = abs(lo) * 0.1 or 1.0
        lo, hi = lo - pad, hi + pad
    raw = (hi - lo) / max(count - 1, 1)
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first = math.floor(lo / step + 1e-9) * step
    ticks = []
    value = first
    while value < hi + step * 0.999:
        ticks.append(round(value, 12))
        value += step
    return ticks if len(ticks) >= 2 else [first, first + step]


def format_tick(value: float) -> str:
    """A short axis label: thousands as k/M, few decimals."""
    magnitude = abs(value)
    if magnitude >= 1e6:
        return f"{value / 1e6:.3g}M"
    if magnitude >= 1e4:
        return f"{value / 1e3:.3g}k"
    if magnitude >= 100 or value == int(value):
        return f"{value:,.0f}"
    return f"{value:.3g}"


def blend(start: str, end: str, t: float) -> str:
    """The colour ``t`` of the way from ``start`` to ``end`` (both ``#rrggbb``)."""
    t = min(max(t, 0.0), 1.0)
    a = [int(start[i : i + 2], 16) for i in (1, 3, 5)]
    b = [int(end[i : i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(x + (y - x) * t):02x}" for x, y in zip(a, b, strict=True))


def _dark(fill: str) -> bool:
    r, g, b = (int(fill[i : i + 2], 16) for i in (1, 3, 5))
    return 0.299 * r + 0.587 * g + 0.114 * b < 150


def _svg(width: float, height: float, body: list[str], label: str) -> str:
    return (
        f'<svg viewBox="0 0 {_n(width)} {_n(height)}" '
        f'width="100%" style="max-width:{_n(width * 1.2)}px" role="img" '
        f'aria-label="{_e(label)}" class="chart">' + "".join(body) + "</svg>"
    )


def _text(x: float, y: float, text: str, anchor: str = "middle", extra: str = "") -> str:
    return f'<text x="{_n(x)}" y="{_n(y)}" text-anchor="{anchor}" {_FONT}{extra}>{_e(text)}</text>'


def _shorten(text: str, chars: int) -> str:
    return text if len(text) <= chars else text[: max(chars - 1, 1)] + "…"


@dataclass(frozen=True, slots=True)
class _Frame:
    """A plot area with a y scale: maps values to pixels and draws grid, axes and labels."""

    left: float
    top: float
    right: float
    bottom: float
    ticks: list[float]

    def y(self, value: float) -> float:
        lo, hi = self.ticks[0], self.ticks[-1]
        return self.bottom - (value - lo) / (hi - lo) * (self.bottom - self.top)

    def grid(self, y_format: Format) -> list[str]:
        out = []
        for tick in self.ticks:
            y = self.y(tick)
            out.append(
                f'<line x1="{_n(self.left)}" x2="{_n(self.right)}" y1="{_n(y)}" y2="{_n(y)}" '
                f'stroke="{GRID}"/>'
            )
            out.append(_text(self.left - 6, y + 3.5, y_format(tick), "end"))
        out.append(
            f'<line x1="{_n(self.left)}" x2="{_n(self.right)}" y1="{_n(self.bottom)}" '
            f'y2="{_n(self.bottom)}" stroke="{AXIS}"/>'
        )
        return out


def _frame(
    values: Sequence[float], width: float, height: float, top: float, floor: float | None
) -> _Frame:
    lo = min(values) if values else 0.0
    hi = max(values) if values else 1.0
    if floor is not None:
        lo = min(lo, floor)
    ticks = nice_ticks(lo, hi)
    if floor is not None and ticks[0] < floor <= ticks[1]:
        ticks[0] = floor
    return _Frame(left=48, top=top, right=width - 12, bottom=height - 26, ticks=ticks)


def _x_labels(xs: Sequence[float], labels: Sequence[str], y: float, most: int) -> list[str]:
    step = max(1, math.ceil(len(labels) / most))
    return [
        _text(x, y, label)
        for i, (x, label) in enumerate(zip(xs, labels, strict=True))
        if i % step == 0
    ]


def _legend(items: Sequence[tuple[str, str, bool]], x: float, y: float) -> list[str]:
    out = []
    for name, color, dashed in items:
        dash = ' stroke-dasharray="4 3"' if dashed else ""
        out.append(
            f'<line x1="{_n(x)}" x2="{_n(x + 16)}" y1="{_n(y)}" y2="{_n(y)}" stroke="{color}" '
            f'stroke-width="2"{dash}/>'
        )
        out.append(_text(x + 20, y + 3.5, name, "start"))
        x += 20 + 6.2 * len(name) + 14
    return out


def line_chart(
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    threshold: float | None = None,
    threshold_label: str = "threshold",
    y_format: Format = format_tick,
    floor: float | None = 0.0,
    width: float = 560,
    height: float = 220,
    title: str = "chart",
) -> str:
    """Lines over evenly spaced x positions (one per label), optionally with a threshold line.

    Args:
        labels: One x label per position (window), oldest first.
        series: The lines; each has one value (or None) per label.
        threshold: Draws a dashed red horizontal line at this value.
        threshold_label: The threshold's legend entry.
        y_format: Formats y tick labels and tooltip values.
        floor: The y axis includes this value (None: fit the data only).
        width: viewBox width.
        height: viewBox height.
        title: Accessible name of the chart.

    Returns:
        The ``<svg>`` markup.
    """
    values = [v for s in series for v in s.values if v is not None]
    if threshold is not None:
        values.append(threshold)
    legend = [(s.name, s.color, s.dashed) for s in series]
    if threshold is not None:
        legend.append((threshold_label, THRESHOLD, True))
    frame = _frame(values, width, height, 30, floor)
    xs = _positions(len(labels), frame.left + 10, frame.right - 10)
    body = _legend(legend, frame.left, 12)
    body += frame.grid(y_format)
    body += _x_labels(xs, labels, height - 8, max(2, int((frame.right - frame.left) / 70)))
    if threshold is not None:
        y = frame.y(threshold)
        body.append(
            f'<line x1="{_n(frame.left)}" x2="{_n(frame.right)}" y1="{_n(y)}" y2="{_n(y)}" '
            f'stroke="{THRESHOLD}" stroke-width="1.2" stroke-dasharray="5 4"/>'
        )
    for s in series:
        dash = ' stroke-dasharray="6 4"' if s.dashed else ""
        for run in _runs(s.values):
            points = " ".join(f"{_n(xs[i])},{_n(frame.y(v))}" for i, v in run)
            body.append(
                f'<polyline points="{points}" fill="none" stroke="{s.color}" stroke-width="2" '
                f'stroke-linejoin="round"{dash}/>'
            )
        radius = (2 if s.dashed else 3) if len(labels) <= 40 else 1.6
        for i, v in enumerate(s.values):
            if v is None:
                continue
            body.append(
                f'<circle cx="{_n(xs[i])}" cy="{_n(frame.y(v))}" r="{radius}" fill="{s.color}">'
                f"<title>{_e(f'{labels[i]} · {s.name}: {y_format(v)}')}</title></circle>"
            )
    return _svg(width, height, body, title)


def _positions(count: int, start: float, end: float) -> list[float]:
    if count <= 1:
        return [(start + end) / 2] * count
    return [start + (end - start) * i / (count - 1) for i in range(count)]


def _runs(values: Sequence[float | None]) -> list[list[tuple[int, float]]]:
    """Consecutive stretches of non-missing values (a line breaks at each gap)."""
    runs: list[list[tuple[int, float]]] = [[]]
    for i, v in enumerate(values):
        if v is None:
            runs.append([])
        else:
            runs[-1].append((i, v))
    return [run for run in runs if len(run) > 1]


def bar_chart(
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    y_format: Format = format_tick,
    width: float = 560,
    height: float = 220,
    title: str = "chart",
) -> str:
    """Bars per x position, the series stacked on one another (e.g. requests by version)."""
    totals = [sum(s.values[i] or 0.0 for s in series) for i in range(len(labels))]
    frame = _frame(totals, width, height, 30, 0.0)
    slot = (frame.right - frame.left) / max(len(labels), 1)
    xs = [frame.left + slot * (i + 0.5) for i in range(len(labels))]
    body = _legend([(s.name, s.color, False) for s in series], frame.left, 12)
    body += frame.grid(y_format)
    bar = max(slot * 0.7, 1.0)
    for i, x in enumerate(xs):
        base = 0.0
        for s in series:
            v = s.values[i]
            if not v:
                continue
            y0, y1 = frame.y(base), frame.y(base + v)
            base += v
            body.append(
                f'<rect x="{_n(x - bar / 2)}" y="{_n(y1)}" width="{_n(bar)}" '
                f'height="{_n(max(y0 - y1, 0.5))}" fill="{s.color}" rx="1.5">'
                f"<title>{_e(f'{labels[i]} · {s.name}: {y_format(v)}')}</title></rect>"
            )
    body += _x_labels(xs, labels, height - 8, max(2, int((frame.right - frame.left) / 70)))
    return _svg(width, height, body, title)


def histogram_chart(
    reference: Sequence[float],
    current: Sequence[float],
    *,
    edges: Sequence[str] = (),
    categories: Sequence[str] = (),
    width: float = 360,
    height: float = 190,
    title: str = "distribution",
) -> str:
    """Paired bars, reference (grey) next to current (blue), on shared bins or categories.

    Args:
        reference: The reference share of each bin or category (fractions).
        current: The current share, on the same bins.
        edges: Numeric bins: ``len(bins) + 1`` formatted edges, drawn at the bin borders.
        categories: Categorical bins: one label per bin, drawn under it.
        width: viewBox width.
        height: viewBox height.
        title: Accessible name of the chart.

    Returns:
        The ``<svg>`` markup.
    """
    count = min(len(reference), len(current))
    frame = _frame([*reference[:count], *current[:count]], width, height, 24, 0.0)
    frame = _Frame(frame.left - 6, frame.top, frame.right, frame.bottom, frame.ticks)
    slot = (frame.right - frame.left) / max(count, 1)
    body = _legend([("reference", REFERENCE, False), ("current", CURRENT, False)], frame.left, 10)
    body += frame.grid(_percent_tick)
    bar = min(max(slot * 0.38, 0.8), 40.0)
    for i in range(count):
        x = frame.left + slot * i + slot / 2
        if categories:
            name = categories[i] if i < len(categories) else ""
        elif len(edges) > i + 1:
            name = f"[{edges[i]}, {edges[i + 1]})"
        else:
            name = f"bin {i + 1}"
        tip = f"{name}: reference {reference[i]:.1%}, current {current[i]:.1%}"
        for offset, value, color in ((-bar, reference[i], REFERENCE), (0.0, current[i], CURRENT)):
            y = frame.y(value)
            body.append(
                f'<rect x="{_n(x + offset)}" y="{_n(y)}" width="{_n(bar)}" '
                f'height="{_n(max(frame.bottom - y, 0))}" fill="{color}" rx="1">'
                f"<title>{_e(tip)}</title></rect>"
            )
    label_y = height - 8
    if categories:
        step = max(1, math.ceil(count * 48 / (frame.right - frame.left)))
        chars = max(3, int(slot * step / 6.2))
        for i in range(0, count, step):
            label = categories[i] if i < len(categories) else ""
            body.append(_text(frame.left + slot * (i + 0.5), label_y, _shorten(label, chars)))
    elif edges:
        shown = len(edges)
        step = max(1, math.ceil(shown * 44 / (frame.right - frame.left)))
        for i in range(0, shown, step):
            body.append(_text(frame.left + slot * i, label_y, edges[i]))
    return _svg(width, height, body, title)


def _percent_tick(value: float) -> str:
    return f"{value * 100:.0f}%" if value * 100 == round(value * 100) else f"{value * 100:.1f}%"


def heatmap(
    rows: Sequence[str],
    columns: Sequence[str],
    cells: Sequence[Sequence[Cell | None]],
    *,
    width: float = 1080,
    title: str = "heatmap",
) -> str:
    """A grid of coloured cells, one row per label in ``rows``, one column per ``columns``.

    Args:
        rows: Row labels (drawn on the left, shortened when long; full text in a tooltip).
        columns: Column labels (drawn on top, thinned when crowded).
        cells: ``cells[row][column]``; None draws an empty (hatched grey) cell.
        width: viewBox width.
        title: Accessible name of the chart.

    Returns:
        The ``<svg>`` markup.
    """
    label_width = min(max((len(r) for r in rows), default=4) * 6.6 + 12, 190)
    row_height, top = 24.0, 24.0
    height = top + row_height * len(rows) + 4
    cell_width = (width - label_width - 4) / max(len(columns), 1)
    body = [
        '<defs><pattern id="hm-none" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="6" height="6" fill="#f8fafc"/>'
        '<line x1="0" y1="0" x2="0" y2="6" stroke="#e2e8f0" stroke-width="2"/></pattern></defs>'
    ]
    step = max(1, math.ceil(len(columns) * 64 / (width - label_width)))
    for j, name in enumerate(columns):
        if j % step == 0:
            body.append(_text(label_width + cell_width * (j + 0.5), 15, name))
    chars = int((label_width - 12) / 6.6)
    for i, (name, row) in enumerate(zip(rows, cells, strict=True)):
        y = top + row_height * i
        body.append(
            f'<text x="{_n(label_width - 8)}" y="{_n(y + row_height / 2 + 4)}" text-anchor="end" '
            f"{_FONT}><title>{_e(name)}</title>{_e(_shorten(name, chars))}</text>"
        )
        for j, cell in enumerate(row):
            x = label_width + cell_width * j
            fill = cell.fill if cell else "url(#hm-none)"
            tip = cell.tooltip if cell else f"{name} · {columns[j]}: not computed"
            body.append(
                f'<rect x="{_n(x + 1)}" y="{_n(y + 1)}" width="{_n(cell_width - 2)}" '
                f'height="{_n(row_height - 2)}" rx="3" fill="{fill}">'
                f"<title>{_e(tip)}</title></rect>"
            )
            if cell and cell.text and cell_width >= 34:
                color = "#ffffff" if _dark(cell.fill) else "#1e293b"
                body.append(
                    f'<text x="{_n(x + cell_width / 2)}" y="{_n(y + row_height / 2 + 4)}" '
                    f'text-anchor="middle" font-family="inherit" font-size="10.5" '
                    f'fill="{color}" pointer-events="none">{_e(cell.text)}</text>'
                )
    return _svg(width, height, body, title)
