"""Registry benchmark: cold ``load_model`` in a fresh process, shipyard against MLflow 3.x.

What it measures:

1. Cold load of the same fitted scikit-learn pipeline in a fresh interpreter:
   ``Pipeline(ColumnTransformer(OneHotEncoder(handle_unknown="ignore") on the string
   columns, passthrough on the numeric ones), HistGradientBoostingClassifier())``, trained
   here on a few thousand rows of synthetic flight-like data (carrier, origin and dest
   strings; distance, hour, month, weather numbers). shipyard registers it with
   ``shipyard.register_model`` in a fresh home; MLflow logs the very same object (pickled
   across) with ``mlflow.sklearn.log_model`` in a fresh SQLite backend and registers it
   (``_registry_worker.py``, in the peer's interpreter). Then, ``--repeat`` times per side,
   alternating, a fresh ``python -c`` process imports the library, loads
   ``models:/flights/1`` (``shipyard.load_model`` / ``mlflow.pyfunc.load_model``) and
   predicts one row. Two timings per process:

   - the process wall time, taken by this script around the child (interpreter start,
     imports, load, predict and interpreter exit: everything a user waits for);
   - the in-process time, ``time.perf_counter`` at the top of the child's script to
     right after the first ``predict``, split into import, load and first predict.

   One untimed child per side runs first, so byte-code caches and the page cache are
   warm on both sides: "cold" means a new process, not a cold disk. Every child runs
   with ``OMP_NUM_THREADS=1`` (``--omp-threads``): on a busy machine scikit-learn's
   OpenMP pool can stall a first predict for a second. Two floors run in shipyard's
   interpreter: ``python -c pass``, and the same pipeline from a plain pickle file
   (``pickle.load`` + predict, no registry); each side's median minus the latter is
   that registry's own cost. The table shows medians over repeats; the ratio is
   MLflow's median divided by shipyard's (goal: >= 3x).
2. Profiling a table of 1M rows x 20 columns (15 numeric, 5 categorical): wall time and
   peak memory against the data's Arrow size, measured by ``benchmarks/profiles.py``'s
   own functions (``build_table``, ``time_profile``, ``run_memory_worker``).

With ``--importtime`` one more child per side runs under ``python -X importtime`` and
the script lists the packages whose imports cost the most, and which module pulled
each of them in (``runtime`` when it was imported while loading or predicting, e.g.
by unpickling, rather than by importing the library).

Run it from shipyard's environment::

    python -m venv .venv-mlflow
    .venv-mlflow/bin/pip install mlflow pandas scikit-learn==<the version shipyard has>
    SHIPYARD_BENCH_MLFLOW_PYTHON=.venv-mlflow/bin/python python benchmarks/registry.py
    python benchmarks/registry.py --mlflow-python .venv-mlflow/bin/python --importtime
    python benchmarks/registry.py --quick --repeat 1          # CI smoke run, no MLflow

Options: ``--repeat 7 --train-rows 5000 --profile-rows 1000000 --profile-calls 5
--mlflow-format cloudpickle|skops --omp-threads 1 --importtime --skip-profile --json PATH
--markdown``; ``--quick`` shrinks the sizes (2 repeats, 2,000 training rows, 100,000 profiled rows).
Without a usable MLflow interpreter the shipyard half still runs and the MLflow columns
read "not run". Results and how to read them: ``docs/benchmarks.md``.
"""

from __future__ import annotations

import json
import os
import pickle
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# Run as a file, this script's folder is first on sys.path, so the shared module imports.
from _common import (
    MLFLOW_PYTHON_ENV,
    RATIO_NOTE,
    Peer,
    clean_env,
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
    write_json,
)

WORKER = Path(__file__).resolve().with_name("_registry_worker.py")
INSTALL_HINT = (
    "to compare with MLflow: python -m venv .venv-mlflow && .venv-mlflow/bin/pip install "
    "mlflow pandas scikit-learn==<shipyard's version>, then pass --mlflow-python "
    f".venv-mlflow/bin/python (or set {MLFLOW_PYTHON_ENV})"
)
# Versions shown for both sides, after python's.
DISTS = ("scikit-learn", "pandas", "numpy")
# The table's cells, in order.
COLUMNS = ("workload", "shipyard", "mlflow", "ratio", "goal", "met")
MODEL_NAME = "flights"
GOAL_RATIO = 3.0
CHILD_TIMEOUT_S = 300

FULL = {"repeat": 7, "train_rows": 5_000, "profile_rows": 1_000_000, "profile_calls": 5}
QUICK = {"repeat": 2, "train_rows": 2_000, "profile_rows": 100_000, "profile_calls": 3}

CATEGORICAL = ["carrier", "origin", "dest"]
NUMERIC = ["distance", "hour", "month", "day_of_week", "temp", "wind_speed", "precip", "visib"]
CARRIERS = ["UA", "B6", "EV", "DL", "AA", "MQ", "US", "9E", "WN", "VX", "FL", "AS", "F9", "YV"]
ORIGINS = ["EWR", "JFK", "LGA"]
DESTS = [
    "ATL", "ORD", "LAX", "BOS", "MCO", "CLT", "SFO", "FLL", "MIA", "DCA", "DTW", "DFW",
    "RDU", "TPA", "DEN", "IAH", "MSP", "PBI", "BNA", "LAS", "SJU", "IAD", "BUF", "PHX",
    "CLE", "STL", "MCI", "MSY", "RSW", "SEA", "PIT", "CVG", "IND", "SAN", "CMH", "JAX",
    "SLC", "MDW", "RIC", "PDX",
]  # fmt: skip

# The fresh process. perf_counter is read first thing; the import, the load and the
# first predict are timed; checking the probabilities afterwards is not.
CHILD_TEMPLATE = """\
import time
t0 = time.perf_counter()
w0 = time.time()
{import_line}
t1 = time.perf_counter()
model = {load_call}
t2 = time.perf_counter()
import pandas as pd
prediction = model.predict(pd.DataFrame.from_records({row!r}))
t3 = time.perf_counter()
import json
try:
    proba = {proba_call}.predict_proba(pd.DataFrame.from_records({probes!r})).tolist()
except Exception as exc:
    proba = repr(exc)
print(json.dumps({{"import_s": t1 - t0, "load_s": t2 - t1, "predict_s": t3 - t2,
                  "in_process_s": t3 - t0, "prediction": [str(p) for p in prediction],
                  "proba": proba, "start_wall": w0, "end_wall": time.time()}}), flush=True)
"""
SIDES = {
    "shipyard": {
        "import_line": "import shipyard",
        "load_call": "shipyard.load_model({uri!r})",
        "proba_call": "model",
    },
    # The floor: the same pipeline from a plain pickle file, in shipyard's interpreter.
    "pickle": {
        "import_line": "import pickle",
        "load_call": "pickle.load(open({uri!r}, 'rb'))",
        "proba_call": "model",
    },
    "mlflow": {
        "import_line": "import mlflow.pyfunc",
        "load_call": "mlflow.pyfunc.load_model({uri!r})",
        "proba_call": "model.get_raw_model()",
    },
}


@dataclass(frozen=True)
class Config:
    """Sizes of one benchmark invocation."""

    repeat: int
    train_rows: int
    profile_rows: int
    profile_calls: int
    mlflow_format: str
    importtime: bool
    skip_profile: bool
    quick: bool
    omp_threads: int


@dataclass
class Side:
    """How to start one side's fresh processes, and what they measured."""

    name: str
    python: str
    env: dict[str, str]
    uri: str
    register_s: float | None = None
    samples: list[dict[str, Any]] = field(default_factory=list)
    bare_s: list[float] = field(default_factory=list)
    importtime: list[dict[str, Any]] = field(default_factory=list)
    import_total_ms: float | None = None
    last_start_wall: float = 0.0
    last_end_wall: float = 0.0


# --------------------------------------------------------------------------- helpers


def fmt_seconds(seconds: float | None) -> str:
    """A duration for the table: ms or s."""
    if seconds is None:
        return "not run"
    if seconds < 1:
        return f"{seconds * 1e3:.0f} ms" if seconds >= 0.01 else f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s"


# --------------------------------------------------------------------------- the model


def flight_frame(rows: int, seed: int = 0) -> tuple[Any, Any]:
    """Synthetic flight-like rows and a 0/1 "delayed" target, deterministic."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, len(CARRIERS) + 1)
    carrier = rng.choice(len(CARRIERS), rows, p=weights / weights.sum())
    origin = rng.integers(0, len(ORIGINS), rows)
    dest = rng.integers(0, len(DESTS), rows)
    dest_miles = rng.uniform(180.0, 2_600.0, len(DESTS))
    hour = rng.integers(5, 23, rows)
    temp = rng.normal(56.0, 17.0, rows).round(1)
    wind = rng.gamma(2.0, 5.0, rows).round(1)
    precip = np.where(rng.random(rows) < 0.15, rng.exponential(0.05, rows), 0.0).round(2)
    visib = np.clip(10.0 - rng.exponential(1.2, rows), 0.0, 10.0).round(1)
    logit = (
        -1.6
        + 0.09 * (hour - 12)
        + 9.0 * precip
        + 0.025 * wind
        - 0.08 * (visib - 10.0)
        + rng.normal(0.0, 0.4, len(CARRIERS))[carrier]
        + np.array([0.25, 0.05, 0.15])[origin]
    )
    frame = pd.DataFrame(
        {
            "carrier": np.array(CARRIERS)[carrier],
            "origin": np.array(ORIGINS)[origin],
            "dest": np.array(DESTS)[dest],
            "distance": (dest_miles[dest] + rng.normal(0.0, 15.0, rows)).round(0),
            "hour": hour,
            "month": rng.integers(1, 13, rows),
            "day_of_week": rng.integers(0, 7, rows),
            "temp": temp,
            "wind_speed": wind,
            "precip": precip,
            "visib": visib,
        }
    )
    target = pd.Series((rng.random(rows) < 1.0 / (1.0 + np.exp(-logit))).astype("int64"))
    return frame, target.rename("delayed")


def train_pipeline(frame: Any, target: Any, threads: int = 0) -> Any:
    """One-hot on the strings, numbers passed through, histogram gradient boosting.

    ``threads`` > 0 caps OpenMP while fitting: on a busy machine with few cores,
    scikit-learn's thread pool can turn a one-second fit into a dozen seconds.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    features = ColumnTransformer(
        [
            # Dense output: HistGradientBoosting does not take sparse input.
            ("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), CATEGORICAL),
            ("num", "passthrough", NUMERIC),
        ]
    )
    pipeline = Pipeline(
        [("features", features), ("model", HistGradientBoostingClassifier(random_state=0))]
    )
    if threads <= 0:
        return pipeline.fit(frame, target)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=threads, user_api="openmp"):
        return pipeline.fit(frame, target)


def records(frame: Any) -> list[dict[str, Any]]:
    """Rows as plain Python values (exact floats), to write into a child's source."""
    return [
        {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
        for row in frame.to_dict(orient="records")
    ]


# --------------------------------------------------------------------------- shipyard side


def shipyard_register(home: Path, model: Any, frame: Any, target: Any) -> tuple[str, float]:
    """Register the pipeline in a fresh home; its URI and the time register_model took."""
    import shipyard

    store = open_store(home)
    start = time.perf_counter()
    version = shipyard.register_model(
        model, MODEL_NAME, training_data=frame, target=target, store=store
    )
    seconds = time.perf_counter() - start
    close_store(store)
    if int(version.version) != 1:
        raise RuntimeError(f"expected version 1 of a fresh registry, got {version.version}")
    return f"models:/{version.name}/{version.version}", seconds


# --------------------------------------------------------------------------- fresh processes


def child_code(side: str, uri: str, row: list[dict[str, Any]], probes: list[dict[str, Any]]) -> str:
    """The ``python -c`` source of one side's cold load."""
    parts = SIDES[side]
    return CHILD_TEMPLATE.format(
        import_line=parts["import_line"],
        load_call=parts["load_call"].format(uri=uri),
        proba_call=parts["proba_call"],
        row=row,
        probes=probes,
    )


def run_child(side: Side, args: list[str], cwd: Path) -> tuple[float, str, str]:
    """Start one fresh interpreter; its wall time, stdout and stderr."""
    side.last_start_wall = time.time()
    start = time.perf_counter()
    done = subprocess.run(
        [side.python, *args],
        capture_output=True,
        text=True,
        env=side.env,
        cwd=cwd,
        timeout=CHILD_TIMEOUT_S,
        check=False,
    )
    wall = time.perf_counter() - start
    side.last_end_wall = time.time()
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])
        raise RuntimeError(f"{side.name} child failed (exit {done.returncode}):\n{tail}")
    return wall, done.stdout, done.stderr


def cold_load(side: Side, code: str, cwd: Path) -> dict[str, Any]:
    """One timed fresh process: wall time plus the child's own timings."""
    wall, out, _ = run_child(side, ["-c", code], cwd)
    line = next(x for x in reversed(out.strip().splitlines()) if x.startswith("{"))
    result: dict[str, Any] = json.loads(line)
    result["process_s"] = wall
    # Wall clocks of both processes: the same machine, so comparable to a millisecond.
    result["startup_s"] = result.pop("start_wall") - side.last_start_wall
    result["exit_s"] = side.last_end_wall - result.pop("end_wall")
    return result


def bare_start(side: Side, cwd: Path) -> float:
    """``python -c pass``: the interpreter's own start and exit."""
    return run_child(side, ["-c", "pass"], cwd)[0]


# --------------------------------------------------------------------------- -X importtime


@dataclass
class ImportNode:
    """One line of ``-X importtime``: a module, its own and its cumulative microseconds."""

    name: str
    self_us: int
    cumulative_us: int
    depth: int
    parent: ImportNode | None = None


def parse_importtime(text: str) -> list[ImportNode]:
    """The import tree (post-order lines, two spaces of indent per level) as linked nodes."""
    nodes: list[ImportNode] = []
    pending: dict[int, list[ImportNode]] = {}
    for line in text.splitlines():
        if not line.startswith("import time:"):
            continue
        parts = line[len("import time:") :].split("|", 2)
        if len(parts) != 3:
            continue
        try:
            self_us, cumulative_us = int(parts[0]), int(parts[1])
        except ValueError:  # the header line
            continue
        raw = parts[2][1:]  # one space after the bar, then the indent
        name = raw.lstrip(" ")
        node = ImportNode(name, self_us, cumulative_us, (len(raw) - len(name)) // 2)
        for child in pending.pop(node.depth + 1, []):
            child.parent = node
        pending.setdefault(node.depth, []).append(node)
        nodes.append(node)
    return nodes


def _via(node: ImportNode, library: str) -> str:
    """Which of the library's modules imported this (nearest), else the top import."""
    top: ImportNode | None = None
    parent = node.parent
    while parent is not None:
        if parent.name.split(".")[0] == library:
            return parent.name
        top = parent
        parent = parent.parent
    return top.name if top is not None else "runtime (load/predict)"


def summarize_importtime(text: str, library: str, top: int) -> tuple[list[dict[str, Any]], float]:
    """Packages by their modules' summed own import time, and who imported each first."""
    nodes = parse_importtime(text)
    packages: dict[str, dict[str, Any]] = {}
    for node in nodes:
        root = node.name.split(".")[0]
        entry = packages.setdefault(
            root, {"package": root, "self_ms": 0.0, "modules": 0, "entry": None}
        )
        entry["self_ms"] += node.self_us / 1e3
        entry["modules"] += 1
        # The entry point: the biggest subtree of this package not inside another of its own.
        outer = node.parent is None or node.parent.name.split(".")[0] != root
        if outer and (entry["entry"] is None or node.cumulative_us > entry["entry"].cumulative_us):
            entry["entry"] = node
    total_ms = sum(n.self_us for n in nodes) / 1e3
    rows = []
    for entry in sorted(packages.values(), key=lambda e: -e["self_ms"])[:top]:
        first: ImportNode = entry.pop("entry")
        entry["via"] = first.name if first.name.split(".")[0] == library else _via(first, library)
        if entry["via"] == first.name:
            entry["via"] = "the script" if first.parent is None else first.parent.name
        entry["entry_module"] = first.name
        entry["entry_cumulative_ms"] = first.cumulative_us / 1e3
        rows.append(entry)
    return rows, total_ms


def importtime_for(side: Side, code: str, cwd: Path, top: int) -> None:
    """One extra child under ``-X importtime``; the costliest packages land on ``side``."""
    _, _, err = run_child(side, ["-X", "importtime", "-c", code], cwd)
    library = "shipyard" if side.name == "shipyard" else "mlflow"
    side.importtime, side.import_total_ms = summarize_importtime(err, library, top)


# --------------------------------------------------------------------------- profiles


def measure_profile(rows: int, calls: int) -> dict[str, Any]:
    """``profiles.py``'s measurements: median wall time and the memory worker's peaks."""
    # Run as a file, this script's folder is first on sys.path, so profiles.py imports.
    from profiles import build_table, run_memory_worker, time_profile

    table = build_table(rows)
    wall, cpu = time_profile(table, calls)
    return {
        "rows": table.num_rows,
        "columns": table.num_columns,
        "seconds": wall,
        "seconds_median": statistics.median(wall),
        "cpu_seconds_median": statistics.median(cpu),
        "memory": run_memory_worker(rows),
    }


# --------------------------------------------------------------------------- driver


def run_all(cfg: Config, peer: Peer | None, root: Path) -> dict[str, Any]:
    """Train, register on both sides, time the fresh processes, profile."""
    import shipyard

    say(f"training the pipeline on {cfg.train_rows:,} rows")
    frame, target = flight_frame(cfg.train_rows)
    model = train_pipeline(frame, target, cfg.omp_threads)
    probes = records(frame.head(5))
    row = probes[:1]
    expected = model.predict_proba(frame.head(5)).tolist()
    pickled = root / "pipeline.pkl"
    pickled.write_bytes(pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL))
    sides: list[Side] = [
        Side("pickle", sys.executable, clean_env({}, cfg.omp_threads), str(pickled))
    ]
    notes: dict[str, Any] = {"expected_proba": expected, "probe_row": row[0]}

    if hasattr(shipyard, "register_model") and hasattr(shipyard, "load_model"):
        home = root / "shipyard-home"
        uri, seconds = shipyard_register(home, model, frame, target)
        ship = Side(
            "shipyard",
            sys.executable,
            clean_env({"SHIPYARD_HOME": str(home)}, cfg.omp_threads),
            uri,
        )
        ship.register_s = seconds
        sides.append(ship)
        say(f"  shipyard register_model: {fmt_seconds(seconds)} -> {uri}")
    else:
        notes["shipyard_missing"] = "this shipyard has no register_model/load_model yet"
        say(f"  shipyard side skipped: {notes['shipyard_missing']}")

    if peer is not None:
        home = root / "mlflow-home"
        res = peer.call(
            {
                "task": "register",
                "home": str(home),
                "model": str(pickled),
                "example": probes,
                "name": MODEL_NAME,
                "format": cfg.mlflow_format,
            }
        )
        uri = f"models:/{MODEL_NAME}/{res['registered_version']}"
        ml = Side(
            "mlflow",
            peer.python,
            clean_env({"MLFLOW_TRACKING_URI": res["tracking_uri"]}, cfg.omp_threads),
            uri,
        )
        ml.register_s = res["seconds"]
        notes["mlflow_register"] = res
        sides.append(ml)
        say(
            f"  mlflow log_model + register ({cfg.mlflow_format}): "
            f"{fmt_seconds(res['seconds'])} -> {uri}"
        )

    codes = {side.name: child_code(side.name, side.uri, row, probes) for side in sides}
    cwd = root / "cwd"
    cwd.mkdir()
    # The interpreter alone, once per interpreter (the pickle floor runs in shipyard's).
    bare = {side.name for side in sides if side.name != "shipyard"}
    for side in sides:  # untimed: byte-code and page caches warm on both sides
        cold_load(side, codes[side.name], cwd)
        if side.name in bare:
            bare_start(side, cwd)
    for rep in range(1, cfg.repeat + 1):
        line = []
        for side in sides:
            sample = cold_load(side, codes[side.name], cwd)
            side.samples.append(sample)
            if side.name in bare:
                side.bare_s.append(bare_start(side, cwd))
            line.append(
                f"{side.name} {fmt_seconds(sample['process_s'])} process, "
                f"{fmt_seconds(sample['in_process_s'])} in-process"
            )
        say(f"repeat {rep}/{cfg.repeat}: " + "; ".join(line))
    if cfg.importtime:
        for side in sides[1:]:
            importtime_for(side, codes[side.name], cwd, top=15)

    profile = None
    if not cfg.skip_profile:
        say(f"profiling {cfg.profile_rows:,} rows x 20 columns")
        profile = measure_profile(cfg.profile_rows, cfg.profile_calls)
        say(f"  profile: {fmt_seconds(profile['seconds_median'])}")
    return {"sides": sides, "profile": profile, "notes": notes}


def _met(ok: bool | None, quick: bool) -> str:
    text = "n/a" if ok is None else ("yes" if ok else "no")
    return text + (" (quick)" if quick else "")


def _row(
    workload: str, shipyard: str, mlflow: str, ratio: str = "-", goal: str = "-", met: str = "-"
) -> dict[str, str]:
    return {
        "workload": workload,
        "shipyard": shipyard,
        "mlflow": mlflow,
        "ratio": ratio,
        "goal": goal,
        "met": met,
    }


def build_rows(cfg: Config, result: dict[str, Any]) -> list[dict[str, str]]:
    """The table: medians, ratios, goals; cells already formatted."""
    by_name = {side.name: side for side in result["sides"]}
    ship, ml, floor = by_name.get("shipyard"), by_name.get("mlflow"), by_name["pickle"]

    def med(side: Side | None, key: str) -> float | None:
        return median([s[key] for s in side.samples]) if side is not None else None

    rows: list[dict[str, str]] = []
    timed = [
        ("cold load + predict 1 row: process wall time (a)", "process_s", True),
        ("cold load + predict 1 row: import -> first predict (b)", "in_process_s", True),
        ("  of which: import the library", "import_s", False),
        ("  of which: load_model", "load_s", False),
        ("  of which: first predict, 1 row", "predict_s", False),
        ("(a) also holds: interpreter start, up to the script (c)", "startup_s", False),
        ("(a) also holds: interpreter exit, after the result (c)", "exit_s", False),
    ]
    for label, key, has_goal in timed:
        ours, theirs = med(ship, key), med(ml, key)
        ratio = peer_ratio(theirs, ours)
        goal_cell, met_cell = "-", "-"
        if has_goal:
            goal_cell = f">= {GOAL_RATIO:.0f}x"
            met_cell = _met(None if ratio is None else ratio >= GOAL_RATIO, cfg.quick)
        rows.append(
            _row(
                label, fmt_seconds(ours), fmt_seconds(theirs), fmt_ratio(ratio), goal_cell, met_cell
            )
        )
    floors = [
        ("floor: python -c pass (d)", median(floor.bare_s), median(ml.bare_s) if ml else None),
        ("floor: pickle.load + predict, process wall time (d)", med(floor, "process_s"), None),
        ("floor: pickle.load + predict, import -> predict (d)", med(floor, "in_process_s"), None),
    ]
    for label, ours, theirs in floors:
        rows.append(_row(label, fmt_seconds(ours), fmt_seconds(theirs) if ml else "not run"))
    for label, key in (
        ("registry's own cost: (a) minus the pickle floor (e)", "process_s"),
        ("registry's own cost: (b) minus the pickle floor (e)", "in_process_s"),
    ):
        base = med(floor, key)
        ours, theirs = (
            None if x is None or base is None else x - base for x in (med(ship, key), med(ml, key))
        )
        ratio = peer_ratio(theirs, ours)
        rows.append(_row(label, fmt_seconds(ours), fmt_seconds(theirs), fmt_ratio(ratio)))
    reg = peer_ratio(ml.register_s if ml else None, ship.register_s if ship else None)
    rows.append(
        _row(
            "setup: register the model, once (f)",
            fmt_seconds(ship.register_s if ship else None),
            fmt_seconds(ml.register_s if ml else None),
            fmt_ratio(reg),
        )
    )
    profile = result["profile"]
    if profile is not None:
        from profiles import GOAL_MEMORY_RATIO, GOAL_SECONDS

        memory = profile["memory"]
        nbytes = memory["table_nbytes"]
        shape = f"{profile['rows']:,} x {profile['columns']} ({nbytes / 2**20:.1f} MiB Arrow)"
        seconds = profile["seconds_median"]
        rows.append(
            _row(
                f"profile {shape}: wall time (g)",
                fmt_seconds(seconds),
                "-",
                goal=f"< {GOAL_SECONDS:.0f} s",
                met=_met(seconds < GOAL_SECONDS, cfg.quick),
            )
        )
        for label, key, goal in (
            ("peak RSS above baseline", "rss_peak", True),
            ("Arrow memory pool peak", "arrow_pool_peak", False),
        ):
            ratio = memory[key] / nbytes
            rows.append(
                _row(
                    f"profile: {label} (g)",
                    f"{memory[key] / 2**20:.1f} MiB ({ratio:.2f}x)",
                    "-",
                    goal=f"< {GOAL_MEMORY_RATIO:.0f}x data" if goal else "-",
                    met=_met(ratio < GOAL_MEMORY_RATIO, cfg.quick) if goal else "-",
                )
            )
    return rows


def footnotes(cfg: Config, result: dict[str, Any]) -> list[str]:
    """What each row measures."""
    fmt = cfg.mlflow_format
    saved = "" if fmt == "cloudpickle" else ", every type skops calls untrusted listed as trusted"
    lines = [
        f"(a) a fresh `python -c` process per sample, timed from outside: start, import, "
        f"load models:/{MODEL_NAME}/1, predict one row, exit; median of {cfg.repeat}, after "
        "one untimed warm-up process per side; both sides alternate"
        + (
            f"; every child runs with OMP_NUM_THREADS={cfg.omp_threads}"
            if cfg.omp_threads > 0
            else "; OpenMP threads left at their default"
        ),
        "(b) inside the same process: perf_counter at the top of the script to right after "
        "the first predict (shipyard.load_model vs mlflow.pyfunc.load_model, both .predict)",
        "(c) from the wall clocks of both processes: this script starting the child to the "
        "child's first line, and the child printing its result to this script seeing it end "
        "(mostly the interpreter freeing its modules)",
        "(d) floors, in the shipyard column because they run in shipyard's interpreter: the "
        "interpreter alone (also MLflow's), and the same pipeline from a plain pickle file "
        "(no registry, no store: what scikit-learn, scipy and pandas cost by themselves)",
        "(e) the median of (a) or (b) minus the median of the pickle floor: what the "
        "registry library adds (its imports, store, checks) to unpickling the same model",
        f"(f) for information: shipyard.register_model(model, training_data=, target=) vs "
        f"mlflow.sklearn.log_model(input_example=5 rows, registered_model_name=, "
        f"serialization_format={fmt!r}{saved}); shipyard's store is a fresh "
        "SHIPYARD_HOME, MLflow's a fresh SQLite file",
    ]
    if result["profile"] is not None:
        lines.append(
            f"(g) benchmarks/profiles.py's functions: median of {cfg.profile_calls} "
            "profile(table) calls after a warm-up; memory in a fresh interpreter, against "
            "the table's Arrow size"
        )
    return lines


def sanity(result: dict[str, Any]) -> list[str]:
    """Both sides predict the same on the probe row, with the original's probabilities."""
    lines = []
    expected = result["notes"]["expected_proba"]
    for side in result["sides"]:
        last = side.samples[-1] if side.samples else None
        if last is None:
            continue
        proba = last["proba"]
        if isinstance(proba, str):
            lines.append(f"{side.name}: predict_proba check not run ({proba})")
            continue
        diff = max(
            abs(a - b)
            for r, e in zip(proba, expected, strict=True)
            for a, b in zip(r, e, strict=True)
        )
        lines.append(
            f"{side.name}: prediction {last['prediction']}, predict_proba on 5 rows "
            f"{'matches' if diff < 1e-12 else 'DIFFERS FROM'} the trained pipeline "
            f"(max difference {diff:.1e})"
        )
    return lines


def spread(result: dict[str, Any]) -> list[str]:
    """Every sample, so the noise is visible next to the medians."""
    lines = []
    for side in result["sides"]:
        for key, label in (("process_s", "process"), ("in_process_s", "in-process")):
            values = [s[key] for s in side.samples]
            if values:
                lo, hi = min(values), max(values)
                lines.append(
                    f"{side.name} {label} samples (s): "
                    + ", ".join(f"{v:.3f}" for v in values)
                    + f"  (min-max {(hi - lo) / statistics.median(values) * 100:.0f}% of median)"
                )
    return lines


def render(
    cfg: Config,
    rows: list[dict[str, str]],
    machine: dict[str, Any],
    result: dict[str, Any],
    peer_note: str,
) -> None:
    """Print machine info, the table, the footnotes, the samples and the checks with rich."""
    from rich.table import Table

    console = new_console(width=130)
    flavor = f", sklearn flavor saved with {cfg.mlflow_format}"
    print_header(console, "Registry benchmark", machine, DISTS, flavor, peer_note)
    if "shipyard_missing" in result["notes"]:
        console.print(
            f"[yellow]shipyard side not run:[/yellow] {result['notes']['shipyard_missing']}"
        )
    console.print(
        f"model: {cfg.train_rows:,} training rows, {len(CATEGORICAL)} string + {len(NUMERIC)} "
        f"numeric columns; medians over {cfg.repeat} fresh process(es) per side"
        + ("  [quick sizes]" if cfg.quick else "")
    )
    console.print(results_table(cells(rows)))
    console.print(RATIO_NOTE)
    if cfg.quick:
        console.print(
            "[yellow]quick sizes:[/yellow] fewer samples and a smaller profiled table; this "
            "run only shows that everything works"
        )
    for line in footnotes(cfg, result):
        console.print(line)
    for line in spread(result):
        console.print(line)
    for line in sanity(result):
        console.print(line)
    for side in result["sides"]:
        if not side.importtime:
            continue
        imports = Table(
            title=f"{side.name} child under -X importtime: {side.import_total_ms:,.0f} ms of "
            "imports in all (importtime's own overhead included), costliest packages"
        )
        for header in ("package", "own time", "modules", "first imported by", "entry module"):
            imports.add_column(header, justify="right" if header != "package" else "left")
        for entry in side.importtime:
            imports.add_row(
                entry["package"],
                f"{entry['self_ms']:.0f} ms",
                str(entry["modules"]),
                entry["via"],
                f"{entry['entry_module']} ({entry['entry_cumulative_ms']:.0f} ms)",
            )
        console.print(imports)
    if not machine["mlflow_side"]:
        console.print(f"[yellow]MLflow columns not run:[/yellow] {INSTALL_HINT}")


def cells(rows: list[dict[str, str]]) -> list[list[str]]:
    """The table's cells: workload, shipyard, MLflow, ratio, goal, met."""
    return [[row[key] for key in COLUMNS] for row in rows]


def parse_args(argv: list[str] | None) -> tuple[Config, str | None, Path | None, bool]:
    """Command-line options into a Config, the MLflow interpreter and the JSON path."""
    p = new_parser(__doc__)
    p.add_argument("--repeat", type=int, help="fresh processes per side (7; quick: 2)")
    p.add_argument("--train-rows", type=int, help="rows the pipeline is trained on (5000)")
    p.add_argument("--profile-rows", type=int, help="rows of the profiled table (1000000)")
    p.add_argument("--profile-calls", type=int, help="timed profile calls (5; quick: 3)")
    p.add_argument(
        "--mlflow-format",
        choices=("cloudpickle", "skops"),
        default="cloudpickle",
        help="mlflow.sklearn serialization_format (skops: every untrusted type is trusted)",
    )
    p.add_argument(
        "--importtime",
        action="store_true",
        help="one more child per side under -X importtime: the costliest imports",
    )
    p.add_argument(
        "--omp-threads",
        type=int,
        default=1,
        help="OMP_NUM_THREADS for the children (1; 0 leaves it unset): a one-row predict "
        "gains nothing from threads, and on a busy machine scikit-learn's OpenMP pool can "
        "stall the first predict for a second",
    )
    p.add_argument("--skip-profile", action="store_true", help="leave the profile rows out")
    output_options(p)
    args = p.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    cfg = Config(
        repeat=max(1, args.repeat or sizes["repeat"]),
        train_rows=args.train_rows or sizes["train_rows"],
        profile_rows=args.profile_rows or sizes["profile_rows"],
        profile_calls=max(1, args.profile_calls or sizes["profile_calls"]),
        mlflow_format=args.mlflow_format,
        importtime=args.importtime,
        skip_profile=args.skip_profile,
        quick=args.quick,
        omp_threads=max(0, args.omp_threads),
    )
    return cfg, args.mlflow_python, args.json, args.markdown


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table; return the exit status."""
    cfg, mlflow_python, json_path, as_markdown = parse_args(argv)
    with fresh_dir("shipyard-bench-registry-") as root:
        # Nothing should land in the working directory, even if a default store is touched.
        os.environ["SHIPYARD_HOME"] = str(root / "default-home")
        if not shipyard_importable():
            return 2
        peer, peer_info, peer_note = find_peer(
            mlflow_python, WORKER, INSTALL_HINT, timeout=CHILD_TIMEOUT_S
        )
        if peer is None:
            say(peer_note)
        dists = ("shipyard", *DISTS, "pyarrow", "sqlalchemy")
        machine = machine_info(shipyard_info(dists, mark_dirty=True), peer_info, terse=True)
        result = run_all(cfg, peer, root)
        machine["load_average_end"] = load_average()
    rows = build_rows(cfg, result)
    render(cfg, rows, machine, result, peer_note)
    if as_markdown:
        print()
        print(markdown_table(cells(rows)))
    if json_path is not None:
        payload = {
            "config": asdict(cfg),
            "machine": machine,
            "rows": rows,
            "notes": footnotes(cfg, result),
            "checks": sanity(result),
            "sides": [asdict(side) for side in result["sides"]],
            "profile": result["profile"],
            "setup": result["notes"],
        }
        write_json(json_path, payload)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
