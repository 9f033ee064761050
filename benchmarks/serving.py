"""Serving benchmark: ``shipyard serve`` against ``mlflow models serve`` and BentoML 1.4.

What it measures, side by side in one run, on loopback, with the same model on the same
cores:

1. **The servers.** The flight-delay pipeline of ``benchmarks/registry.py`` (one-hot +
   ``HistGradientBoostingClassifier``, trained here) is served three ways:

   - shipyard: registered with ``shipyard.register_model`` in a fresh ``SHIPYARD_HOME``,
     an endpoint created with ``shipyard.create_endpoint("flights", "flights/1")``
     (batching at the settings' defaults: 64 rows, 5 ms), then
     ``shipyard serve --host 127.0.0.1 --port P --workers W``; the native route
     ``POST /v1/endpoints/flights/predict`` with ``{"records": [row]}``. It runs twice:
     with the prediction log (the default) and with ``--no-log-predictions``.
   - MLflow: the same pickle logged with ``mlflow.sklearn.log_model`` in a fresh SQLite
     backend (``_registry_worker.py``), then ``mlflow models serve -m models:/flights/1
     --env-manager local -w W``; ``POST /invocations`` with a one-row ``dataframe_split``.
   - BentoML: a service file generated here with one API,
     ``@bentoml.api(batchable=True, max_batch_size=64, max_latency_ms=1000)``, that
     unpickles the same file; ``bentoml serve`` with ``workers=W``; ``POST /predict``.

   Every server gets ``OMP_NUM_THREADS=1`` (``--omp-threads``) and telemetry off.
2. **The load.** ``_serving_load.py``, a separate process in shipyard's interpreter
   (standard library asyncio with uvloop, keep-alive HTTP/1.1, bodies encoded up front),
   keeps a fixed number of single-row requests in flight (concurrency 1 and 64) over
   512 rows not seen in training: ``--warmup-s`` untimed, then ``--duration-s``
   measured. Reported: requests per second, p50 and p99 latency, errors (any answer but
   200, or a failed connection), and the server's CPU time per request (its process
   tree, from ``/proc``). The generator is not pinned: on 2 cores it competes with the
   server, and its own CPU share is printed.
3. **Checks.** The first answer for each of the first 32 rows is decoded on every side
   and compared with the in-process ``model.predict`` of the same rows (so all sides
   agree with each other too); after shipyard's graceful stop, its prediction log must
   hold one row per answered request.
4. **The ceiling.** In-process ``model.predict`` on 64-row batches of the same rows, in
   rows/s, with the servers' OpenMP setting; shipyard's throughput at concurrency 64 is
   reported as a share of it.

Each server is started fresh per repeat, sides in rotating order; the table shows
medians over repeats. Ratios: for throughput shipyard / peer, for latency peer /
shipyard, so above 1x means shipyard is better either way.

Run it from shipyard's environment, with each peer in its own (see docs/benchmarks.md)::

    python benchmarks/serving.py --mlflow-python .venv-mlflow/bin/python \\
        --bentoml-python .venv-bentoml/bin/python --markdown
    python benchmarks/serving.py --quick --repeat 1    # CI smoke run: shipyard only

Options: ``--repeat 3 --warmup-s 3 --duration-s 10 --concurrency 1,64 --workers 1
--omp-threads 1 --train-rows 5000 --rows 512 --sample 32 --bentoml-max-latency-ms 1000
--skip-log-off --invocations --json PATH --markdown``; ``--quick`` is 1 repeat of 0.5 s
warm-up + 2 s per concurrency, 2,000 training rows. A peer whose interpreter is not
given (or cannot import it) is skipped with a note.
"""

from __future__ import annotations

import json
import os
import pickle
import platform
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

# Run as a file, this script's folder is first on sys.path, so the shared modules import.
from _common import (
    MLFLOW_PYTHON_ENV,
    Peer,
    clean_env,
    close_store,
    find_peer,
    fresh_dir,
    load_average,
    new_parser,
    open_store,
    output_options,
    say,
    shipyard_importable,
    shipyard_info,
    write_json,
)
from _serving_results import (
    BATCH,
    BENTOML,
    HEADERS,
    MLFLOW,
    PEERS,
    SHIP,
    SHIP_INV,
    SHIP_OFF,
    Config,
    Side,
    build_rows,
    checks,
    fmt_time,
    footnotes,
    markdown,
    render,
)
from _serving_servers import (
    ENDPOINT,
    Server,
    bentoml_info,
    bentoml_server,
    bentoml_service_source,
    decode_label,
    log_tail,
    mlflow_server,
    shipyard_server,
    start,
    stop,
)
from registry import flight_frame, records, shipyard_register, train_pipeline

HERE = Path(__file__).resolve().parent
LOAD = HERE / "_serving_load.py"
REGISTRY_WORKER = HERE / "_registry_worker.py"
BENTOML_PYTHON_ENV = "SHIPYARD_BENCH_BENTOML_PYTHON"
SKLEARN = "scikit-learn==$(.venv/bin/python -c 'import sklearn; print(sklearn.__version__)')"
MLFLOW_HINT = (
    f'python -m venv .venv-mlflow && .venv-mlflow/bin/pip install mlflow pandas "{SKLEARN}"'
    f", then pass --mlflow-python .venv-mlflow/bin/python (or set {MLFLOW_PYTHON_ENV})"
)
BENTOML_HINT = (
    "python -m venv .venv-bentoml && .venv-bentoml/bin/pip install "
    f'"bentoml>=1.4,<1.5" pandas "{SKLEARN}", then pass --bentoml-python '
    f".venv-bentoml/bin/python (or set {BENTOML_PYTHON_ENV})"
)
DISTS = ("scikit-learn", "pandas", "numpy")
FULL = {"repeat": 3, "warmup_s": 3.0, "duration_s": 10.0, "train_rows": 5_000, "ceiling_s": 3.0}
QUICK = {"repeat": 1, "warmup_s": 0.5, "duration_s": 2.0, "train_rows": 2_000, "ceiling_s": 1.0}


# --------------------------------------------------------------------------- measuring


def measure_ceiling(model: Any, frame: Any, seconds: float, threads: int) -> dict[str, Any]:
    """In-process ``model.predict``: rows/s on 64-row batches, and on single rows."""
    import contextlib

    from threadpoolctl import threadpool_limits

    batches = [frame.iloc[i : i + BATCH] for i in range(0, len(frame) - BATCH + 1, BATCH)]
    singles = [frame.iloc[i : i + 1] for i in range(min(len(frame), 256))]

    def rate(parts: list[Any], budget: float) -> float:
        for part in parts[:3]:  # warm-up
            model.predict(part)
        done, begin = 0, time.perf_counter()
        while time.perf_counter() - begin < budget:
            for part in parts:
                model.predict(part)
                done += len(part)
        return done / (time.perf_counter() - begin)

    result: dict[str, Any] = {"batch": BATCH, "omp_threads": threads}
    limit = (
        threadpool_limits(limits=threads, user_api="openmp")
        if threads > 0
        else contextlib.nullcontext()
    )
    with limit:
        result["batch_rows_per_s"] = rate(batches, seconds)
        result["single_rows_per_s"] = rate(singles, seconds / 2)
    result["batch_rows_per_s_default_threads"] = rate(batches, seconds / 2)
    return result


def run_load(server: Server, bodies_file: Path, concurrency: int, cfg: Config) -> dict[str, Any]:
    """One generator process against a running server; its JSON result."""
    assert server.proc is not None
    config = {
        "host": "127.0.0.1",
        "port": server.port,
        "path": server.predict_path,
        "bodies_file": str(bodies_file),
        "concurrency": concurrency,
        "warmup_s": cfg.warmup_s,
        "duration_s": cfg.duration_s,
        "sample": cfg.sample,
        "server_pid": server.proc.pid,
    }
    done = subprocess.run(
        [sys.executable, str(LOAD), json.dumps(config)],
        capture_output=True,
        text=True,
        timeout=cfg.warmup_s + cfg.duration_s + 120,
        check=False,
    )
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])
        raise RuntimeError(f"load generator failed (exit {done.returncode}):\n{tail}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def check_samples(
    side: Side, kind: str, result: dict[str, Any], expected: list[Any], concurrency: int
) -> None:
    """Decode the sampled answers and compare them with the in-process predictions."""
    for key, body in result.pop("samples").items():
        index = int(key)
        side.checked += 1
        try:
            label = decode_label(kind, body)
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            side.mismatches.append(f"c={concurrency} row {index}: unreadable answer ({exc})")
            continue
        if str(label) != str(expected[index]):
            side.mismatches.append(
                f"c={concurrency} row {index}: got {label!r}, expected {expected[index]!r}"
            )


def run_side(server: Server, side: Side, cfg: Config, expected: list[Any], root: Path) -> None:
    """Start the server, drive it at every concurrency, stop it gracefully."""
    bodies_file = root / f"bodies-{server.log.stem}.json"
    if not bodies_file.exists():
        bodies_file.write_text(json.dumps(server.bodies), encoding="utf-8")
    try:
        start(server)
    except RuntimeError as exc:
        side.failures.append(str(exc))
        say(f"  {side.name}: {exc}")
        return
    assert server.start_s is not None
    side.start_s.append(server.start_s)
    say(f"  {side.name:<22} ready in {server.start_s:.1f} s")
    try:
        for concurrency in cfg.concurrency:
            result = run_load(server, bodies_file, concurrency, cfg)
            check_samples(side, server.kind, result, expected, concurrency)
            side.answered += result["answered_total"]
            side.runs.setdefault(concurrency, []).append(result)
            say(
                f"  {side.name:<22} c={concurrency:<3} {result['rps']:8,.0f} req/s  "
                f"p50 {fmt_time(result['p50_s'])}  p99 {fmt_time(result['p99_s'])}  "
                f"errors {result['errors']}"
                + (f" {result['statuses']} {result['error_bodies']}" if result["errors"] else "")
            )
    finally:
        code = stop(server)
        if code not in (0, None, -15):
            say(f"  {side.name}: exit status {code} after SIGTERM\n{log_tail(server.log, 8)}")


# --------------------------------------------------------------------------- setup


def column_types(frame: Any) -> dict[str, str]:
    """Each column's Python type name, for the BentoML row model."""
    import pandas as pd

    out = {}
    for name, dtype in frame.dtypes.items():
        if pd.api.types.is_integer_dtype(dtype):
            out[str(name)] = "int"
        elif pd.api.types.is_float_dtype(dtype):
            out[str(name)] = "float"
        else:
            out[str(name)] = "str"
    return out


def shipyard_setup(home: Path, model: Any, frame: Any, target: Any) -> dict[str, Any]:
    """Register the pipeline in a fresh home and create the endpoint on version 1."""
    import shipyard

    uri, seconds = shipyard_register(home, model, frame, target)
    store = open_store(home)
    try:
        endpoint = shipyard.create_endpoint(ENDPOINT, f"{ENDPOINT}/1", store=store)
    finally:
        close_store(store)
    return {
        "uri": uri,
        "register_s": seconds,
        "max_batch_size": endpoint.max_batch_size,
        "max_latency_ms": endpoint.max_latency_ms,
    }


def log_rows(home: Path) -> int | None:
    """Rows in the endpoint's prediction log (None when it cannot be read)."""
    import shipyard

    store = open_store(home)
    try:
        return len(shipyard.prediction_log(ENDPOINT, store=store))
    except Exception as exc:  # reported, not fatal: the table is still worth printing
        say(f"  prediction log not readable: {type(exc).__name__}: {exc}")
        return None
    finally:
        close_store(store)


def build_servers(
    cfg: Config,
    root: Path,
    rows: list[dict[str, Any]],
    model_pickle: Path,
    frame: Any,
    home: Path,
    mlflow: tuple[Peer | None, dict[str, Any] | None],
    bentoml_python: str | None,
) -> list[Server]:
    """Every side to run, shipyard's first."""
    env = clean_env(omp_threads=cfg.omp_threads)
    ship = [shipyard_server(SHIP, home, root, rows, workers=cfg.workers, env=env)]
    if cfg.log_off:
        ship.append(
            shipyard_server(
                SHIP_OFF, home, root, rows, workers=cfg.workers, env=env, log_predictions=False
            )
        )
    if cfg.invocations:
        ship.append(
            shipyard_server(
                SHIP_INV, home, root, rows, workers=cfg.workers, env=env, route="invocations"
            )
        )
    peer, registered = mlflow
    if peer is not None and registered is not None:
        ship.append(
            mlflow_server(
                peer.python, registered["tracking_uri"], root, rows, workers=cfg.workers, env=env
            )
        )
    if bentoml_python:
        source = bentoml_service_source(
            column_types(frame),
            workers=cfg.workers,
            max_batch_size=BATCH,
            max_latency_ms=cfg.bentoml_max_latency_ms,
        )
        ship.append(bentoml_server(bentoml_python, model_pickle, source, root, rows, env=env))
    return ship


def run_all(
    cfg: Config,
    root: Path,
    mlflow_peer: Peer | None,
    bentoml_python: str | None,
) -> dict[str, Any]:
    """Train, set every side up, measure the ceiling, then run the sides in turn."""
    say(f"training the pipeline on {cfg.train_rows:,} rows")
    frame, target = flight_frame(cfg.train_rows)
    model = train_pipeline(frame, target, cfg.omp_threads)
    probe_frame, _ = flight_frame(cfg.rows, seed=1)
    rows = records(probe_frame)
    expected = [x.item() if hasattr(x, "item") else x for x in model.predict(probe_frame)]
    model_pickle = root / "pipeline.pkl"
    model_pickle.write_bytes(pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL))

    say(f"ceiling: in-process model.predict on {BATCH}-row batches")
    ceiling = measure_ceiling(model, probe_frame, cfg.ceiling_s, cfg.omp_threads)
    say(f"  {ceiling['batch_rows_per_s']:,.0f} rows/s")

    home = root / "shipyard-home"
    setup: dict[str, Any] = {"shipyard": shipyard_setup(home, model, frame, target)}
    say(f"  shipyard: registered {setup['shipyard']['uri']}, endpoint {ENDPOINT!r}")
    registered = None
    if mlflow_peer is not None:
        registered = mlflow_peer.call(
            {
                "task": "register",
                "home": str(root / "mlflow-home"),
                "model": str(model_pickle),
                "example": records(frame.head(5)),
                "name": ENDPOINT,
                "format": "cloudpickle",
            }
        )
        setup["mlflow"] = registered
        say(f"  mlflow: logged and registered models:/{ENDPOINT}/1")

    servers = build_servers(
        cfg, root, rows, model_pickle, frame, home, (mlflow_peer, registered), bentoml_python
    )
    sides = {server.name: Side(server.name) for server in servers}
    for rep in range(cfg.repeat):
        shift = rep % len(servers)
        say(f"repeat {rep + 1}/{cfg.repeat}")
        for server in servers[shift:] + servers[:shift]:
            run_side(server, sides[server.name], cfg, expected, root)
    logged = log_rows(home) if sides[SHIP].runs else None
    return {
        "sides": sides,
        "ceiling": ceiling,
        "setup": setup,
        "log_rows": logged,
        "expected_sample": expected[: cfg.sample],
    }


# --------------------------------------------------------------------------- command line


def parse_args(argv: list[str] | None) -> tuple[Config, Any]:
    """Command-line options into a Config; the parsed namespace for the rest."""
    p = new_parser(__doc__)
    p.add_argument(
        "--bentoml-python",
        default=os.environ.get(BENTOML_PYTHON_ENV),
        help=f"python of a venv with bentoml 1.4 (default: ${BENTOML_PYTHON_ENV})",
    )
    p.add_argument("--repeat", type=int, help="fresh servers per side (3; quick: 1)")
    p.add_argument("--warmup-s", type=float, help="untimed load per concurrency (3; quick 0.5)")
    p.add_argument("--duration-s", type=float, help="measured load per concurrency (10; quick 2)")
    p.add_argument("--concurrency", default="1,64", help="requests in flight (1,64)")
    p.add_argument("--workers", type=int, default=1, help="server worker processes (1)")
    p.add_argument(
        "--omp-threads",
        type=int,
        default=1,
        help="OMP_NUM_THREADS for every server and the ceiling (1; 0 leaves it unset)",
    )
    p.add_argument("--train-rows", type=int, help="rows the pipeline is trained on (5000)")
    p.add_argument("--rows", type=int, default=512, help="distinct request rows (512)")
    p.add_argument("--sample", type=int, default=32, help="rows whose answers are checked (32)")
    p.add_argument(
        "--bentoml-max-latency-ms",
        type=float,
        default=1000.0,
        help="BentoML's batching latency budget; requests it expects to miss it get 503 (1000)",
    )
    p.add_argument("--skip-log-off", action="store_true", help="no run with the log off")
    p.add_argument(
        "--invocations",
        action="store_true",
        help="also run shipyard's MLflow-compatible route with MLflow's request body",
    )
    output_options(p)
    args = p.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    cfg = Config(
        repeat=max(1, args.repeat or int(sizes["repeat"])),
        warmup_s=args.warmup_s if args.warmup_s is not None else sizes["warmup_s"],
        duration_s=args.duration_s or sizes["duration_s"],
        concurrency=tuple(int(x) for x in args.concurrency.split(",") if x.strip()),
        workers=max(1, args.workers),
        omp_threads=max(0, args.omp_threads),
        train_rows=args.train_rows or int(sizes["train_rows"]),
        rows=max(BATCH, args.rows),
        sample=max(0, min(args.sample, args.rows)),
        ceiling_s=sizes["ceiling_s"],
        bentoml_max_latency_ms=args.bentoml_max_latency_ms,
        log_off=not args.skip_log_off,
        invocations=args.invocations,
        quick=args.quick,
    )
    return cfg, args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table; 1 when a shipyard check failed."""
    cfg, args = parse_args(argv)
    with fresh_dir("shipyard-bench-serving-") as root:
        os.environ["SHIPYARD_HOME"] = str(root / "default-home")
        if not shipyard_importable():
            return 2
        notes: dict[str, str] = {}
        peer, mlflow_side, notes[MLFLOW] = find_peer(
            args.mlflow_python, REGISTRY_WORKER, MLFLOW_HINT, timeout=300
        )
        bento_side, bento_note = bentoml_info(args.bentoml_python, clean_env())
        notes[BENTOML] = f"{bento_note}; {BENTOML_HINT}" if bento_note else ""
        for name in PEERS:
            if notes[name]:
                say(f"{name} skipped: {notes[name]}")
        dists = ("shipyard", *DISTS, "uvicorn", "uvloop")
        machine: dict[str, Any] = {
            "date": time.strftime("%Y-%m-%d"),
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(terse=True),
            "load_average_start": load_average(),
            "sides": {
                "shipyard": shipyard_info(dists, mark_dirty=True),
                MLFLOW: mlflow_side,
                BENTOML: bento_side,
            },
            "notes": notes,
        }
        ours = machine["sides"]["shipyard"].get("scikit-learn")
        for name, info in ((MLFLOW, mlflow_side), (BENTOML, bento_side)):
            if info and info.get("scikit-learn") != ours:
                say(
                    f"warning: {name} has scikit-learn {info.get('scikit-learn')}, shipyard "
                    f"{ours}: the same pickle may not load or predict the same"
                )
        result = run_all(cfg, root, peer, args.bentoml_python if bento_side else None)
        machine["load_average_end"] = load_average()
    rows = build_rows(cfg, result)
    check_lines, ok = checks(cfg, result)
    render(cfg, rows, machine, result, check_lines)
    if args.markdown:
        print()
        print(markdown(rows))
    if args.json is not None:
        payload = {
            "config": asdict(cfg),
            "machine": machine,
            "headers": HEADERS,
            "rows": rows,
            "notes": footnotes(cfg, result),
            "checks": check_lines,
            "ceiling": result["ceiling"],
            "setup": result["setup"],
            "sides": {name: asdict(side) for name, side in result["sides"].items()},
        }
        write_json(args.json, payload)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
