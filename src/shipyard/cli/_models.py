"""``shipyard models``: the registry's models, versions and aliases, and a load check."""

from __future__ import annotations

from collections import Counter
from typing import Any

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from shipyard.cli._app import app, new_group
from shipyard.cli._output import console, err_console, format_time, format_value, print_json
from shipyard.core.entities import AliasEvent, ModelVersion, RegisteredModel
from shipyard.core.errors import InvalidInputError
from shipyard.services import registry
from shipyard.services._common import check_name
from shipyard.services._context import get_default_store

__all__ = ["model_uri", "models_app", "parse_spec", "resolve_version"]

models_app = new_group("Registered models: versions, aliases, lineage, load checks.")
app.add_typer(models_app, name="models")

_JSON = typer.Option(False, "--json", help="Print JSON for scripts.")
_SPEC_FORMS = "NAME, NAME/VERSION, NAME/latest or NAME@ALIAS"
_NAME = typer.Argument(..., help="The registered model's name.")


def parse_spec(spec: str) -> tuple[str, int | str]:
    """Split ``NAME@ALIAS``, ``NAME/3``, ``NAME/latest`` or ``NAME`` into name and version."""
    rest = spec.removeprefix("models:/")
    name, at, alias = rest.partition("@")
    if not at:
        name, _, which = rest.partition("/")
    if not name or "/" in name:
        raise InvalidInputError(f"cannot read model version {spec!r}; write {_SPEC_FORMS}")
    check_name("model", name)
    if at:
        if not alias:
            raise InvalidInputError(f"{spec!r} names no alias after '@'; write NAME@ALIAS")
        return name, alias
    if which in ("", "latest"):
        return name, "latest"
    if which.isascii() and which.isdigit():
        return name, int(which)
    raise InvalidInputError(
        f"{which!r} in {spec!r} is not a version number; for an alias write {name}@{which}"
    )


def resolve_version(spec: str) -> ModelVersion:
    """The version a ``NAME@ALIAS``/``NAME/3``/``NAME`` spec names."""
    name, which = parse_spec(spec)
    return registry.get_model_version(name, which)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _aliases_text(aliases: dict[str, int]) -> str:
    return ", ".join(f"{alias}→{version}" for alias, version in sorted(aliases.items())) or "-"


def _model_dict(model: RegisteredModel) -> dict[str, Any]:
    return {
        "name": model.name,
        "description": model.description,
        "latest_version": model.latest_version,
        "aliases": model.aliases,
        "tags": model.tags,
        "created_at": model.created_at,
        "updated_at": model.updated_at,
    }


def _version_dict(version: ModelVersion) -> dict[str, Any]:
    return {
        "name": version.name,
        "version": version.version,
        "uri": version.uri,
        "flavor": version.flavor,
        "run_id": version.run_id,
        "created_at": version.created_at,
        "created_by": version.created_by,
        "aliases": list(version.aliases),
        "metrics": version.metrics,
        "description": version.description,
        "tags": version.tags,
        "code_revision": version.code_revision,
        "requirements": list(version.requirements),
        "inputs": [
            {"digest": i.digest, "name": i.name, "context": i.context} for i in version.inputs
        ],
    }


def _versions_table(versions: list[ModelVersion], title: str) -> Table:
    """Versions with their key metrics: the most common keys, as many as the width allows."""
    spare = max(1, (console.width - 70) // 10)
    counts = Counter(key for v in versions for key in v.metrics)
    metric_keys = [key for key, _ in counts.most_common(min(4, spare))]
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("version", justify="right", no_wrap=True)
    table.add_column("flavor", no_wrap=True)
    table.add_column("run", no_wrap=True)
    table.add_column("created", no_wrap=True)
    table.add_column("aliases", style="bold cyan")
    for key in metric_keys:
        table.add_column(key, justify="right", style="bold", no_wrap=True)
    table.add_column("description", max_width=30, overflow="ellipsis", no_wrap=True)
    for v in reversed(versions):  # newest first
        table.add_row(
            str(v.version),
            v.flavor,
            v.run_id[:8] if v.run_id else "-",
            format_time(v.created_at, short=True),
            ", ".join(v.aliases) or "-",
            *[format_value(v.metrics.get(key)) for key in metric_keys],
            escape(v.description),
        )
    return table


@models_app.command("list")
def models_list(json_output: bool = _JSON) -> None:
    """List registered models with their latest version and aliases."""
    found = registry.list_models()
    if json_output:
        print_json([_model_dict(m) for m in found])
        return
    if not found:
        console.print("no registered models yet: register one with shipyard.register_model(...)")
        return
    table = Table(title=_count(len(found), "model"), title_justify="left", box=box.SIMPLE_HEAD)
    for column in ("name", "latest", "aliases", "updated", "description"):
        table.add_column(column, justify="right" if column == "latest" else "left")
    for model in found:
        table.add_row(
            escape(model.name),
            "-" if model.latest_version is None else str(model.latest_version),
            _aliases_text(model.aliases),
            format_time(model.updated_at, short=True),
            escape(model.description),
        )
    console.print(table)


@models_app.command("show")
def models_show(name: str = _NAME, json_output: bool = _JSON) -> None:
    """Show a model: description, tags, aliases and its versions."""
    model = registry.get_model(name)
    versions = registry.list_model_versions(name)
    if json_output:
        print_json({**_model_dict(model), "versions": [_version_dict(v) for v in versions]})
        return
    console.print(f"[bold]model {escape(model.name)}[/]  {escape(model.description)}")
    console.print(
        f"created {format_time(model.created_at)}  updated {format_time(model.updated_at)}  "
        f"aliases {_aliases_text(model.aliases)}"
    )
    if model.tags:
        console.print(
            "tags " + escape(", ".join(f"{k}={v}" for k, v in sorted(model.tags.items())))
        )
    if versions:
        console.print(_versions_table(versions, _count(len(versions), "version")))
    else:
        console.print("no versions yet")


@models_app.command("versions")
def models_versions(name: str = _NAME, json_output: bool = _JSON) -> None:
    """List a model's versions, newest first."""
    versions = registry.list_model_versions(name)
    if json_output:
        print_json([_version_dict(v) for v in versions])
    elif versions:
        title = f"{_count(len(versions), 'version')} of {escape(name)}"
        console.print(_versions_table(versions, title))
    else:
        console.print(f"model {escape(name)} has no versions yet")


def _event_dict(event: AliasEvent) -> dict[str, Any]:
    return {
        "alias": event.alias,
        "previous_version": event.previous_version,
        "version": event.version,
        "at": event.at,
        "by": event.by,
    }


def _change(event: AliasEvent) -> str:
    before = "(new)" if event.previous_version is None else str(event.previous_version)
    after = "(deleted)" if event.version is None else str(event.version)
    return f"{before} → {after}"


@models_app.command("alias")
def models_alias(
    name: str = _NAME,
    alias: str = typer.Argument(..., help="The alias, e.g. champion."),
    version: str | None = typer.Argument(
        None, help="The version number to point at ('latest', or another alias, also work)."
    ),
    delete: bool = typer.Option(False, "--delete", help="Remove the alias instead."),
    json_output: bool = _JSON,
) -> None:
    """Point an alias at a version (moving it if set), or remove it with --delete."""
    if delete == (version is not None):
        raise InvalidInputError(
            "give a VERSION to point the alias at, or --delete to remove it (not both)"
        )
    if version is None:
        event = registry.delete_alias(name, alias)
    else:
        target = registry.get_model_version(name, version)
        event = registry.set_alias(name, alias, target.version)
    if json_output:
        print_json({"name": event.name, **_event_dict(event)})
        return
    by = f" by {escape(event.by)}" if event.by else ""
    console.print(
        f"[bold]{escape(event.name)}[/] {escape(event.alias)}: {_change(event)}"
        f"  ({format_time(event.at)}{by})",
        highlight=False,
    )


@models_app.command("aliases")
def models_aliases(
    name: str = _NAME,
    alias: str | None = typer.Option(None, "--alias", "-a", help="Only this alias's history."),
    json_output: bool = _JSON,
) -> None:
    """Show the history of a model's aliases: who moved which, when, from and to what."""
    events = registry.alias_history(name, alias)
    if json_output:
        print_json([_event_dict(e) for e in events])
        return
    if not events:
        console.print(f"model {escape(name)} has no alias changes yet")
        return
    current = registry.get_model(name).aliases
    console.print(f"[bold]{escape(name)}[/] aliases now: {_aliases_text(current)}")
    table = Table(title="alias history", title_justify="left", box=box.SIMPLE_HEAD)
    for column in ("when", "alias", "change", "by"):
        table.add_column(column, no_wrap=True)
    for event in events:
        table.add_row(
            format_time(event.at), escape(event.alias), _change(event), escape(event.by) or "-"
        )
    console.print(table)


# -- load check: load and predict in a fresh process, as a server would ------------------


def model_uri(spec: str) -> str:
    """A ``models:/`` or ``runs:/`` URI as given; a NAME@ALIAS/NAME/VERSION spec resolved.

    Resolving here reports an unknown model, version or alias at once, and pins the
    version, so the check loads what the alias named when it was asked even if it moves.
    """
    if spec.startswith(("models:/", "runs:/")):
        return spec
    return resolve_version(spec).uri


@models_app.command("load-check")
def models_load_check(
    spec: str = typer.Argument(
        ..., help=f"{_SPEC_FORMS}, or a models:/ or runs:/ URI (NAME alone: the latest)."
    ),
    timeout: float = typer.Option(300.0, min=1, help="Seconds to wait for the check process."),
    json_output: bool = _JSON,
) -> None:
    """Load a model in a fresh Python process and predict on its stored example rows.

    Catches what a server would hit on start: corrupted or missing files, a package that
    is missing or incompatible, a model that fails to predict. Exits 1 on any of them.
    """
    from shipyard.cli import _load_check  # not at import: ``python -m`` runs it afresh

    uri = model_uri(spec)
    report = {"spec": spec, **_load_check.run_in_fresh_process(uri, get_default_store(), timeout)}
    if json_output:
        print_json(report)
    elif report["ok"]:
        _load_check.print_report(report)
    if not report["ok"]:
        if not json_output:
            stage = {"load": "to load", "predict": "to predict"}.get(report["stage"], "to start")
            err_console.print(
                f"[bold red]error:[/] {escape(uri)} failed {stage}: {escape(report['error'])}",
                highlight=False,
            )
        raise typer.Exit(1)
