"""Drift benchmark: shipyard's drift detection against Evidently 0.7's DataDriftPreset.

What it measures, on the same Parquet files for both sides:

1. A reference of 1,000,000 rows x 20 columns against a current window of 1,000,000
   rows. 15 numeric columns (normal, lognormal, uniform, exponential, gamma, beta,
   Student t, Poisson and negative binomial counts, integers, a 0/1 flag, one with 1%
   NaN) and 5 string columns of 5 to 200 categories with Zipf-like frequencies (one
   with 1% nulls); the current window is shifted in 7 of the 20 columns (``SHIFTED``),
   one of them by 20 new categories. Built with numpy (seed 0) and written once to
   Parquet in a cache folder.

   - Evidently: ``pandas.read_parquet`` of both files, then
     ``Report([DataDriftPreset()]).run(reference_data=ref, current_data=cur)``.
   - shipyard: ``pyarrow.parquet.read_table`` of both files, ``profile()`` of each,
     ``column_drift`` for every column and ``dataset_drift``
     (``shipyard.core.drift``).

   Each side runs in its own fresh process per repeat, so its peak RSS
   (``ru_maxrss``: interpreter, libraries and data included) is its own. Imports and one
   untimed warm-up on the first 10,000 rows come first (enough for the same code paths
   as the full data, so the warm-up imports nothing the measured run would not); then
   the load of the two files
   and the detection are timed apart. The goals (from the issue): detection >= 10x
   faster than Evidently, and peak RSS <= 1/3 of Evidently's. One more shipyard process
   per repeat reads, profiles and drops one table before reading the next (monitoring
   keeps only the reference's profile), for its peak RSS.
2. A current window of 10,000,000 rows streamed from Parquet files laid out as the
   prediction log (``prediction-log/endpoint=bench/date=YYYY-MM-DD/part-*.parquet``, 5
   days, 2 files a day), against a registered model whose reference profile comes from
   the 1M-row reference: ``shipyard.monitor("bench", since=, until=, every="1d")`` in a
   fresh process, which computes and stores every window's drift, data quality and
   operations. ``--stream-path direct`` times only the drift part instead, by hand: per
   day, a ``pyarrow.dataset`` scanner over that date's files as a record batch reader
   into ``profile()``, then the drift of every input and of the prediction against the
   version's reference profiles. Goals: under 30 s and under 2 GB of peak RSS.
   shipyard only.

The table shows medians over ``--repeat`` repeats (3), sides in alternating order; the
ratios are Evidently's time over shipyard's (higher: shipyard faster) and shipyard's
peak RSS over Evidently's (lower: shipyard lighter). Both sides' sets of drifted
columns are printed, with the set the data was built to have.

Run it from shipyard's environment, with Evidently in its own virtual environment
(Evidently 0.7 does not import with pandas 3)::

    python3 -m venv .venv-evidently
    .venv-evidently/bin/pip install "evidently==0.7.*" "pandas<3" pyarrow
    python benchmarks/drift.py                      # finds .venv-evidently/bin/python
    python benchmarks/drift.py --evidently-python PATH --markdown --json results.json
    python benchmarks/drift.py --quick --repeat 1   # CI smoke run (20k rows, 200k streamed)

Options: ``--repeat 3 --rows 1000000 --stream-rows 10000000 --seed 0 --data-dir PATH
--stream-path monitor|direct --skip-stream --skip-peer --require-peer --quick
--json PATH --markdown``. The interpreter can also come from
``SHIPYARD_BENCH_EVIDENTLY_PYTHON``; without a usable one the shipyard side runs alone
(``--require-peer`` makes that an error). Data files are cached under the system's
temporary folder (``--data-dir`` to choose). Results: ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

# Run as a file, this script's folder is first on sys.path, so the shared module imports.
# Module level stays standard library only: Evidently's interpreter runs this file too.
from _common import (
    clean_env,
    fmt_ratio,
    fresh_dir,
    load_average,
    median,
    new_console,
    say,
    shipyard_importable,
    shipyard_info,
    versions,
    write_json,
)

EVIDENTLY_PYTHON_ENV = "SHIPYARD_BENCH_EVIDENTLY_PYTHON"
REPO = Path(__file__).resolve().parent.parent
DEFAULT_PEER = REPO / ".venv-evidently" / "bin" / "python"
INSTALL_HINT = (
    "to compare with Evidently: python3 -m venv .venv-evidently && .venv-evidently/bin/pip "
    'install "evidently==0.7.*" "pandas<3" pyarrow, then rerun (or pass --evidently-python PATH)'
)
DISTS = ("numpy", "pyarrow", "pandas", "scipy")

# The data. Bump DATA_VERSION whenever what the generators write changes (cache key).
DATA_VERSION = 1
NUMERIC = tuple(f"n{i}" for i in range(15))
CATEGORIES = {"c0": 5, "c1": 20, "c2": 50, "c3": 100, "c4": 200}
FEATURES = (*NUMERIC, *CATEGORIES)
SHIFTED = ("n0", "n2", "n6", "n11", "n14", "c1", "c4")
NEW_CATEGORIES = 20
# Enough rows that the warm-up takes the code paths of the full run: shipyard's KS p-value
# comes from scipy.stats' exact distribution only up to 2,000 effective rows, and
# Evidently switches tests at 1,000 reference rows.
WARMUP_ROWS = 10_000
STREAM_DAYS = 5
STREAM_FIRST_DAY = "2026-01-05"
ROWS_PER_LOG_FILE = 1_000_000
ENDPOINT = "bench"

GOAL_RATIO = 10.0
GOAL_MEMORY_SHARE = 1 / 3
GOAL_STREAM_S = 30.0
GOAL_STREAM_BYTES = 2e9  # 2 GB, decimal: 1,907 MiB
MIB = 2**20

FULL = {"rows": 1_000_000, "stream_rows": 10_000_000, "repeat": 3}
QUICK = {"rows": 20_000, "stream_rows": 200_000, "repeat": 1}


@dataclass(frozen=True)
class Config:
    """Sizes and choices of one benchmark invocation."""

    repeat: int
    rows: int
    stream_rows: int
    seed: int
    data_dir: str
    stream_path: str
    skip_stream: bool
    quick: bool


# --------------------------------------------------------------------------- the data


def feature_columns(rows: int, seed: int, *, shifted: bool) -> dict[str, Any]:
    """The 20 feature columns as Arrow arrays; ``shifted`` moves the ``SHIFTED`` ones."""
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(seed)
    s = shifted
    with_nan = rng.normal(10.0, 3.0, rows)
    with_nan[rng.random(rows) < 0.01] = np.nan
    numeric = {
        "n0": rng.normal(0.5 if s else 0.0, 1.0, rows),
        "n1": with_nan,
        "n2": rng.lognormal(0.4 if s else 0.0, 1.0, rows),
        "n3": rng.lognormal(2.0, 0.5, rows),
        "n4": rng.uniform(0.0, 100.0, rows),
        "n5": rng.exponential(2.0, rows),
        "n6": rng.poisson(4.0 if s else 3.0, rows),
        "n7": rng.poisson(20.0, rows),
        "n8": rng.integers(0, 1000, rows),
        "n9": rng.gamma(2.0, 2.0, rows),
        "n10": rng.normal(100.0, 15.0, rows).round(1),
        "n11": rng.beta(3.0 if s else 2.0, 5.0, rows),
        "n12": rng.standard_t(5, rows),
        "n13": rng.negative_binomial(5, 0.5, rows),
        "n14": (rng.random(rows) < (0.5 if s else 0.3)).astype(np.int64),
    }
    columns: dict[str, Any] = {name: pa.array(values) for name, values in numeric.items()}
    for name, k in CATEGORIES.items():
        weights = 1.0 / np.arange(1, k + 1) ** 1.1
        if s and name == "c1":
            weights = weights[::-1]  # the rare values become the common ones
        codes = rng.choice(k, size=rows, p=weights / weights.sum()).astype(np.int32)
        labels = [f"{name}_{j:03d}" for j in range(k)]
        if s and name == "c4":  # a quarter of the rows take values the reference never had
            new = rng.random(rows) < 0.25
            codes[new] = k + rng.integers(0, NEW_CATEGORIES, int(new.sum()))
            labels += [f"{name}_new_{j:02d}" for j in range(NEW_CATEGORIES)]
        mask = rng.random(rows) < 0.01 if name == "c2" else None
        indices = pa.array(codes, mask=mask)
        columns[name] = pa.DictionaryArray.from_arrays(indices, labels).dictionary_decode()
    return columns


def predict_values(n0: Any, n4: Any) -> Any:
    """The benchmark model's prediction from its two inputs (also used for the log)."""
    import numpy as np

    return np.asarray(n0, dtype=np.float64) + 0.01 * np.asarray(n4, dtype=np.float64)


class LinearModel:
    """The registered model: any object with ``predict`` is a pyfunc model."""

    def predict(self, data: Any) -> Any:
        """A float per row from two columns of the DataFrame."""
        return predict_values(data["n0"].to_numpy(), data["n4"].to_numpy())


def _done(folder: Path) -> bool:
    return (folder / ".complete").exists()


def comparison_files(cfg: Config) -> tuple[Path, Path]:
    """The reference and current Parquet files, written once per size and seed."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = Path(cfg.data_dir) / f"frames-v{DATA_VERSION}-seed{cfg.seed}-rows{cfg.rows}"
    ref, cur = folder / "reference.parquet", folder / "current.parquet"
    if not _done(folder):
        say(f"writing {cfg.rows:,}-row reference and current files to {folder}")
        folder.mkdir(parents=True, exist_ok=True)
        for path, seed, shifted in ((ref, cfg.seed, False), (cur, cfg.seed + 1, True)):
            table = pa.table(feature_columns(cfg.rows, seed, shifted=shifted))
            pq.write_table(table, path, compression="zstd")
        (folder / ".complete").write_text("")
    return ref, cur


def stream_days(first: str = STREAM_FIRST_DAY, days: int = STREAM_DAYS) -> list[str]:
    """The dates of the streamed window, ``YYYY-MM-DD``."""
    from datetime import date, timedelta

    start = date.fromisoformat(first)
    return [(start + timedelta(days=i)).isoformat() for i in range(days)]


def log_table(rows: int, seed: int, day: str, first_id: int) -> Any:
    """Prediction log rows for one file: fixed columns, ``input.*``, ``output.prediction``."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    features = feature_columns(rows, seed, shifted=True)
    rng = np.random.default_rng(seed + 1_000_000)
    start = np.datetime64(day, "us").astype(np.int64)
    ts = start + np.sort(rng.integers(0, 86_400_000_000, rows))
    columns: dict[str, Any] = {
        "prediction_id": pc.cast(pa.array(np.arange(first_id, first_id + rows)), pa.string()),
        "endpoint": pa.repeat(pa.scalar(ENDPOINT, pa.string()), rows),
        "model": pa.repeat(pa.scalar(ENDPOINT, pa.string()), rows),
        "version": pa.repeat(pa.scalar(1, pa.int32()), rows),
        "role": pa.repeat(pa.scalar("primary", pa.string()), rows),
        "ts": pa.array(ts, pa.timestamp("us", tz="UTC")),
        "latency_ms": pa.array(rng.lognormal(1.0, 0.5, rows)),
        "status": pa.array(np.full(rows, 200, np.int16)),
        "error": pa.nulls(rows, pa.string()),
    }
    columns.update({f"input.{name}": values for name, values in features.items()})
    prediction = predict_values(features["n0"].to_numpy(), features["n4"].to_numpy())
    columns["output.prediction"] = pa.array(prediction)
    return pa.table(columns)


def stream_log(cfg: Config) -> Path:
    """The folder holding ``prediction-log/``: ``stream_rows`` rows over ``STREAM_DAYS`` days."""
    import pyarrow.parquet as pq

    folder = Path(cfg.data_dir) / (
        f"log-v{DATA_VERSION}-seed{cfg.seed}-rows{cfg.stream_rows}-days{STREAM_DAYS}"
    )
    if _done(folder):
        return folder
    say(f"writing a {cfg.stream_rows:,}-row prediction log to {folder}")
    per_day = cfg.stream_rows // STREAM_DAYS
    files = max(1, -(-per_day // ROWS_PER_LOG_FILE))
    next_id = 0
    for d, day in enumerate(stream_days()):
        part = folder / "prediction-log" / f"endpoint={ENDPOINT}" / f"date={day}"
        part.mkdir(parents=True, exist_ok=True)
        day_rows = per_day + (cfg.stream_rows - per_day * STREAM_DAYS if d == 0 else 0)
        for f in range(files):
            rows = day_rows // files + (day_rows % files if f == 0 else 0)
            table = log_table(rows, cfg.seed + 100 + d * files + f, day, next_id)
            pq.write_table(table, part / f"part-{f:05d}.parquet", compression="zstd")
            next_id += rows
    (folder / ".complete").write_text("")
    return folder


# --------------------------------------------------------------------------- worker side


def _rss_bytes() -> int | None:
    """This process's resident set size now, from /proc (None elsewhere)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _peak_rss_bytes() -> int:
    """This process's peak resident set size so far (``ru_maxrss``)."""
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def _timed(call: Callable[[], Any]) -> tuple[float, float, Any]:
    """Wall and CPU seconds of one call, and its result."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = call()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def _head(path: str, rows: int) -> Any:
    """The first ``rows`` rows of a Parquet file as an Arrow table (for warm-ups)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    return pa.Table.from_batches([next(pq.ParquetFile(path).iter_batches(batch_size=rows))])


def task_info(config: dict[str, Any]) -> dict[str, Any]:
    """Versions in this interpreter (the peer check)."""
    import evidently  # noqa: F401  (fails here when the interpreter has no Evidently)

    return {"python": platform.python_version(), **versions(("evidently", *DISTS))}


def _evidently_columns(snapshot: Any) -> dict[str, dict[str, Any]]:
    """Per-column method, score, threshold and verdict from a DataDriftPreset snapshot."""
    columns: dict[str, dict[str, Any]] = {}
    for metric in snapshot.dict()["metrics"]:
        config = metric.get("config", {})
        if not str(config.get("type", "")).endswith("ValueDrift"):
            continue
        method, score, threshold = config["method"], metric["value"], config["threshold"]
        # Evidently's tests: a p-value drifts below the threshold, a distance at or above.
        drifted = score < threshold if "p_value" in method else score >= threshold
        columns[config["column"]] = {
            "method": method,
            "score": score,
            "threshold": threshold,
            "drifted": bool(drifted),
        }
    return columns


def task_evidently(config: dict[str, Any]) -> dict[str, Any]:
    """Evidently's side of one repeat: read both files with pandas, run DataDriftPreset."""
    import pandas as pd
    from evidently import Report
    from evidently.presets import DataDriftPreset

    ref_path, cur_path = config["reference"], config["current"]
    warm_ref, warm_cur = (_head(p, WARMUP_ROWS).to_pandas() for p in (ref_path, cur_path))
    Report([DataDriftPreset()]).run(reference_data=warm_ref, current_data=warm_cur)
    del warm_ref, warm_cur
    baseline = _rss_bytes()
    load_s, load_cpu, (ref, cur) = _timed(
        lambda: (pd.read_parquet(ref_path), pd.read_parquet(cur_path))
    )
    run_s, run_cpu, snapshot = _timed(
        lambda: Report([DataDriftPreset()]).run(reference_data=ref, current_data=cur)
    )
    columns = _evidently_columns(snapshot)
    return {
        "load_s": load_s,
        "detect_s": run_s,
        "total_s": load_s + run_s,
        "cpu_s": load_cpu + run_cpu,
        "baseline_rss": baseline,
        "peak_rss": _peak_rss_bytes(),
        "columns": columns,
        "drifted": _in_order(name for name, col in columns.items() if col["drifted"]),
    }


def _in_order(names: Iterable[str]) -> list[str]:
    """Column names in the data's order (the features first, then the rest sorted)."""
    rank = {name: i for i, name in enumerate(FEATURES)}
    return sorted(names, key=lambda name: (rank.get(name, len(rank)), name))


def _detect(drift: Any, reference: Any, current: Any) -> dict[str, Any]:
    """``column_drift`` for every reference column, then ``dataset_drift``."""
    results = []
    for name, ref_column in reference.columns.items():
        cur_column = current.columns.get(name)
        if cur_column is not None:
            found = drift.column_drift(name, ref_column, cur_column)
            if found is not None:
                results.append(found)
    share, drifted = drift.dataset_drift(results)
    return {"results": results, "share": share, "dataset_drifted": drifted}


def _column_summary(results: list[Any]) -> dict[str, dict[str, Any]]:
    return {
        r.column: {
            "method": r.method,
            "score": r.score,
            "threshold": r.threshold,
            "drifted": bool(r.drifted),
        }
        for r in results
    }


def task_shipyard(config: dict[str, Any]) -> dict[str, Any]:
    """shipyard's side of one repeat: read both files as Arrow, profile both, test drift.

    With ``one_at_a_time`` each table is dropped once profiled, before the next is read.
    """
    import pyarrow.parquet as pq

    from shipyard.core import drift
    from shipyard.core.profiles import profile

    paths = (config["reference"], config["current"])
    _detect(drift, *(profile(_head(path, WARMUP_ROWS)) for path in paths))  # warm-up
    baseline = _rss_bytes()
    loads: list[tuple[float, float]] = []  # (wall, cpu) of the reads
    profiled: list[tuple[float, float, Any]] = []  # (wall, cpu, profile) per table
    if config.get("one_at_a_time"):
        for path in paths:
            wall, used, table = _timed(lambda path=path: pq.read_table(path))
            loads.append((wall, used))
            profiled.append(_timed(lambda table=table: profile(table)))
            del table  # before the next file is read
    else:
        wall, used, tables = _timed(lambda: [pq.read_table(path) for path in paths])
        loads.append((wall, used))
        profiled = [_timed(lambda table=table: profile(table)) for table in tables]
    drift_s, drift_cpu, detected = _timed(lambda: _detect(drift, *(p for *_, p in profiled)))
    load_s, profile_s = sum(w for w, _ in loads), sum(w for w, _, _ in profiled)
    cpu_s = sum(c for _, c in loads) + sum(c for _, c, _ in profiled) + drift_cpu
    columns = _column_summary(detected["results"])
    return {
        "load_s": load_s,
        "profile_reference_s": profiled[0][0],
        "profile_current_s": profiled[1][0],
        "drift_s": drift_s,
        "detect_s": profile_s + drift_s,
        "total_s": load_s + profile_s + drift_s,
        "cpu_s": cpu_s,
        "baseline_rss": baseline,
        "peak_rss": _peak_rss_bytes(),
        "columns": columns,
        "drifted": _in_order(name for name, col in columns.items() if col["drifted"]),
        "share": detected["share"],
    }


def _window_bounds(days: list[str]) -> list[tuple[Any, Any]]:
    from datetime import UTC, datetime, timedelta

    starts = [datetime.fromisoformat(day).replace(tzinfo=UTC) for day in days]
    return [(start, start + timedelta(days=1)) for start in starts]


def _stream_direct(store: Any, root: Path, days: list[str]) -> dict[str, Any]:
    """What ``monitor`` does for drift, by hand: a reader per day into ``profile()``."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    import shipyard
    from shipyard.core import drift
    from shipyard.core.profiles import Profile, profile

    reference = shipyard.load_model(f"models:/{ENDPOINT}/1", store=store).reference_profiles()
    inputs, outputs = reference["inputs"], reference["outputs"]
    wanted = [f"input.{name}" for name in inputs.columns] + ["output.prediction"]
    log = root / "prediction-log" / f"endpoint={ENDPOINT}"
    windows = []
    for day, (start, end) in zip(days, _window_bounds(days), strict=True):
        files = sorted(str(p) for p in (log / f"date={day}").glob("part-*.parquet"))
        kind = pa.timestamp("us", tz="UTC")
        keep = (
            (pc.field("ts") >= pa.scalar(start, kind))
            & (pc.field("ts") < pa.scalar(end, kind))
            & (pc.field("status") == 200)
            & pc.field("role").isin(["primary", "canary"])
        )
        scanner = ds.dataset(files, format="parquet").scanner(columns=wanted, filter=keep)
        window = profile(scanner.to_reader())
        renamed = Profile(
            num_rows=window.num_rows,
            columns={
                name.removeprefix("input."): col
                for name, col in window.columns.items()
                if name.startswith("input.")
            },
        )
        found = _detect(drift, inputs, renamed)
        prediction = drift.column_drift(
            "output.prediction", outputs.columns["prediction"], window.columns["output.prediction"]
        )
        summary = {
            "rows": window.num_rows,
            "share": found["share"],
            "drifted": _in_order(r.column for r in found["results"] if r.drifted),
            "prediction_drifted": None if prediction is None else bool(prediction.drifted),
        }
        windows.append(summary)
    return {"windows": windows}


def _monitor_summary(result: Any) -> dict[str, Any]:
    """Rows and drifted columns per window of a ``MonitorResult``."""
    windows = []
    for window in result.windows:
        found = window.results.get("drift") or {}
        columns = found.get("columns") or {}
        prediction = (found.get("prediction") or {}).get("output.prediction") or {}
        windows.append(
            {
                "rows": window.rows,
                "share": found.get("share"),
                "drifted": _in_order(n for n, col in columns.items() if col.get("drifted")),
                "prediction_drifted": prediction.get("drifted"),
            }
        )
    return {"windows": windows, "warnings": list(result.warnings)}


def task_stream(config: dict[str, Any]) -> dict[str, Any]:
    """The streamed window in a fresh process: ``shipyard.monitor`` or the direct path."""
    import duckdb  # noqa: F401  (imports are not the work being timed)
    import numpy  # noqa: F401
    import pyarrow.dataset  # noqa: F401
    import scipy.stats  # noqa: F401

    import shipyard

    store = shipyard.Store.from_settings(shipyard.Settings(home=Path(config["home"])))
    days = config["days"]
    since, until = _window_bounds(days)[0][0], _window_bounds(days)[-1][1]
    baseline = _rss_bytes()
    if config["path"] == "monitor":
        # The end-to-end path: windows, drift, quality and operations from the log.
        wall, cpu, result = _timed(
            lambda: shipyard.monitor(ENDPOINT, since=since, until=until, every="1d", store=store)
        )
        summary = _monitor_summary(result)
    else:
        wall, cpu, summary = _timed(lambda: _stream_direct(store, Path(config["log"]), days))
    return {
        "seconds": wall,
        "cpu_s": cpu,
        "baseline_rss": baseline,
        "peak_rss": _peak_rss_bytes(),
        "path": config["path"],
        **summary,
    }


TASKS = {
    "info": task_info,
    "evidently": task_evidently,
    "shipyard": task_shipyard,
    "stream": task_stream,
}


def worker(config_json: str) -> int:
    """Run one task given as JSON; print its result as the last line of stdout."""
    config: dict[str, Any] = json.loads(config_json)
    out, sys.stdout = sys.stdout, sys.stderr  # libraries' prints stay off the result
    result = TASKS[config["task"]](config)
    out.write(json.dumps(result, default=str) + "\n")
    out.flush()
    return 0


# --------------------------------------------------------------------------- driver side


def run_child(python: str, config: dict[str, Any], timeout: float = 3600) -> dict[str, Any]:
    """One task in a fresh ``python`` process; its JSON result."""
    done = subprocess.run(
        [python, str(Path(__file__).resolve()), "--worker", json.dumps(config)],
        capture_output=True,
        text=True,
        env=clean_env(),  # DO_NOT_TRACK=1: Evidently's telemetry switch
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])
        raise RuntimeError(f"{config['task']} worker failed (exit {done.returncode}):\n{tail}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def find_evidently(python: str | None) -> tuple[str | None, dict[str, str], str]:
    """The Evidently interpreter if it imports evidently, its versions, and why not."""
    if not python:
        return None, {}, f"no Evidently interpreter found; {INSTALL_HINT}"
    try:
        info = run_child(python, {"task": "info"}, timeout=300)
    except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
        text = str(exc).strip()
        first = text.splitlines()[-1] if text else type(exc).__name__
        return None, {}, f"Evidently not usable with {python} ({first}); {INSTALL_HINT}"
    return python, {k: str(v) for k, v in info.items()}, ""


def prepare_stream_home(template: Path, reference: Path, log_root: Path) -> None:
    """A store with model ``bench`` v1 (reference profile from the reference file),
    endpoint ``bench`` on it, and the cached log linked in as its prediction log."""
    import pyarrow.parquet as pq

    import shipyard

    store = shipyard.Store.from_settings(shipyard.Settings(home=template))
    table = pq.read_table(reference)
    shipyard.register_model(
        LinearModel(), ENDPOINT, training_data=table, log_training_data=False, store=store
    )
    shipyard.create_endpoint(ENDPOINT, f"{ENDPOINT}/1", store=store)
    artifacts = Path(store.settings.resolved_artifact_url())
    artifacts.mkdir(parents=True, exist_ok=True)
    (artifacts / "prediction-log").symlink_to(log_root / "prediction-log")
    for name in ("close", "dispose"):
        method = getattr(store, name, None)
        if callable(method):
            method()
            break


def run_all(cfg: Config, peer: str | None) -> dict[str, Any]:
    """All repeats: the 1M comparison on both sides, then the streamed window."""
    raw: dict[str, Any] = {"shipyard": [], "evidently": [], "shipyard_each": [], "stream": []}
    ref, cur = comparison_files(cfg)
    files = {"reference": str(ref), "current": str(cur)}
    sides = [("shipyard", sys.executable)] + ([("evidently", peer)] if peer else [])
    sides.append(("shipyard_each", sys.executable))
    log_root = None if cfg.skip_stream else stream_log(cfg)
    with fresh_dir("shipyard-bench-drift-") as tmp:
        template = tmp / "template"
        if log_root is not None:
            say("registering the reference model for the streamed window (setup, untimed)")
            prepare_stream_home(template, ref, log_root)
        for rep in range(cfg.repeat):
            say(f"repeat {rep + 1}/{cfg.repeat}")
            for side, python in sides[rep % 2 :] + sides[: rep % 2]:
                task = {"task": "evidently"} if side == "evidently" else {"task": "shipyard"}
                res = run_child(python, {**task, **files, "one_at_a_time": side.endswith("each")})
                raw[side].append(res)
                say(
                    f"  {side}: load {res['load_s']:.2f} s, detect {res['detect_s']:.2f} s, "
                    f"peak RSS {res['peak_rss'] / MIB:,.0f} MiB"
                )
            if log_root is not None:
                home = tmp / f"home-{rep}"
                shutil.copytree(template, home, symlinks=True)
                res = run_child(
                    sys.executable,
                    {
                        "task": "stream",
                        "home": str(home),
                        "log": str(log_root),
                        "days": stream_days(),
                        "path": cfg.stream_path,
                    },
                )
                raw["stream"].append(res)
                say(
                    f"  stream ({res['path']}): {res['seconds']:.2f} s, "
                    f"peak RSS {res['peak_rss'] / MIB:,.0f} MiB"
                )
                shutil.rmtree(home, ignore_errors=True)
    return raw


# --------------------------------------------------------------------------- report


def fmt_seconds(seconds: float | None) -> str:
    """A duration for the table: ms or s."""
    if seconds is None:
        return "not run"
    return f"{seconds * 1e3:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def fmt_mib(value: float | None) -> str:
    """Bytes as MiB for the table."""
    return "not run" if value is None else f"{value / MIB:,.0f} MiB"


def _met(ok: bool | None, quick: bool) -> str:
    text = "n/a" if ok is None else ("yes" if ok else "no")
    return f"{text} (quick)" if quick and ok is not None else text


def _med(samples: list[dict[str, Any]], key: str) -> float | None:
    return median([s[key] for s in samples if s.get(key) is not None])


def _part(label: str, ours: float | None, theirs: float | None = None) -> list[str]:
    """A row without a goal: the parts of a measurement."""
    return [label, fmt_seconds(ours), "-" if theirs is None else fmt_seconds(theirs), "-", "-", "-"]


def build_rows(cfg: Config, raw: dict[str, Any]) -> list[list[str]]:
    """The table: workload, shipyard, Evidently, ratio, goal, met (cells formatted)."""
    ship, evid, stream = raw["shipyard"], raw["evidently"], raw["stream"]
    size = f"{cfg.rows:,} vs {cfg.rows:,} rows x {len(FEATURES)}"
    ours, theirs = _med(ship, "detect_s"), _med(evid, "detect_s")
    ratio = None if ours is None or theirs is None or ours <= 0 else theirs / ours
    ours_all, theirs_all = _med(ship, "total_s"), _med(evid, "total_s")
    ratio_all = None if ours_all is None or theirs_all is None else theirs_all / ours_all
    ours_mem, theirs_mem = _med(ship, "peak_rss"), _med(evid, "peak_rss")
    share = None if ours_mem is None or theirs_mem is None else ours_mem / theirs_mem
    each_mem = _med(raw["shipyard_each"], "peak_rss")
    each_share = None if each_mem is None or theirs_mem is None else each_mem / theirs_mem
    rows = [
        [
            f"{size}: drift detection (a)",
            fmt_seconds(ours),
            fmt_seconds(theirs),
            fmt_ratio(ratio),
            f">= {GOAL_RATIO:.0f}x",
            _met(None if ratio is None else ratio >= GOAL_RATIO, cfg.quick),
        ],
        [
            f"{size}: Parquet load + detection",
            fmt_seconds(ours_all),
            fmt_seconds(theirs_all),
            fmt_ratio(ratio_all),
            "-",
            "-",
        ],
        [
            f"{size}: peak RSS of the process (b)",
            fmt_mib(ours_mem),
            fmt_mib(theirs_mem),
            "-" if share is None else f"{share:.3f}x",
            "<= 1/3",
            _met(None if share is None else share <= GOAL_MEMORY_SHARE, cfg.quick),
        ],
        [
            f"{size}: peak RSS, shipyard one table at a time (c)",
            fmt_mib(each_mem),
            fmt_mib(theirs_mem),
            "-" if each_share is None else f"{each_share:.3f}x",
            "-",
            "-",
        ],
        _part("of which: Parquet load", _med(ship, "load_s"), _med(evid, "load_s")),
        _part("of which: profile the reference", _med(ship, "profile_reference_s")),
        _part("of which: profile the current window", _med(ship, "profile_current_s")),
        _part(f"of which: drift tests, {len(FEATURES)} columns", _med(ship, "drift_s")),
        _part("CPU time, load + detection", _med(ship, "cpu_s"), _med(evid, "cpu_s")),
    ]
    if stream:
        seconds, peak = _med(stream, "seconds"), _med(stream, "peak_rss")
        label = f"streamed {cfg.stream_rows:,}-row window, {stream[-1]['path']} (d)"
        rows += [
            [
                f"{label}: time",
                fmt_seconds(seconds),
                "-",
                "-",
                f"< {GOAL_STREAM_S:.0f} s",
                _met(None if seconds is None else seconds < GOAL_STREAM_S, cfg.quick),
            ],
            [
                f"{label}: peak RSS",
                fmt_mib(peak),
                "-",
                "-",
                "< 2 GB",
                _met(None if peak is None else peak < GOAL_STREAM_BYTES, cfg.quick),
            ],
        ]
    return rows


def notes(cfg: Config, raw: dict[str, Any]) -> list[str]:
    """Footnotes: what each measured row holds."""
    lines = [
        "(a) shipyard: profile() of both Arrow tables + column_drift per column + "
        "dataset_drift; Evidently: Report([DataDriftPreset()]).run(...); each in a fresh "
        f"process after an untimed warm-up on {WARMUP_ROWS:,} rows; ratio = Evidently / "
        "shipyard",
        "(b) ru_maxrss of each side's process: interpreter, libraries and both tables; "
        "ratio = shipyard / Evidently; RSS after imports and warm-up, before the load: "
        + ", ".join(
            f"{side} {fmt_mib(_med(raw[key], 'baseline_rss'))}"
            for side, key in (("shipyard", "shipyard"), ("Evidently", "evidently"))
            if raw[key]
        ),
    ]
    lines.append(
        "(c) the same, but shipyard reads, profiles and drops the reference before reading "
        "the current window (monitoring keeps only the reference's profile); no goal"
    )
    if raw["stream"]:
        path = raw["stream"][-1]["path"]
        what = (
            'shipyard.monitor("bench", since, until, every="1d")'
            if path == "monitor"
            else "per day: pyarrow.dataset scanner -> profile(reader) -> column_drift of "
            "each input and the prediction (the direct path: shipyard.monitor not there)"
        )
        lines.append(
            f"(d) {STREAM_DAYS} daily windows of the prediction log, {what}; a fresh process, "
            "imports untimed; peak RSS = its ru_maxrss"
        )
    return lines


def checks(raw: dict[str, Any]) -> list[str]:
    """Which columns each side called drifted, against what the data was built with."""
    ours = raw["shipyard"][-1]
    lines = [
        f"built shifted ({len(SHIFTED)} of {len(FEATURES)}): {', '.join(SHIFTED)}",
        f"shipyard drifted ({len(ours['drifted'])}): {', '.join(ours['drifted']) or '-'}",
    ]
    if raw["evidently"]:
        theirs = raw["evidently"][-1]
        lines.append(
            f"Evidently drifted ({len(theirs['drifted'])}): {', '.join(theirs['drifted']) or '-'}"
        )
        pairs = list(zip(raw["shipyard"], raw["evidently"], strict=False))
        lines.append(
            "per repeat: detection ratio "
            + ", ".join(f"{e['detect_s'] / s['detect_s']:.0f}x" for s, e in pairs)
            + "; peak RSS ratio "
            + ", ".join(f"{s['peak_rss'] / e['peak_rss']:.3f}x" for s, e in pairs)
        )
        only_ours = _in_order(set(ours["drifted"]) - set(theirs["drifted"]))
        only_theirs = _in_order(set(theirs["drifted"]) - set(ours["drifted"]))
        lines.append(
            f"same drifted set: {'yes' if not only_ours and not only_theirs else 'NO'}"
            + (f"; only shipyard: {', '.join(only_ours)}" if only_ours else "")
            + (f"; only Evidently: {', '.join(only_theirs)}" if only_theirs else "")
        )
        for side, result in (("shipyard", ours), ("Evidently", theirs)):
            by_method: dict[str, list[str]] = {}
            for name, col in result["columns"].items():
                by_method.setdefault(col["method"], []).append(name)
            lines.append(
                f"{side}'s methods: "
                + "; ".join(f"{m} ({', '.join(_in_order(n))})" for m, n in by_method.items())
            )
    windows = raw["stream"][-1]["windows"] if raw["stream"] else []
    groups: dict[str, int] = {}
    for window in windows:  # windows that read alike print as one line
        drifted = window.get("drifted")
        text = (
            f"{window.get('rows') or 0:,} rows, drifted "
            + ("not computed" if drifted is None else ", ".join(drifted) or "-")
            + f", prediction drifted: {window.get('prediction_drifted')}"
        )
        groups[text] = groups.get(text, 0) + 1
    lines += [f"streamed windows: {n} x {text}" for text, n in groups.items()]
    for warning in raw["stream"][-1].get("warnings", []) if raw["stream"] else []:
        lines.append(f"monitor warning: {warning}")
    return lines


def markdown(rows: list[list[str]]) -> str:
    """The table as Markdown, for docs/benchmarks.md."""
    lines = [
        "| workload | shipyard | Evidently | ratio | goal | met |",
        "|---|---:|---:|---:|---|---|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def render(
    cfg: Config, rows: list[list[str]], machine: dict[str, Any], raw: dict[str, Any]
) -> None:
    """Print the machine, versions, the table, footnotes and the agreement checks."""
    from rich.table import Table

    console = new_console(width=150)
    ship, peer = machine["shipyard_side"], machine["evidently_side"]
    console.print(
        f"[bold]Drift benchmark[/bold] {machine['date']}  {machine['cpu_count']} cores, "
        f"{machine['platform']}, load average {machine['load_average_start']} at start, "
        f"{machine['load_average_end']} at end"
    )
    console.print(
        f"shipyard {ship.get('shipyard')}"
        + (f" at {ship['revision']}" if "revision" in ship else "")
        + " ("
        + ", ".join(f"{d} {ship.get(d)}" for d in ("python", *DISTS))
        + ")"
    )
    if peer:
        console.print(
            f"evidently {peer.get('evidently')} ("
            + ", ".join(f"{d} {peer.get(d)}" for d in ("python", *DISTS))
            + ")"
        )
    else:
        console.print(f"evidently: not run ({machine['peer_note']})")
    console.print(f"medians over {cfg.repeat} repeat(s)" + ("  [quick sizes]" if cfg.quick else ""))
    table = Table()
    table.add_column("workload")
    for header in ("shipyard", "Evidently", "ratio", "goal"):
        table.add_column(header, justify="right", no_wrap=True)
    table.add_column("met", justify="center", no_wrap=True)
    for row in rows:
        table.add_row(*row)
    console.print(table)
    if cfg.quick:
        console.print(
            "[yellow]quick sizes:[/yellow] the goals are set for the full sizes; this run "
            "only shows that everything works"
        )
    for line in notes(cfg, raw) + checks(raw):
        console.print(line, highlight=False)


def parse_args(argv: list[str] | None) -> tuple[Config, argparse.Namespace]:
    """The command line; see the module docstring."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument(
        "--evidently-python",
        default=os.environ.get(EVIDENTLY_PYTHON_ENV)
        or (str(DEFAULT_PEER) if DEFAULT_PEER.exists() else None),
        help=f"python of a venv with evidently 0.7 (default: ${EVIDENTLY_PYTHON_ENV}, "
        "else .venv-evidently/bin/python when it exists)",
    )
    p.add_argument("--require-peer", action="store_true", help="fail without Evidently")
    p.add_argument("--skip-peer", action="store_true", help="run the shipyard side only")
    p.add_argument("--repeat", "--repeats", type=int, help="repeats per side (3; quick: 1)")
    p.add_argument("--rows", type=int, help="rows of the reference and of the current (1M)")
    p.add_argument("--stream-rows", type=int, help="rows of the streamed window (10M)")
    p.add_argument("--seed", type=int, default=0, help="seed of the generated data")
    p.add_argument(
        "--data-dir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "shipyard-bench-drift",
        help="where the generated Parquet files are cached",
    )
    p.add_argument(
        "--stream-path",
        choices=("monitor", "direct"),
        default="monitor",
        help="the streamed window through shipyard.monitor (all of monitoring), or "
        "direct: only reading, profiling and drift, by hand",
    )
    p.add_argument("--skip-stream", action="store_true", help="leave out the streamed window")
    p.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
    p.add_argument("--json", type=Path, help="also write the results to this JSON file")
    p.add_argument("--markdown", action="store_true", help="also print the table as Markdown")
    args = p.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    cfg = Config(
        repeat=max(1, args.repeat or sizes["repeat"]),
        rows=args.rows or sizes["rows"],
        stream_rows=args.stream_rows or sizes["stream_rows"],
        seed=args.seed,
        data_dir=str(args.data_dir.resolve()),
        stream_path=args.stream_path,
        skip_stream=args.skip_stream,
        quick=args.quick,
    )
    if cfg.rows < WARMUP_ROWS or cfg.stream_rows < STREAM_DAYS:
        p.error(f"--rows must be at least {WARMUP_ROWS:,} and --stream-rows at least {STREAM_DAYS}")
    return cfg, args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table; return the exit status."""
    args_list = sys.argv[1:] if argv is None else argv
    if args_list[:1] == ["--worker"]:
        return worker(args_list[1])
    cfg, args = parse_args(args_list)
    if not shipyard_importable():
        return 2
    peer, peer_info, peer_note = (None, {}, "--skip-peer")
    if not args.skip_peer:
        peer, peer_info, peer_note = find_evidently(args.evidently_python)
    if peer is None and not args.skip_peer:
        if args.require_peer:
            say(f"error: {peer_note}")
            return 2
        say(peer_note)
    machine: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d", time.gmtime()),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(terse=True),
        "shipyard_side": shipyard_info(("shipyard", *DISTS, "duckdb"), mark_dirty=True),
        "evidently_side": peer_info,
        "peer_note": peer_note,
        "load_average_start": load_average(),
    }
    with fresh_dir("shipyard-bench-home-") as default_home:
        # Nothing should land in the working directory, even if a default store is touched.
        os.environ["SHIPYARD_HOME"] = str(default_home)
        raw = run_all(cfg, peer)
    machine["load_average_end"] = load_average()
    rows = build_rows(cfg, raw)
    render(cfg, rows, machine, raw)
    if args.markdown:
        print()
        print(markdown(rows))
    if args.json is not None:
        payload = {
            "config": asdict(cfg),
            "machine": machine,
            "rows": rows,
            "notes": notes(cfg, raw),
            "checks": checks(raw),
            "raw": raw,
        }
        write_json(args.json, payload)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
