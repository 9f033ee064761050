"""The dashboard's decisions pages: the closed loop's timeline, its status, one decision.

A decision waiting for a human (an approval before the canary or the promotion) gets
approve and veto buttons, and so does any decision of a cycle in flight (veto); they
call the management API (``POST /api/decisions/{id}/approve`` and ``.../veto``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from shipyard.core.entities import DECISION_KINDS, Decision, LoopState
from shipyard.core.errors import NotFoundError, ShipyardError
from shipyard.server._ui import (
    action_button,
    esc,
    fmt,
    link,
    page,
    query_url,
    section,
    store_of,
    table,
)
from shipyard.server._ui_endpoints import problem_page
from shipyard.services import (
    LoopStatus,
    get_decision,
    list_decisions,
    list_endpoints,
    loop_status,
)

__all__ = ["router"]

router = APIRouter(prefix="/ui", include_in_schema=False)

_LIMIT = 200
_GOOD = frozenset({"passed", "finished", "started", "approved", "promote", "promoted"})
_BAD = frozenset({"failed", "refused", "rollback", "rolled_back", "vetoed", "ended", "abandoned"})
_WAITING = frozenset({"waiting", "deferred", "skipped", "restarted"})
_HUMAN = {"awaiting_approval": "its canary", "awaiting_promotion": "its promotion"}
_KEY_NUMBERS = 6


def _tone(decision: Decision) -> str:
    if decision.outcome in _BAD:
        return "bad"
    if decision.outcome in _WAITING:
        return "warn"
    return "ok" if decision.outcome in _GOOD else ""


def _model_link(model: str, version: int | None) -> str:
    if version is None:
        return ""
    return link(f"/ui/models/{quote(model, safe='')}/{version}", f"{model} v{version}")


def _key_numbers(details: Mapping[str, Any]) -> str:
    """A few of a decision's scalar details, as ``name value`` chips."""
    shown = []
    for key, value in details.items():
        if isinstance(value, bool) or value is None or isinstance(value, Mapping | list):
            continue
        if isinstance(value, str) and len(value) > 40:
            continue
        shown.append(f'<span class="badge">{esc(key)} {esc(fmt(value, 3))}</span>')
        if len(shown) == _KEY_NUMBERS:
            break
    return " ".join(shown)


def _item(decision: Decision) -> str:
    """One decision on the timeline."""
    parts = [
        link(f"/ui/decisions/{decision.id}", f"#{decision.id}"),
        esc(fmt(decision.at)),
        link(query_url("/ui/decisions", {"endpoint": decision.endpoint}), decision.endpoint),
        f'<span class="badge {_tone(decision)}">{esc(decision.kind)} · '
        f"{esc(decision.outcome)}</span>",
    ]
    if decision.cycle is not None:
        parts.append(
            link(
                query_url(
                    "/ui/decisions", {"endpoint": decision.endpoint, "cycle": decision.cycle}
                ),
                f"cycle {decision.cycle}",
            )
        )
    if decision.run_id:
        parts.append(link(f"/ui/runs/{quote(decision.run_id, safe='')}", "run"))
    if decision.version is not None:
        parts.append(_model_link(decision.model, decision.version))
    if decision.actor and decision.actor != "loop":
        parts.append(f"by {esc(decision.actor)}")
    numbers = _key_numbers(decision.details)
    return (
        f'<li class="{_tone(decision)}" data-decision="{decision.id}">'
        f"<div>{' · '.join(parts)}</div><div>{esc(decision.summary)}</div>"
        + (f"<div>{numbers}</div>" if numbers else "")
        + "</li>"
    )


def timeline(
    decisions: Sequence[Decision],
    *,
    empty: str = "No decision yet.",
    test_id: str = "decisions-timeline",
) -> str:
    """The decisions as a timeline list (always drawn, so the page has its test id)."""
    items = "".join(_item(d) for d in decisions)
    if not items:
        items = f'<li class="empty">{esc(empty)}</li>'
    return f'<ul class="timeline" data-testid="{esc(test_id)}">{items}</ul>'


# -- the timeline page ----------------------------------------------------------------------


@dataclass
class _Timeline:
    decisions: list[Decision]
    statuses: list[LoopStatus]
    waiting: dict[str, int]  # endpoint -> the approval decision waiting for a human
    endpoints: list[str]
    error: str = ""


def _status_rows(found: _Timeline) -> list[list[str]]:
    rows = []
    for status in found.statuses:
        state: LoopState = status.state
        waiting = found.waiting.get(status.endpoint)
        phase = f'<span class="badge {"warn" if state.phase in _HUMAN else ""}">'
        phase += f"{esc(state.phase)}</span>"
        if waiting is not None:
            phase += " " + link(f"/ui/decisions/{waiting}", f"waits for you: #{waiting}")
        cycle = (
            link(
                query_url("/ui/decisions", {"endpoint": status.endpoint, "cycle": state.cycle}),
                state.cycle,
            )
            if state.cycle is not None
            else "-"
        )
        model = state.model or (status.policy.model if status.policy else None) or ""
        last = status.last_decision
        rows.append(
            [
                link(query_url("/ui/decisions", {"endpoint": status.endpoint}), status.endpoint),
                phase,
                cycle,
                _model_link(model, state.challenger) or "-",
                esc(fmt(state.phase_since)),
                esc(fmt(state.cooldown_until)),
                "-" if last is None else link(f"/ui/decisions/{last.id}", f"#{last.id}"),
                esc("yes" if status.policy is not None else "no"),
            ]
        )
    return rows


def _load_timeline(
    store: Any, endpoint: str | None, kind: str | None, cycle: int | None
) -> _Timeline:
    statuses = loop_status(store=store)
    waiting = {}
    for status in statuses:
        state = status.state
        if state.phase in _HUMAN and state.cycle is not None:
            found = list_decisions(
                status.endpoint, cycle=state.cycle, kinds=["approval"], limit=1, store=store
            )
            if found and found[0].outcome == "waiting":
                waiting[status.endpoint] = found[0].id
    names = sorted({e.name for e in list_endpoints(store=store)} | {s.endpoint for s in statuses})
    try:
        decisions = list_decisions(
            endpoint, cycle=cycle, kinds=[kind] if kind else None, limit=_LIMIT, store=store
        )
    except ShipyardError as exc:
        return _Timeline([], statuses, waiting, names, str(exc))
    return _Timeline(decisions, statuses, waiting, names)


def _filters(names: list[str], endpoint: str | None, kind: str | None, cycle: str) -> str:
    def options(values: Sequence[str], chosen: str | None, everything: str) -> str:
        found = [f'<option value="">{esc(everything)}</option>']
        for value in values:
            selected = " selected" if value == chosen else ""
            found.append(f'<option value="{esc(value)}"{selected}>{esc(value)}</option>')
        return "".join(found)

    return (
        '<form class="filters" method="get" action="/ui/decisions">'
        f'<label>endpoint<select name="endpoint">{options(names, endpoint, "every endpoint")}'
        f'</select></label><label>kind<select name="kind">'
        f"{options(DECISION_KINDS, kind, 'every kind')}</select></label>"
        f'<label>cycle<input type="text" name="cycle" value="{esc(cycle)}" size="6"></label>'
        '<button type="submit">Show</button></form>'
    )


@router.get("/decisions", response_class=HTMLResponse)
async def decisions_page(
    request: Request,
    endpoint: str | None = None,
    kind: str | None = None,
    cycle: str | None = None,
) -> Response:
    """The loop's decisions, newest first, and where each endpoint's loop is."""
    number: int | None = None
    error = ""
    if cycle:
        if cycle.strip().isdigit():
            number = int(cycle.strip())
        else:
            error = f"cycle must be a decision id (a whole number); got {cycle!r}"
    found = await asyncio.to_thread(
        _load_timeline, store_of(request), endpoint or None, kind or None, number
    )
    error = error or found.error
    message = f'<p class="message error">{esc(error)}</p>' if error else ""
    shown = f"the newest {_LIMIT}" if len(found.decisions) >= _LIMIT else "newest first"
    status = table(
        [
            "endpoint",
            "phase",
            "cycle",
            "challenger",
            "since",
            "cool-down until",
            "last",
            "policy",
        ],
        _status_rows(found),
        empty="No endpoint has a loop policy ([loop.ENDPOINT] in shipyard.toml) or history.",
        test_id="loop-status",
    )
    body = section("Loop status", status) + section(
        "Decisions",
        _filters(found.endpoints, endpoint, kind, cycle or "")
        + message
        + timeline([] if error else found.decisions),
        note=f"The loop's decisions, {shown}. Times are the loop's clock (UTC).",
    )
    return page("Decisions", body, active="Decisions")


# -- one decision ----------------------------------------------------------------------------


def _value(value: Any, depth: int = 0) -> str:
    """A detail as HTML: mappings as nested tables, short lists inline, the rest as JSON."""
    if isinstance(value, Mapping) and depth < 2 and value:
        rows = "".join(
            f"<tr><th>{esc(k)}</th><td>{_value(v, depth + 1)}</td></tr>" for k, v in value.items()
        )
        return f"<table><tbody>{rows}</tbody></table>"
    if isinstance(value, list) and all(not isinstance(v, Mapping | list) for v in value):
        return esc(", ".join(fmt(v, 4) for v in value) or "-")
    if isinstance(value, Mapping | list):
        return f"<pre>{esc(json.dumps(value, indent=2, default=str))}</pre>"
    return esc(fmt(value, 4))


def _scores(details: Mapping[str, Any]) -> str:
    """A gate's champion and challenger scores side by side."""
    champion, challenger = details.get("champion"), details.get("challenger")
    if not isinstance(champion, Mapping) or not isinstance(challenger, Mapping):
        return ""
    rows = []
    for name in dict.fromkeys([*champion, *challenger]):
        old, new = champion.get(name), challenger.get(name)
        change = (
            fmt(new - old, 3)
            if isinstance(old, int | float) and isinstance(new, int | float)
            else "-"
        )
        rows.append([esc(name), esc(fmt(old, 4)), esc(fmt(new, 4)), esc(change)])
    return section("Scores", table(["metric", "champion", "challenger", "change"], rows))


def _buttons(decision: Decision, state: LoopState | None) -> str:
    if state is None or state.cycle is None or state.cycle != decision.cycle:
        return ""
    buttons = []
    if decision.kind == "approval" and decision.outcome == "waiting" and state.phase in _HUMAN:
        buttons.append(
            action_button(
                "Approve",
                "POST",
                f"/api/decisions/{decision.id}/approve",
                confirm=f"Approve {_HUMAN[state.phase]} of v{state.challenger}?",
                kind="primary",
                test_id="approve",
            )
        )
    if state.phase not in ("idle", "retraining"):
        buttons.append(
            action_button(
                "Veto",
                "POST",
                f"/api/decisions/{decision.id}/veto",
                {"reason": ""},
                prompt={"reason": "Why stop this cycle? (kept in the veto decision)"},
                kind="danger",
                test_id="veto",
            )
        )
    if not buttons:
        return ""
    note = f"Cycle {state.cycle} is {state.phase}."
    return f'<p class="note">{esc(note)}</p><div class="actions">{"".join(buttons)}</div>'


def _load_decision(
    store: Any, decision_id: int
) -> tuple[Decision, LoopState | None, list[Decision]]:
    decision = get_decision(decision_id, store=store)
    state = None
    try:
        statuses = loop_status(decision.endpoint, store=store)
        state = statuses[0].state if statuses else None
    except ShipyardError:  # the endpoint is gone: its history stays readable
        state = None
    cycle = (
        list_decisions(decision.endpoint, cycle=decision.cycle, limit=None, store=store)
        if decision.cycle is not None
        else []
    )
    return decision, state, cycle


@router.get("/decisions/{decision_id}", response_class=HTMLResponse)
async def decision_page(decision_id: str, request: Request) -> Response:
    """One decision in full, its cycle, and the approve and veto buttons when they apply."""
    crumbs = [link("/ui/decisions", "Decisions"), esc(f"#{decision_id}")]
    try:
        if not decision_id.isascii() or not decision_id.isdigit() or len(decision_id) > 18:
            raise NotFoundError(f"no decision has id {decision_id!r}: ids are whole numbers")
        decision, state, cycle = await asyncio.to_thread(
            _load_decision, store_of(request), int(decision_id)
        )
    except ShipyardError as exc:
        return problem_page(f"Decision #{decision_id}", exc, active="Decisions", crumbs=crumbs)
    facts = [
        ("endpoint", link(f"/ui/endpoints/{quote(decision.endpoint, safe='')}", decision.endpoint)),
        ("kind", f'<span class="badge">{esc(decision.kind)}</span>'),
        ("outcome", f'<span class="badge {_tone(decision)}">{esc(decision.outcome)}</span>'),
        ("summary", esc(decision.summary)),
        ("cycle", "-" if decision.cycle is None else link(
            query_url("/ui/decisions", {"endpoint": decision.endpoint, "cycle": decision.cycle}),
            decision.cycle)),
        ("model", _model_link(decision.model, decision.version) or esc(decision.model)),
        ("run", link(f"/ui/runs/{quote(decision.run_id, safe='')}", decision.run_id)
         if decision.run_id else "-"),
        ("actor", esc(decision.actor)),
        ("at (loop clock)", esc(fmt(decision.at))),
        ("recorded", esc(fmt(decision.created_at))),
    ]  # fmt: skip
    rows = "".join(f"<tr><th>{esc(k)}</th><td>{v}</td></tr>" for k, v in facts)
    raw = json.dumps(decision.details, indent=2, default=str)
    scores = _scores(decision.details)
    details = decision.details
    if scores:  # shown side by side already
        details = {k: v for k, v in details.items() if k not in ("champion", "challenger")}
    body = (
        section(
            "Decision",
            f'<div class="scroll"><table data-testid="decision"><tbody>{rows}</tbody></table>'
            f"</div>{_buttons(decision, state)}",
        )
        + scores
        + section(
            "Details",
            (_value(details) if details else '<p class="empty">None.</p>')
            + f"<details><summary>JSON</summary><pre>{esc(raw)}</pre></details>",
        )
    )
    if cycle:
        ordered = sorted(cycle, key=lambda d: d.id)
        body += section(
            f"Cycle {decision.cycle}",
            timeline(ordered, test_id="cycle-timeline"),
            note="Oldest first.",
        )
    return page(f"Decision #{decision.id}", body, active="Decisions", crumbs=crumbs)
