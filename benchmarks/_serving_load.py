"""Load generator of ``benchmarks/serving.py``: one process, fixed concurrency, HTTP/1.1.

Not meant to be run by hand: ``serving.py`` starts it with shipyard's interpreter as::

    python _serving_load.py '{"host": "127.0.0.1", "port": 8000, "path": "/predict", ...}'

It uses only the standard library (plus ``uvloop`` when it imports, as it does in
shipyard's environment), so it adds no dependency. Each of ``concurrency`` connections
is kept alive and sends one request at a time, as soon as the previous answer is in:
closed-loop load, so the offered rate is what the server can answer. The request bodies
are encoded up front (one per row, used in turn), so the generator does no JSON work;
answers are parsed only for their status line and length, except the first answer for
each of the first ``sample`` rows, whose body is kept for the correctness check.

Timeline: ``warmup_s`` of untimed load, then ``duration_s`` measured. A request counts
when its answer arrives inside the measured window; throughput is that count over the
window, latencies are those requests' send-to-answer times. The generator's own CPU time
in the window is reported, and so is the server's (its process and all descendants, from
``/proc``) when ``server_pid`` is given: on a small machine both share the cores.

The result is one JSON object on stdout.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, cast

TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


class HttpError(Exception):
    """The server broke the HTTP exchange (closed the connection, sent garbage)."""


class Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection with at most one request in flight."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[tuple[int, bytes, bool]] | None = None
        self.closed = False
        self._status = 0
        self._length: int | None = None  # body bytes still expected; None: in the headers
        self._chunked = False
        self._close = False
        self._body = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(HttpError(f"connection closed ({exc or 'by the server'})"))

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        try:
            self._parse()
        except (ValueError, IndexError) as exc:
            if self.waiter is not None and not self.waiter.done():
                self.waiter.set_exception(HttpError(f"bad response: {exc}"))

    def _parse(self) -> None:
        while True:
            if self._length is None and not self._chunked:
                end = self.buffer.find(b"\r\n\r\n")
                if end < 0:
                    return
                head = bytes(self.buffer[:end]).lower()
                del self.buffer[: end + 4]
                self._status = int(head[9:12])
                self._close = b"\r\nconnection: close" in head
                self._body = bytearray()
                if b"\r\ntransfer-encoding: chunked" in head:
                    self._chunked = True
                    continue
                start = head.find(b"\r\ncontent-length:")
                if start < 0:
                    raise ValueError("no content-length and not chunked")
                stop = head.find(b"\r\n", start + 2)
                self._length = int(head[start + 17 : stop if stop > 0 else None])
            if self._chunked:
                end = self.buffer.find(b"\r\n")
                if end < 0:
                    return
                size = int(bytes(self.buffer[:end]).split(b";")[0], 16)
                if len(self.buffer) < end + 2 + size + 2:
                    return
                self._body += self.buffer[end + 2 : end + 2 + size]
                del self.buffer[: end + 2 + size + 2]
                if size == 0:
                    self._chunked = False
                    self._finish(bytes(self._body))
                continue
            assert self._length is not None
            if len(self.buffer) < self._length:
                return
            body = bytes(self.buffer[: self._length])
            del self.buffer[: self._length]
            self._length = None
            self._finish(body)

    def _finish(self, body: bytes) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result((self._status, body, self._close))

    async def request(self, payload: bytes) -> tuple[int, bytes, bool]:
        """Send one request; its status, body and whether the server closes afterwards."""
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(payload)
        return await self.waiter

    def close(self) -> None:
        """Close the socket."""
        if self.transport is not None:
            self.transport.close()


def encode_requests(config: dict[str, Any]) -> list[bytes]:
    """The full HTTP request for each body, encoded once."""
    bodies: list[str] = json.loads(Path(config["bodies_file"]).read_text(encoding="utf-8"))
    host = f"{config['host']}:{config['port']}"
    out = []
    for body in bodies:
        raw = body.encode()
        head = (
            f"POST {config['path']} HTTP/1.1\r\nHost: {host}\r\n"
            f"Content-Type: {config.get('content_type', 'application/json')}\r\n"
            f"Content-Length: {len(raw)}\r\n\r\n"
        )
        out.append(head.encode() + raw)
    return out


def tree_cpu_seconds(root: int) -> float | None:
    """User + system CPU seconds of a process and all its live descendants (Linux)."""
    try:
        children: dict[int, list[int]] = {}
        cpu: dict[int, float] = {}
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                text = Path(entry.path, "stat").read_text()
            except OSError:
                continue
            fields = text[text.rfind(")") + 2 :].split()
            pid = int(entry.name)
            children.setdefault(int(fields[1]), []).append(pid)
            cpu[pid] = (int(fields[11]) + int(fields[12])) / TICKS
    except OSError:
        return None
    if root not in cpu:
        return None
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        total += cpu.get(pid, 0.0)
        todo.extend(children.get(pid, []))
    return total


def percentile(ordered: list[float], q: float) -> float | None:
    """Nearest-rank percentile of sorted samples."""
    if not ordered:
        return None
    rank = max(1, min(len(ordered), round(q / 100.0 * len(ordered) + 0.5)))
    return ordered[rank - 1]


async def run(config: dict[str, Any]) -> dict[str, Any]:
    """Drive the load; collect latencies, statuses, samples and CPU times."""
    loop = asyncio.get_running_loop()
    requests = encode_requests(config)
    concurrency = int(config["concurrency"])
    sample = int(config.get("sample", 0))
    timeout = float(config.get("timeout_s", 30.0))
    server_pid = config.get("server_pid")
    host, port = config["host"], int(config["port"])
    counter = itertools.count()
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    errors_outside: Counter[str] = Counter()
    samples: dict[int, str] = {}
    error_bodies: dict[str, str] = {}  # the first body of each error status
    answered = 0  # every 200 answer, warm-up included (for the prediction-log check)
    start = time.perf_counter()
    window_start = start + float(config["warmup_s"])
    window_end = window_start + float(config["duration_s"])
    cpu: dict[str, float | None] = {}

    async def connect() -> Connection:
        _, protocol = await asyncio.wait_for(
            loop.create_connection(Connection, host, port), timeout
        )
        return protocol

    async def worker() -> None:
        nonlocal answered
        conn: Connection | None = None
        while True:
            now = time.perf_counter()
            if now >= window_end:
                break
            index = next(counter) % len(requests)
            t0 = now
            try:
                if conn is None or conn.closed:
                    conn = await connect()
                    t0 = time.perf_counter()
                status, body, close = await asyncio.wait_for(conn.request(requests[index]), timeout)
                key = str(status)
                if status == 200:
                    answered += 1
                    if index < sample and index not in samples:
                        samples[index] = body.decode("utf-8", "replace")
                elif key not in error_bodies:
                    error_bodies[key] = body.decode("utf-8", "replace")[:500]
                if close:
                    conn.close()
                    conn = None
            except (OSError, HttpError, TimeoutError) as exc:
                key = f"{type(exc).__name__}"
                error_bodies.setdefault(key, str(exc)[:500])
                if conn is not None:
                    conn.close()
                    conn = None
            t1 = time.perf_counter()
            if window_start <= t1 <= window_end:
                statuses[key] += 1
                if key == "200":
                    latencies.append(t1 - t0)
            elif key != "200":
                errors_outside[key] += 1
        if conn is not None:
            conn.close()

    async def clock() -> None:
        await asyncio.sleep(max(0.0, window_start - time.perf_counter()))
        cpu["generator_start"] = time.process_time()
        cpu["server_start"] = tree_cpu_seconds(server_pid) if server_pid else None
        await asyncio.sleep(max(0.0, window_end - time.perf_counter()))
        cpu["generator_end"] = time.process_time()
        cpu["server_end"] = tree_cpu_seconds(server_pid) if server_pid else None

    await asyncio.gather(clock(), *(worker() for _ in range(concurrency)))
    duration = float(config["duration_s"])
    ordered = sorted(latencies)
    ok = len(ordered)

    def spent(side: str) -> float | None:
        a, b = cpu.get(f"{side}_start"), cpu.get(f"{side}_end")
        return None if a is None or b is None else b - a

    return {
        "concurrency": concurrency,
        "duration_s": duration,
        "ok": ok,
        "rps": ok / duration,
        "statuses": dict(statuses),
        "errors": sum(n for k, n in statuses.items() if k != "200"),
        "errors_outside_window": dict(errors_outside),
        "answered_total": answered,
        "p50_s": percentile(ordered, 50),
        "p90_s": percentile(ordered, 90),
        "p99_s": percentile(ordered, 99),
        "max_s": ordered[-1] if ordered else None,
        "mean_s": sum(ordered) / ok if ok else None,
        "generator_cpu_s": spent("generator"),
        "server_cpu_s": spent("server"),
        "samples": {str(k): v for k, v in samples.items()},
        "error_bodies": error_bodies,
    }


def main(argv: list[str]) -> int:
    """Run the load described by the JSON object in ``argv[1]``; print the result."""
    config: dict[str, Any] = json.loads(argv[1])
    runner: Any = asyncio.run
    loop_name = "asyncio"
    if config.get("uvloop", True):
        with contextlib.suppress(ImportError):
            import uvloop

            runner = uvloop.run
            loop_name = "uvloop"
    result = runner(run(config))
    result["loop"] = loop_name
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
