"""``shipyard endpoints``: define serving endpoints and move their traffic."""

from __future__ import annotations

from typing import Any

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from shipyard.cli._app import app, new_group
from shipyard.cli._output import console, format_time, print_json
from shipyard.core.entities import Endpoint, EndpointEvent
from shipyard.core.errors import InvalidInputError
from shipyard.services import endpoints as service

__all__ = ["describe_change", "endpoints_app"]

endpoints_app = new_group(
    "Serving endpoints: what each serves, canaries, shadows, promote and rollback."
)
app.add_typer(endpoints_app, name="endpoints")

_JSON = typer.Option(False, "--json", help="Print JSON for scripts.")
_NAME = typer.Argument(..., help="The endpoint's name.")
_MODEL_HELP = "MODEL@ALIAS to follow an alias, or MODEL/VERSION for a fixed version."
_BATCH = typer.Option(None, "--max-batch-size", help="The most rows one model call takes.")
_LATENCY = typer.Option(
    None, "--max-latency-ms", help="How long a request may wait for others to batch with."
)


# -- printing -------------------------------------------------------------------------------


def _endpoint_dict(endpoint: Endpoint, traffic: service.Traffic | None) -> dict[str, Any]:
    return {
        "name": endpoint.name,
        "model_name": endpoint.model_name,
        "target": endpoint.target,
        "alias": endpoint.alias,
        "version": endpoint.version,
        "primary_version": None if traffic is None else traffic.primary_version,
        "canary_version": endpoint.canary_version,
        "canary_percent": endpoint.canary_percent,
        "shadow_versions": list(endpoint.shadow_versions),
        "max_batch_size": endpoint.max_batch_size,
        "max_latency_ms": endpoint.max_latency_ms,
        "generation": endpoint.generation,
        "description": endpoint.description,
        "created_at": endpoint.created_at,
        "updated_at": endpoint.updated_at,
    }


def _event_dict(event: EndpointEvent) -> dict[str, Any]:
    return {
        "id": event.event_id,
        "endpoint": event.endpoint,
        "action": event.action,
        "before": event.before,
        "after": event.after,
        "at": event.at,
        "by": event.by,
    }


def _version(value: object) -> str:
    return "none" if value is None else f"v{value}"


def _canary_text(version: object, percent: object) -> str:
    return "none" if version is None else f"v{version} at {percent:g}%"


def _shadows_text(versions: object) -> str:
    if not isinstance(versions, list | tuple) or not versions:
        return "none"
    return ", ".join(f"v{v}" for v in versions)


def _target_text(policy: dict[str, Any]) -> str:
    if policy.get("alias") is not None:
        return f"{policy.get('model_name')}@{policy['alias']}"
    return f"{policy.get('model_name')}/{policy.get('version')}"


def describe_change(event: EndpointEvent) -> str:
    """What an event changed, in words: ``primary v2 → v3, canary v3 at 10% → none``."""
    before, after = event.before, event.after
    if after is None:
        return "deleted"
    if before is None:
        return f"serves {_target_text(after)} (primary {_version(after.get('primary_version'))})"
    parts = []
    if _target_text(before) != _target_text(after):
        parts.append(f"target {_target_text(before)} → {_target_text(after)}")
    if before.get("primary_version") != after.get("primary_version"):
        parts.append(
            f"primary {_version(before.get('primary_version'))} → "
            f"{_version(after.get('primary_version'))}"
        )
    old_canary = _canary_text(before.get("canary_version"), before.get("canary_percent"))
    new_canary = _canary_text(after.get("canary_version"), after.get("canary_percent"))
    if old_canary != new_canary:
        parts.append(f"canary {old_canary} → {new_canary}")
    old_shadows = _shadows_text(before.get("shadow_versions"))
    new_shadows = _shadows_text(after.get("shadow_versions"))
    if old_shadows != new_shadows:
        parts.append(f"shadows {old_shadows} → {new_shadows}")
    for key, label in (("max_batch_size", "batch size"), ("max_latency_ms", "max latency ms")):
        if before.get(key) != after.get(key):
            parts.append(f"{label} {before.get(key)} → {after.get(key)}")
    return ", ".join(parts) or "no traffic change"


def _traffic_line(endpoint: Endpoint, traffic: service.Traffic) -> str:
    primary = _version(traffic.primary_version)
    text = f"[bold]{escape(endpoint.name)}[/] → {escape(endpoint.target)}: primary {primary}"
    if traffic.canary_version is not None:
        share = 100 - traffic.canary_percent
        text = (
            f"{text} ({share:g}%), canary v{traffic.canary_version} ({traffic.canary_percent:g}%)"
        )
    if traffic.shadow_versions:
        text = f"{text}, shadows {_shadows_text(traffic.shadow_versions)}"
    return f"{text}  [dim](generation {endpoint.generation})[/]"


def _events_table(events: list[EndpointEvent], title: str) -> Table:
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("when", no_wrap=True)
    table.add_column("action", style="bold", no_wrap=True)
    table.add_column("change")
    table.add_column("by", no_wrap=True)
    for event in events:
        table.add_row(
            format_time(event.at),
            event.action,
            escape(describe_change(event)),
            escape(event.by) or "-",
        )
    return table


def _print_result(endpoint: Endpoint, json_output: bool) -> None:
    """After a change: the endpoint's traffic now, and what the change did."""
    traffic = service.resolve_traffic(endpoint.name)
    if json_output:
        print_json(_endpoint_dict(endpoint, traffic))
        return
    (event,) = service.endpoint_history(endpoint.name, limit=1)
    console.print(f"{event.action}: {escape(describe_change(event))}", highlight=False)
    console.print(_traffic_line(endpoint, traffic), highlight=False)


# -- commands -------------------------------------------------------------------------------


@endpoints_app.command("create")
def endpoints_create(
    name: str = _NAME,
    model: str = typer.Option(..., "--model", "-m", help=_MODEL_HELP),
    max_batch_size: int | None = _BATCH,
    max_latency_ms: float | None = _LATENCY,
    description: str = typer.Option("", "--description", "-d", help="Free text."),
    json_output: bool = _JSON,
) -> None:
    """Define an endpoint serving a registered model (it follows the alias when it moves)."""
    endpoint = service.create_endpoint(
        name,
        model,
        max_batch_size=max_batch_size,
        max_latency_ms=max_latency_ms,
        description=description,
    )
    _print_result(endpoint, json_output)


@endpoints_app.command("update")
def endpoints_update(
    name: str = _NAME,
    model: str | None = typer.Option(None, "--model", "-m", help=_MODEL_HELP),
    max_batch_size: int | None = _BATCH,
    max_latency_ms: float | None = _LATENCY,
    description: str | None = typer.Option(None, "--description", "-d", help="Free text."),
    json_output: bool = _JSON,
) -> None:
    """Change what an endpoint serves, its batching or its description."""
    endpoint = service.update_endpoint(
        name,
        model=model,
        max_batch_size=max_batch_size,
        max_latency_ms=max_latency_ms,
        description=description,
    )
    _print_result(endpoint, json_output)


@endpoints_app.command("list")
def endpoints_list(json_output: bool = _JSON) -> None:
    """List endpoints with what they serve and how their traffic is split."""
    found = service.list_endpoints()
    snapshot = service.traffic_snapshot()
    if json_output:
        print_json([_endpoint_dict(e, snapshot.get(e.name)) for e in found])
        return
    if not found:
        console.print(
            "no endpoints yet: create one with `shipyard endpoints create NAME --model MODEL@ALIAS`"
        )
        return
    title = f"{len(found)} endpoint" + ("" if len(found) == 1 else "s")
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("name", no_wrap=True)
    for column in ("serves", "primary", "canary", "shadows", "batch"):
        table.add_column(column)
    table.add_column("gen", justify="right")
    for endpoint in found:
        traffic = snapshot.get(endpoint.name)
        table.add_row(
            escape(endpoint.name),
            escape(endpoint.target),
            _version(None if traffic is None else traffic.primary_version),
            _canary_text(endpoint.canary_version, endpoint.canary_percent),
            _shadows_text(endpoint.shadow_versions),
            f"{endpoint.max_batch_size} / {endpoint.max_latency_ms:g} ms",
            str(endpoint.generation),
        )
    console.print(table)


@endpoints_app.command("show")
def endpoints_show(
    name: str = _NAME,
    events: int = typer.Option(10, "--events", min=1, help="How many recent changes to show."),
    json_output: bool = _JSON,
) -> None:
    """Show an endpoint: its traffic split and its latest changes."""
    endpoint = service.get_endpoint(name)
    traffic = service.resolve_traffic(name)
    recent = service.endpoint_history(name, limit=events)
    if json_output:
        print_json(
            {**_endpoint_dict(endpoint, traffic), "events": [_event_dict(e) for e in recent]}
        )
        return
    console.print(
        f"[bold]endpoint {escape(endpoint.name)}[/] → {escape(endpoint.target)}  "
        f"{escape(endpoint.description)}",
        highlight=False,
    )
    console.print(
        f"batching {endpoint.max_batch_size} rows / {endpoint.max_latency_ms:g} ms  "
        f"generation {endpoint.generation}  updated {format_time(endpoint.updated_at)}",
        highlight=False,
    )
    split = Table(title="traffic", title_justify="left", box=box.SIMPLE_HEAD)
    for column in ("role", "version", "share"):
        split.add_column(column, no_wrap=True)
    canary_share = traffic.canary_percent if traffic.canary_version is not None else 0.0
    primary = _version(traffic.primary_version)
    if traffic.primary_version is None:
        primary = f"[red]none[/] (alias {escape(str(endpoint.alias))} points at no version)"
    split.add_row("primary", primary, f"{100 - canary_share:g}%")
    if traffic.canary_version is not None:
        split.add_row("canary", _version(traffic.canary_version), f"{canary_share:g}%")
    for version in traffic.shadow_versions:
        split.add_row("shadow", _version(version), "copy")
    console.print(split)
    console.print(_events_table(recent, "latest changes"))


@endpoints_app.command("canary")
def endpoints_canary(
    name: str = _NAME,
    version: int | None = typer.Option(None, "--version", "-v", help="The canary version."),
    percent: float | None = typer.Option(
        None, "--percent", "-p", help="Its share of the traffic, more than 0 and at most 100."
    ),
    stop: bool = typer.Option(False, "--stop", help="Stop the canary: all traffic to primary."),
    json_output: bool = _JSON,
) -> None:
    """Route a share of the traffic to a canary version, or stop the canary."""
    if stop:
        if version is not None or percent is not None:
            raise InvalidInputError("--stop takes no --version or --percent")
        endpoint = service.stop_canary(name)
    else:
        if version is None or percent is None:
            raise InvalidInputError(
                "give --version and --percent to start a canary, or --stop to end it"
            )
        endpoint = service.set_canary(name, version, percent)
    _print_result(endpoint, json_output)


@endpoints_app.command("shadow")
def endpoints_shadow(
    name: str = _NAME,
    version: int = typer.Option(..., "--version", "-v", help="The shadow version."),
    remove: bool = typer.Option(False, "--remove", help="Stop shadowing this version."),
    json_output: bool = _JSON,
) -> None:
    """Copy every request to a shadow version (outputs logged, never returned)."""
    change = service.remove_shadow if remove else service.add_shadow
    _print_result(change(name, version), json_output)


@endpoints_app.command("promote")
def endpoints_promote(name: str = _NAME, json_output: bool = _JSON) -> None:
    """Make the canary the primary (an alias endpoint moves the alias itself)."""
    _print_result(service.promote(name), json_output)


@endpoints_app.command("rollback")
def endpoints_rollback(name: str = _NAME, json_output: bool = _JSON) -> None:
    """Stop the canary; without one, bring the previous primary back."""
    _print_result(service.rollback(name), json_output)


@endpoints_app.command("history")
def endpoints_history(
    name: str = _NAME,
    limit: int | None = typer.Option(None, "--limit", min=1, help="Only the last N changes."),
    json_output: bool = _JSON,
) -> None:
    """Every change to an endpoint: who, when, and the traffic before and after."""
    found = service.endpoint_history(name, limit=limit)
    if json_output:
        print_json([_event_dict(e) for e in found])
        return
    console.print(_events_table(found, f"history of endpoint {escape(name)}"))


@endpoints_app.command("delete")
def endpoints_delete(name: str = _NAME) -> None:
    """Delete an endpoint (servers stop serving it); its history is kept."""
    endpoint = service.delete_endpoint(name)
    console.print(
        f"deleted endpoint [bold]{escape(endpoint.name)}[/] (served {escape(endpoint.target)})",
        highlight=False,
    )
