"""Helpers shared by the benchmarks against MLflow (``tracking.py``, ``registry.py``) and
their MLflow workers (``_mlflow_worker.py``, ``_registry_worker.py``).

This module imports nothing outside the standard library at module level: the workers
run in MLflow's own virtual environment, without shipyard or rich, and import it too.
shipyard and rich are imported inside the functions that need them, which only the
scripts call.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

MLFLOW_PYTHON_ENV = "SHIPYARD_BENCH_MLFLOW_PYTHON"
# Every child gets these (the workers set them too), so no telemetry call lands in a timing.
QUIET_ENV = {"DO_NOT_TRACK": "1", "MLFLOW_DISABLE_TELEMETRY": "true"}
RATIO_NOTE = "ratio = MLflow time / shipyard time (higher: shipyard faster)"

Task = Callable[[dict[str, Any]], dict[str, Any]]


# --------------------------------------------------------------------------- small helpers


def median(values: list[float]) -> float | None:
    """Median of the samples, or None when there are none."""
    return statistics.median(values) if values else None


def peer_ratio(peer_s: float | None, ours_s: float | None) -> float | None:
    """MLflow's time over shipyard's, or None when either is missing."""
    if peer_s is None or ours_s is None or ours_s <= 0:
        return None
    return peer_s / ours_s


def fmt_ratio(ratio: float | None) -> str:
    """A ratio for the table: ``2.5x``, or ``-`` when there is none."""
    return "-" if ratio is None else f"{ratio:.1f}x"


def say(message: str) -> None:
    """Progress on stderr, so stdout stays the report."""
    print(message, file=sys.stderr, flush=True)


@contextlib.contextmanager
def fresh_dir(prefix: str) -> Iterator[Path]:
    """A new temporary directory, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        yield Path(tmp)


def load_average() -> list[float] | None:
    """1, 5 and 15 minute load averages (other work on the machine slows both sides)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def versions(dists: Iterable[str]) -> dict[str, str]:
    """Installed version of each distribution, or "not installed"."""
    found: dict[str, str] = {}
    for dist in dists:
        try:
            found[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            found[dist] = "not installed"
    return found


def clean_env(extra: Mapping[str, str] | None = None, omp_threads: int = 0) -> dict[str, str]:
    """This process's environment for a child in another interpreter: no venv variables,
    telemetry off, ``OMP_NUM_THREADS`` when ``omp_threads`` > 0, then ``extra``."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONHOME")}
    env.update(QUIET_ENV)
    if omp_threads > 0:
        env["OMP_NUM_THREADS"] = str(omp_threads)
    env.update(extra or {})
    return env


def time_calls(call: Callable[[], Any], times: int) -> tuple[list[float], Any]:
    """One untimed warm-up call, then ``times`` timed ones; the samples and the last result."""
    result = call()  # warm-up
    samples: list[float] = []
    for _ in range(times):
        gc.collect()
        start = time.perf_counter()
        result = call()
        samples.append(time.perf_counter() - start)
    return samples, result


# --------------------------------------------------------------------------- shipyard side


def open_store(home: Path) -> Any:
    """A shipyard store in ``home``."""
    import shipyard

    return shipyard.Store.from_settings(shipyard.Settings(home=home))


def close_store(store: Any) -> None:
    """Release the store's connections, if it has a way to."""
    for name in ("close", "dispose"):
        method = getattr(store, name, None)
        if callable(method):
            method()
            return


def shipyard_importable() -> bool:
    """Whether shipyard imports here; says why not on stderr."""
    try:
        import shipyard  # noqa: F401
    except ImportError as exc:
        say(f"shipyard is not importable ({exc}); run this from shipyard's environment")
        return False
    return True


def _git(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
        env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"},
    )


def shipyard_info(dists: Iterable[str], *, mark_dirty: bool = False) -> dict[str, str]:
    """Versions on the shipyard side, and the source revision when run from a checkout
    (with ``mark_dirty``, followed by "+ uncommitted changes" when the sources differ)."""
    import shipyard

    info = {"python": platform.python_version(), **versions(dists)}
    source = Path(shipyard.__file__).parent
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        done = _git(["rev-parse", "--short", "HEAD"], source)
        if done.returncode == 0 and done.stdout.strip():
            info["revision"] = done.stdout.strip()
            if mark_dirty:
                dirty = _git(["status", "--porcelain", "--untracked-files=no", "--", "."], source)
                if dirty.stdout.strip():
                    info["revision"] += " + uncommitted changes"
    return info


def machine_info(
    shipyard_side: dict[str, str], mlflow_side: dict[str, str], *, terse: bool = False
) -> dict[str, Any]:
    """Date, machine and both sides' versions; the load average at start (add the end's)."""
    return {
        "date": datetime.now(UTC).date().isoformat(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(terse=terse),
        "shipyard_side": shipyard_side,
        "mlflow_side": mlflow_side,
        "load_average_start": load_average(),
    }


# --------------------------------------------------------------------------- the MLflow peer


class Peer:
    """Runs a worker script's tasks with the MLflow interpreter, one process per task.

    With ``relay``, the worker's stderr lines that start with it are passed on as they
    come (no time limit); otherwise the worker runs to its end, within ``timeout``.
    """

    def __init__(
        self,
        python: str,
        worker: Path,
        *,
        relay: str | None = None,
        timeout: float | None = None,
    ) -> None:
        self.python = python
        self.worker = worker
        self.relay = relay
        self.timeout = timeout
        self.env = clean_env()

    def call(self, config: dict[str, Any]) -> dict[str, Any]:
        """Run one task; return its JSON result (the last line of its stdout)."""
        command = [self.python, str(self.worker), json.dumps(config)]
        if self.relay is None:
            code, text, tail = self._run(command)
        else:
            code, text, tail = self._stream(command, self.relay)
        if code != 0:
            raise RuntimeError(f"MLflow worker failed ({config['task']}, exit {code}):\n{tail}")
        result: dict[str, Any] = json.loads(text.strip().splitlines()[-1])
        return result

    def _run(self, command: list[str]) -> tuple[int, str, str]:
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            env=self.env,
            timeout=self.timeout,
            check=False,
        )
        return done.returncode, done.stdout, "\n".join(done.stderr.strip().splitlines()[-15:])

    def _stream(self, command: list[str], relay: str) -> tuple[int, str, str]:
        with tempfile.TemporaryFile("w+") as out:
            proc = subprocess.Popen(
                command,
                stdout=out,
                stderr=subprocess.PIPE,
                text=True,
                env=self.env,
            )
            assert proc.stderr is not None
            other: list[str] = []
            for line in proc.stderr:
                if line.startswith(relay):
                    say(line.rstrip())
                else:
                    other.append(line)
            code = proc.wait()
            out.seek(0)
            text = out.read()
        return code, text, "".join(other[-15:])


def find_peer(
    python: str | None,
    worker: Path,
    hint: str,
    *,
    relay: str | None = None,
    timeout: float | None = None,
) -> tuple[Peer | None, dict[str, str], str]:
    """The MLflow peer if its interpreter can import mlflow, its versions, and why not."""
    if not python:
        return None, {}, f"no MLflow interpreter given; {hint}"
    peer = Peer(python, worker, relay=relay, timeout=timeout)
    try:
        info = peer.call({"task": "info"})
    except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
        text = str(exc).strip()
        first = text.splitlines()[-1] if text else type(exc).__name__
        return None, {}, f"MLflow not usable with {python} ({first}); {hint}"
    return peer, {k: str(v) for k, v in info.items()}, ""


# --------------------------------------------------------------------------- worker side


def quiet_telemetry() -> None:
    """Telemetry off in this process; call it before MLflow is imported."""
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)


def sqlite_uri(home: Path) -> str:
    """Create ``home``; the URI of a SQLite backend file in it."""
    home.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(home / 'mlflow.db').as_posix()}"


def worker_main(argv: list[str], tasks: Mapping[str, Task]) -> int:
    """Run one task given as a JSON object in ``argv[1]``; print the result as JSON."""
    config: dict[str, Any] = json.loads(argv[1])
    out = sys.stdout
    sys.stdout = sys.stderr  # keep stdout clean for the one JSON result
    task = config["task"]
    if task not in tasks:
        raise SystemExit(f"unknown task {task!r}")
    result = tasks[task](config)
    out.write(json.dumps(result) + "\n")
    out.flush()
    return 0


# --------------------------------------------------------------------------- command line, report


def new_parser(doc: str | None) -> argparse.ArgumentParser:
    """The parser, with ``--mlflow-python`` first (add ``output_options`` last)."""
    p = argparse.ArgumentParser(description=doc.splitlines()[0] if doc else None)
    p.add_argument(
        "--mlflow-python",
        default=os.environ.get(MLFLOW_PYTHON_ENV),
        help=f"python of a venv with mlflow installed (default: ${MLFLOW_PYTHON_ENV})",
    )
    return p


def output_options(p: argparse.ArgumentParser) -> None:
    """``--quick``, ``--json PATH`` and ``--markdown``."""
    p.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
    p.add_argument("--json", type=Path, help="also write the results to this JSON file")
    p.add_argument("--markdown", action="store_true", help="also print the table as Markdown")


def new_console(width: int) -> Any:
    """A rich console; ``width`` columns when not printing to a terminal."""
    from rich.console import Console

    console = Console()
    if not console.is_terminal:  # piped or redirected: rich would assume 80 columns
        console = Console(width=width)
    return console


def _versions_text(side: dict[str, str], dists: Sequence[str]) -> str:
    return ", ".join(f"{dist} {side.get(dist)}" for dist in ("python", *dists))


def print_header(
    console: Any,
    title: str,
    machine: dict[str, Any],
    dists: Sequence[str],
    mlflow_suffix: str,
    peer_note: str,
) -> None:
    """The machine line and one line of versions per side (``dists`` after python's)."""
    ship, ml = machine["shipyard_side"], machine["mlflow_side"]
    console.print(
        f"[bold]{title}[/bold] {machine['date']}  "
        f"{machine['cpu_count']} cores, {machine['platform']}, load average "
        f"{machine['load_average_start']} at start, {machine['load_average_end']} at end"
    )
    console.print(
        f"shipyard {ship.get('shipyard')}"
        + (f" at {ship['revision']}" if "revision" in ship else "")
        + f" ({_versions_text(ship, dists)})"
    )
    if ml:
        console.print(
            f"mlflow {ml.get('mlflow')} ({_versions_text(ml, dists)}), "
            f"SQLite backend{mlflow_suffix}"
        )
    else:
        console.print(f"mlflow: not run ({peer_note})")


def results_table(rows: Iterable[Sequence[str]]) -> Any:
    """The rich table: workload, shipyard, MLflow, ratio, goal, met (cells formatted)."""
    from rich.table import Table

    table = Table()
    table.add_column("workload", no_wrap=True)
    for header in ("shipyard", "MLflow", "ratio", "goal"):
        table.add_column(header, justify="right", no_wrap=True)
    table.add_column("met", justify="center")
    for row in rows:
        table.add_row(*row)
    return table


def markdown_table(rows: Iterable[Sequence[str]]) -> str:
    """The same table as Markdown, for docs/benchmarks.md."""
    lines = [
        "| workload | shipyard | MLflow | ratio | goal | met |",
        "|---|---:|---:|---:|---|---|",
    ]
    for workload, *cells in rows:
        lines.append("| " + " | ".join([workload.strip(), *cells]) + " |")
    return "\n".join(lines)


def write_json(path: Path, payload: dict[str, Any]) -> None:
    """The results as indented JSON (anything else as its ``str``)."""
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n", encoding="utf-8")
