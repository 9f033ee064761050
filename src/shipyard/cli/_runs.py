"""``shipyard experiments`` and ``shipyard runs``: find and inspect tracked runs."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import typer
from rich import box
from rich.table import Table

from shipyard.cli._app import app, new_group
from shipyard.cli._output import (
    console,
    format_duration,
    format_time,
    format_value,
    print_json,
    run_to_dict,
    status_text,
)
from shipyard.core.entities import Run
from shipyard.core.filters import FieldRef, parse_filter, parse_order_by
from shipyard.services import tracking
from shipyard.services._context import get_default_store

__all__: list[str] = []

experiments_app = new_group("Experiments: named groups of runs.")
runs_app = new_group("Runs: find them with filters, inspect one.")
app.add_typer(experiments_app, name="experiments")
app.add_typer(runs_app, name="runs")

_JSON = typer.Option(False, "--json", help="Print JSON for scripts.")


@experiments_app.command("list")
def experiments_list(json_output: bool = _JSON) -> None:
    """List experiments with their run counts."""
    store = get_default_store()
    found = tracking.list_experiments(store=store)
    counts = store.metadata.count_runs()
    if json_output:
        print_json(
            [
                {
                    "experiment_id": e.experiment_id,
                    "name": e.name,
                    "created_at": e.created_at,
                    "runs": counts.get(e.experiment_id, 0),
                }
                for e in found
            ]
        )
        return
    table = Table("name", "id", "runs", "created", title="experiments", title_justify="left")
    for exp in found:
        table.add_row(
            exp.name,
            exp.experiment_id[:8],
            str(counts.get(exp.experiment_id, 0)),
            format_time(exp.created_at),
        )
    console.print(table if found else "no experiments yet: start one with shipyard.start_run(...)")


def _fields_named(filter_text: str | None, order_by: list[str]) -> list[FieldRef]:
    named: list[FieldRef] = [key.field for key in parse_order_by(order_by)]
    stack: list[Any] = [parse_filter(filter_text)]
    while stack:
        node = stack.pop()
        if node is None:
            continue
        if hasattr(node, "items"):
            stack.extend(node.items)
        elif hasattr(node, "item"):
            stack.append(node.item)
        else:
            named.append(node.field)
    return named


def _columns(found: list[Run], kind: str, named: list[FieldRef], limit: int) -> list[str]:
    """Keys named in the filter/order first, then the most common ones."""
    first = [f.key for f in named if f.kind == kind]
    counts = Counter(k for run in found for k in getattr(run, f"{kind}s"))
    if kind == "tag":
        counts = Counter({k: c for k, c in counts.items() if not k.startswith("shipyard.")})
    keys = list(dict.fromkeys(first + [k for k, _ in counts.most_common()]))
    return keys[:limit]


@runs_app.command("list")
def runs_list(
    experiment: list[str] = typer.Option(
        [], "--experiment", "-e", help="Experiment name or id (repeatable; default all)."
    ),
    filter_text: str = typer.Option(
        None, "--filter", "-f", help="e.g. \"metrics.auc > 0.8 and params.model = 'gbm'\""
    ),
    order_by: list[str] = typer.Option(
        [], "--order-by", "-o", help="e.g. 'metrics.auc DESC' (repeatable; default newest first)."
    ),
    max_results: int = typer.Option(50, "--max-results", "-n", min=1, help="How many runs."),
    json_output: bool = _JSON,
) -> None:
    """List runs, newest first, or as the filter and ordering say."""
    found = tracking.search_runs(experiment or None, filter_text, order_by or None, max_results)
    if json_output:
        print_json([run_to_dict(run) for run in found])
        return
    if not found:
        console.print("no runs match" if filter_text else "no runs yet")
        return
    named = _fields_named(filter_text, order_by)
    # Fit the terminal: every key column costs about 10 characters.
    wide = console.width >= 120
    spare = max(2, (console.width - (72 if wide else 52)) // 10)
    metric_keys = _columns(found, "metric", named, min(4, spare))
    param_keys = _columns(found, "param", named, min(3, spare - len(metric_keys)))
    store = get_default_store()
    exp_names = {e.experiment_id: e.name for e in store.metadata.list_experiments()}
    several = len({run.experiment_id for run in found}) > 1
    table = Table(title=f"{len(found)} runs", title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("run", no_wrap=True)
    if several:
        table.add_column("experiment", max_width=16, no_wrap=True)
    table.add_column("name", max_width=18, no_wrap=True)
    table.add_column("status", no_wrap=True)
    if wide:
        table.add_column("started", no_wrap=True)
    table.add_column("took", justify="right", no_wrap=True)
    for key in metric_keys:
        table.add_column(key, justify="right", style="bold", no_wrap=True)
    for key in param_keys:
        table.add_column(key, style="dim", max_width=14, no_wrap=True)
    for run in found:
        cells = [run.run_id[:8]]
        if several:
            cells.append(exp_names.get(run.experiment_id, run.experiment_id[:8]))
        cells += [run.name, status_text(run)]
        if wide:
            cells.append(format_time(run.start_time, short=True))
        cells.append(format_duration(run))
        cells += [format_value(run.metrics.get(k)) for k in metric_keys]
        cells += [format_value(run.params.get(k)) for k in param_keys]
        table.add_row(*cells)
    console.print(table)


def _resolve_run_id(prefix: str) -> str:
    """Accept a full id, or a unique prefix of at least 6 characters as shown by `runs list`."""
    if len(prefix) == 32:
        return prefix
    if re.fullmatch(r"[0-9a-f]{6,31}", prefix):
        found = tracking.search_runs(filter=f"run_id like '{prefix}%'", max_results=2)
        if len(found) == 1:
            return found[0].run_id
    return prefix  # let get_run report it as not found


@runs_app.command("show")
def runs_show(
    run_id: str = typer.Argument(..., help="The run's id (or a unique prefix of 6+ characters)."),
    json_output: bool = _JSON,
) -> None:
    """Show one run: status, params, metrics, tags, artifacts and inputs."""
    store = get_default_store()
    run = tracking.get_run(_resolve_run_id(run_id), store=store)
    artifacts = store.metadata.list_artifacts(run.run_id)
    inputs = store.metadata.list_inputs(run.run_id)
    experiment = store.metadata.get_experiment(run.experiment_id)
    if json_output:
        data = run_to_dict(run)
        data["experiment"] = experiment.name
        data["artifacts"] = [
            {"path": a.path, "size": a.size, "sha256": a.sha256} for a in artifacts
        ]
        data["inputs"] = [
            {"digest": i.digest, "name": i.name, "context": i.context} for i in inputs
        ]
        print_json(data)
        return
    console.print(f"[bold]run {run.run_id}[/]  {run.name}  in [bold]{experiment.name}[/]")
    console.print(
        f"status {status_text(run)}  started {format_time(run.start_time)}  "
        f"ended {format_time(run.end_time)}  took {format_duration(run)}"
    )
    if run.message:
        console.print(f"[red]{run.message}[/]", highlight=False)
    if run.code_revision:
        dirty = " (uncommitted changes)" if run.tags.get("shipyard.git.dirty") == "true" else ""
        console.print(f"code {run.code_revision[:12]}{dirty}")
    sections: list[tuple[str, list[tuple[str, str]]]] = [
        ("metrics (latest)", [(k, format_value(v)) for k, v in sorted(run.metrics.items())]),
        ("params", sorted(run.params.items())),
        ("tags", sorted((k, v) for k, v in run.tags.items() if not k.startswith("shipyard."))),
        (
            "environment",
            sorted((k[9:], v) for k, v in run.tags.items() if k.startswith("shipyard.")),
        ),
        ("artifacts", [(a.path, f"{a.size:,} B  sha256 {a.sha256[:12]}") for a in artifacts]),
        ("inputs", [(i.name, f"{i.context}  {i.digest[:12]}") for i in inputs]),
    ]
    for title, rows in sections:
        if not rows:
            continue
        table = Table(title=title, title_justify="left", show_header=False, box=None)
        table.add_column(style="bold")
        table.add_column(overflow="fold")
        for key, value in rows:
            table.add_row(key, value)
        console.print(table)
