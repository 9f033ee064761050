"""``shipyard loop`` and ``shipyard decisions``: run the closed loop, steer it, read its audit."""

from __future__ import annotations

import time
from typing import Any, NoReturn

import typer
from rich import box
from rich.markup import escape
from rich.table import Table
from rich.tree import Tree

from shipyard.cli._app import app, new_group
from shipyard.cli._output import console, err_console, format_time, print_json
from shipyard.core.entities import Decision, LoopState
from shipyard.core.errors import ShipyardError
from shipyard.services import loop as service
from shipyard.services._context import get_default_store

__all__ = ["decision_dict", "decisions_app", "loop_app"]

loop_app = new_group(
    "The closed loop: notice decay, retrain, gate, canary, then promote or roll back."
)
app.add_typer(loop_app, name="loop")
decisions_app = new_group("The loop's audited decisions: what it decided, why, with the numbers.")
app.add_typer(decisions_app, name="decisions")

_JSON = typer.Option(False, "--json", help="Print JSON for scripts.")
_DECISION = typer.Argument(..., help="The decision's id (see `shipyard decisions list`).")
_REASON = typer.Option("", "--reason", "-r", help="Why, kept in the decision.")

_GOOD = frozenset({"passed", "finished", "started", "approved", "promote", "promoted"})
_BAD = frozenset({"failed", "refused", "rollback", "rolled_back", "vetoed", "ended"})
_WAITING = {"awaiting_approval": "canary", "awaiting_promotion": "promotion"}


# -- printing -------------------------------------------------------------------------------


def decision_dict(decision: Decision) -> dict[str, Any]:
    """A decision as plain JSON-ready data."""
    return {
        "id": decision.id,
        "endpoint": decision.endpoint,
        "model": decision.model,
        "cycle": decision.cycle,
        "kind": decision.kind,
        "outcome": decision.outcome,
        "summary": decision.summary,
        "version": decision.version,
        "run_id": decision.run_id,
        "actor": decision.actor,
        "at": decision.at,
        "created_at": decision.created_at,
        "details": decision.details,
    }


def _state_dict(state: LoopState) -> dict[str, Any]:
    return {
        "phase": state.phase,
        "model": state.model,
        "cycle": state.cycle,
        "challenger": state.challenger,
        "phase_since": state.phase_since,
        "cooldown_until": state.cooldown_until,
        "checked_until": state.checked_until,
        "owner": state.owner,
        "lease_until": state.lease_until,
        "generation": state.generation,
        "updated_at": state.updated_at,
    }


def _outcome(outcome: str) -> str:
    if outcome in _GOOD:
        return f"[green]{escape(outcome)}[/]"
    if outcome in _BAD:
        return f"[red]{escape(outcome)}[/]"
    if outcome == "waiting":
        return f"[yellow]{escape(outcome)}[/]"
    return escape(outcome)


def _print_decision(decision: Decision) -> None:
    console.print(
        f"{format_time(decision.at)}  [bold]{escape(decision.endpoint)}[/]  "
        f"#{decision.id} {decision.kind} {_outcome(decision.outcome)}: {escape(decision.summary)}",
        highlight=False,
    )


def _waiting_decision(endpoint: str, state: LoopState) -> Decision | None:
    """The approval decision a cycle waits on, when it waits for a human."""
    if state.phase not in _WAITING or state.cycle is None:
        return None
    found = service.list_decisions(endpoint, cycle=state.cycle, kinds=["approval"], limit=1)
    return found[0] if found and found[0].outcome == "waiting" else None


def _print_hint(endpoint: str, state: LoopState) -> None:
    """How to answer the decision the endpoint's cycle waits on, if it waits for a human."""
    waiting = _waiting_decision(endpoint, state)
    if waiting is None:
        return
    console.print(
        f"{escape(endpoint)} waits for a human to approve the {_WAITING[state.phase]} of "
        f"v{state.challenger}: [bold]shipyard loop approve {waiting.id}[/] or "
        f"[bold]shipyard loop veto {waiting.id} --reason TEXT[/]",
        highlight=False,
    )


def _print_decisions(decisions: list[Decision]) -> None:
    """Decisions oldest first, then how to answer one that waits for a human."""
    for decision in decisions:
        _print_decision(decision)
    if decisions and decisions[-1].kind == "approval" and decisions[-1].outcome == "waiting":
        endpoint = decisions[-1].endpoint
        _print_hint(endpoint, service.loop_status(endpoint)[0].state)


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return escape(str(value))


def _grow(tree: Tree, value: Any) -> None:
    """Nested details as branches: mappings by key, lists by position."""
    items: list[tuple[str, Any]]
    if isinstance(value, dict):
        items = [(str(k), v) for k, v in value.items()]
    else:
        items = [(f"[{i}]", v) for i, v in enumerate(value)]
    for key, item in items:
        if isinstance(item, dict | list) and item:
            _grow(tree.add(f"[bold]{escape(key)}[/]"), item)
        else:
            shown = "-" if item is None or item in ({}, []) else _value(item)
            tree.add(f"[bold]{escape(key)}[/]: {shown}")


def _fail(message: str) -> NoReturn:
    """Exit 1 with one red line, as a ShipyardError does, the ``[loop.NAME]`` kept visible."""
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    raise typer.Exit(1)


# -- shipyard loop --------------------------------------------------------------------------


def _tick_round(names: list[str], *, quiet: bool) -> bool:
    """One pass over the endpoints; False when one of them failed."""
    ok = True
    for name in names:
        try:
            decisions = service.loop_tick(name)
        except ShipyardError as exc:
            ok = False
            err_console.print(f"[bold red]error:[/] {escape(name)}: {escape(str(exc))}")
            continue
        _print_decisions(decisions)
        if not decisions and not quiet:
            console.print(f"{escape(name)}: nothing to decide", highlight=False)
    return ok


@loop_app.command("run")
def loop_run(
    names: list[str] | None = typer.Argument(
        None, help="Endpoints to run (default: every one with a \\[loop.NAME] policy)."
    ),
    once: bool = typer.Option(False, "--once", help="One round, then exit (for cron)."),
    interval: float = typer.Option(60.0, "--interval", min=1.0, help="Seconds between rounds."),
) -> None:
    """Run the loop's controller: check triggers, retrain, judge canaries, round after round."""
    policies = get_default_store().settings.loop
    chosen = list(dict.fromkeys(names or sorted(policies)))
    if not chosen:
        _fail(
            "no endpoint has a loop policy: add a [loop.ENDPOINT] table to shipyard.toml "
            "(every field has a default), e.g. [loop.my-endpoint]"
        )
    missing = [name for name in chosen if name not in policies]
    if missing:
        _fail(
            f"endpoint(s) {', '.join(repr(m) for m in missing)} have no loop policy: add "
            + " and ".join(f"[loop.{m}]" for m in missing)
            + " to shipyard.toml (every field has a default)"
        )
    if not once:
        err_console.print(
            f"loop: {', '.join(chosen)} every {interval:g}s; Ctrl-C stops", highlight=False
        )
    try:
        while True:
            ok = _tick_round(chosen, quiet=not once)
            if once:
                if not ok:
                    raise typer.Exit(1)
                return
            time.sleep(interval)
    except KeyboardInterrupt:
        # A retrain cut short stays "retraining" under this process's lease; the next
        # controller starts it again once the lease runs out.
        err_console.print("loop: stopped")


def _status_dict(status: service.LoopStatus) -> dict[str, Any]:
    waiting = _waiting_decision(status.endpoint, status.state)
    last = status.last_decision
    return {
        "endpoint": status.endpoint,
        **_state_dict(status.state),
        "policy": None if status.policy is None else status.policy.model_dump(),
        "last_decision": None if last is None else decision_dict(last),
        "waiting_decision": None if waiting is None else decision_dict(waiting),
    }


def _status_table(status: service.LoopStatus) -> Table:
    state = status.state
    table = Table(
        show_header=False,
        title=f"{status.endpoint}: loop",
        title_justify="left",
        box=box.SIMPLE,
    )
    table.add_column(style="bold")
    table.add_column()
    phase = state.phase if state.phase == "idle" else f"[yellow]{state.phase}[/]"
    table.add_row("phase", phase)
    table.add_row("model", escape(state.model or "-"))
    table.add_row("cycle", "-" if state.cycle is None else str(state.cycle))
    table.add_row("challenger", "-" if state.challenger is None else f"v{state.challenger}")
    table.add_row("since", format_time(state.phase_since))
    table.add_row("cool-down until", format_time(state.cooldown_until))
    table.add_row("checked until", format_time(state.checked_until))
    if state.phase == "retraining":
        table.add_row(
            "lease", f"{escape(state.owner or '-')} until {format_time(state.lease_until)}"
        )
    if status.policy is None:
        table.add_row(
            "policy", "[red]none[/]: " + escape(f"add [loop.{status.endpoint}] to shipyard.toml")
        )
    last = status.last_decision
    if last is None:
        table.add_row("last decision", "-")
    else:
        table.add_row(
            "last decision",
            f"#{last.id} {last.kind} {_outcome(last.outcome)} ({format_time(last.at)}): "
            f"{escape(last.summary)}",
        )
    return table


@loop_app.command("status")
def loop_status(
    endpoint: str | None = typer.Argument(None, help="Only this endpoint."),
    json_output: bool = _JSON,
) -> None:
    """Where each endpoint's loop is, what it decided last, and what waits for a human."""
    statuses = service.loop_status(endpoint)
    if json_output:
        print_json([_status_dict(s) for s in statuses])
        return
    if not statuses:
        console.print(
            escape("no loop yet: add a [loop.ENDPOINT] table to shipyard.toml") + ", then run "
            "[bold]shipyard loop run[/]",
            highlight=False,
        )
        return
    for status in statuses:
        console.print(_status_table(status))
        _print_hint(status.endpoint, status.state)


@loop_app.command("trigger")
def loop_trigger(
    endpoint: str = typer.Argument(..., help="The endpoint whose model retrains."),
    reason: str = _REASON,
) -> None:
    """Start a cycle now: retrain, gate, then the canary (or wait for approval)."""
    with err_console.status(f"retraining for {endpoint}"):
        decisions = service.trigger_retrain(endpoint, reason)
    _print_decisions(decisions)


@loop_app.command("approve")
def loop_approve(decision_id: int = _DECISION) -> None:
    """Approve what a waiting decision asks for: the challenger's canary, or its promotion."""
    _print_decisions(service.approve(decision_id))


@loop_app.command("veto")
def loop_veto(decision_id: int = _DECISION, reason: str = _REASON) -> None:
    """Stop the cycle of a decision: no canary, or its canary rolled back."""
    _print_decisions(service.veto(decision_id, reason))


# -- shipyard decisions ---------------------------------------------------------------------


@decisions_app.command("list")
def decisions_list(
    endpoint: str | None = typer.Argument(None, help="Only this endpoint's."),
    cycle: int | None = typer.Option(None, "--cycle", help="Only this cycle's (its trigger id)."),
    kinds: list[str] | None = typer.Option(
        None, "--kind", "-k", help="Only this kind (trigger, gate, canary, ...); repeatable."
    ),
    limit: int = typer.Option(50, "--limit", "-n", min=1, help="At most this many."),
    json_output: bool = _JSON,
) -> None:
    """List the loop's decisions, the newest first."""
    decisions = service.list_decisions(endpoint, cycle=cycle, kinds=kinds or None, limit=limit)
    if json_output:
        print_json([decision_dict(d) for d in decisions])
        return
    if not decisions:
        console.print("no decisions", highlight=False)
        return
    table = Table(
        "id",
        "at",
        "endpoint",
        "cycle",
        "kind",
        "outcome",
        "version",
        "actor",
        "summary",
        title=f"{len(decisions)} decision(s)",
        title_justify="left",
        box=box.SIMPLE_HEAD,
    )
    for d in decisions:
        table.add_row(
            str(d.id),
            format_time(d.at, short=True),
            escape(d.endpoint),
            "-" if d.cycle is None else str(d.cycle),
            d.kind,
            _outcome(d.outcome),
            "-" if d.version is None else f"v{d.version}",
            escape(d.actor or "-"),
            escape(d.summary),
        )
    console.print(table)


@decisions_app.command("show")
def decisions_show(decision_id: int = _DECISION, json_output: bool = _JSON) -> None:
    """Show one decision with all its fields and numbers."""
    decision = service.get_decision(decision_id)
    if json_output:
        print_json(decision_dict(decision))
        return
    table = Table(
        show_header=False,
        title=f"decision {decision.id}",
        title_justify="left",
        box=box.SIMPLE,
    )
    table.add_column(style="bold")
    table.add_column()
    fields = decision_dict(decision)
    del fields["details"]
    for key, value in fields.items():
        if key == "outcome":
            shown = _outcome(decision.outcome)
        elif key in ("at", "created_at"):
            shown = format_time(value)
        elif key == "version" and value is not None:
            shown = f"v{value}"
        else:
            shown = "-" if value is None or value == "" else escape(str(value))
        table.add_row(key, shown)
    console.print(table)
    if decision.details:
        tree = Tree("[bold]details[/]")
        _grow(tree, decision.details)
        console.print(tree)
    else:
        console.print("details: -", highlight=False)
