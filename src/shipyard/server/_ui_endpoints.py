"""The dashboard's endpoints pages: what each one serves, its live traffic, its buttons.

An endpoint's page shows its traffic twice: as the store says (what every server will
route) and as this server routes it now, so a change made through the buttons (the
management API) can be seen taking effect. Its live chart is drawn from this server's
own recent answers (:mod:`shipyard.server._live`) and refetched every two seconds.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from shipyard.core.entities import Endpoint, EndpointEvent
from shipyard.core.errors import NotFoundError, ShipyardError
from shipyard.server._http import json_response
from shipyard.server._live import LiveSnapshot, Record, summarize
from shipyard.server._runtime import Route, ServingRuntime
from shipyard.server._ui import (
    action_button,
    chart,
    esc,
    fmt,
    link,
    page,
    section,
    store_of,
    table,
)
from shipyard.server._ui import (
    problem_page as ui_problem_page,
)
from shipyard.server._ui_live import live_option
from shipyard.services import (
    Traffic,
    endpoint_history,
    get_endpoint,
    list_endpoints,
    list_model_versions,
    resolve_traffic,
    traffic_snapshot,
)

__all__ = ["router"]

router = APIRouter(prefix="/ui", include_in_schema=False)

#: The live chart's span and bucket, in seconds, and how often the page refetches it.
LIVE_SECONDS = 60.0
LIVE_BUCKET = 2.0
LIVE_EVERY = 2.0
_HISTORY = 50


def _runtime(request: Request) -> ServingRuntime:
    runtime: ServingRuntime = request.app.state.runtime
    return runtime


def problem_page(title: str, error: ShipyardError, *, active: str, crumbs: list[str]) -> Response:
    """A page saying what went wrong, with the error's status (404 for an unknown name)."""
    return ui_problem_page(title, error, error.status_code, active=active, crumbs=crumbs)


def _canary_text(version: int | None, percent: float) -> str:
    return "no canary" if version is None else f"canary v{version} at {percent:g}%"


def _versions(numbers: tuple[int, ...] | list[int]) -> str:
    return ", ".join(f"v{v}" for v in numbers) or "-"


def _rate(snapshot: LiveSnapshot) -> float:
    return snapshot.total / (len(snapshot.ends) * snapshot.bucket_s)


async def _snapshot(
    runtime: ServingRuntime, name: str, seconds: float, records: list[Record] | None = None
) -> LiveSnapshot:
    """The live figures: records copied on the loop, summed up on a worker thread."""
    found = runtime.live.records(name) if records is None else records
    full = runtime.live.full(name)
    return await asyncio.to_thread(
        lambda: summarize(name, found, seconds, LIVE_BUCKET, truncated=full)
    )


# -- the list ---------------------------------------------------------------------------


def _list_rows(
    endpoints: list[Endpoint],
    traffic: dict[str, Traffic],
    runtime: ServingRuntime,
    rates: dict[str, float],
) -> list[list[str]]:
    rows = []
    for e in endpoints:
        found = traffic.get(e.name)
        primary = found.primary_version if found is not None else None
        route = runtime.routes.get(e.name)
        if route is not None:
            here = f"v{route.primary.version}"
            if route.canary is not None:
                here += f" + {_canary_text(route.canary.version, route.canary_percent)}"
            served = esc(here)
        else:
            served = '<span class="badge bad">not serving</span>'
        rows.append(
            [
                link(f"/ui/endpoints/{quote(e.name, safe='')}", e.name),
                esc(e.target),
                esc("-" if primary is None else f"v{primary}"),
                esc(_canary_text(e.canary_version, e.canary_percent)),
                esc(_versions(e.shadow_versions)),
                served,
                f'<span class="num">{esc(fmt(rates.get(e.name, 0.0), 3))}</span>',
                esc(e.generation),
                esc(e.description),
                link(f"/ui/monitoring/{quote(e.name, safe='')}", "monitoring"),
            ]
        )
    return rows


@router.get("/endpoints", response_class=HTMLResponse)
async def endpoints_page(request: Request) -> Response:
    """Every endpoint: what it serves, its canary and shadows, what this server routes."""
    store = store_of(request)
    runtime = _runtime(request)
    endpoints, traffic = await asyncio.to_thread(
        lambda: (list_endpoints(store=store), traffic_snapshot(store))
    )
    rates = {e.name: runtime.live.rate(e.name, LIVE_SECONDS) for e in endpoints}
    headers = [
        "endpoint",
        "follows",
        "primary",
        "canary",
        "shadows",
        "served here",
        "req/s (1 min)",
        "generation",
        "description",
        "",
    ]
    body = section(
        "Endpoints",
        table(
            headers,
            _list_rows(endpoints, traffic, runtime, rates),
            empty="No endpoint yet: create one with `shipyard endpoints create NAME "
            "--model MODEL@ALIAS`.",
            test_id="endpoints-table",
        ),
        note="The store's traffic policy, and what this server routes now.",
    )
    return page("Endpoints", body, active="Endpoints")


# -- one endpoint -------------------------------------------------------------------------


def _served_row(name: str, route: Route | None, runtime: ServingRuntime) -> list[str]:
    if route is None:
        why = runtime.errors.get(name, "not loaded yet")
        return ["this server routes", f'<span class="badge bad">not serving</span> {esc(why)}']
    canary = route.canary
    text = (
        f"primary v{route.primary.version}; "
        f"{_canary_text(None if canary is None else canary.version, route.canary_percent)}; "
        f"shadows {_versions([s.version for s in route.shadows])}"
    )
    return ["this server routes", esc(text)]


def _traffic_table(endpoint: Endpoint, traffic: Traffic, runtime: ServingRuntime) -> str:
    primary = (
        "its alias points at no version"
        if traffic.primary_version is None
        else f"v{traffic.primary_version}"
    )
    said = (
        f"primary {primary} ({endpoint.target}); "
        f"{_canary_text(endpoint.canary_version, endpoint.canary_percent)}; "
        f"shadows {_versions(endpoint.shadow_versions)}"
    )
    rows = [
        ["the store says", esc(said)],
        _served_row(endpoint.name, runtime.routes.get(endpoint.name), runtime),
    ]
    body = "".join(f"<tr><th>{a}</th><td>{b}</td></tr>" for a, b in rows)
    return f'<div class="scroll"><table data-testid="traffic"><tbody>{body}</tbody></table></div>'


def _change(event: EndpointEvent) -> str:
    """What an event changed, field by field."""
    before, after = event.before or {}, event.after or {}
    if not before:
        shown = [f"{k}={v}" for k, v in after.items() if v not in (None, (), [], "", 0)]
        return "created: " + ", ".join(shown)
    if not after:
        return "deleted"
    changed = [k for k in after if before.get(k) != after.get(k)]
    return "; ".join(f"{k}: {fmt(before.get(k))} → {fmt(after.get(k))}" for k in changed) or "-"


def _history(events: list[EndpointEvent]) -> str:
    rows = [
        [esc(fmt(e.at)), f'<span class="badge">{esc(e.action)}</span>', esc(e.by), esc(_change(e))]
        for e in reversed(events)
    ]
    return table(["at", "action", "by", "change"], rows, empty="No change recorded.")


def _buttons(endpoint: Endpoint, traffic: Traffic, candidate: int | None) -> str:
    api = f"/api/endpoints/{quote(endpoint.name, safe='')}"
    default: dict[str, Any] = {"percent": endpoint.canary_percent or 10}
    if candidate is not None:
        default["version"] = candidate
    primary = "-" if traffic.primary_version is None else f"v{traffic.primary_version}"
    buttons = [
        action_button(
            "Start canary",
            "POST",
            f"{api}/canary",
            default,
            prompt={
                "version": f"Canary version of {endpoint.model_name} (the primary is {primary}):",
                "percent": "Share of the traffic for the canary, in percent (0-100]:",
            },
            kind="primary",
            test_id="start-canary",
        ),
        action_button(
            "Stop canary",
            "DELETE",
            f"{api}/canary",
            confirm=f"Send all of {endpoint.name}'s traffic back to the primary?",
            test_id="stop-canary",
        ),
        action_button(
            "Promote",
            "POST",
            f"{api}/promote",
            confirm=f"Make the canary the primary of {endpoint.name}?",
            test_id="promote",
        ),
        action_button(
            "Rollback",
            "POST",
            f"{api}/rollback",
            confirm=f"Stop {endpoint.name}'s canary, or bring its previous primary back?",
            kind="danger",
            test_id="rollback",
        ),
    ]
    return f'<div class="actions">{"".join(buttons)}</div>'


def _detail(store: Any, name: str) -> tuple[Endpoint, Traffic, list[EndpointEvent], int | None]:
    endpoint = get_endpoint(name, store=store)
    traffic = resolve_traffic(name, store=store)
    events = endpoint_history(name, limit=_HISTORY, store=store)
    others = [
        v.version
        for v in list_model_versions(endpoint.model_name, store=store)
        if v.version != traffic.primary_version
    ]
    candidate = endpoint.canary_version or (others[-1] if others else None)
    return endpoint, traffic, events, candidate


def _tiles(endpoint: Endpoint, traffic: Traffic, snapshot: LiveSnapshot) -> str:
    tiles = [
        (endpoint.target, "follows"),
        ("-" if traffic.primary_version is None else f"v{traffic.primary_version}", "primary"),
        (_canary_text(endpoint.canary_version, endpoint.canary_percent), "canary"),
        (f"{fmt(_rate(snapshot), 3)}", "requests/s here (1 min)"),
        (f"{endpoint.max_batch_size} rows / {fmt(endpoint.max_latency_ms)} ms", "batching"),
        (str(endpoint.generation), "generation"),
    ]
    cells = "".join(
        f'<div class="tile"><b>{esc(v)}</b><span>{esc(k)}</span></div>' for v, k in tiles
    )
    return f'<div class="tiles">{cells}</div>'


@router.get("/endpoints/{name}", response_class=HTMLResponse)
async def endpoint_page(name: str, request: Request) -> Response:
    """One endpoint: its traffic in the store and here, live figures, buttons, history."""
    store = store_of(request)
    runtime = _runtime(request)
    crumbs = [link("/ui/endpoints", "Endpoints"), esc(name)]
    try:
        endpoint, traffic, events, candidate = await asyncio.to_thread(_detail, store, name)
    except ShipyardError as exc:
        return problem_page(name, exc, active="Endpoints", crumbs=crumbs)
    snapshot = await _snapshot(runtime, name, LIVE_SECONDS)
    quoted = quote(name, safe="")
    description = f'<p class="note">{esc(endpoint.description)}</p>' if endpoint.description else ""
    model_url = f"/ui/models/{quote(endpoint.model_name, safe='')}"
    links = (
        f"<p>{link(f'/ui/monitoring/{quoted}', 'monitoring')} · "
        f"{link(f'/ui/decisions?endpoint={quoted}', 'the loop decisions')} · "
        f"model {link(model_url, endpoint.model_name)}</p>"
    )
    body = (
        description
        + _tiles(endpoint, traffic, snapshot)
        + section(
            "Traffic",
            _traffic_table(endpoint, traffic, runtime) + _buttons(endpoint, traffic, candidate),
            note="The buttons call the management API (/api); this server applies a change "
            "before it answers, the others within their poll interval.",
        )
        + section(
            "Live",
            chart(
                live_option(snapshot),
                height=460,
                source=f"/ui/api/endpoints/{quoted}/live",
                every_s=LIVE_EVERY,
                test_id="live-chart",
            ),
            note="Requests answered by this server process in the last minute, per version.",
        )
        + section("History", _history(events))
        + links
    )
    return page(name, body, active="Endpoints", crumbs=crumbs)


@router.get("/api/endpoints/{name}/live")
async def live_chart(name: str, request: Request, seconds: float = LIVE_SECONDS) -> Response:
    """The live chart's ECharts option: this server's last minute of answers, per version."""
    runtime = _runtime(request)
    records = runtime.live.records(name)
    if not records and name not in runtime.routes:
        error = NotFoundError(f"this server serves no endpoint named {name!r}")
        return json_response(error.to_dict(), error.status_code)
    span = min(max(seconds, 10.0), 600.0) if seconds == seconds else LIVE_SECONDS
    snapshot = await _snapshot(runtime, name, span, records)
    return json_response(live_option(snapshot), headers={"Cache-Control": "no-store"})
