"""Write a real prediction log and its labels, as a serving endpoint would, for monitoring tests.

Rows go through the real :class:`PredictionLogWriter` into Parquet files of the store's
artifacts, and labels through :func:`shipyard.log_feedback`, so the monitor reads exactly
what it reads in production. Importable by name from any test (``tests/`` is on the path).

Example:
    >>> ids = log_predictions(store, "api", "delays", 1, frame, times, model.predict(frame))
    >>> log_labels(store, "api", ids[:10], truth[:10])
    10
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

import shipyard
from shipyard.stores._prediction_log import LogBatch, PredictionLogWriter

__all__ = ["log_labels", "log_predictions"]

Times = Sequence[datetime] | np.ndarray[Any, Any] | pd.DatetimeIndex | pd.Series


def _epoch_seconds(times: Times) -> np.ndarray[Any, Any]:
    """Arrival times as epoch seconds; naive datetimes and datetime64 values are UTC."""
    stamps = pd.DatetimeIndex(pd.to_datetime(list(times), utc=True))
    seconds: np.ndarray[Any, Any] = np.asarray(
        (stamps - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(seconds=1), dtype=float
    )
    return seconds


def log_predictions(
    store: shipyard.Store,
    endpoint: str,
    model_name: str,
    version: int,
    inputs: pd.DataFrame,
    times: Times,
    predictions: Sequence[Any] | np.ndarray[Any, Any] | None,
    probabilities: np.ndarray[Any, Any] | None = None,
    classes: Sequence[Any] | None = None,
    *,
    role: str = "primary",
    status: int = 200,
    latency_ms: float | Sequence[float] | np.ndarray[Any, Any] | None = None,
    ids: Sequence[str] | None = None,
) -> list[str]:
    """Log one row per input row, arriving at ``times``, and wait until it is written.

    Args:
        store: the store whose artifacts hold the log.
        endpoint: the endpoint that served the rows.
        model_name: the model's registered name.
        version: the version that served them.
        inputs: the prepared inputs, one row per prediction (columns become ``input.<col>``).
        times: one arrival time per row: datetimes (naive ones are UTC) or datetime64 values.
        predictions: one prediction per row; None for failed calls (``status`` not 200).
        probabilities: ``(rows, classes)`` class probabilities, with ``classes``.
        classes: the class labels, in the order of the probability columns.
        role: ``primary``, ``canary`` or ``shadow``.
        status: the HTTP status of every row (not 200: logged as an error).
        latency_ms: one latency for all rows or one per row (default 5 ms each).
        ids: the prediction ids (default: new random ones).

    Returns:
        The prediction ids, in row order, for :func:`log_labels`.
    """
    rows = len(inputs)
    prediction_ids = list(ids) if ids is not None else [uuid.uuid4().hex for _ in range(rows)]
    latency = np.broadcast_to(
        np.asarray(5.0 if latency_ms is None else latency_ms, dtype=float), (rows,)
    ).copy()
    batch = LogBatch(
        endpoint=endpoint,
        model=model_name,
        version=version,
        role=role,
        prediction_ids=prediction_ids,
        received_at=_epoch_seconds(times),
        latency_ms=latency,
        status=status,
        error=None if status == 200 else f"status {status}",
        inputs=inputs.reset_index(drop=True),
        predictions=None if predictions is None else np.asarray(predictions),
        probabilities=probabilities,
        classes=None if classes is None else list(classes),
    )
    writer = PredictionLogWriter(store.artifacts).start()
    try:
        if not writer.submit(batch, block=True):
            raise RuntimeError(f"the log writer dropped {rows} rows of {endpoint!r}")
    finally:
        written = writer.close()
    if not written or writer.written_rows != rows:
        raise RuntimeError(
            f"logged {writer.written_rows} of {rows} rows of {endpoint!r}: {writer.last_error}"
        )
    return prediction_ids


def log_labels(
    store: shipyard.Store, endpoint: str, ids: Sequence[str], labels: Sequence[Any]
) -> int:
    """Record ground truth for logged predictions; returns the number of labels written."""
    if len(ids) != len(labels):
        raise ValueError(f"one label per id: got {len(ids)} ids and {len(labels)} labels")
    items = [
        {"prediction_id": i, "label": label.item() if isinstance(label, np.generic) else label}
        for i, label in zip(ids, labels, strict=True)
    ]
    return shipyard.log_feedback(endpoint, items, store=store)
