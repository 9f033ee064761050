"""What the browser tests share: Debian's Chromium driven by Playwright, and a page visit
that records every console error, page error and request, and refuses other hosts.

Needs the ``playwright`` package (the ``dev`` extra) and Debian's Chromium (``apt-get install
chromium``; Playwright's own browser download is not used). Without them the tests skip,
unless ``SHIPYARD_REQUIRE_BROWSER=1`` (set in CI) turns the skip into a failure.
``SHIPYARD_WRITE_SCREENSHOTS=1`` also saves the screenshots for the docs.
"""

from __future__ import annotations

import os
import shutil
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

import pytest

REQUIRE_VAR = "SHIPYARD_REQUIRE_BROWSER"
SCREENSHOT_VAR = "SHIPYARD_WRITE_SCREENSHOTS"
DOCS_SCREENSHOTS = Path(__file__).parents[1] / "docs" / "screenshots"
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


@contextmanager
def launch_chromium() -> Iterator[Any]:
    """A headless Chromium driven by Playwright; skips (or fails) when either is missing."""
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


def writing_screenshots() -> bool:
    """Whether this run saves the docs' screenshots (``SHIPYARD_WRITE_SCREENSHOTS=1``)."""
    return os.environ.get(SCREENSHOT_VAR) == "1"


def _origin(url: str) -> str:
    """Where a page may load from: its scheme and host, or the file itself."""
    parts = urlsplit(url)
    if parts.scheme in ("http", "https"):
        return f"{parts.scheme}://{parts.netloc}/"
    return url


class Visit:
    """A page in a fresh browser context, with every console error, page error and request.

    Requests to anything but the page's own origin (its server, or the file itself) are
    aborted and listed in ``blocked``; ``data:`` and ``blob:`` addresses stay in the page.
    """

    def __init__(self, browser: Any, target: Path | str, width: int, height: int = 900) -> None:
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.blocked: list[str] = []
        self.url = target.resolve().as_uri() if isinstance(target, Path) else target
        self.origin = _origin(self.url)
        self.context = browser.new_context(viewport={"width": width, "height": height})
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.set_default_timeout(30_000)
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))
        self.page.on("request", lambda request: self.requests.append(request.url))
        self.response = self.goto(self.url)

    def goto(self, url: str) -> Any:
        """Open ``url`` (relative to the origin of an http page) and wait for it to load."""
        if url.startswith("/") and self.origin.startswith("http"):
            url = self.origin.rstrip("/") + url
        self.response = self.page.goto(url, wait_until="load")
        return self.response

    def _route(self, route: Any) -> None:
        url = route.request.url
        if url.startswith((self.origin, "data:", "blob:")) or url == self.url:
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort()

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.errors.append(f"console: {message.text}")

    def overflow(self) -> int:
        """How far the page scrolls sideways (0 or less: it does not)."""
        found: int = self.page.evaluate("document.documentElement.scrollWidth - innerWidth")
        return found

    def close(self) -> None:
        self.context.close()

    def __enter__(self) -> Visit:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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
