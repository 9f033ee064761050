"""Adaptive batching: concurrent requests to one model version become one model call.

A :class:`Batcher` keeps a queue of pending requests. Whenever the model is free it
takes every queued request, up to ``max_batch_size`` rows, and runs them as one call on
a worker thread, so the event loop keeps accepting while the model works. Requests that
arrive during a call wait for the next one: the busier the server, the bigger the
batches, and an idle server answers a lone request at once.

``max_latency_ms`` bounds the only wait batching adds: when the model is free and the
last batch held several requests (traffic is concurrent), a batch that is not full
waits up to that long, counted from its oldest request's arrival, for others to join.
A lone client never waits for company that is not coming.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Generic, TypeVar

__all__ = ["Batcher", "Pending"]

T = TypeVar("T")
R = TypeVar("R")


@dataclass(slots=True)
class Pending(Generic[T, R]):
    """One request waiting in a batcher: its payload, row count and the future it awaits."""

    item: T
    rows: int
    future: asyncio.Future[R]
    arrived: float = field(default_factory=time.perf_counter)


class Batcher(Generic[T, R]):
    """Merges concurrent requests into calls of ``run(items) -> results`` (same order).

    ``run`` gets the pending items of one batch and must return one result per item;
    it runs on ``executor``. An exception raised by ``run`` fails every request of that
    batch; to fail one request only, return an exception object in its place.

    Args:
        run: the batch function, called off the event loop.
        executor: where ``run`` runs (None: the loop's default thread pool).
        max_batch_size: most rows in one call (a single larger request still goes alone).
        max_latency_ms: the longest a request waits for others to join its batch.
        on_batch: called on the loop after each call with (rows, requests, seconds).
    """

    def __init__(
        self,
        run: Callable[[Sequence[T]], Sequence[R | BaseException]],
        *,
        executor: Executor | None = None,
        max_batch_size: int = 64,
        max_latency_ms: float = 5.0,
        on_batch: Callable[[int, int, float], None] | None = None,
    ) -> None:
        self._run = run
        self._executor = executor
        self.max_batch_size = max(1, int(max_batch_size))
        self.max_latency_s = max(0.0, float(max_latency_ms)) / 1000.0
        self._on_batch = on_batch
        self._queue: deque[Pending[T, R]] = deque()
        self._queued_rows = 0
        self._busy = False
        self._last_requests = 0
        self._wakeup: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def queued_rows(self) -> int:
        """Rows waiting for the model (not counting the batch it is running)."""
        return self._queued_rows

    @property
    def closed(self) -> bool:
        """Closing or closed: takes no more requests."""
        return self._closed

    @property
    def idle(self) -> bool:
        """Nothing queued and no call running."""
        return not self._queue and not self._busy

    async def submit(self, item: T, rows: int) -> R:
        """Queue one request of ``rows`` rows and wait for its result."""
        if self._closed:
            raise RuntimeError("this batcher is closed")
        loop = asyncio.get_running_loop()
        if self._task is None:
            self._wakeup = asyncio.Event()
            self._task = loop.create_task(self._loop(), name="shipyard-batcher")
        pending: Pending[T, R] = Pending(item, rows, loop.create_future())
        self._queue.append(pending)
        self._queued_rows += rows
        assert self._wakeup is not None
        self._wakeup.set()
        return await pending.future

    async def close(self) -> None:
        """Answer what is queued, then stop the loop."""
        self._closed = True
        while not self.idle:
            await asyncio.sleep(0.005)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        assert self._wakeup is not None
        loop = asyncio.get_running_loop()
        while True:
            if not self._queue:
                self._wakeup.clear()
                await self._wakeup.wait()
            # Let requests whose bodies were already read reach the queue first.
            await asyncio.sleep(0)
            await self._gather_more()
            batch = self._take()
            if not batch:
                continue
            self._busy = True
            started = time.perf_counter()
            try:
                results = await loop.run_in_executor(
                    self._executor, self._run, [p.item for p in batch]
                )
            except BaseException as exc:  # a failed call fails its batch, never the loop
                if isinstance(exc, asyncio.CancelledError):
                    for pending in batch:
                        if not pending.future.done():
                            pending.future.cancel()
                    raise
                results = [exc] * len(batch)
            finally:
                self._busy = False
            elapsed = time.perf_counter() - started
            self._deliver(batch, results)
            self._last_requests = len(batch)
            if self._on_batch is not None:
                self._on_batch(sum(p.rows for p in batch), len(batch), elapsed)

    async def _gather_more(self) -> None:
        """Wait, within the latency bound, for a concurrent batch to fill."""
        if self.max_latency_s <= 0 or self._last_requests <= 1 or not self._queue:
            return
        assert self._wakeup is not None
        deadline = self._queue[0].arrived + self.max_latency_s
        while self._queued_rows < self.max_batch_size:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                return
            self._wakeup.clear()
            try:
                await asyncio.wait_for(self._wakeup.wait(), remaining)
            except TimeoutError:
                return

    def _take(self) -> list[Pending[T, R]]:
        batch: list[Pending[T, R]] = []
        rows = 0
        while self._queue:
            head = self._queue[0]
            if batch and rows + head.rows > self.max_batch_size:
                break
            self._queue.popleft()
            self._queued_rows -= head.rows
            if head.future.cancelled():  # the client went away while it waited
                continue
            batch.append(head)
            rows += head.rows
        return batch

    @staticmethod
    def _deliver(batch: list[Pending[T, R]], results: Sequence[R | BaseException]) -> None:
        if len(results) != len(batch):
            error = RuntimeError(
                f"the batch function returned {len(results)} results for {len(batch)} requests"
            )
            results = [error] * len(batch)
        for pending, result in zip(batch, results, strict=True):
            if pending.future.done():
                continue
            if isinstance(result, BaseException):
                pending.future.set_exception(result)
            else:
                pending.future.set_result(result)
