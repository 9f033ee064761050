"""The report page in a real browser: Chromium opens it offline, with no error, and draws it.

Needs the ``playwright`` package (the ``dev`` extra) and Debian's Chromium (``apt-get install
chromium``; Playwright's own browser download is not used). Without them the tests skip,
unless ``SHIPYARD_REQUIRE_BROWSER=1`` (set in CI) turns the skip into a failure.
``SHIPYARD_WRITE_SCREENSHOTS=1`` also saves the screenshot for the docs.
"""

from __future__ import annotations

import os
import shutil
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest
from report_data import EVIL, report_data

from shipyard.services._report_html import render_report

REQUIRE_VAR = "SHIPYARD_REQUIRE_BROWSER"
SCREENSHOT_VAR = "SHIPYARD_WRITE_SCREENSHOTS"
DOCS_SCREENSHOT = Path(__file__).parents[2] / "docs" / "screenshots" / "monitor-report.png"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def missing(message: str) -> NoReturn:
    """Skip, or fail when SHIPYARD_REQUIRE_BROWSER=1: the browser tests cannot run here."""
    if os.environ.get(REQUIRE_VAR) == "1":
        pytest.fail(f"{REQUIRE_VAR}=1 but {message}", pytrace=False)
    pytest.skip(message)


def chromium_path() -> str:
    """Debian's Chromium, or skip (fail when required) if it is not installed."""
    found = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(found).is_file():
        missing("Chromium is not installed; apt-get install chromium (Debian's package)")
    return found


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """A headless Chromium driven by Playwright, shared by this module's tests."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        missing(f"playwright is not installed ({exc}); pip install -e '.[dev]'")
    executable = chromium_path()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


class Visit:
    """A page opened from a file, with every console error, page error and request it made."""

    def __init__(self, browser: Any, path: Path, width: int) -> None:
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.context = browser.new_context(viewport={"width": width, "height": 900})
        self.page = self.context.new_page()
        self.page.set_default_timeout(30_000)
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))
        self.page.on("request", lambda request: self.requests.append(request.url))
        self.url = path.resolve().as_uri()
        self.page.goto(self.url, wait_until="load")

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.errors.append(f"console: {message.text}")

    def close(self) -> None:
        self.context.close()


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's header (and proof that it is a PNG)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def assert_not_one_colour(path: Path) -> None:
    """With Pillow at hand, check the pixels; else a one-colour page would compress to little."""
    try:
        from PIL import Image
    except ImportError:
        assert path.stat().st_size > 100_000
        return
    with Image.open(path) as image:
        colours = image.convert("RGB").getcolors(maxcolors=1_000_000)
    assert colours is None or len(colours) > 50


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
