"""The web dashboard under ``/ui``: pages drawn on the server from the services' data.

Each page is plain HTML built here from what the services return (no second data
path); charts are ECharts options written into the page as JSON (``data-option``) and
drawn by ``static/ui.js`` with the ECharts build shipped in ``static/``, so the
dashboard works offline. Buttons that change traffic or answer the loop call the
management API (``/api/...``) from the browser, with the admin token when one is set.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from importlib import resources
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from shipyard._version import __version__

__all__ = [
    "NAV",
    "action_button",
    "chart",
    "esc",
    "fmt",
    "link",
    "page",
    "problem_page",
    "query_url",
    "section",
    "store_of",
    "table",
    "ui_router",
]

ui_router = APIRouter(prefix="/ui", include_in_schema=False)

#: The navigation bar: (label, path).
NAV = (
    ("Overview", "/ui/"),
    ("Runs", "/ui/runs"),
    ("Models", "/ui/models"),
    ("Endpoints", "/ui/endpoints"),
    ("Monitoring", "/ui/monitoring"),
    ("Decisions", "/ui/decisions"),
)

_STATIC = {
    "echarts.min.js": "text/javascript",
    "ui.js": "text/javascript",
    "ui.css": "text/css",
}


def esc(value: object) -> str:
    """Text made safe for HTML, attribute values included."""
    return html.escape("" if value is None else str(value), quote=True)


def fmt(value: object, digits: int = 4) -> str:
    """A cell's text: numbers rounded, moments in UTC without microseconds, None as '-'."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if value != value:  # NaN
            return "-"
        return f"{value:.{digits}g}" if abs(value) < 1e6 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 10_000 else str(value)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def link(href: str, text: object) -> str:
    """An anchor with escaped text and address."""
    return f'<a href="{esc(href)}">{esc(text)}</a>'


def query_url(path: str, params: Mapping[str, Any]) -> str:
    """``path?query`` from the non-empty params."""
    kept = {k: v for k, v in params.items() if v not in (None, "", [])}
    return f"{path}?{urlencode(kept, doseq=True)}" if kept else path


def table(
    headers: Sequence[str],
    rows: Iterable[Sequence[str]],
    *,
    empty: str = "Nothing here yet.",
    test_id: str | None = None,
) -> str:
    """A table; cells are HTML already (escape text with :func:`esc` or :func:`fmt`)."""
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    if not body:
        return f'<p class="empty">{esc(empty)}</p>'
    head = "".join(f"<th>{h}</th>" for h in headers)
    attr = f' data-testid="{esc(test_id)}"' if test_id else ""
    return (
        f'<div class="scroll"><table{attr}><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>"
    )


def chart(
    option: Mapping[str, Any],
    *,
    height: int = 280,
    source: str | None = None,
    every_s: float | None = None,
    test_id: str | None = None,
) -> str:
    """An ECharts chart: ``option`` drawn by ui.js; ``source`` refetched every ``every_s``."""
    attrs = [
        'class="chart"',
        f'style="height:{int(height)}px"',
        f'data-option="{esc(json.dumps(option, default=_json_default, allow_nan=False))}"',
    ]
    if source is not None:
        attrs.append(f'data-source="{esc(source)}"')
        attrs.append(f'data-every="{float(every_s or 5.0)}"')
    if test_id:
        attrs.append(f'data-testid="{esc(test_id)}"')
    return f"<div {' '.join(attrs)}></div>"


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON data")


def action_button(
    label: str,
    method: str,
    url: str,
    body: Mapping[str, Any] | None = None,
    *,
    confirm: str | None = None,
    kind: str = "",
    prompt: Mapping[str, str] | None = None,
    test_id: str | None = None,
) -> str:
    """A button that calls the management API and reloads the page when it succeeds.

    ``prompt`` asks the user for body fields first (field -> question), e.g. a
    canary's version and percent.
    """
    attrs = [
        f'class="action {esc(kind)}"',
        f'data-method="{esc(method)}"',
        f'data-url="{esc(url)}"',
        f'data-body="{esc(json.dumps(dict(body or {})))}"',
    ]
    if confirm:
        attrs.append(f'data-confirm="{esc(confirm)}"')
    if prompt:
        attrs.append(f'data-prompt="{esc(json.dumps(dict(prompt)))}"')
    if test_id:
        attrs.append(f'data-testid="{esc(test_id)}"')
    return f"<button {' '.join(attrs)}>{esc(label)}</button>"


def section(title: str, body: str, *, note: str = "") -> str:
    """A titled block of a page."""
    extra = f'<p class="note">{esc(note)}</p>' if note else ""
    return f"<section><h2>{esc(title)}</h2>{extra}{body}</section>"


def page(title: str, body: str, *, active: str = "", crumbs: Sequence[str] = ()) -> HTMLResponse:
    """A whole page: navigation, title, body, the scripts that draw its charts."""
    nav = "".join(
        f'<a href="{path}"{" class=active" if label == active else ""}>{label}</a>'
        for label, path in NAV
    )
    trail = " / ".join(crumbs)
    return HTMLResponse(
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)} · shipyard</title>"
        '<link rel=stylesheet href="/ui/static/ui.css">'
        '<link rel=icon href="data:,">'
        "</head><body>"
        f'<header><a class=brand href="/ui/">shipyard</a><nav>{nav}</nav>'
        f"<span class=version>v{esc(__version__)}</span></header>"
        f"<main>{f'<p class=crumbs>{trail}</p>' if trail else ''}<h1>{esc(title)}</h1>"
        f'<p id=message role=status class="message" hidden></p>{body}</main>'
        '<script src="/ui/static/echarts.min.js"></script>'
        '<script src="/ui/static/ui.js"></script>'
        "</body></html>"
    )


def problem_page(
    title: str, message: object, status: int, *, active: str, crumbs: Sequence[str] = ()
) -> HTMLResponse:
    """A page that says what went wrong, with the HTTP status to match (404, 400...)."""
    body = f'<p class="message error" role="alert" data-testid="error">{esc(message)}</p>'
    response = page(title, body, active=active, crumbs=crumbs)
    response.status_code = status
    return response


def store_of(request: Request) -> Any:
    """The store the serving app runs on."""
    return request.app.state.runtime.store


@ui_router.get("/static/{name}")
async def static(name: str) -> Response:
    """The dashboard's own scripts and styles, shipped in the package."""
    kind = _STATIC.get(name)
    if kind is None:
        return Response("not found", status_code=404, media_type="text/plain")
    data = resources.files("shipyard.server").joinpath("static", name).read_bytes()
    return Response(data, media_type=kind, headers={"Cache-Control": "public, max-age=3600"})


@ui_router.get("")
async def root() -> RedirectResponse:
    """``/ui`` goes to the overview."""
    return RedirectResponse("/ui/")
