"""Servers of ``benchmarks/serving.py``: how each side is set up, started and stopped.

Each side is a :class:`Server`: the command that starts it (in its own interpreter and
process group), the route and request body it is sent, how its answer is read, and
the readiness probe. Every server listens on 127.0.0.1 on a free port and writes its
output to a log file, whose tail is shown when it fails to start.

- shipyard: ``shipyard serve --host --port --workers`` on a fresh ``SHIPYARD_HOME``
  where the pipeline is registered and an endpoint created; native route
  ``POST /v1/endpoints/NAME/predict`` with ``{"records": [row]}`` (or, as an extra
  side, the MLflow-compatible ``/v1/endpoints/NAME/invocations`` with
  ``dataframe_split``); ready when ``GET /readyz`` answers 200.
- MLflow: ``mlflow models serve -m models:/NAME/1 --env-manager local`` against the
  SQLite backend the registry worker registered the same pickle in; ``POST
  /invocations`` with a one-row ``dataframe_split``; ready on ``GET /ping``.
- BentoML: a service file written here (:func:`bentoml_service_source`) with one
  batchable API, served with ``bentoml serve``; ``POST /predict`` with
  ``{"rows": [row]}``; ready on ``GET /readyz``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ENDPOINT = "flights"
START_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 40.0


@dataclass
class Server:
    """One side's server: how to start it, what to send it, how to read its answers."""

    name: str
    kind: str  # "shipyard", "mlflow" or "bentoml": how answers are decoded
    command: list[str]
    env: dict[str, str]
    cwd: Path
    ready_path: str
    predict_path: str
    bodies: list[str]
    log: Path
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    start_s: float | None = None
    notes: list[str] = field(default_factory=list)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def log_tail(path: Path, lines: int = 25) -> str:
    """The last lines of a server's log."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.strip().splitlines()[-lines:])


def http_get(port: int, path: str, timeout: float = 2.0) -> int:
    """Status of ``GET http://127.0.0.1:PORT/PATH``; 0 when nothing answered."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
            status: int = r.status
            return status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (OSError, ValueError):
        return 0


def start(server: Server) -> None:
    """Start the server in its own process group; return once it is ready.

    Raises:
        RuntimeError: it exited, or was not ready within ``START_TIMEOUT_S``; the message
            holds the tail of its log.
    """
    server.port = free_port()
    command = [part.replace("{port}", str(server.port)) for part in server.command]
    begin = time.perf_counter()
    with server.log.open("ab") as log:
        log.write(f"\n$ {' '.join(command)}\n".encode())
        log.flush()
        server.proc = subprocess.Popen(
            command,
            cwd=server.cwd,
            env=server.env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, stopped as one
        )
    deadline = begin + START_TIMEOUT_S
    while time.perf_counter() < deadline:
        code = server.proc.poll()
        if code is not None:
            raise RuntimeError(
                f"{server.name} exited with {code} before it was ready:\n{log_tail(server.log)}"
            )
        if http_get(server.port, server.ready_path) == 200:
            server.start_s = time.perf_counter() - begin
            return
        time.sleep(0.2)
    stop(server)
    raise RuntimeError(
        f"{server.name} was not ready within {START_TIMEOUT_S:.0f} s:\n{log_tail(server.log)}"
    )


def stop(server: Server) -> int | None:
    """SIGTERM to the server's process group (a graceful stop), SIGKILL if it lingers.

    Returns the exit status of the server's main process (None if it was not running).
    """
    proc = server.proc
    if proc is None:
        return None
    server.proc = None
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        code = proc.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        code = proc.wait()
    # Children that outlived the main process (workers) go with the group.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    return code


def decode_label(kind: str, body: str) -> Any:
    """The one predicted label in a side's answer to a one-row request."""
    data = json.loads(body)
    if kind == "bentoml":
        return data[0]
    return data["predictions"][0]


# --------------------------------------------------------------------------- request bodies


def native_bodies(rows: list[dict[str, Any]]) -> list[str]:
    """shipyard's native route: ``{"records": [row]}``."""
    return [json.dumps({"records": [row]}) for row in rows]


def split_bodies(rows: list[dict[str, Any]]) -> list[str]:
    """MLflow scoring: a one-row ``dataframe_split``."""
    return [
        json.dumps({"dataframe_split": {"columns": list(row), "data": [list(row.values())]}})
        for row in rows
    ]


def bentoml_bodies(rows: list[dict[str, Any]]) -> list[str]:
    """The BentoML service's one parameter, a list of rows: ``{"rows": [row]}``."""
    return [json.dumps({"rows": [row]}) for row in rows]


# --------------------------------------------------------------------------- the sides


def shipyard_server(
    name: str,
    home: Path,
    root: Path,
    rows: list[dict[str, Any]],
    *,
    workers: int,
    env: dict[str, str],
    log_predictions: bool = True,
    route: str = "predict",
) -> Server:
    """``shipyard serve`` over ``home``; the native route, or ``invocations``."""
    import sys

    exe = Path(sys.executable).with_name("shipyard")
    if not exe.exists():
        raise RuntimeError(f"no shipyard command next to {sys.executable}; pip install -e .")
    command = [str(exe), "serve", "--host", "127.0.0.1", "--port", "{port}"]
    command += ["--workers", str(workers), "--log-level", "warning"]
    if not log_predictions:
        command.append("--no-log-predictions")
    bodies = native_bodies(rows) if route == "predict" else split_bodies(rows)
    return Server(
        name=name,
        kind="shipyard",
        command=command,
        env={**env, "SHIPYARD_HOME": str(home)},
        cwd=root,
        ready_path="/readyz",
        predict_path=f"/v1/endpoints/{ENDPOINT}/{route}",
        bodies=bodies,
        log=root / f"{name.replace(' ', '-').replace('/', '')}.log",
    )


def mlflow_server(
    python: str,
    tracking_uri: str,
    root: Path,
    rows: list[dict[str, Any]],
    *,
    workers: int,
    env: dict[str, str],
) -> Server:
    """``mlflow models serve`` of ``models:/flights/1`` from the peer's SQLite backend."""
    bin_dir = Path(python).parent  # the venv's bin/, not the resolved interpreter's
    command = [python, "-m", "mlflow", "models", "serve", "-m", f"models:/{ENDPOINT}/1"]
    command += ["--env-manager", "local", "-h", "127.0.0.1", "-p", "{port}"]
    command += ["-w", str(workers)]
    path = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"  # it starts uvicorn by name
    return Server(
        name="MLflow",
        kind="mlflow",
        command=command,
        env={**env, "MLFLOW_TRACKING_URI": tracking_uri, "PATH": path},
        cwd=root,
        ready_path="/ping",
        predict_path="/invocations",
        bodies=split_bodies(rows),
        log=root / "mlflow.log",
    )


BENTOML_TEMPLATE = '''\
"""BentoML service written by shipyard's benchmarks/serving.py: one batchable API."""

import os
import pickle

import bentoml
import pandas as pd
from pydantic import BaseModel


class Flight(BaseModel):
{fields}


@bentoml.service(workers={workers})
class Flights:
    def __init__(self) -> None:
        with open(os.environ["SHIPYARD_BENCH_MODEL_PICKLE"], "rb") as f:
            self.model = pickle.load(f)

    @bentoml.api(batchable=True, max_batch_size={max_batch_size}, max_latency_ms={max_latency_ms})
    def predict(self, rows: list[Flight]) -> list[{label_type}]:
        frame = pd.DataFrame.from_records([row.model_dump() for row in rows])
        return self.model.predict(frame).tolist()
'''


def bentoml_service_source(
    columns: dict[str, str],
    *,
    workers: int,
    max_batch_size: int,
    max_latency_ms: float,
    label_type: str = "int",
) -> str:
    """The service file: a pydantic row type with the frame's columns, one batchable API.

    ``columns`` maps each input column to its Python type name (``str``, ``int``,
    ``float``). The API takes a list of rows, which BentoML's dispatcher concatenates
    across concurrent requests (a ``pd.DataFrame`` parameter would be the obvious type,
    but BentoML 1.4.39 computes a DataFrame's batch size as its shape tuple and the
    batched call never runs: every request ends in a 504 after 60 s).
    """
    fields = "\n".join(f"    {name}: {kind}" for name, kind in columns.items())
    return BENTOML_TEMPLATE.format(
        fields=fields,
        workers=workers,
        max_batch_size=max_batch_size,
        max_latency_ms=max_latency_ms,
        label_type=label_type,
    )


def bentoml_server(
    python: str,
    model_pickle: Path,
    service_source: str,
    root: Path,
    rows: list[dict[str, Any]],
    *,
    env: dict[str, str],
) -> Server:
    """``bentoml serve`` of the generated service file, in a folder of its own."""
    folder = root / "bentoml-service"
    folder.mkdir(exist_ok=True)
    (folder / "flights_service.py").write_text(service_source, encoding="utf-8")
    bin_dir = Path(python).parent
    command = [python, "-m", "bentoml", "serve", "flights_service:Flights"]
    command += ["--working-dir", str(folder), "--host", "127.0.0.1", "--port", "{port}"]
    extra = {
        "SHIPYARD_BENCH_MODEL_PICKLE": str(model_pickle),
        "BENTOML_DO_NOT_TRACK": "True",
        "BENTOML_HOME": str(root / "bentoml-home"),
        "PATH": f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
    }
    return Server(
        name="BentoML",
        kind="bentoml",
        command=command,
        env={**env, **extra},
        cwd=folder,
        ready_path="/readyz",
        predict_path="/predict",
        bodies=bentoml_bodies(rows),
        log=root / "bentoml.log",
    )


BENTOML_INFO = """\
import json, platform
from importlib import metadata
out = {"python": platform.python_version()}
for dist in ("bentoml", "scikit-learn", "pandas", "numpy", "pydantic"):
    try:
        out[dist] = metadata.version(dist)
    except metadata.PackageNotFoundError:
        out[dist] = "not installed"
import bentoml  # noqa: F401  (fails here, not later, when it cannot import)
print(json.dumps(out))
"""


def bentoml_info(python: str | None, env: dict[str, str]) -> tuple[dict[str, str], str]:
    """Versions in the BentoML interpreter, or why it cannot be used."""
    if not python:
        return {}, "no BentoML interpreter given"
    try:
        done = subprocess.run(
            [python, "-c", BENTOML_INFO],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return {}, f"BentoML not usable with {python} ({exc})"
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["exit status " + str(done.returncode)])[-1]
        return {}, f"BentoML not usable with {python} ({last})"
    info: dict[str, str] = json.loads(done.stdout.strip().splitlines()[-1])
    return info, ""
