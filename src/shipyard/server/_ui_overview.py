"""The dashboard's front page: every endpoint's health, the loop's latest decisions, alerts."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from shipyard.server._ui import esc, fmt, link, page, section, store_of, table
from shipyard.services import list_alerts, list_decisions, list_endpoints, list_models

__all__ = ["router"]

router = APIRouter(prefix="/ui", include_in_schema=False)


def _overview(store: Any) -> str:
    endpoints = list_endpoints(store=store)
    rows = []
    for e in endpoints:
        target = f"{e.model_name}@{e.alias}" if e.alias else f"{e.model_name}/{e.version}"
        canary = f"v{e.canary_version} at {e.canary_percent:g}%" if e.canary_version else "-"
        rows.append(
            [
                link(f"/ui/endpoints/{e.name}", e.name),
                esc(target),
                esc(canary),
                link(f"/ui/monitoring/{e.name}", "monitoring"),
            ]
        )
    decisions = list_decisions(limit=10, store=store)
    recent = [
        [
            link(f"/ui/decisions/{d.id}", f"#{d.id}"),
            esc(fmt(d.at)),
            esc(d.endpoint),
            f'<span class="badge">{esc(d.kind)}</span> {esc(d.outcome)}',
            esc(d.summary),
        ]
        for d in decisions
    ]
    alerts = list_alerts(limit=10, store=store)
    fired = [
        [esc(fmt(a.window_start)), esc(a.endpoint), esc(a.rule), esc(fmt(a.value))] for a in alerts
    ]
    models = list_models(store=store)
    tiles = (
        '<div class="tiles">'
        f'<div class="tile"><b>{len(endpoints)}</b><span>endpoints</span></div>'
        f'<div class="tile"><b>{len(models)}</b><span>models</span></div>'
        f'<div class="tile"><b>{len(alerts)}</b><span>recent alerts</span></div>'
        "</div>"
    )
    return (
        section("At a glance", tiles)
        + section(
            "Endpoints",
            table(["endpoint", "serves", "canary", ""], rows, empty="No endpoint yet."),
        )
        + section(
            "The loop's latest decisions",
            table(["", "at", "endpoint", "decision", "summary"], recent, empty="No decision yet."),
        )
        + section(
            "Latest alerts",
            table(["window", "endpoint", "rule", "value"], fired, empty="No alert has fired."),
        )
    )


@router.get("/", response_class=HTMLResponse)
async def overview(request: Request) -> HTMLResponse:
    """Every endpoint, the loop's latest decisions and the latest alerts."""
    body = await asyncio.to_thread(_overview, store_of(request))
    return page("Overview", body, active="Overview")
