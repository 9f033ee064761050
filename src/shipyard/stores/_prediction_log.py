"""The prediction log: every served prediction, appended as Parquet under the artifact store.

The server hands each model call's rows to :class:`PredictionLogWriter`, whose
``submit`` only appends to a bounded in-memory queue (counted in rows); one
daemon thread turns the queue into Arrow tables and writes them::

    prediction-log/endpoint=<name>/date=<YYYY-MM-DD>/part-<unix_ms>-<random>.parquet
    feedback/endpoint=<name>/date=<YYYY-MM-DD>/part-<unix_ms>-<random>.parquet

Durability: rows are written every ``flush_rows`` rows or ``flush_seconds`` seconds
(whichever comes first) and on :meth:`PredictionLogWriter.close`, so a crash loses at
most the rows of one flush interval, and a graceful stop loses nothing that was
submitted. A failed write (object store down) keeps its rows for the next attempt,
still counted against the queue; nothing is dropped without counting it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from shipyard.core.errors import ConflictError, InvalidInputError, StoreError
from shipyard.stores._prediction_log_tables import (
    FEEDBACK_PREFIX,
    PREDICTIONS_PREFIX,
    ROLES,
    check_endpoint,
    feedback_table,
    parquet_bytes,
    partition_key,
    prediction_tables,
    split_by_date,
)

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from shipyard.stores._artifacts import ArtifactStore

__all__ = ["LogBatch", "PredictionLogWriter", "write_feedback"]

log = logging.getLogger("shipyard.prediction_log")

#: How long to wait between write attempts while closing with the store down.
_CLOSING_RETRY_S = 0.25


@dataclass(slots=True)
class LogBatch:
    """The rows of one model call for one (endpoint, model version, role).

    ``received_at`` (epoch seconds) and ``latency_ms`` hold one value per row;
    ``predictions`` is None when the model raised (``status`` 500, ``error`` says why).
    ``inputs`` is the prepared DataFrame, or an array for tensor models.
    """

    endpoint: str
    model: str
    version: int
    role: str
    prediction_ids: Sequence[str]
    received_at: np.ndarray[Any, Any]
    latency_ms: np.ndarray[Any, Any]
    status: int
    error: str | None
    inputs: pd.DataFrame | np.ndarray[Any, Any]
    predictions: np.ndarray[Any, Any] | None
    probabilities: np.ndarray[Any, Any] | None = None
    classes: Sequence[Any] | None = None

    def __post_init__(self) -> None:
        # Only len() checks: a batch is built on the request path.
        if self.role not in ROLES:
            raise InvalidInputError(
                f"LogBatch role must be one of {', '.join(ROLES)}; got {self.role!r}"
            )
        rows = len(self.prediction_ids)
        for name in ("received_at", "latency_ms", "inputs", "predictions", "probabilities"):
            value = getattr(self, name)
            if value is not None and len(value) != rows:
                raise InvalidInputError(
                    f"LogBatch for endpoint {self.endpoint!r}: {name} has {len(value)} rows, "
                    f"expected {rows} (one per prediction id)"
                )

    def __len__(self) -> int:
        return len(self.prediction_ids)


@dataclass(slots=True)
class _Feedback:
    """Labels that arrived in one call."""

    endpoint: str
    prediction_ids: Sequence[Any]
    labels: Sequence[Any]
    received_at: float

    def __len__(self) -> int:
        return len(self.prediction_ids)


@dataclass(slots=True)
class _File:
    """A converted file waiting to be written; retried under the same key if writing fails."""

    key: str
    data: bytes
    rows: int
    first_seq: int


_Item = LogBatch | _Feedback


class PredictionLogWriter:
    """A bounded queue of log rows and the thread that writes them as Parquet.

    Args:
        artifacts: where the files go (a local folder or an object store).
        flush_rows: write once this many rows are queued.
        flush_seconds: write rows that have waited this long.
        queue_rows: the most rows held in memory (queued, or kept after a failed write).
        when_full: ``"drop"`` (count the rows in ``dropped_rows`` and move on) or
            ``"block"`` (``submit`` waits for room: call it off the event loop).
        on_flush: called with (rows written, seconds taken) after each write, for metrics.

    Example:
        >>> writer = PredictionLogWriter(ArtifactStore("/tmp/artifacts"))  # doctest: +SKIP
        >>> writer.start()  # doctest: +SKIP
        >>> writer.submit(batch)  # doctest: +SKIP
        True
        >>> writer.close()  # doctest: +SKIP
        True
    """

    def __init__(
        self,
        artifacts: ArtifactStore,
        *,
        flush_rows: int = 10_000,
        flush_seconds: float = 5.0,
        queue_rows: int = 200_000,
        when_full: Literal["drop", "block"] = "drop",
        on_flush: Callable[[int, float], None] | None = None,
    ) -> None:
        if when_full not in ("drop", "block"):
            raise InvalidInputError(f"when_full must be 'drop' or 'block'; got {when_full!r}")
        for name, value in (("flush_rows", flush_rows), ("queue_rows", queue_rows)):
            if value < 1:
                raise InvalidInputError(f"{name} must be at least 1; got {value}")
        if flush_seconds <= 0:
            raise InvalidInputError(f"flush_seconds must be positive; got {flush_seconds}")
        self.artifacts = artifacts
        self.flush_rows = flush_rows
        self.flush_seconds = flush_seconds
        self.queue_rows = queue_rows
        self.when_full = when_full
        self.on_flush = on_flush
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)  # the writer waits here
        self._room = threading.Condition(self._lock)  # blocked submitters wait here
        self._done = threading.Condition(self._lock)  # flush() and close() wait here
        self._cycle_lock = threading.Lock()  # one conversion-and-write at a time
        self._thread: threading.Thread | None = None
        self._pending: deque[tuple[int, _Item]] = deque()
        self._pending_rows = 0
        self._oldest = 0.0  # monotonic time the oldest pending row arrived
        self._retained: list[_File] = []  # converted, not yet written
        self._retry_at = 0.0
        self._seq = 0  # items accepted so far
        self._taken_through = 0  # items handed to a cycle
        self._written_through = 0  # every item up to this one is written (or dropped)
        self._flush_target = 0
        self._failures = 0  # write cycles that failed
        self._failed_through = 0  # the items the latest failed cycle had taken
        self._closing = False
        self._close_deadline = 0.0
        self._queued = 0
        self._written = 0
        self._dropped = 0
        self._errors = 0
        self._last_error: str | None = None
        self._lost_at_close = 0

    # -- counters ---------------------------------------------------------------------

    @property
    def written_rows(self) -> int:
        """Rows written to Parquet (predictions and feedback)."""
        return self._written

    @property
    def dropped_rows(self) -> int:
        """Rows never written: queue full, submitted after close, or unwritable at close."""
        return self._dropped

    @property
    def queued_rows(self) -> int:
        """Rows accepted and not yet written (including rows kept after a failed write)."""
        return self._queued

    @property
    def flush_errors(self) -> int:
        """Write cycles that failed, and batches that could not be converted."""
        return self._errors

    @property
    def last_error(self) -> str | None:
        """The message of the latest failure, for diagnostics."""
        return self._last_error

    # -- life cycle -------------------------------------------------------------------

    def start(self) -> PredictionLogWriter:
        """Start the writer thread (once); returns self.

        Raises:
            ConflictError: the writer was closed.
        """
        with self._lock:
            if self._closing:
                raise ConflictError("this prediction log writer is closed; make a new one")
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="shipyard-prediction-log", daemon=True
                )
                self._thread.start()
        return self

    def submit(self, batch: LogBatch, *, block: bool | None = None) -> bool:
        """Queue one model call's rows; no I/O and no conversion (safe on the event loop).

        Args:
            batch: the rows.
            block: wait for room when the queue is full (default: ``when_full == "block"``).

        Returns:
            False when the rows were dropped (queue full, or the writer is closed).
        """
        return self._put(batch, len(batch), block)

    def submit_feedback(
        self, endpoint: str, prediction_ids: Sequence[str], labels: Sequence[Any]
    ) -> int:
        """Queue labels for earlier predictions; returns how many were accepted (0: dropped).

        Raises:
            InvalidInputError: the two sequences differ in length.
        """
        if len(prediction_ids) != len(labels):
            raise InvalidInputError(
                f"feedback needs one label per prediction id; got {len(prediction_ids)} ids "
                f"and {len(labels)} labels"
            )
        item = _Feedback(endpoint, prediction_ids, labels, time.time())
        return len(item) if self._put(item, len(item), None) else 0

    def _put(self, item: _Item, rows: int, block: bool | None) -> bool:
        if rows == 0:
            return True
        with self._lock:
            # A batch larger than the whole queue still goes in when the queue is empty.
            while self._closing or (self._queued and self._queued + rows > self.queue_rows):
                wait = self.when_full == "block" if block is None else block
                if self._closing or not wait:
                    self._dropped += rows
                    return False
                self._room.wait()
            self._seq += 1
            self._pending.append((self._seq, item))
            self._queued += rows
            before = self._pending_rows
            self._pending_rows = before + rows
            if before == 0:
                self._oldest = time.monotonic()
                self._wake.notify()  # the writer sets its deadline
            elif before < self.flush_rows <= self._pending_rows:
                self._wake.notify()
        return True

    def flush(self, timeout: float | None = None) -> None:
        """Write everything submitted before the call; return once it is written.

        Raises:
            StoreError: the write failed (the rows are kept and retried later), or
                did not finish within ``timeout`` seconds.
        """
        with self._lock:
            target = self._seq
            if self._written_through >= target:
                return
            thread = self._thread
            running = thread is not None and thread.is_alive()
            if running:
                failures = self._failures
                self._flush_target = max(self._flush_target, target)
                self._wake.notify()
                deadline = None if timeout is None else time.monotonic() + timeout
                while self._written_through < target:
                    if self._failures > failures and self._failed_through >= target:
                        break  # the attempt that covered these rows failed
                    left = None if deadline is None else deadline - time.monotonic()
                    if left is not None and left <= 0:
                        raise StoreError(
                            f"the prediction log was not written to {self.artifacts.url} within "
                            f"{timeout} s; {self._queued} rows are still queued"
                        )
                    self._done.wait(1.0 if left is None else min(left, 1.0))
                    if thread is not None and not thread.is_alive():
                        break
        if not running:
            self._cycle()
        with self._lock:
            if self._written_through < target:
                raise StoreError(
                    f"the prediction log could not be written to {self.artifacts.url}: "
                    f"{self._last_error}; its {self._queued} rows are kept and retried"
                )

    def close(self, timeout: float = 30.0) -> bool:
        """Write everything queued, then stop the thread; idempotent.

        Failed writes are retried until ``timeout`` seconds have passed; rows still
        unwritten then are counted in ``dropped_rows`` and logged as an error.

        Returns:
            True when every accepted row was written.
        """
        with self._lock:
            if not self._closing:
                self._closing = True
                self._close_deadline = time.monotonic() + timeout
                self._wake.notify()
                self._room.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout + 5.0)
        else:  # no thread: write here, retrying failed writes until the deadline
            self._cycle()
            while self._retained and time.monotonic() < self._close_deadline:
                time.sleep(_CLOSING_RETRY_S)
                self._cycle()
            with self._lock:
                self._give_up()
        return self._queued == 0 and self._lost_at_close == 0

    # -- the writer thread --------------------------------------------------------------

    def _due(self, now: float) -> tuple[bool, float | None]:
        """Whether to run a cycle now, and else how long to sleep (lock held)."""
        requested = self._flush_target > self._written_through
        waits: list[float] = []
        if self._pending:
            ready = self._oldest + self.flush_seconds
            if requested or self._closing or self._pending_rows >= self.flush_rows:
                return True, None
            if now >= ready:
                return True, None
            waits.append(ready)
        if self._retained:
            if requested or now >= self._retry_at:
                return True, None
            waits.append(self._retry_at)
        if self._closing:
            waits.append(self._close_deadline)
        return False, (min(waits) - now if waits else None)

    def _run(self) -> None:
        while True:
            with self._lock:
                while True:
                    now = time.monotonic()
                    # Closing: queued rows get one attempt at least, failed ones until the deadline.
                    if (
                        self._closing
                        and not self._pending
                        and (not self._retained or now >= self._close_deadline)
                    ):
                        self._give_up()
                        return
                    due, wait = self._due(now)
                    if due:
                        break
                    self._wake.wait(wait)
            try:
                self._cycle()
            except Exception as exc:  # pragma: no cover - _cycle catches what it expects
                log.exception("prediction log writer cycle failed")
                with self._lock:
                    self._errors += 1
                    self._last_error = str(exc)
                    self._retry_at = time.monotonic() + self.flush_seconds

    def _give_up(self) -> None:
        """Count rows not written by the close deadline as dropped (lock held)."""
        if not self._queued:
            return
        lost = self._queued
        log.error(
            "prediction log: %d rows could not be written to %s before closing (%s); they are lost",
            lost,
            self.artifacts.url,
            self._last_error,
        )
        self._dropped += lost
        self._lost_at_close += lost
        self._queued = 0
        self._pending.clear()
        self._pending_rows = 0
        self._retained = []
        self._written_through = self._seq
        self._done.notify_all()

    def _cycle(self) -> None:
        """Take the queue, convert it, and write it with any files kept from a failure."""
        with self._cycle_lock:
            with self._lock:
                items = list(self._pending)
                self._pending.clear()
                self._pending_rows = 0
                taken_through = self._seq if items else self._taken_through
                self._taken_through = taken_through
            started = time.perf_counter()
            files, lost = _convert(items)
            with self._lock:
                self._retained.extend(files)
                todo = list(self._retained)
                if lost:
                    self._errors += 1
                    self._dropped += lost
                    self._queued -= lost
            written, failed, error = self._write(todo)
            seconds = time.perf_counter() - started
            with self._lock:
                self._retained = failed
                self._written += written
                self._queued -= written
                if failed:
                    self._errors += 1
                    self._failures += 1
                    self._failed_through = taken_through
                    self._last_error = error
                    delay = _CLOSING_RETRY_S if self._closing else self.flush_seconds
                    self._retry_at = time.monotonic() + delay
                    self._written_through = min(f.first_seq for f in failed) - 1
                    if self._flush_target <= taken_through:
                        self._flush_target = 0  # the request was answered, with an error
                else:
                    self._written_through = taken_through
                self._room.notify_all()
                self._done.notify_all()
        if written and self.on_flush is not None:
            try:
                self.on_flush(written, seconds)
            except Exception:
                log.exception("prediction log on_flush callback failed")

    def _write(self, files: list[_File]) -> tuple[int, list[_File], str | None]:
        """Write files in order; stop at the first failure and keep it and the rest."""
        written = 0
        for index, item in enumerate(files):
            try:
                self.artifacts.put_bytes(item.data, item.key)
            except Exception as exc:  # a store that is down raises anything from OSError up
                log.warning("prediction log: writing %s failed: %s", item.key, exc)
                return written, files[index:], f"{type(exc).__name__}: {exc}"
            written += item.rows
        return written, [], None


def _convert(items: list[tuple[int, _Item]]) -> tuple[list[_File], int]:
    """Files for queued items, grouped by endpoint, model, version and role, and date.

    Returns the files and the number of rows that could not be converted (dropped).
    """
    groups: dict[tuple[Any, ...], list[tuple[int, _Item]]] = {}
    for seq, item in items:
        if isinstance(item, LogBatch):
            key: tuple[Any, ...] = ("p", item.endpoint, item.model, item.version, item.role)
        else:
            key = ("f", item.endpoint)
        groups.setdefault(key, []).append((seq, item))
    files: list[_File] = []
    lost = 0
    for key, members in groups.items():
        try:
            if key[0] == "f":
                files.extend(_feedback_files(key[1], members))
            else:
                made, group_lost = _prediction_files(key, members)
                files.extend(made)
                lost += group_lost
        except Exception as exc:  # never let odd values stop the writer
            rows = sum(len(item) for _, item in members)
            lost += rows
            log.error("prediction log: %d rows of %s could not be written: %s", rows, key, exc)
    return files, lost


def _prediction_files(
    key: tuple[Any, ...], members: list[tuple[int, _Item]]
) -> tuple[list[_File], int]:
    batches = [item for _, item in members if isinstance(item, LogBatch)]
    tables, failed = prediction_tables(batches)
    lost = 0
    for index, exc in failed:
        lost += len(batches[index])
        log.error(
            "prediction log: %d rows of %s v%s could not be converted and are dropped: %s",
            len(batches[index]),
            key[1],
            key[3],
            exc,
        )
    files = []
    for table, indexes in tables:
        first_seq = min(members[i][0] for i in indexes)
        for day, rows in split_by_date(table):
            name = partition_key(PREDICTIONS_PREFIX, key[1], day)
            files.append(_File(name, parquet_bytes(rows), rows.num_rows, first_seq))
    return files, lost


def _feedback_files(endpoint: str, members: list[tuple[int, _Item]]) -> list[_File]:
    import numpy as np

    ids: list[Any] = []
    labels: list[Any] = []
    times: list[float] = []
    counts: list[int] = []
    for item in (item for _, item in members if isinstance(item, _Feedback)):
        ids.extend(item.prediction_ids)
        labels.extend(item.labels)
        times.append(item.received_at)
        counts.append(len(item))
    table = feedback_table(ids, labels, np.repeat(np.array(times), counts))
    first_seq = members[0][0]
    return [
        _File(
            partition_key(FEEDBACK_PREFIX, endpoint, day),
            parquet_bytes(rows),
            rows.num_rows,
            first_seq,
        )
        for day, rows in split_by_date(table)
    ]


def write_feedback(
    artifacts: ArtifactStore,
    endpoint: str,
    prediction_ids: Sequence[str],
    labels: Sequence[Any],
    *,
    received_at: float | None = None,
) -> int:
    """Write labels as one feedback file now (no queue); returns the number of rows.

    Raises:
        InvalidInputError: a bad endpoint name, or ids and labels of different lengths.
        StoreError: the artifact store refused the write.
    """
    import numpy as np

    check_endpoint(endpoint)
    if len(prediction_ids) != len(labels):
        raise InvalidInputError(
            f"feedback needs one label per prediction id; got {len(prediction_ids)} ids "
            f"and {len(labels)} labels"
        )
    if not prediction_ids:
        return 0
    at = time.time() if received_at is None else received_at
    table = feedback_table(prediction_ids, labels, np.full(len(prediction_ids), at))
    for day, rows in split_by_date(table):
        artifacts.put_bytes(parquet_bytes(rows), partition_key(FEEDBACK_PREFIX, endpoint, day))
    return int(table.num_rows)
