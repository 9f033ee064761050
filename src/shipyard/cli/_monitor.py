"""``shipyard monitor`` and ``shipyard alerts``: drift, quality, performance, operations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich import box
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from shipyard.cli._app import app, new_group
from shipyard.cli._output import console, err_console, format_time, print_json
from shipyard.core.entities import Alert, MonitorWindow
from shipyard.services import monitoring as service

__all__ = ["alerts_app", "monitor_app"]

monitor_app = new_group(
    "Monitor an endpoint's traffic: drift, data quality, accuracy from labels, latency."
)
app.add_typer(monitor_app, name="monitor")
alerts_app = new_group("Alerts raised by the monitoring rules of shipyard.toml.")
app.add_typer(alerts_app, name="alerts")

_JSON = typer.Option(False, "--json", help="Print JSON for scripts.")
_NAME = typer.Argument(..., help="The endpoint's name.")
_SINCE = typer.Option(
    None, "--since", help="First moment, ISO 8601 (e.g. 2024-05-01); default: where it left off."
)
_UNTIL = typer.Option(None, "--until", help="First moment left out; default: the latest logged.")


def _number(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _window_row(window: MonitorWindow) -> list[str]:
    results = window.results
    drift = results.get("drift") or {}
    columns = drift.get("columns") or {}
    drifted = [name for name, c in columns.items() if c.get("drifted")]
    share = drift.get("share")
    share_text = "-" if share is None else f"{share:.0%} of {len(columns)}"
    if drift.get("drifted"):
        share_text = f"[bold red]{share_text}[/]"
    performance = results.get("performance") or {}
    metrics = performance.get("metrics") or {}
    main = "auc" if metrics.get("auc") is not None else ("rmse" if "rmse" in metrics else None)
    score = "-" if main is None else f"{main} {_number(metrics.get(main))}"
    reference = (performance.get("reference") or {}).get(main or "")
    if reference is not None and metrics.get(main or "") is not None:
        score += f" (ref {reference:.3f})"
    ops = results.get("operations") or {}
    return [
        window.start.strftime("%Y-%m-%d %H:%M"),
        f"{window.rows:,}",
        _number(performance.get("label_coverage"), 2),
        share_text,
        escape(", ".join(drifted[:4]) + (f" +{len(drifted) - 4}" if len(drifted) > 4 else "")),
        score,
        _number(ops.get("p99_ms"), 1),
        _number(ops.get("error_rate"), 4),
    ]


def _windows_table(endpoint: str, windows: list[MonitorWindow]) -> Table:
    table = Table(
        "window",
        "rows",
        "labels",
        "drift",
        "drifted columns",
        "performance",
        "p99 ms",
        "errors",
        title=f"{endpoint}: monitoring windows",
        title_justify="left",
        box=box.SIMPLE_HEAD,
    )
    for window in windows:
        table.add_row(*_window_row(window))
    return table


def _alert_row(alert: Alert) -> list[str]:
    delivered = {None: "-", True: "sent", False: "[red]failed[/]"}[alert.delivered]
    return [
        str(alert.alert_id),
        escape(alert.endpoint),
        alert.window_start.strftime("%Y-%m-%d %H:%M"),
        escape(alert.rule),
        escape(alert.message),
        delivered,
        format_time(alert.created_at, short=True),
    ]


def _print_alerts(alerts: list[Alert], title: str) -> None:
    table = Table(
        "id",
        "endpoint",
        "window",
        "rule",
        "message",
        "webhook",
        "raised",
        title=title,
        title_justify="left",
        box=box.SIMPLE_HEAD,
    )
    for alert in alerts:
        table.add_row(*_alert_row(alert))
    console.print(table)


@monitor_app.command("run")
def monitor_run(
    endpoint: str = _NAME,
    since: str | None = _SINCE,
    until: str | None = _UNTIL,
    every: str | None = typer.Option(
        None, "--every", help="Window length: 1h, 6h, 1d, 7d, 1w or 1mo (default: shipyard.toml)."
    ),
    json_output: bool = _JSON,
) -> None:
    """Compute drift, quality, performance and operations for each window of the log."""
    progress = Progress(
        TextColumn("monitoring {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("windows"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
        disable=json_output,
    )
    with progress:
        task = progress.add_task(endpoint, total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        result = service.monitor(endpoint, since, until, every=every, progress=advance)
    if json_output:
        print_json(
            {
                "endpoint": endpoint,
                "windows": [service.window_dict(w) for w in result.windows],
                "alerts": [service.alert_dict(a) for a in result.alerts],
                "empty_windows": [[s.isoformat(), e.isoformat()] for s, e in result.empty],
                "warnings": result.warnings,
            }
        )
        return
    for message in result.warnings:
        err_console.print(f"[yellow]warning:[/] {escape(message)}")
    if result.empty:
        err_console.print(
            f"[yellow]warning:[/] {len(result.empty)} window(s) had no logged predictions "
            f"and were skipped (first: {result.empty[0][0]:%Y-%m-%d %H:%M})"
        )
    if not result.windows:
        return
    console.print(_windows_table(endpoint, result.windows))
    if result.alerts:
        _print_alerts(result.alerts, f"{len(result.alerts)} new alert(s)")
    else:
        console.print("no new alerts")
    console.print(f"report:  [bold]shipyard monitor report {endpoint} -o report.html[/]")


@monitor_app.command("show")
def monitor_show(
    endpoint: str = _NAME,
    since: str | None = typer.Option(None, "--since", help="Windows starting from, ISO 8601."),
    until: str | None = typer.Option(None, "--until", help="Windows starting before, ISO 8601."),
    json_output: bool = _JSON,
) -> None:
    """Show the stored monitoring windows of an endpoint."""
    windows = service.monitor_windows(endpoint, since, until)
    if json_output:
        print_json([service.window_dict(w) for w in windows])
        return
    if not windows:
        console.print(
            f"no monitoring windows for {escape(endpoint)!r} yet: run "
            f"[bold]shipyard monitor run {escape(endpoint)}[/]"
        )
        return
    console.print(_windows_table(endpoint, windows))


@monitor_app.command("report")
def monitor_report(
    endpoint: str = _NAME,
    output: Path = typer.Option(Path("report.html"), "--output", "-o", help="File to write."),
    since: str | None = typer.Option(None, "--since", help="Windows starting from, ISO 8601."),
    until: str | None = typer.Option(None, "--until", help="Windows starting before, ISO 8601."),
    json_output: bool = typer.Option(
        False, "--json", help="Write the report's data as JSON instead of a page."
    ),
) -> None:
    """Write one self-contained HTML page (or JSON) of the stored monitoring results."""
    path = service.write_report(endpoint, output, since, until, as_json=json_output)
    console.print(f"wrote {path} ({path.stat().st_size / 1024:,.0f} KiB)")


@monitor_app.command("figures")
def monitor_figures(endpoint: str = _NAME, json_output: bool = _JSON) -> None:
    """List the figures stored per window (the names alert rules and series use)."""
    names = service.monitor_figures(endpoint)
    if json_output:
        print_json(names)
        return
    for name in names:
        console.print(escape(name))


@monitor_app.command("series")
def monitor_series(
    endpoint: str = _NAME,
    name: str = typer.Argument(..., help="A figure, e.g. drift_share, auc, p99_ms."),
    json_output: bool = _JSON,
) -> None:
    """Print one figure over time, window by window."""
    points = service.monitor_series(endpoint, name)
    if json_output:
        print_json([{"start": s, "end": e, "value": v} for s, e, v in points])
        return
    table = Table("window", escape(name), title=f"{endpoint}: {name}", box=box.SIMPLE_HEAD)
    for start, _, value in points:
        table.add_row(start.strftime("%Y-%m-%d %H:%M"), _number(value, 4))
    console.print(table)


@alerts_app.command("list")
def alerts_list(
    endpoint: str | None = typer.Option(None, "--endpoint", "-e", help="Only this endpoint."),
    since: str | None = typer.Option(None, "--since", help="Windows starting from, ISO 8601."),
    limit: int = typer.Option(100, "--limit", "-n", min=1, help="At most this many."),
    json_output: bool = _JSON,
) -> None:
    """List alerts, the newest window first."""
    alerts = service.list_alerts(endpoint, since, limit=limit)
    if json_output:
        print_json([service.alert_dict(a) for a in alerts])
        return
    if not alerts:
        console.print("no alerts")
        return
    _print_alerts(alerts, f"{len(alerts)} alert(s)")
