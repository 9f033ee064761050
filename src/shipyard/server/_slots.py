"""A slot: one model version loaded for one endpoint, behind its own batcher.

The batch function runs on a worker thread: it merges the requests' inputs, checks
them against the signature once for the whole batch (a request that fails is checked
alone, so only it gets the 400), calls the model once, splits the outputs back and
hands the rows to the prediction log.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from shipyard.core.errors import InvalidInputError, ModelError
from shipyard.server._batching import Batcher
from shipyard.stores._prediction_log import LogBatch, PredictionLogWriter

if TYPE_CHECKING:
    import pandas as pd

    from shipyard.services import LoadedModel

__all__ = ["Job", "Outcome", "Slot", "new_prediction_ids"]

log = logging.getLogger("shipyard.server")


@dataclass(slots=True)
class Job:
    """One request's inputs on their way to a model.

    ``kind`` says what ``data`` is: ``records`` (a list of dicts), ``columns`` (a dict of
    lists), ``frame`` (a DataFrame) or ``tensor`` (an array).
    """

    data: Any
    kind: str
    rows: int
    ids: list[str]
    received: float  # epoch seconds, for the log
    started: float  # perf_counter, for latency
    role: str = "primary"
    protocol: str = "native"


@dataclass(slots=True)
class Outcome:
    """One request's answer: its slice of the batch's outputs and who answered."""

    predictions: np.ndarray[Any, Any]
    probabilities: np.ndarray[Any, Any] | None
    classes: list[Any] | None
    model: str
    version: int
    role: str
    ids: list[str]


def new_prediction_ids(rows: int) -> list[str]:
    """Random ids for a request's rows."""
    return [uuid.uuid4().hex for _ in range(rows)]


def _merge(jobs: Sequence[Job]) -> Any:
    """The inputs of several requests as one, or None when they cannot be merged.

    Records merge only when every record has the same keys: otherwise a key missing
    from one request would read as a null next to another request's records, and the
    request would pass in a batch what it fails alone.
    """
    kinds = {job.kind for job in jobs}
    if len(kinds) != 1:
        return None
    kind = kinds.pop()
    if len(jobs) == 1:
        return jobs[0].data
    if kind == "records":
        keys = None
        for job in jobs:
            for record in job.data:
                if not isinstance(record, dict):
                    return None
                if keys is None:
                    keys = record.keys()
                elif record.keys() != keys:
                    return None
        return [record for job in jobs for record in job.data]
    if kind == "columns":
        first = list(jobs[0].data)
        if any(list(job.data) != first for job in jobs):
            return None
        return {key: [v for job in jobs for v in job.data[key]] for key in first}
    if kind == "frame":
        import pandas as pd

        if any(list(job.data.columns) != list(jobs[0].data.columns) for job in jobs):
            return None
        return pd.concat([job.data for job in jobs], ignore_index=True)
    return None


def _concat_prepared(parts: list[Any]) -> Any:
    if len(parts) == 1:
        return parts[0]
    if isinstance(parts[0], np.ndarray):
        return np.concatenate(parts, axis=0)
    import pandas as pd

    return pd.concat(parts, ignore_index=True)


class Slot:
    """One model version serving one endpoint.

    Args:
        endpoint: the endpoint's name (for errors, metrics and the log).
        model: the loaded version.
        executor: the threads model calls run on.
        writer: the prediction log (None: not logged).
        max_batch_size, max_latency_ms: the batcher's bounds.
        on_batch: metrics hook, called on the loop with (rows, requests, seconds).
    """

    def __init__(
        self,
        endpoint: str,
        model: LoadedModel,
        *,
        executor: Executor | None,
        writer: PredictionLogWriter | None,
        max_batch_size: int,
        max_latency_ms: float,
        on_batch: Callable[[int, int, float], None] | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.model = model
        self.model_name = model.name or endpoint
        self.version = int(model.version or 0)
        self.writer = writer
        self.classes = model.classes
        self._proba = getattr(model, "predict_proba", None) if self.classes else None
        # Labels are read off the probabilities (one model call instead of two) once the
        # warm-up has shown that they agree with the model's own predict.
        self._labels_from_proba = False
        self.batcher: Batcher[Job, Outcome] = Batcher(
            self._run_batch,
            executor=executor,
            max_batch_size=max_batch_size,
            max_latency_ms=max_latency_ms,
            on_batch=on_batch,
        )

    @property
    def has_probabilities(self) -> bool:
        """Whether answers carry class probabilities."""
        return self._proba is not None

    def __repr__(self) -> str:
        return f"<Slot {self.endpoint}: {self.model_name} v{self.version}>"

    def warm(self) -> None:
        """Run the stored example through the whole path once (on the calling thread)."""
        example = self.model.input_example()
        if example is None:
            return
        prepared = self.model.prepare(example)
        labels = np.asarray(self.model.predict(prepared, validate=False))
        if self._proba is not None and self.classes:
            proba = np.asarray(self._proba(prepared, validate=False))
            derived = np.asarray(self.classes, dtype=object)[np.argmax(proba, axis=1)]
            self._labels_from_proba = bool(
                len(derived) == len(labels)
                and all(a == b for a, b in zip(derived.tolist(), labels.tolist(), strict=True))
            )

    def _predict(self, prepared: Any) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any] | None]:
        if self._proba is None:
            return np.asarray(self.model.predict(prepared, validate=False)), None
        proba = np.asarray(self._proba(prepared, validate=False))
        if self._labels_from_proba and self.classes:
            labels = np.asarray(self.classes)[np.argmax(proba, axis=1)]
        else:
            labels = np.asarray(self.model.predict(prepared, validate=False))
        return labels, proba

    def _prepare(self, jobs: Sequence[Job]) -> tuple[list[int], Any, list[Any]]:
        """Check inputs once per batch; on failure, per request to find the bad ones.

        Returns the indexes of the good jobs, their prepared inputs (concatenated) and
        one entry per job: None for a good one, the error for a bad one.
        """
        merged = _merge(jobs)
        if merged is not None:
            try:
                return list(range(len(jobs))), self.model.prepare(merged), [None] * len(jobs)
            except InvalidInputError:
                if len(jobs) == 1:
                    raise
        good: list[int] = []
        parts: list[Any] = []
        errors: list[Any] = []
        for index, job in enumerate(jobs):
            try:
                parts.append(self.model.prepare(job.data))
            except InvalidInputError as exc:
                errors.append(exc)
                continue
            good.append(index)
            errors.append(None)
        return good, (_concat_prepared(parts) if parts else None), errors

    def _run_batch(self, jobs: Sequence[Job]) -> list[Outcome | BaseException]:
        try:
            good, prepared, errors = self._prepare(jobs)
        except InvalidInputError as exc:
            self._log_rejected(jobs, [exc])
            return [exc]
        except Exception:
            # Inputs that check out one by one but do not stack (tensors of different
            # widths for a model without a signature): answer each on its own.
            if len(jobs) == 1:
                raise
            return [result for job in jobs for result in self._run_batch([job])]
        results: list[Outcome | BaseException] = list(errors)
        if len(good) < len(jobs):
            self._log_rejected(
                [job for job, e in zip(jobs, errors, strict=True) if e is not None],
                [e for e in errors if e is not None],
            )
        if not good:
            return results
        chosen = [jobs[i] for i in good]
        try:
            labels, proba = self._predict(prepared)
        except Exception as exc:
            error = ModelError(
                f"endpoint {self.endpoint!r}: model {self.model_name!r} version "
                f"{self.version} raised {type(exc).__name__}; the server's log has the details",
                endpoint=self.endpoint,
                version=self.version,
            )
            error.__cause__ = exc
            log.error(
                "endpoint %r: model %r version %s raised: %r",
                self.endpoint,
                self.model_name,
                self.version,
                exc,
            )
            self._log(
                chosen, prepared, None, None, status=500, error=f"{type(exc).__name__}: {exc}"
            )
            for i in good:
                results[i] = error
            return results
        offset = 0
        for i, job in zip(good, chosen, strict=True):
            end = offset + job.rows
            results[i] = Outcome(
                labels[offset:end],
                None if proba is None else proba[offset:end],
                self.classes,
                self.model_name,
                self.version,
                job.role,
                job.ids,
            )
            offset = end
        self._log(chosen, prepared, labels, proba, status=200, error=None)
        return results

    def _log(
        self,
        jobs: Sequence[Job],
        prepared: Any,
        labels: np.ndarray[Any, Any] | None,
        proba: np.ndarray[Any, Any] | None,
        *,
        status: int,
        error: str | None,
    ) -> None:
        if self.writer is None:
            return
        now = time.perf_counter()
        by_role: dict[str, list[int]] = {}
        for index, job in enumerate(jobs):
            by_role.setdefault(job.role, []).append(index)
        offsets = np.cumsum([0] + [job.rows for job in jobs])
        for role, indexes in by_role.items():
            if len(indexes) == len(jobs):
                rows = slice(None)
                part_jobs: Sequence[Job] = jobs
            else:
                picked = np.concatenate([np.arange(offsets[i], offsets[i + 1]) for i in indexes])
                rows = picked  # type: ignore[assignment]
                part_jobs = [jobs[i] for i in indexes]
            counts = [job.rows for job in part_jobs]
            self.writer.submit(
                LogBatch(
                    endpoint=self.endpoint,
                    model=self.model_name,
                    version=self.version,
                    role=role,
                    prediction_ids=[pid for job in part_jobs for pid in job.ids],
                    received_at=np.repeat(
                        np.array([job.received for job in part_jobs], dtype=np.float64), counts
                    ),
                    latency_ms=np.repeat(
                        np.array(
                            [(now - job.started) * 1000.0 for job in part_jobs], dtype=np.float64
                        ),
                        counts,
                    ),
                    status=status,
                    error=error,
                    inputs=_rows(prepared, rows),
                    predictions=None if labels is None else labels[rows],
                    probabilities=None if proba is None else proba[rows],
                    classes=self.classes,
                )
            )

    def _log_rejected(self, jobs: Sequence[Job], errors: Sequence[BaseException]) -> None:
        """Log requests refused for not matching the signature: status 400, no inputs.

        Monitoring counts them as schema violations; their inputs were not valid, so
        none are kept.
        """
        if self.writer is None:
            return
        import pandas as pd

        now = time.perf_counter()
        for job, error in zip(jobs, errors, strict=True):
            self.writer.submit(
                LogBatch(
                    endpoint=self.endpoint,
                    model=self.model_name,
                    version=self.version,
                    role=job.role,
                    prediction_ids=list(job.ids),
                    received_at=np.full(job.rows, job.received, dtype=np.float64),
                    latency_ms=np.full(job.rows, (now - job.started) * 1000.0),
                    status=400,
                    error=str(error)[:1000],
                    inputs=pd.DataFrame(index=range(job.rows)),
                    predictions=None,
                )
            )


def _rows(prepared: Any, rows: Any) -> pd.DataFrame | np.ndarray[Any, Any]:
    if isinstance(rows, slice):
        return prepared  # type: ignore[no-any-return]
    if isinstance(prepared, np.ndarray):
        picked: np.ndarray[Any, Any] = prepared[rows]
        return picked
    frame: pd.DataFrame = prepared.iloc[rows].reset_index(drop=True)
    return frame
