"""``shipyard models load-check``: load a model and predict in a fresh Python process.

A fresh process is what a server starting the model gets: nothing already imported,
nothing cached in memory, only the store's files and the installed packages. The CLI
runs ``python -m shipyard.cli._load_check URI`` with the current store named by
``SHIPYARD_*`` variables; that process prints one line of JSON on stdout (whatever the
model's libraries print goes to stderr) and exits 0 when the model loaded and predicted,
1 otherwise.

This module is imported by the command only when it runs, never by ``shipyard.cli``
itself, so ``python -m`` executes it without a second copy in ``sys.modules``.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from rich.markup import escape
from rich.table import Table

from shipyard.cli._output import console, format_value
from shipyard.stores import Store

__all__ = [
    "REPORT_ROWS",
    "check",
    "main",
    "print_report",
    "run_in_fresh_process",
    "store_environment",
]

#: How many prediction rows the report holds.
REPORT_ROWS = 5

# -- in the fresh process ----------------------------------------------------------------


def _error(exc: BaseException) -> str:
    from shipyard.core.errors import ShipyardError

    if isinstance(exc, ShipyardError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def check(uri: str) -> dict[str, Any]:
    """Load the model at ``uri`` and predict on its stored example; what happened, timed."""
    import numpy as np

    from shipyard.services.registry import load_model

    report: dict[str, Any] = {"ok": False, "uri": uri, "stage": "load"}
    try:
        started = time.perf_counter()
        model = load_model(uri)
        report["load_s"] = round(time.perf_counter() - started, 4)
        report.update(
            name=model.name,
            version=model.version,
            flavor=model.flavor,
            requirements=model.requirements,
            predictions=None,
            predict_s=None,
            rows=0,
        )
        report["stage"] = "predict"
        example = model.input_example()
        if example is not None:
            started = time.perf_counter()
            predictions = model.predict(example)
            report["predict_s"] = round(time.perf_counter() - started, 4)
            report["rows"] = len(predictions)
            report["predictions"] = np.asarray(predictions)[:REPORT_ROWS].tolist()
            if hasattr(model, "predict_proba") and model.classes is not None:
                proba = np.asarray(model.predict_proba(example))
                report["classes"] = np.asarray(model.classes).tolist()
                report["probabilities"] = proba[:REPORT_ROWS].tolist()
    except Exception as exc:  # anything that would stop a server from serving it
        report["error"] = _error(exc)
        report["error_type"] = type(exc).__name__
        return report
    report["ok"] = True
    del report["stage"]
    return report


def main(argv: list[str] | None = None) -> int:
    """Check the URI given as the only argument; print the report as one JSON line."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m shipyard.cli._load_check URI", file=sys.stderr)
        return 2
    with contextlib.redirect_stdout(sys.stderr):  # keep stdout for the report alone
        report = check(args[0])
    print(json.dumps(report, default=str))
    return 0 if report["ok"] else 1


# -- in the CLI's process ----------------------------------------------------------------


def _absolute(url: str, root: Path) -> str:
    """A relative local path or SQLite file made absolute, so another process finds it."""
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        path, sep, query = url[len("sqlite:///") :].partition("?")
        if path and path != ":memory:":
            return f"sqlite:///{(root / path).resolve().as_posix()}{sep}{query}"
        return url
    if "://" not in url and not Path(url).expanduser().is_absolute():
        return (root / url).resolve().as_posix()
    return url


def store_environment(store: Store) -> dict[str, str]:
    """This process's environment, naming the same store and the same shipyard package."""
    settings = store.settings
    root = settings.project_dir
    package_root = str(Path(__file__).resolve().parents[2])
    path = os.environ.get("PYTHONPATH")
    return {
        **os.environ,
        "SHIPYARD_HOME": str(settings.home_dir),
        "SHIPYARD_METADATA_URL": _absolute(settings.resolved_metadata_url(), root),
        "SHIPYARD_ARTIFACT_URL": _absolute(settings.resolved_artifact_url(), root),
        "PYTHONPATH": package_root + (os.pathsep + path if path else ""),
    }


def run_in_fresh_process(uri: str, store: Store, timeout: float) -> dict[str, Any]:
    """Run :func:`main` in a new interpreter on ``store``; its report, or why none came."""
    command = [sys.executable, "-m", "shipyard.cli._load_check", uri]
    started = time.perf_counter()
    try:
        done = subprocess.run(
            command,
            env=store_environment(store),
            cwd=store.settings.project_dir,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"ok": False, "uri": uri, "stage": "load", "error": f"timed out after {timeout}s"}
    lines = done.stdout.strip().splitlines()
    try:
        report: dict[str, Any] = json.loads(lines[-1])
    except (IndexError, ValueError):
        tail = " | ".join(done.stderr.strip().splitlines()[-3:]) or "no output"
        report = {
            "ok": False,
            "uri": uri,
            "stage": "start",
            "error": f"the check process exited with code {done.returncode}: {tail}",
        }
    report["process_s"] = round(time.perf_counter() - started, 4)
    return report


def print_report(report: dict[str, Any]) -> None:
    """A successful check for people: what loaded, how fast, what it predicted."""
    which = f"{report['name']} v{report['version']}" if report.get("version") else report["uri"]
    console.print(f"[bold green]ok[/] [bold]{escape(which)}[/] loads and predicts in a new process")
    asked = report.get("spec", report["uri"])
    rows = [
        ("uri", report["uri"] if asked == report["uri"] else f"{report['uri']} ({asked})"),
        ("flavor", report["flavor"]),
        ("version", str(report.get("version") or "-")),
        ("load", f"{report['load_s']:.3f}s"),
        ("predict", "-" if report["predict_s"] is None else f"{report['predict_s']:.3f}s"),
        ("process", f"{report['process_s']:.2f}s (start, imports, load, predict)"),
    ]
    info = Table(show_header=False, box=None)
    info.add_column(style="bold")
    info.add_column()
    for key, value in rows:
        info.add_row(key, escape(value))
    console.print(info)
    if report["predictions"] is None:
        console.print("[yellow]no input example was stored: loaded, not predicted[/]")
        return
    classes = (report.get("classes") or [])[:4]
    probabilities = report.get("probabilities")
    console.print(f"predictions on the stored example ({report['rows']} rows):")
    table = Table(box=None)
    table.add_column("row", justify="right")
    table.add_column("prediction")
    for label in classes if probabilities else []:
        table.add_column(f"p({label})", justify="right")
    for i, value in enumerate(report["predictions"]):
        row = probabilities[i][: len(classes)] if probabilities else []
        table.add_row(str(i), escape(format_value(value)), *[format_value(float(p)) for p in row])
    console.print(table)


if __name__ == "__main__":
    sys.exit(main())
