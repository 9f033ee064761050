"""MLflow half of ``benchmarks/tracking.py``; runs in the peer's virtual environment.

Not meant to be run by hand: ``tracking.py`` starts it with the MLflow
interpreter, one process per measurement, as::

    python _mlflow_worker.py '{"task": "log_batch", "home": "...", "points": 100000}'

Tasks: ``info`` (versions), ``log_metric``, ``log_batch`` and ``search``. Each
measurement uses a SQLite backend (``sqlite:///<home>/mlflow.db``) in the given
directory. Timings are taken with ``time.perf_counter`` inside this process, so
the interpreter start and the ``import mlflow`` are not counted. The result is
one JSON object on stdout; everything MLflow itself prints goes to stderr.
"""

from __future__ import annotations

import gc
import platform
import statistics
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

# Run as a file, this script's folder is first on sys.path, so the shared modules import
# (both use nothing outside the standard library: this interpreter has no shipyard).
from _common import Task, quiet_telemetry, sqlite_uri, time_calls, worker_main
from _tracking_data import (
    METRIC_EXPERIMENT,
    SEARCH_EXPERIMENT,
    SEARCH_FILTER,
    SEARCH_MAX_RESULTS,
    SEARCH_ORDER_BY,
    metric_points,
    run_specs,
)

# Set before MLflow is imported (lazily, below), so no telemetry call lands in a timing.
quiet_telemetry()


def _client(home: Path) -> Any:
    """Point MLflow at a fresh SQLite file and return a client (schema created here)."""
    import mlflow
    from mlflow import MlflowClient

    uri = sqlite_uri(home)
    mlflow.set_tracking_uri(uri)
    return MlflowClient(tracking_uri=uri)


def task_info() -> dict[str, Any]:
    """Versions of the peer side."""
    import mlflow

    return {
        "python": platform.python_version(),
        "mlflow": mlflow.__version__,
        "sqlalchemy": metadata.version("sqlalchemy"),
        "pandas": metadata.version("pandas"),
    }


def task_log_metric(home: Path, points: int) -> dict[str, Any]:
    """``mlflow.log_metric`` once per point, inside an active run, for ``points`` points."""
    import mlflow

    client = _client(home)
    experiment_id = client.create_experiment(METRIC_EXPERIMENT)
    data = metric_points(points)
    with mlflow.start_run(experiment_id=experiment_id):
        mlflow.log_metric("warmup", 0.0, step=0)
        gc.collect()
        start = time.perf_counter()
        for key, value, step in data:
            mlflow.log_metric(key, value, step=step)
        seconds = time.perf_counter() - start
    return {"seconds": seconds, "points": len(data), "per_point_s": seconds / len(data)}


def task_log_batch(home: Path, points: int, batch_size: int) -> dict[str, Any]:
    """``MlflowClient.log_batch`` in chunks; timed from ``create_run`` to ``set_terminated``."""
    from mlflow.entities import Metric

    client = _client(home)
    experiment_id = client.create_experiment(METRIC_EXPERIMENT)
    data = metric_points(points)
    timestamp = int(time.time() * 1000)
    # Building the entity objects is the caller's job in MLflow too, but it is kept
    # out of the timing so that only the tracking calls are measured.
    metrics = [Metric(key, value, timestamp, step) for key, value, step in data]
    chunks = [metrics[i : i + batch_size] for i in range(0, len(metrics), batch_size)]
    gc.collect()
    start = time.perf_counter()
    run_id = client.create_run(experiment_id).info.run_id
    for chunk in chunks:
        client.log_batch(run_id, metrics=chunk)
    client.set_terminated(run_id)
    seconds = time.perf_counter() - start
    latest = client.get_run(run_id).data.metrics
    history = client.get_metric_history(run_id, data[0][0])
    return {
        "seconds": seconds,
        "points": len(data),
        "latest": latest,
        "history_len": len(history),
    }


def task_search(home: Path, runs: int, queries: int) -> dict[str, Any]:
    """Create ``runs`` runs (``log_batch`` per run), then time ``mlflow.search_runs``."""
    import mlflow
    from mlflow.entities import Metric, Param

    client = _client(home)
    experiment_id = client.create_experiment(SEARCH_EXPERIMENT)
    specs = run_specs(runs)
    timestamp = int(time.time() * 1000)
    setup_start = time.perf_counter()
    for i, spec in enumerate(specs, start=1):
        run_id = client.create_run(experiment_id, tags=spec.tags).info.run_id
        client.log_batch(
            run_id,
            metrics=[Metric(k, v, timestamp, 0) for k, v in spec.metrics.items()],
            params=[Param(k, v) for k, v in spec.params.items()],
        )
        client.set_terminated(run_id)
        if i % 1000 == 0 or i == runs:
            rate = i / (time.perf_counter() - setup_start)
            print(f"  mlflow setup: {i:,}/{runs:,} runs ({rate:,.0f} runs/s)", file=sys.stderr)
    setup_s = time.perf_counter() - setup_start

    def query() -> Any:
        return mlflow.search_runs(
            experiment_names=[SEARCH_EXPERIMENT],
            filter_string=SEARCH_FILTER,
            order_by=SEARCH_ORDER_BY,
            max_results=SEARCH_MAX_RESULTS,
        )

    times, frame = time_calls(query, queries)
    return {
        "setup_s": setup_s,
        "query_s": times,
        "median_s": statistics.median(times),
        "rows": len(frame),
        "idx": [int(x) for x in frame["tags.idx"].tolist()],
    }


TASKS: dict[str, Task] = {
    "info": lambda config: task_info(),
    "log_metric": lambda config: task_log_metric(Path(config["home"]), int(config["points"])),
    "log_batch": lambda config: task_log_batch(
        Path(config["home"]), int(config["points"]), int(config["batch_size"])
    ),
    "search": lambda config: task_search(
        Path(config["home"]), int(config["runs"]), int(config["queries"])
    ),
}


def main(argv: list[str]) -> int:
    """Run one task given as a JSON object in ``argv[1]``; print the result as JSON."""
    return worker_main(argv, TASKS)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
