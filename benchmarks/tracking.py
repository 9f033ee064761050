"""Tracking benchmark: shipyard against MLflow 3.x (SQLite backend), side by side.

What it measures (same data and same shapes on both sides, see ``_tracking_data.py``):

1. Logging 100,000 metric points in one run (10 keys x 10,000 steps):
   shipyard's ``run.log_metric`` in a plain loop, timed from entering
   ``start_run`` to leaving it (the exit flushes the buffer), against
   ``mlflow.log_metric`` once per point (timed on a subset of the points and
   extrapolated, because it costs milliseconds per point) and against
   ``MlflowClient.log_batch`` in chunks of 1,000 (timed from ``create_run`` to
   ``set_terminated``).
2. Searching 10,000 runs with 20 metrics each: the same filter, order and
   ``max_results`` on both sides (``shipyard.search_runs`` returning ``Run``
   objects and a DataFrame, ``mlflow.search_runs`` returning a DataFrame). Creating
   the runs is setup: it is reported but has no goal. Each query is run once to
   warm up, then several times; the median of those calls is the sample. Both
   sides must return the same runs in the same order (checked through an ``idx`` tag).

shipyard runs in this process with a fresh store per repeat (``store=``). MLflow
runs in a separate interpreter (the peer's virtual environment) through
``_mlflow_worker.py``, one process and one fresh SQLite file per measurement;
it times itself, so interpreter start and ``import mlflow`` are not counted.
Every repeat uses new temporary directories; the table shows medians over repeats.

Run it from shipyard's environment::

    python -m venv .venv-mlflow && .venv-mlflow/bin/pip install mlflow
    SHIPYARD_BENCH_MLFLOW_PYTHON=.venv-mlflow/bin/python python benchmarks/tracking.py
    python benchmarks/tracking.py --mlflow-python .venv-mlflow/bin/python --quick

Options: ``--repeat 3 --points 100000 --runs 10000 --mlflow-log-metric-points 2000
--queries 5 --batch-size 1000 --json results.json --markdown``; ``--quick`` shrinks the
sizes for a smoke run (5,000 points, 500 runs). Without a usable MLflow interpreter the
shipyard half still runs and the MLflow columns read "not run". Results and how to read
them: ``docs/benchmarks.md``.
"""

from __future__ import annotations

import gc
import os
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

# Run as a file, this script's folder is first on sys.path, so the shared modules import.
from _common import (
    MLFLOW_PYTHON_ENV,
    RATIO_NOTE,
    Peer,
    close_store,
    find_peer,
    fmt_ratio,
    fresh_dir,
    load_average,
    machine_info,
    markdown_table,
    median,
    new_console,
    new_parser,
    open_store,
    output_options,
    peer_ratio,
    print_header,
    results_table,
    say,
    shipyard_importable,
    shipyard_info,
    time_calls,
    write_json,
)
from _tracking_data import (
    METRIC_EXPERIMENT,
    METRIC_KEYS,
    SEARCH_EXPERIMENT,
    SEARCH_FILTER,
    SEARCH_MAX_RESULTS,
    SEARCH_METRICS,
    SEARCH_ORDER_BY,
    metric_points,
    run_specs,
)

WORKER = Path(__file__).resolve().with_name("_mlflow_worker.py")
INSTALL_HINT = (
    "to compare with MLflow: python -m venv .venv-mlflow && .venv-mlflow/bin/pip install mlflow, "
    f"then pass --mlflow-python .venv-mlflow/bin/python (or set {MLFLOW_PYTHON_ENV})"
)
# The worker's progress lines, passed on to this script's stderr as they come.
RELAY = "  mlflow setup:"
# Versions shown for both sides, after python's.
DISTS = ("sqlalchemy", "pandas")

FULL = {"points": 100_000, "log_metric_points": 2_000, "runs": 10_000, "queries": 5}
QUICK = {"points": 5_000, "log_metric_points": 500, "runs": 500, "queries": 5}


@dataclass(frozen=True)
class Config:
    """Sizes of one benchmark invocation."""

    repeat: int
    points: int
    log_metric_points: int
    batch_size: int
    runs: int
    queries: int
    quick: bool


# --------------------------------------------------------------------------- helpers


def fmt_seconds(seconds: float | None) -> str:
    """A duration for the table: µs, ms or s."""
    if seconds is None:
        return "not run"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    if seconds < 100:
        return f"{seconds:.2f} s"
    return f"{seconds:.0f} s"


def short(n: int) -> str:
    """10000 -> '10k', 2500 -> '2,500'."""
    return f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else f"{n:,}"


# --------------------------------------------------------------------------- shipyard half


def shipyard_log_metrics(home: Path, points: int) -> dict[str, Any]:
    """``run.log_metric`` per point in one run; timed from ``start_run`` to its exit."""
    import shipyard

    store = open_store(home)
    data = metric_points(points)
    # Untimed warm-up: creates the schema and the experiment, as the MLflow side does.
    with shipyard.start_run(METRIC_EXPERIMENT, store=store) as warm:
        warm.log_metric("warmup", 0.0, step=0)
    gc.collect()
    start = time.perf_counter()
    with shipyard.start_run(METRIC_EXPERIMENT, store=store) as run:
        for key, value, step in data:
            run.log_metric(key, value, step=step)
    seconds = time.perf_counter() - start
    stored = shipyard.get_run(run.run_id, store=store)
    expected = {key: value for key, value, _ in data}
    latest_ok = all(
        abs(stored.metrics.get(k, float("nan")) - v) < 1e-12 for k, v in expected.items()
    )
    history_len = len(shipyard.get_metric_history(run.run_id, data[0][0], store=store))
    close_store(store)
    return {
        "seconds": seconds,
        "points": len(data),
        "latest_ok": latest_ok,
        "history_len": history_len,
    }


def _idx_from_runs(runs: list[Any]) -> list[int]:
    return [int(r.tags["idx"]) for r in runs]


def _idx_from_frame(frame: Any) -> list[int] | None:
    for column in ("tags.idx", "tags_idx", "idx"):
        if column in frame.columns:
            return [int(x) for x in frame[column].tolist()]
    return None


def shipyard_search(home: Path, runs: int, queries: int) -> dict[str, Any]:
    """Create ``runs`` runs, then time ``search_runs`` as objects and as a DataFrame."""
    import shipyard

    store = open_store(home)
    specs = run_specs(runs)
    setup_start = time.perf_counter()
    for i, spec in enumerate(specs, start=1):
        with shipyard.start_run(
            SEARCH_EXPERIMENT, params=spec.params, tags=spec.tags, store=store
        ) as run:
            run.log_metrics(spec.metrics, step=0)
        if i % 1000 == 0 or i == runs:
            rate = i / (time.perf_counter() - setup_start)
            say(f"  shipyard setup: {i:,}/{runs:,} runs ({rate:,.0f} runs/s)")
    setup_s = time.perf_counter() - setup_start

    def as_list() -> Any:
        return shipyard.search_runs(
            SEARCH_EXPERIMENT,
            filter=SEARCH_FILTER,
            order_by=SEARCH_ORDER_BY,
            max_results=SEARCH_MAX_RESULTS,
            store=store,
        )

    def as_frame() -> Any:
        return shipyard.search_runs(
            SEARCH_EXPERIMENT,
            filter=SEARCH_FILTER,
            order_by=SEARCH_ORDER_BY,
            max_results=SEARCH_MAX_RESULTS,
            as_frame=True,
            store=store,
        )

    list_s, found = time_calls(as_list, queries)
    frame_s, frame = time_calls(as_frame, queries)
    close_store(store)
    return {
        "setup_s": setup_s,
        "list_query_s": list_s,
        "list_median_s": statistics.median(list_s),
        "frame_query_s": frame_s,
        "frame_median_s": statistics.median(frame_s),
        "list_rows": len(found),
        "frame_rows": len(frame),
        "list_idx": _idx_from_runs(found),
        "frame_idx": _idx_from_frame(frame),
    }


# --------------------------------------------------------------------------- driver


def run_all(cfg: Config, peer: Peer | None) -> dict[str, Any]:
    """All repeats of all workloads; raw samples per side and measurement."""
    raw: dict[str, list[Any]] = {
        "shipyard_log": [],
        "shipyard_search": [],
        "mlflow_log_metric": [],
        "mlflow_log_batch": [],
        "mlflow_search": [],
    }
    for rep in range(1, cfg.repeat + 1):
        say(f"repeat {rep}/{cfg.repeat}")
        with fresh_dir("shipyard-bench-") as home:
            res = shipyard_log_metrics(home, cfg.points)
        raw["shipyard_log"].append(res)
        say(f"  shipyard log_metric x{cfg.points:,}: {fmt_seconds(res['seconds'])}")
        if peer is not None:
            with fresh_dir("mlflow-bench-") as home:
                res = peer.call(
                    {"task": "log_metric", "home": str(home), "points": cfg.log_metric_points}
                )
            raw["mlflow_log_metric"].append(res)
            say(f"  mlflow log_metric: {res['per_point_s'] * 1e3:.2f} ms/point")
            with fresh_dir("mlflow-bench-") as home:
                res = peer.call(
                    {
                        "task": "log_batch",
                        "home": str(home),
                        "points": cfg.points,
                        "batch_size": cfg.batch_size,
                    }
                )
            raw["mlflow_log_batch"].append(res)
            say(f"  mlflow log_batch x{cfg.points:,}: {fmt_seconds(res['seconds'])}")
        with fresh_dir("shipyard-bench-") as home:
            res = shipyard_search(home, cfg.runs, cfg.queries)
        raw["shipyard_search"].append(res)
        say(
            f"  shipyard search: {fmt_seconds(res['list_median_s'])} (list), "
            f"{fmt_seconds(res['frame_median_s'])} (frame), {res['list_rows']} rows"
        )
        if peer is not None:
            with fresh_dir("mlflow-bench-") as home:
                res = peer.call(
                    {"task": "search", "home": str(home), "runs": cfg.runs, "queries": cfg.queries}
                )
            raw["mlflow_search"].append(res)
            say(f"  mlflow search: {fmt_seconds(res['median_s'])}, {res['rows']} rows")
    return raw


def build_rows(cfg: Config, raw: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """One row per comparison: medians over repeats, ratio and goal."""
    ship_log = median([r["seconds"] for r in raw["shipyard_log"]])
    per_point = median([r["per_point_s"] for r in raw["mlflow_log_metric"]])
    ml_log_metric = per_point * cfg.points if per_point is not None else None
    ml_log_batch = median([r["seconds"] for r in raw["mlflow_log_batch"]])
    ship_list = median([r["list_median_s"] for r in raw["shipyard_search"]])
    ship_frame = median([r["frame_median_s"] for r in raw["shipyard_search"]])
    ml_search = median([r["median_s"] for r in raw["mlflow_search"]])
    ship_setup = median([r["setup_s"] for r in raw["shipyard_search"]])
    ml_setup = median([r["setup_s"] for r in raw["mlflow_search"]])

    points = f"log {short(cfg.points)} points, 1 run"
    runs = f"search {short(cfg.runs)} runs"
    rows: list[dict[str, Any]] = [
        {
            "workload": f"{points}: vs log_metric (a)",
            "shipyard_s": ship_log,
            "mlflow_s": ml_log_metric,
            "min_ratio": 20.0,
            "max_shipyard_s": None,
        },
        {
            "workload": f"{points}: vs log_batch (b)",
            "shipyard_s": ship_log,
            "mlflow_s": ml_log_batch,
            "min_ratio": 5.0,
            "max_shipyard_s": None,
        },
        {
            "workload": f"{runs} -> list[Run] (c)",
            "shipyard_s": ship_list,
            "mlflow_s": ml_search,
            "min_ratio": 10.0,
            "max_shipyard_s": 0.100,
        },
        {
            "workload": f"{runs} -> DataFrame (c)",
            "shipyard_s": ship_frame,
            "mlflow_s": ml_search,
            "min_ratio": 10.0,
            "max_shipyard_s": 0.100,
        },
        {
            "workload": f"create {short(cfg.runs)} runs (d)",
            "shipyard_s": ship_setup,
            "mlflow_s": ml_setup,
            "min_ratio": None,
            "max_shipyard_s": None,
        },
    ]
    for row in rows:
        row["ratio"] = peer_ratio(row["mlflow_s"], row["shipyard_s"])
        row["goal"], row["met"] = _goal(row)
        if cfg.quick and row["met"] != "-":
            row["met"] += " (quick)"
    return rows


def notes(cfg: Config) -> list[str]:
    """Footnotes that say what each row measures."""
    return [
        f"(a) shipyard: run.log_metric per point, {cfg.points // METRIC_KEYS:,} steps x "
        f"{METRIC_KEYS} keys, start_run to exit (flush included); MLflow: mlflow.log_metric "
        f"per point, extrapolated from {cfg.log_metric_points:,} points",
        f"(b) MLflow: MlflowClient.log_batch, {cfg.batch_size:,} metrics per call, "
        "create_run to set_terminated",
        f"(c) shipyard.search_runs vs mlflow.search_runs (DataFrame), {SEARCH_METRICS} metrics "
        f"per run, filter {SEARCH_FILTER!r}, order_by {SEARCH_ORDER_BY}, max_results "
        f"{SEARCH_MAX_RESULTS}; median of {cfg.queries} calls after one warm-up",
        "(d) setup of (c), no goal: shipyard start_run + log_metrics per run; MLflow "
        "create_run + log_batch (metrics, params) + set_terminated per run",
    ]


def cells(rows: list[dict[str, Any]]) -> list[list[str]]:
    """The table's cells, formatted: workload, shipyard, MLflow, ratio, goal, met."""
    return [
        [
            row["workload"],
            fmt_seconds(row["shipyard_s"]),
            fmt_seconds(row["mlflow_s"]),
            fmt_ratio(row["ratio"]),
            row["goal"],
            row["met"],
        ]
        for row in rows
    ]


def _goal(row: dict[str, Any]) -> tuple[str, str]:
    parts: list[str] = []
    verdicts: list[bool | None] = []
    if row["max_shipyard_s"] is not None:
        parts.append(f"<={row['max_shipyard_s'] * 1e3:.0f} ms")
        ours = row["shipyard_s"]
        verdicts.append(None if ours is None else ours <= row["max_shipyard_s"])
    if row["min_ratio"] is not None:
        parts.append(f">={row['min_ratio']:.0f}x")
        ratio = row["ratio"]
        verdicts.append(None if ratio is None else ratio >= row["min_ratio"])
    if not parts:
        return "-", "-"
    if any(v is False for v in verdicts):
        met = "no"
    elif any(v is None for v in verdicts):
        met = "n/a"
    else:
        met = "yes"
    return ", ".join(parts), met


def sanity(raw: dict[str, list[Any]]) -> list[str]:
    """Checks that both sides stored the metrics and answered the same query alike."""
    lines: list[str] = []
    ok_latest = all(r["latest_ok"] for r in raw["shipyard_log"])
    lines.append(f"shipyard latest metric values after the run match the data: {_yn(ok_latest)}")
    history = f"history length of one key: shipyard {raw['shipyard_log'][-1]['history_len']:,}"
    if raw["mlflow_log_batch"]:
        history += f", MLflow log_batch {raw['mlflow_log_batch'][-1]['history_len']:,}"
    lines.append(history)
    last = raw["shipyard_search"][-1]
    rows = f"rows returned: shipyard {last['list_rows']} (list) / {last['frame_rows']} (frame)"
    if raw["mlflow_search"]:
        ml = raw["mlflow_search"][-1]
        rows += f", MLflow {ml['rows']}"
        same_list = last["list_idx"] == ml["idx"]
        same_frame = last["frame_idx"] == ml["idx"] if last["frame_idx"] is not None else None
        lines.append(rows)
        lines.append(
            f"same runs in the same order as MLflow: list {_yn(same_list)}, frame {_yn(same_frame)}"
        )
    else:
        lines.append(rows)
    return lines


def _yn(value: bool | None) -> str:
    return "unknown" if value is None else ("yes" if value else "NO")


def render(
    cfg: Config,
    rows: list[dict[str, Any]],
    machine: dict[str, Any],
    checks: list[str],
    peer_note: str,
) -> None:
    """Print machine info, the results table and the sanity checks with rich."""
    console = new_console(width=120)
    print_header(console, "Tracking benchmark", machine, DISTS, "", peer_note)
    console.print(
        f"medians over {cfg.repeat} repeat(s), fresh stores each"
        + ("  [quick sizes]" if cfg.quick else "")
    )
    console.print(results_table(cells(rows)))
    console.print(RATIO_NOTE)
    if cfg.quick:
        console.print(
            "[yellow]quick sizes:[/yellow] the goals are set for the full sizes (MLflow's fixed "
            "costs weigh more on small ones); this run only shows that everything works"
        )
    for line in notes(cfg):
        console.print(line)
    for line in checks:
        console.print(line)
    if not machine["mlflow_side"]:
        console.print(f"[yellow]MLflow columns not run:[/yellow] {INSTALL_HINT}")


def parse_args(argv: list[str] | None) -> tuple[Config, str | None, Path | None, bool]:
    """Command-line options into a Config, the MLflow interpreter and the JSON path."""
    p = new_parser(__doc__)
    p.add_argument("--repeat", type=int, default=3, help="repeats per measurement (median)")
    p.add_argument("--points", type=int, help="metric points in the logging run (100000)")
    p.add_argument(
        "--mlflow-log-metric-points",
        type=int,
        help="points timed with mlflow.log_metric, then extrapolated (2000)",
    )
    p.add_argument("--batch-size", type=int, default=1000, help="metrics per log_batch call")
    p.add_argument("--runs", type=int, help="runs in the search workload (10000)")
    p.add_argument("--queries", type=int, help="timed calls per search, after a warm-up (5)")
    output_options(p)
    args = p.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    points = args.points or sizes["points"]
    cfg = Config(
        repeat=max(1, args.repeat),
        points=points,
        log_metric_points=min(points, args.mlflow_log_metric_points or sizes["log_metric_points"]),
        batch_size=args.batch_size,
        runs=args.runs or sizes["runs"],
        queries=args.queries or sizes["queries"],
        quick=args.quick,
    )
    if cfg.points % METRIC_KEYS:
        p.error(f"--points must be a multiple of {METRIC_KEYS}")
    return cfg, args.mlflow_python, args.json, args.markdown


def _slim(sample: dict[str, Any]) -> dict[str, Any]:
    """A raw sample without the long per-row lists, for the JSON file."""
    return {k: v for k, v in sample.items() if k not in ("idx", "list_idx", "frame_idx")}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table; return the exit status."""
    cfg, mlflow_python, json_path, as_markdown = parse_args(argv)
    with fresh_dir("shipyard-bench-home-") as default_home:
        # Nothing should land in the working directory, even if a default store is touched.
        os.environ["SHIPYARD_HOME"] = str(default_home)
        if not shipyard_importable():
            return 2
        peer, peer_info, peer_note = find_peer(mlflow_python, WORKER, INSTALL_HINT, relay=RELAY)
        if peer is None:
            say(peer_note)
        machine = machine_info(shipyard_info(("shipyard", *DISTS)), peer_info)
        raw = run_all(cfg, peer)
        machine["load_average_end"] = load_average()
    rows = build_rows(cfg, raw)
    checks = sanity(raw)
    render(cfg, rows, machine, checks, peer_note)
    if as_markdown:
        print()
        print(markdown_table(cells(rows)))
    if json_path is not None:
        payload = {
            "config": asdict(cfg),
            "machine": machine,
            "query": {
                "filter": SEARCH_FILTER,
                "order_by": SEARCH_ORDER_BY,
                "max_results": SEARCH_MAX_RESULTS,
            },
            "rows": rows,
            "checks": checks,
            "notes": notes(cfg),
            "raw": {name: [_slim(s) for s in samples] for name, samples in raw.items()},
        }
        write_json(json_path, payload)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
