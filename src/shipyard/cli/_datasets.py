"""``shipyard datasets`` and ``shipyard models lineage``: which data made which version."""

from __future__ import annotations

from typing import Any

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from shipyard.cli._app import app, new_group
from shipyard.cli._models import models_app, resolve_version
from shipyard.cli._output import console, format_time, print_json, status_text
from shipyard.core.entities import Dataset, ModelVersion
from shipyard.core.errors import InvalidInputError
from shipyard.services import datasets, lineage

__all__: list[str] = []

datasets_app = new_group("Datasets: content-addressed table snapshots, and what they trained.")
app.add_typer(datasets_app, name="datasets")

_JSON = typer.Option(False, "--json", help="Print JSON for scripts.")
_DIGEST_SHOWN = 12


def _format_size(size: int) -> str:
    """Bytes in the largest unit that keeps a number >= 1: '512 B', '3.4 MB'."""
    value = float(size)
    for unit in ("B", "kB", "MB"):
        if value < 1000:
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"


def _dataset_dict(item: Dataset) -> dict[str, Any]:
    return {
        "name": item.name,
        "digest": item.digest,
        "rows": item.num_rows,
        "columns": item.num_columns,
        "size_bytes": item.size_bytes,
        "created_at": item.created_at,
        "created_by": item.created_by,
        "description": item.description,
        "schema": item.schema,
    }


def _version_ref(version: ModelVersion) -> dict[str, Any]:
    return {"name": version.name, "version": version.version, "aliases": list(version.aliases)}


@datasets_app.command("list")
def datasets_list(
    name: str | None = typer.Argument(None, help="Only the snapshots of this name."),
    json_output: bool = _JSON,
) -> None:
    """List dataset snapshots, newest first."""
    found = datasets.list_datasets(name)
    if not found and name is not None:
        datasets.get_dataset(name)  # raises the NotFoundError that says what to do
    if json_output:
        print_json([_dataset_dict(d) for d in found])
        return
    if not found:
        console.print("no datasets yet: log one with shipyard.log_dataset(...)")
        return
    table = Table(title=f"{len(found)} datasets", title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("name")
    table.add_column("digest", no_wrap=True)
    for column in ("rows", "columns", "size"):
        table.add_column(column, justify="right", no_wrap=True)
    table.add_column("created", no_wrap=True)
    table.add_column("by")
    for item in found:
        table.add_row(
            escape(item.name),
            item.digest[:_DIGEST_SHOWN],
            f"{item.num_rows:,}",
            str(item.num_columns),
            _format_size(item.size_bytes),
            format_time(item.created_at, short=True),
            escape(item.created_by) or "-",
        )
    console.print(table)


def _schema_rows(schema: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(name, type, nullable) per column, read leniently: the schema is shown, not used."""
    from shipyard.core.signature import Schema

    try:
        return [
            (c.name, c.type_label, "yes" if c.nullable else "")
            for c in Schema.from_dict(schema).columns
        ]
    except (ValueError, KeyError, TypeError):
        columns = schema.get("columns", [])
        return [(str(c.get("name")), str(c.get("type")), "") for c in columns]


@datasets_app.command("show")
def datasets_show(
    spec: str = typer.Argument(..., help="NAME (its newest snapshot) or NAME@DIGEST_PREFIX."),
    json_output: bool = _JSON,
) -> None:
    """Show a dataset snapshot: schema, size, digest, and the model versions trained on it."""
    name, at, digest = spec.partition("@")
    if not name or (at and not digest):
        raise InvalidInputError(f"cannot read dataset {spec!r}; write NAME or NAME@DIGEST_PREFIX")
    item = datasets.get_dataset(name, digest or None)
    trained = lineage.versions_trained_on(item)
    if json_output:
        print_json({**_dataset_dict(item), "trained": [_version_ref(v) for v in trained]})
        return
    console.print(f"[bold]dataset {escape(item.name)}[/]  {escape(item.description)}")
    console.print(f"digest  {item.digest}", highlight=False)
    console.print(
        f"{item.num_rows:,} rows, {item.num_columns} columns, {_format_size(item.size_bytes)}"
        f"  created {format_time(item.created_at)}"
        + (f" by {escape(item.created_by)}" if item.created_by else ""),
        highlight=False,
    )
    table = Table(title="schema", title_justify="left", box=box.SIMPLE_HEAD)
    for column in ("column", "type", "nullable"):
        table.add_column(column)
    for row in _schema_rows(item.schema):
        table.add_row(*(escape(cell) for cell in row))
    console.print(table)
    if not trained:
        console.print("models trained on it: none")
        return
    console.print("models trained on it:")
    for version in trained:
        aliases = f" ({', '.join(version.aliases)})" if version.aliases else ""
        console.print(f"  {escape(version.name)} v{version.version}{aliases}", highlight=False)


@models_app.command("lineage")
def models_lineage(
    spec: str = typer.Argument(..., help="NAME/VERSION, NAME@ALIAS or NAME (the latest)."),
    json_output: bool = _JSON,
) -> None:
    """Show what made a version: its run, code revision, datasets and packages."""
    version = resolve_version(spec)
    found = lineage.model_lineage(version.name, version.version)
    run = found.run
    inputs = [
        {
            "name": i.name,
            "digest": i.digest,
            "context": i.context,
            "via": i.via,
            "stored": i.dataset is not None,
            "rows": None if i.dataset is None else i.dataset.num_rows,
            "columns": None if i.dataset is None else i.dataset.num_columns,
        }
        for i in found.inputs
    ]
    if json_output:
        print_json(
            {
                "name": version.name,
                "version": version.version,
                "run": None
                if run is None
                else {"run_id": run.run_id, "name": run.name, "status": run.status.value},
                "run_id": version.run_id,
                "code_revision": found.code_revision,
                "datasets": inputs,
                "requirements": list(version.requirements),
            }
        )
        return
    aliases = f"  ({', '.join(version.aliases)})" if version.aliases else ""
    console.print(f"[bold]{escape(version.name)} v{version.version}[/]{aliases}  {version.flavor}")
    if run is not None:
        console.print(f"run      {run.run_id}  {escape(run.name)}  {status_text(run)}")
    elif version.run_id is not None:
        console.print(f"run      {version.run_id} [yellow](deleted)[/]")
    else:
        console.print("run      none (registered without a run)")
    console.print(f"code     {found.code_revision or 'unknown'}", highlight=False)
    if inputs:
        table = Table(title="datasets", title_justify="left", box=box.SIMPLE_HEAD)
        table.add_column("name")
        table.add_column("digest", no_wrap=True)
        table.add_column("rows", justify="right")
        table.add_column("columns", justify="right")
        for column in ("context", "via"):
            table.add_column(column)
        for i in found.inputs:
            table.add_row(
                escape(i.name),
                i.digest[:_DIGEST_SHOWN],
                "-" if i.dataset is None else f"{i.dataset.num_rows:,}",
                "-" if i.dataset is None else str(i.dataset.num_columns),
                escape(i.context),
                i.via,
            )
        console.print(table)
    else:
        console.print("datasets none recorded")
    if version.requirements:
        console.print("requirements")
        for requirement in version.requirements:
            console.print(f"  {escape(requirement)}", highlight=False)
