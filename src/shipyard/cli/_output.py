"""Printing for the CLI: rich for people, JSON for scripts."""

from __future__ import annotations

import json
import math
import os
import socket
from datetime import UTC, datetime
from typing import Any

from rich.console import Console

from shipyard.core.entities import Run, RunStatus

__all__ = [
    "console",
    "err_console",
    "format_duration",
    "format_time",
    "format_value",
    "print_json",
    "run_to_dict",
    "status_text",
]

console = Console()
err_console = Console(stderr=True)

_STATUS_STYLE = {
    RunStatus.RUNNING: "cyan",
    RunStatus.FINISHED: "green",
    RunStatus.FAILED: "red",
    RunStatus.KILLED: "yellow",
}


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON has no NaN/Infinity; keep them readable and lossless
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def print_json(data: Any) -> None:
    """Write JSON to stdout without rich markup or wrapping."""
    print(json.dumps(_jsonable(data), indent=2))


def process_gone(run: Run) -> bool:
    """True when a RUNNING run's process ran on this host and no longer exists."""
    if run.status is not RunStatus.RUNNING or run.pid is None or run.host != socket.gethostname():
        return False
    try:
        os.kill(run.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def status_text(run: Run) -> str:
    """The status with colour, flagging runs whose process died without ending them."""
    style = _STATUS_STYLE[run.status]
    if process_gone(run):
        return f"[{style}]RUNNING[/] [red](process gone)[/]"
    return f"[{style}]{run.status.value}[/]"


def run_to_dict(run: Run) -> dict[str, Any]:
    """A run as plain JSON-ready data."""
    return {
        "run_id": run.run_id,
        "experiment_id": run.experiment_id,
        "name": run.name,
        "status": run.status.value,
        "process_gone": process_gone(run),
        "start_time": run.start_time,
        "end_time": run.end_time,
        "duration_s": run.duration_s,
        "message": run.message,
        "params": run.params,
        "metrics": run.metrics,
        "tags": run.tags,
    }


def format_time(value: datetime | None, short: bool = False) -> str:
    """Local time to the second (``short``: month, day, hour and minute), or '-'."""
    if value is None:
        return "-"
    return value.astimezone().strftime("%m-%d %H:%M" if short else "%Y-%m-%d %H:%M:%S")


def format_duration(run: Run) -> str:
    """A short duration such as '4.2s' or '3m10s'; open runs count up to now."""
    end = run.end_time or datetime.now(UTC)
    seconds = (end - run.start_time).total_seconds()
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, sec = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{sec:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def format_value(value: float | str | None) -> str:
    """Metrics to 4 significant digits; text as is."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
