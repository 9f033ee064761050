"""The report page in a real browser: Chromium opens it offline, with no error, and draws it.

Needs the ``playwright`` package (the ``dev`` extra) and Debian's Chromium (``apt-get install
chromium``; Playwright's own browser download is not used). Without them the tests skip,
unless ``SHIPYARD_REQUIRE_BROWSER=1`` (set in CI) turns the skip into a failure.
``SHIPYARD_WRITE_SCREENSHOTS=1`` also saves the screenshot for the docs.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from report_data import EVIL, report_data

from browser import (
    REQUIRE_VAR,
    SCREENSHOT_VAR,
    Visit,
    assert_not_one_colour,
    launch_chromium,
    missing,
    png_size,
)
from shipyard.services._report_html import render_report

DOCS_SCREENSHOT = Path(__file__).parents[2] / "docs" / "screenshots" / "monitor-report.png"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """A headless Chromium driven by Playwright, shared by this module's tests."""
    with launch_chromium() as launched:
        yield launched


def test_the_report_opens_offline_without_errors_and_draws_every_chart(
    browser: Any, tmp_path: Path
) -> None:
    page_file = tmp_path / "report.html"
    page_file.write_text(render_report(report_data()), encoding="utf-8")
    visit = Visit(browser, page_file, width=1280)
    try:
        assert visit.errors == []
        assert visit.requests == [visit.url]
        charts = visit.page.eval_on_selector_all(
            "svg",
            "els => els.map(e => [e.clientWidth || e.getBoundingClientRect().width,"
            " e.getBoundingClientRect().height])",
        )
        assert len(charts) > 20
        assert all(width > 150 and height > 60 for width, height in charts), charts
        overflow = visit.page.evaluate("document.documentElement.scrollWidth - innerWidth")
        assert overflow <= 0
        assert visit.page.title() == "flight-delays · shipyard monitoring"

        shot = tmp_path / "report.png"
        visit.page.screenshot(path=str(shot), full_page=True)
        top = tmp_path / "report-top.png"  # what a reader sees first, for the README
        visit.page.screenshot(path=str(top), clip={"x": 0, "y": 0, "width": 1280, "height": 1400})
    finally:
        visit.close()
    width, height = png_size(shot.read_bytes())
    assert width == 1280
    assert height > 2500
    assert_not_one_colour(shot)
    if os.environ.get(SCREENSHOT_VAR) == "1":
        DOCS_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, DOCS_SCREENSHOT)
        shutil.copyfile(top, DOCS_SCREENSHOT.with_name("monitor-report-top.png"))


def test_on_a_phone_the_page_does_not_scroll_sideways(browser: Any, tmp_path: Path) -> None:
    page_file = tmp_path / "report.html"
    page_file.write_text(render_report(report_data(24, extra_columns=(EVIL,))), encoding="utf-8")
    visit = Visit(browser, page_file, width=390)
    try:
        assert visit.errors == []
        assert visit.page.locator("h4", has_text=EVIL).count() == 1  # text, not a script
        assert visit.page.evaluate("document.documentElement.scrollWidth - innerWidth") <= 0
    finally:
        visit.close()


def test_an_empty_report_opens_too(browser: Any, tmp_path: Path) -> None:
    page_file = tmp_path / "empty.html"
    page_file.write_text(render_report({"endpoint": "quiet", "windows": []}), encoding="utf-8")
    visit = Visit(browser, page_file, width=1024)
    try:
        assert visit.errors == []
        assert visit.requests == [visit.url]
        assert visit.page.locator("p.note").count() >= 7
    finally:
        visit.close()


def test_a_missing_browser_skips_or_fails_as_ci_asks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(REQUIRE_VAR, raising=False)
    with pytest.raises(pytest.skip.Exception, match="Chromium is not installed"):
        missing("Chromium is not installed")
    monkeypatch.setenv(REQUIRE_VAR, "1")
    with pytest.raises(pytest.fail.Exception, match="SHIPYARD_REQUIRE_BROWSER=1 but"):
        missing("Chromium is not installed")
