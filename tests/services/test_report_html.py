"""The monitoring report page: every section, escaped strings, no outside references, valid SVG.

The report dicts come from ``report_data`` (the shape ``monitoring.report`` returns); the
browser test renders the same page in Chromium.
"""

from __future__ import annotations

import copy
import math
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from report_data import EVIL, report_data

from shipyard.core.errors import InvalidInputError
from shipyard.services._report_html import DASH, render_report
from shipyard.services._svg import format_tick, nice_ticks

SECTIONS = ("summary", "alerts", "drift", "prediction", "features", "quality", "performance",
            "operations")  # fmt: skip
SVG = re.compile(r"<svg\b.*?</svg>", re.DOTALL)


def svgs(page: str) -> list[ET.Element]:
    """Every inline chart, parsed as XML (a chart that does not parse fails the test)."""
    return [ET.fromstring(chart) for chart in SVG.findall(page)]


def null_numbers(value: Any) -> Any:
    """The same structure with every number (not bool) replaced by None."""
    if isinstance(value, dict):
        return {k: null_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [null_numbers(v) for v in value]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return None
    return value


def visible_text(page: str) -> str:
    """The page without its markup and CSS (what a reader sees, tooltips included)."""
    page = re.sub(r"<style>.*?</style>", "", page, flags=re.DOTALL)
    return re.sub(r"<[^>]+>", " ", page)


def test_a_full_report_has_every_section_and_a_chart_for_each_part() -> None:
    page = render_report(report_data(windows=12))

    assert page.startswith("<!DOCTYPE html>")
    for section in SECTIONS:
        assert f'<section id="{section}">' in page
        assert f'href="#{section}"' in page
    text = visible_text(page)
    for expected in ("flight-delays", "Drift share", "AUC", "p99 latency", "Error rate",
                     "drift_share &gt; 0.3", "temp", "carrier", "label coverage", "v4 (canary)",
                     "Schema violations", "Jan 2013", "Dec 2013"):  # fmt: skip
        assert expected in text, expected
    charts = svgs(page)
    # heatmap + drift share, 2 x (prediction histogram + score), 8 column histograms,
    # 7 metrics + label coverage, latency + error rate + requests
    assert len(charts) == 2 + 4 + 8 + 8 + 3
    for chart in charts:
        assert chart.get("viewBox")
        assert chart.get("width") == "100%"


def test_columns_are_sorted_drifted_first_in_the_distributions() -> None:
    data = report_data()
    page = render_report(data)
    features = page[page.index('<section id="features">') : page.index('<section id="quality">')]
    latest = data["windows"][-1]["drift"]["columns"]
    drifted = [name for name, c in latest.items() if c["drifted"]]
    stable = [name for name, c in latest.items() if not c["drifted"]]
    assert drifted
    assert stable
    last_drifted = max(features.index(f"<h4>{name}</h4>") for name in drifted)
    first_stable = min(features.index(f"<h4>{name}</h4>") for name in stable if "<" not in name)
    assert last_drifted < first_stable


def test_user_strings_are_escaped_everywhere() -> None:
    data = report_data(endpoint=EVIL, extra_columns=(EVIL,))
    data["alerts"][0]["message"] = EVIL
    data["alerts"][0]["rule"] = EVIL
    data["windows"][-1]["drift"]["columns"]["carrier"]["histogram"]["labels"][0] = EVIL

    page = render_report(data)

    assert "<script" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    svgs(page)  # escaped text keeps every chart well-formed


def test_the_page_references_nothing_outside_itself() -> None:
    page = render_report(report_data())

    assert "http://" not in page
    assert "https://" not in page
    assert "//" not in re.sub(r"<style>.*?</style>", "", page, flags=re.DOTALL).replace("</", "")
    for target in re.findall(r"""\b(?:src|href|xlink:href|action)\s*=\s*["']?([^"'\s>]*)""", page):
        assert target.startswith("#"), target
    assert not re.search(r"<(script|link|iframe|img|object|embed)\b", page)
    assert "@import" not in page
    assert set(re.findall(r"url\(([^)]*)\)", page)) <= {"#hm-none"}


def test_no_windows_says_so_instead_of_drawing() -> None:
    page = render_report({"endpoint": "quiet", "generated_at": None, "windows": [], "alerts": []})

    assert "No windows yet" in page
    assert "No alerts fired" in page
    assert "No performance yet" in page
    assert svgs(page) == []
    for section in SECTIONS:
        assert f'<section id="{section}">' in page


def test_a_bare_dict_renders() -> None:
    page = render_report({})
    assert "unnamed endpoint" in page
    assert "No windows yet" in page


def test_without_labels_the_performance_section_explains_why() -> None:
    page = render_report(report_data(performance=False))
    performance = page[page.index('<section id="performance">') :]
    assert "No performance yet" in performance
    assert "no labelled predictions" in visible_text(page)


def test_windows_without_a_reference_profile_have_no_drift_but_the_rest_renders() -> None:
    data = report_data(windows=4)
    for window in data["windows"]:
        window["reference"] = None
        window["drift"] = None
        window["quality"] = None
    page = render_report(data)
    assert "No drift computed" in page
    assert "No prediction drift" in page
    assert "No data-quality checks" in page
    assert "Latency" in page
    svgs(page)


def test_null_numbers_render_as_a_dash_and_never_as_none_or_nan() -> None:
    data = null_numbers(report_data(windows=5))
    data["endpoint"] = "flight-delays"

    page = render_report(data)

    text = visible_text(page)
    assert DASH in text
    assert "None" not in text
    assert not re.search(r"\bnan\b", text, flags=re.IGNORECASE)
    assert "inf" not in text.replace("info", "")
    svgs(page)


def test_nan_and_infinity_values_are_treated_as_missing() -> None:
    data = report_data(windows=3)
    ops = data["windows"][-1]["operations"]
    ops["p99_ms"] = float("nan")
    ops["error_rate"] = float("inf")
    data["windows"][0]["drift"]["columns"]["temp"]["score"] = float("nan")
    page = render_report(data)
    assert "nan" not in visible_text(page).lower().replace("jensenshannon", "")
    svgs(page)


def test_one_window_draws_single_points() -> None:
    page = render_report(report_data(windows=1))
    assert len(svgs(page)) > 10
    assert "(1 window)" in page


def test_a_regression_endpoint_leads_with_its_error_metrics() -> None:
    page = render_report(report_data(task="regression"))
    summary = page[page.index('<section id="summary">') : page.index('<section id="alerts">')]
    assert "rmse" in summary
    assert "lower is better" in page
    assert "AUC" not in summary


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        pytest.param(timedelta(days=31), "Feb 2024", id="monthly"),
        pytest.param(timedelta(days=1), "Jan 2", id="daily"),
        pytest.param(timedelta(hours=1), "01:00", id="hourly"),
    ],
)
def test_axis_labels_are_as_coarse_as_the_windows(step: timedelta, expected: str) -> None:
    data = report_data(windows=3)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    for i, window in enumerate(data["windows"]):
        window["start"] = (start + i * step).isoformat()
        window["end"] = (start + (i + 1) * step).isoformat()
    assert f">{expected}<" in render_report(data)


def test_integer_bins_are_labelled_by_their_values() -> None:
    data = report_data(windows=2)
    hist = data["windows"][-1]["drift"]["columns"]["hour"]["histogram"]
    hist["edges"] = [x - 0.5 for x in range(25)]
    hist["reference"] = [1 / 24] * 24
    hist["current"] = [1 / 24] * 24
    page = render_report(data)
    assert "23: reference 4.2%, current 4.2%" in page


def test_alerts_beyond_fifty_are_counted_not_listed() -> None:
    data = report_data(windows=2)
    alert = data["alerts"][0] if data["alerts"] else {"rule": "p99_ms > 1", "metric": "p99_ms"}
    data["alerts"] = [dict(copy.deepcopy(alert), id=i) for i in range(60)]
    page = render_report(data)
    assert "10 older alerts not shown." in page


def test_a_drifted_cell_says_so_in_its_tooltip() -> None:
    data = report_data(windows=12)
    page = render_report(data)
    drift = page[page.index('<section id="drift">') : page.index('<section id="prediction">')]
    assert "temp · Dec 2013: wasserstein" in drift
    assert re.search(r"temp · Dec 2013: wasserstein [0-9.]+ \(threshold 0.1\), drifted", drift)


def test_a_report_that_is_not_a_dict_is_refused() -> None:
    with pytest.raises(InvalidInputError, match=r"expected the report dict.*got list"):
        render_report([])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("lo", "hi"),
    [(0, 1), (0.0001, 0.00137), (3.1, 49.7), (-88, 112), (0.72, 0.79), (5, 5), (0, 29847)],
)
def test_ticks_are_round_and_cover_the_range(lo: float, hi: float) -> None:
    ticks = nice_ticks(lo, hi)
    assert ticks[0] <= lo
    assert ticks[-1] >= hi
    assert 2 <= len(ticks) <= 8
    step = ticks[1] - ticks[0]
    mantissa = step / 10 ** math.floor(math.log10(step))
    assert round(mantissa, 6) in {1, 2, 2.5, 5}


@pytest.mark.parametrize(
    ("value", "text"),
    [(0, "0"), (0.25, "0.25"), (20, "20"), (1500, "1,500"), (29847, "29.8k"), (2.5e6, "2.5M")],
)
def test_tick_labels_are_short(value: float, text: str) -> None:
    assert format_tick(value) == text


def test_a_version_in_two_roles_is_named_by_version_and_role() -> None:
    data = report_data(windows=2)
    for window in data["windows"]:
        versions = window["operations"]["versions"]
        versions["3:shadow"] = dict(versions["3"], role="shadow")
    page = render_report(data)
    assert "v3 (shadow)" in page
    assert "v3:shadow" not in page
