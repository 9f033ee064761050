"""The prediction log's rows as Arrow tables and Parquet files (runs on the writer thread).

One table holds the rows of one (endpoint, model, version, role), so its schema is
fixed; rows are split by the UTC date they arrived on, one file per date partition.
Values Arrow cannot type (a column mixing strings and numbers) are written as text
rather than lost.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from shipyard.core.errors import InvalidInputError
from shipyard.core.ids import new_id, now_ms

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    from shipyard.stores._prediction_log import LogBatch

__all__ = [
    "FEEDBACK_PREFIX",
    "PREDICTIONS_PREFIX",
    "ROLES",
    "check_endpoint",
    "feedback_table",
    "parquet_bytes",
    "partition_key",
    "prediction_tables",
    "split_by_date",
]

#: Where prediction rows and feedback rows live under the artifact store.
PREDICTIONS_PREFIX = "prediction-log"
FEEDBACK_PREFIX = "feedback"
#: The part a model version plays for an endpoint.
ROLES = ("primary", "canary", "shadow")

_US_PER_DAY = 86_400_000_000
_ENDPOINT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,255}")
# Errors Arrow raises for values it cannot type.
_CONVERSION_ERRORS: tuple[type[Exception], ...] = (TypeError, ValueError, OverflowError)


def check_endpoint(name: object) -> str:
    """An endpoint name safe in a partition folder: letters, digits, '.', '_' and '-'."""
    if not isinstance(name, str) or _ENDPOINT.fullmatch(name) is None:
        raise InvalidInputError(
            "endpoint name must start with a letter or digit and hold only letters, digits, "
            f"'.', '_' and '-' (at most 256 characters); got {name!r}"
        )
    return name


def partition_key(prefix: str, endpoint: str, day: str) -> str:
    """A fresh file key: ``<prefix>/endpoint=<name>/date=<day>/part-<unix_ms>-<random>``."""
    return f"{prefix}/endpoint={endpoint}/date={day}/part-{now_ms()}-{new_id()[:12]}.parquet"


def _arrow_errors() -> tuple[type[Exception], ...]:
    import pyarrow as pa

    return (pa.ArrowException, *_CONVERSION_ERRORS)


def _timestamps(seconds: np.ndarray[Any, Any]) -> pa.Array:
    import numpy as np
    import pyarrow as pa

    micros = np.rint(np.asarray(seconds, dtype=np.float64) * 1e6).astype(np.int64)
    return pa.array(micros, type=pa.timestamp("us", tz="UTC"))


def _as_text(values: Sequence[Any]) -> pa.Array:
    """Values as strings, nulls kept: the fallback for columns Arrow cannot type."""
    import pandas as pd
    import pyarrow as pa

    return pa.array(
        [
            None
            if value is None or (pd.api.types.is_scalar(value) and pd.isna(value))
            else str(value)
            for value in values
        ],
        type=pa.string(),
    )


def _values(values: Any) -> pa.Array:
    """A 1-D column, typed by Arrow when it can be, as text when it cannot."""
    import pyarrow as pa

    try:
        array = pa.array(values, from_pandas=True)
    except _arrow_errors():
        return _as_text(list(values))
    if isinstance(array, pa.ChunkedArray):  # Arrow-backed pandas columns come in chunks
        array = array.combine_chunks()
    if pa.types.is_large_string(array.type) or pa.types.is_string_view(array.type):
        array = array.cast(pa.string())  # one string type, whatever pandas held
    return array.cast(pa.string()) if pa.types.is_null(array.type) else array


def _tensor(array: np.ndarray[Any, Any]) -> pa.Array:
    """Rows of an n-D array as nested lists (a 1-D array as lists of one value)."""
    import numpy as np
    import pyarrow as pa

    data = np.ascontiguousarray(array)
    if data.ndim == 1:
        data = data.reshape(-1, 1)
    values: pa.Array = _values(data.reshape(-1))
    for size in reversed(data.shape[1:]):
        count = len(values) // size if size else data.shape[0]
        offsets = pa.array(np.arange(count + 1, dtype=np.int32) * size)
        values = pa.ListArray.from_arrays(offsets, values)
    return values


def _column_values(frame: pd.DataFrame, position: int) -> Any:
    """One column's values without building a Series (a NumPy array or an ExtensionArray)."""
    import pandas as pd

    getter = getattr(frame, "_get_column_array", None)  # private, but 10x faster than iloc
    values = getter(position) if getter is not None else frame.iloc[:, position].array
    return values.to_numpy() if isinstance(values, pd.arrays.NumpyExtensionArray) else values


def _frame_columns(frames: Sequence[pd.DataFrame]) -> dict[str, pa.Array]:
    """Prepared DataFrames as ``input.<column>`` Arrow columns, typed by their dtypes.

    Frames of one group share their columns and dtypes, so each column is stacked
    from the frames' arrays directly: ``pd.concat`` costs ~150 us per one-row frame,
    which is what the log gets when requests are not batched together.
    """
    import numpy as np
    import pandas as pd

    first = frames[0]
    names = first.columns
    if any(not frame.columns.equals(names) for frame in frames[1:]):
        frames = [pd.concat(frames, ignore_index=True)]
        names = frames[0].columns
    columns: dict[str, pa.Array] = {}
    for position, name in enumerate(names):
        parts = [_column_values(frame, position) for frame in frames]
        head = parts[0]
        if len(parts) == 1:
            merged = head
        elif any(part.dtype != head.dtype for part in parts):
            merged = pd.concat([frame.iloc[:, position] for frame in frames]).array
        elif isinstance(head, np.ndarray):
            merged = np.concatenate(parts)
        else:
            merged = type(head)._concat_same_type(parts)
        columns[f"input.{name}"] = _values(merged)
    return columns


def _concat(arrays: Sequence[Any]) -> Any:
    import numpy as np

    return np.asarray(arrays[0]) if len(arrays) == 1 else np.concatenate(arrays)


def _input_columns(batches: Sequence[LogBatch]) -> dict[str, pa.Array | pa.ChunkedArray]:
    import numpy as np
    import pandas as pd

    inputs = [batch.inputs for batch in batches]
    frames = [item for item in inputs if isinstance(item, pd.DataFrame)]
    if len(frames) == len(inputs):
        return _frame_columns(frames)
    arrays = [np.asarray(item) for item in inputs]
    if len({array.shape[1:] for array in arrays}) != 1:
        raise ValueError("tensor inputs of different shapes in one group")
    return {"input.tensor": _tensor(_concat(arrays))}


def _prediction_column(batches: Sequence[LogBatch]) -> pa.Array | None:
    import numpy as np
    import pyarrow as pa

    outputs = [None if b.predictions is None else np.asarray(b.predictions) for b in batches]
    present = [out for out in outputs if out is not None]
    if not present:
        return None
    if len({out.ndim for out in present}) != 1:
        raise ValueError("predictions of different shapes in one group")
    if len(present) == len(outputs):
        merged = _concat(present)
        return _values(merged) if merged.ndim == 1 else _tensor(merged)
    chunks = [
        None if out is None else (_values(out) if out.ndim == 1 else _tensor(out))
        for out in outputs
    ]
    kind = next(chunk.type for chunk in chunks if chunk is not None)
    return pa.concat_arrays(
        [
            pa.nulls(len(b), kind) if chunk is None else chunk
            for b, chunk in zip(batches, chunks, strict=True)
        ]
    )


def _proba_columns(batches: Sequence[LogBatch], rows: int) -> dict[str, pa.Array]:
    import numpy as np
    import pyarrow as pa

    given = [(b.classes, b.probabilities) for b in batches if b.probabilities is not None]
    if not given:
        return {}
    first_classes, first = given[0]
    width = int(np.shape(first)[1])
    classes = [str(c) for c in (first_classes if first_classes is not None else range(width))]
    if len(classes) != width:
        raise ValueError(f"{width} probability columns but {len(classes)} classes")
    matrix = np.full((rows, width), np.nan)
    missing = np.ones(rows, dtype=bool)
    offset = 0
    for batch in batches:
        count = len(batch)
        if batch.probabilities is not None:
            names = None if batch.classes is None else [str(c) for c in batch.classes]
            if names not in (None, classes) or np.shape(batch.probabilities)[1] != width:
                raise ValueError("probabilities with different classes in one group")
            matrix[offset : offset + count] = batch.probabilities
            missing[offset : offset + count] = False
        offset += count
    mask = missing if missing.any() else None
    return {
        f"output.proba.{name}": pa.array(matrix[:, j], mask=mask) for j, name in enumerate(classes)
    }


def _batches_table(batches: Sequence[LogBatch]) -> pa.Table:
    """One table from batches of one (endpoint, model, version, role)."""
    import numpy as np
    import pyarrow as pa

    first = batches[0]
    counts = [len(batch) for batch in batches]
    rows = sum(counts)
    ids = (
        list(first.prediction_ids)
        if len(batches) == 1
        else [pid for batch in batches for pid in batch.prediction_ids]
    )
    errors = [batch.error for batch in batches]
    columns: dict[str, Any] = {
        "prediction_id": _values(ids)
        if ids and not isinstance(ids[0], str)
        else pa.array(ids, pa.string()),
        "endpoint": pa.repeat(pa.scalar(first.endpoint, pa.string()), rows),
        "model": pa.repeat(pa.scalar(first.model, pa.string()), rows),
        "version": pa.repeat(pa.scalar(first.version, pa.int32()), rows),
        "role": pa.repeat(pa.scalar(first.role, pa.string()), rows),
        "ts": _timestamps(_concat([batch.received_at for batch in batches])),
        "latency_ms": pa.array(_concat([batch.latency_ms for batch in batches]), pa.float64()),
        "status": pa.array(np.repeat(np.array([b.status for b in batches], np.int16), counts)),
        "error": pa.nulls(rows, pa.string())
        if all(e is None for e in errors)
        else pa.array(np.repeat(np.array(errors, dtype=object), counts), pa.string()),
    }
    columns.update(_input_columns(batches))
    prediction = _prediction_column(batches)
    if prediction is not None:
        columns["output.prediction"] = prediction
    columns.update(_proba_columns(batches, rows))
    return pa.table(columns)


def prediction_tables(
    batches: Sequence[LogBatch],
) -> tuple[list[tuple[pa.Table, list[int]]], list[tuple[int, Exception]]]:
    """Tables for the batches of one group, and the batches that could not be converted.

    The whole group makes one table when its batches agree on inputs and outputs; when
    they do not (a tensor and a frame, different classes), each batch is converted alone
    and batches with equal schemas are merged, so one odd batch costs only itself.

    Returns:
        ``(table, indexes of the batches it holds)`` pairs, and ``(index, error)`` pairs
        for the batches that failed.
    """
    import pyarrow as pa

    try:
        return [(_batches_table(batches), list(range(len(batches))))], []
    except Exception as exc:  # anything a model's odd output can make Arrow raise
        if len(batches) == 1:
            return [], [(0, exc)]
    by_schema: dict[pa.Schema, tuple[list[pa.Table], list[int]]] = {}
    failed: list[tuple[int, Exception]] = []
    for index, batch in enumerate(batches):
        try:
            table = _batches_table([batch])
        except Exception as exc:
            failed.append((index, exc))
            continue
        tables, indexes = by_schema.setdefault(table.schema, ([], []))
        tables.append(table)
        indexes.append(index)
    merged = [(pa.concat_tables(tables), indexes) for tables, indexes in by_schema.values()]
    return merged, failed


def feedback_table(
    prediction_ids: Sequence[Any], labels: Sequence[Any], received_at: np.ndarray[Any, Any]
) -> pa.Table:
    """Feedback rows: ``prediction_id``, ``label`` (one type, text when mixed) and ``ts``."""
    import pyarrow as pa

    ids = list(prediction_ids)
    return pa.table(
        {
            "prediction_id": pa.array(ids, pa.string())
            if all(isinstance(i, str) for i in ids)
            else _as_text(ids),
            "label": _values(list(labels)),
            "ts": _timestamps(received_at),
        }
    )


def split_by_date(table: pa.Table) -> Iterator[tuple[str, pa.Table]]:
    """A table's rows by the UTC date of their ``ts``: ``("YYYY-MM-DD", rows)`` pairs."""
    import numpy as np
    import pyarrow as pa

    micros = table.column("ts").cast(pa.int64()).to_numpy()
    days = micros // _US_PER_DAY
    first, last = int(days.min()), int(days.max())
    if first == last:
        yield str(np.datetime64(first, "D")), table
        return
    for day in np.unique(days):
        yield str(np.datetime64(int(day), "D")), table.filter(pa.array(days == day))


def parquet_bytes(table: pa.Table) -> bytes:
    """A table as one Parquet file's bytes (zstd; timestamps in microseconds)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = pa.BufferOutputStream()
    pq.write_table(
        table.replace_schema_metadata(None),
        sink,
        compression="zstd",
        coerce_timestamps="us",
        allow_truncated_timestamps=True,
    )
    data: bytes = sink.getvalue().to_pybytes()
    return data
