"""Profiles: mergeable per-column summaries of a table, the reference that monitoring compares to.

A profile is computed column by column on Arrow data with vectorised pyarrow/numpy
operations, and two profiles merge into the profile of the concatenated tables, so the
registry keeps a summary of the training data instead of the data, and monitoring profiles
windows of the prediction log out of core and merges them::

    >>> import pyarrow as pa
    >>> p = profile(pa.table({"x": [1.0, 2.0, None, 4.0], "c": ["a", "b", "a", None]}))
    >>> p.columns["x"].count, p.columns["x"].missing, p.columns["x"].quantile(0.5)
    (3, 1, 2.0)
    >>> merge(p, p).columns["c"].top
    (('a', 4), ('b', 2))
    >>> Profile.from_dict(p.to_dict()) == p
    True

How each Arrow type is summarised (``dtype`` is the name merges compare):

- ``bool``, integers (``int``), floats and decimals (``float``) are numeric; so are
  timestamps, dates, times and durations, as integers of their own unit since the epoch
  (``dtype`` is the Arrow type, e.g. ``timestamp[us, tz=UTC]``, so units never mix).
  Numeric columns keep count, nulls, NaNs (both are ``missing``), exact min and max,
  mean and population variance (merged with Chan's formulas) and a `QuantileSketch`.
  Values go through float64 for the mean, variance and sketch (integers beyond 2**53
  round); infinities are values, which makes the mean and variance non-finite.
- Strings and dictionaries of strings are categorical (``string``): count, nulls, the
  ``top_k`` most frequent values with exact counts (ties broken by value), an ``other``
  count for the rest, and the number of distinct values, exact while every value is in
  ``top`` (``other == 0``) and otherwise a HyperLogLog estimate (4096 registers, standard
  error 1.6%). Dictionaries of other types are profiled as their decoded values.
- The ``null`` type (all values missing, e.g. an all-None pandas column) and types with no
  summary here (lists, structs, binary) keep count and nulls only (`OtherProfile`).

Merging adds counts, takes min/max, and merges sketches, top-k tables and HyperLogLog
registers. ``merge(profile(a), profile(b))`` equals ``profile(concat(a, b))`` exactly in
counts, nulls, NaNs, min, max and distinct-value registers, to rounding in mean and
variance, within the reported rank error in quantiles, and exactly in top-k while the
union of values fits in k. Beyond k, a merged count is a lower bound, short by at most the
``other`` counts of the inputs that did not list the value. Merging is commutative. Types
must agree column by column; ``int`` merges with ``float`` into ``float`` (pandas turns an
integer column with a missing value into float64), and ``null`` merges with any type.

Quantile error. The sketch is a KLL-style compactor hierarchy: a level-h item stands for
2**h values, and a full level is sorted and halved by keeping every other item from a
random offset. One such compaction moves any rank by at most 2**h, zero on average, so the
sketch certifies its own error from its history: `QuantileSketch.rank_error` bounds
``|estimated rank - true rank| / n`` for one query, either for sure (the sum of the moves)
or at a confidence level (Azuma-Hoeffding on the same moves), whichever is smaller.
With the default ``k=256`` a sketch keeps at most about 3 * 256 items (6 KiB) and is
exact up to 256 values; at 99% confidence its bound is at most 0.6% for any table
profiled in one call (0.54% was the worst over sizes from 257 to 20 million rows) and
at most 1.1% after merging up to 10,000 windows (1.01% measured for 10,000 x 1,000
rows). Quantile queries return data values (the inverted-CDF definition); on an empty
column they return NaN. Compaction coins come from a generator seeded by the data, so a
profile is reproducible and ``merge`` commutative; the confidence bound treats the coins
as fair ones.
"""

from __future__ import annotations

import base64
import math
import sys
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, ClassVar, TypeAlias

from shipyard.core._sketches import (
    _CHUNK,
    _HLL_M,
    _MAX_SKETCH_K,
    _MIN_SKETCH_K,
    DEFAULT_SKETCH_K,
    PROFILE_VERSION,
    QuantileSketch,
    _check_int,
    _dump_float,
    _hll_estimate,
    _hll_registers,
    _load_float,
    _load_int,
    _non_negative,
    _parsing,
)
from shipyard.core.errors import InvalidInputError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import pandas as pd
    import pyarrow as pa

    FloatArray: TypeAlias = npt.NDArray[np.float64]

__all__ = [
    "DEFAULT_SKETCH_K",
    "DEFAULT_TOP_K",
    "PROFILE_VERSION",
    "CategoricalProfile",
    "ColumnProfile",
    "NumericProfile",
    "OtherProfile",
    "Profile",
    "QuantileSketch",
    "merge",
    "profile",
]

#: How many of the most frequent values a categorical column keeps with exact counts.
DEFAULT_TOP_K = 100
_READER_BATCH_ROWS = 1 << 20


# -- column profiles -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NumericProfile:
    """Summary of a numeric, boolean or temporal column.

    ``count`` is the number of present values; ``nulls`` and ``nans`` are missing ones.
    ``min``/``max`` keep the column's own kind of number (int for ints, bools and temporal
    types); they, ``mean`` and ``variance`` are None while ``count`` is 0. Quantile
    queries answer in float64 from ``sketch`` (see `QuantileSketch`).
    """

    kind: ClassVar[str] = "numeric"

    dtype: str
    count: int
    nulls: int
    nans: int
    min: int | float | None
    max: int | float | None
    mean: float | None
    m2: float
    sketch: QuantileSketch

    @property
    def missing(self) -> int:
        """Nulls plus NaNs."""
        return self.nulls + self.nans

    @property
    def rows(self) -> int:
        """Rows seen: present plus missing values."""
        return self.count + self.missing

    @property
    def variance(self) -> float | None:
        """Population variance (ddof=0, as numpy's ``var``)."""
        return self.m2 / self.count if self.count else None

    @property
    def std(self) -> float | None:
        """Population standard deviation."""
        return math.sqrt(self.m2 / self.count) if self.count else None

    def quantile(self, q: float) -> float:
        """See `QuantileSketch.quantile`."""
        return self.sketch.quantile(q)

    def quantiles(self, qs: Iterable[float]) -> FloatArray:
        """See `QuantileSketch.quantiles`."""
        return self.sketch.quantiles(qs)

    def cdf(self, xs: Iterable[float], *, inclusive: bool = True) -> FloatArray:
        """See `QuantileSketch.cdf`."""
        return self.sketch.cdf(xs, inclusive=inclusive)

    def bin_counts(self, edges: Iterable[float]) -> npt.NDArray[np.int64]:
        """See `QuantileSketch.bin_counts`."""
        return self.sketch.bin_counts(edges)

    def rank_error(self, confidence: float | None = 0.99) -> float:
        """See `QuantileSketch.rank_error`."""
        return self.sketch.rank_error(confidence)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "kind": self.kind,
            "dtype": self.dtype,
            "count": self.count,
            "nulls": self.nulls,
            "nans": self.nans,
            "min": _dump_float(self.min) if isinstance(self.min, float) else self.min,
            "max": _dump_float(self.max) if isinstance(self.max, float) else self.max,
            "mean": None if self.mean is None else _dump_float(self.mean),
            "m2": _dump_float(self.m2),
            "sketch": self.sketch.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NumericProfile:
        """Rebuild from `to_dict` output; InvalidInputError if it is not one."""
        with _parsing("NumericProfile"):
            is_float = data["dtype"] == "float"

            def bound(value: Any) -> int | float | None:
                if value is None:
                    return None
                return _load_float(value) if is_float else _load_int(value)

            return cls(
                dtype=str(data["dtype"]),
                count=_non_negative(data["count"], "count"),
                nulls=_non_negative(data["nulls"], "nulls"),
                nans=_non_negative(data["nans"], "nans"),
                min=bound(data["min"]),
                max=bound(data["max"]),
                mean=None if data["mean"] is None else _load_float(data["mean"]),
                m2=_load_float(data["m2"]),
                sketch=QuantileSketch.from_dict(data["sketch"]),
            )


@dataclass(frozen=True, slots=True)
class CategoricalProfile:
    """Summary of a string column: the k most frequent values, the rest, distinct values.

    ``top`` lists ``(value, count)`` by count descending then value; ``other`` counts the
    present values not in ``top``; ``count`` is every present value.
    """

    kind: ClassVar[str] = "categorical"

    dtype: str
    count: int
    nulls: int
    top: tuple[tuple[str, int], ...]
    other: int
    k: int
    registers: bytes

    @property
    def missing(self) -> int:
        """Nulls (an empty string is a value)."""
        return self.nulls

    @property
    def rows(self) -> int:
        """Rows seen: present plus missing values."""
        return self.count + self.nulls

    @property
    def distinct_is_exact(self) -> bool:
        """True when every value seen is in ``top``, so ``distinct`` is exact."""
        return self.other == 0

    @property
    def distinct(self) -> int:
        """Distinct present values: exact when `distinct_is_exact`, else HyperLogLog."""
        if self.other == 0:
            return len(self.top)
        return max(round(_hll_estimate(self.registers)), len(self.top) + 1)

    def frequencies(self) -> dict[str, int]:
        """``top`` as a dict, value to count."""
        return dict(self.top)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; the HyperLogLog registers are zlib-compressed, base64."""
        return {
            "kind": self.kind,
            "dtype": self.dtype,
            "count": self.count,
            "nulls": self.nulls,
            "top": [[value, count] for value, count in self.top],
            "other": self.other,
            "k": self.k,
            "hll": base64.b64encode(zlib.compress(self.registers)).decode("ascii"),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CategoricalProfile:
        """Rebuild from `to_dict` output; InvalidInputError if it is not one."""
        with _parsing("CategoricalProfile"):
            registers = zlib.decompress(base64.b64decode(data["hll"], validate=True))
            if len(registers) != _HLL_M:
                raise ValueError(f"hll has {len(registers)} registers, expected {_HLL_M}")
            top = tuple((str(value), _non_negative(n, "top")) for value, n in data["top"])
            return cls(
                dtype=str(data["dtype"]),
                count=_non_negative(data["count"], "count"),
                nulls=_non_negative(data["nulls"], "nulls"),
                top=top,
                other=_non_negative(data["other"], "other"),
                k=_non_negative(data["k"], "k") or 1,
                registers=registers,
            )


@dataclass(frozen=True, slots=True)
class OtherProfile:
    """Counts only: the ``null`` type, or a type with no summary here (lists, binary...)."""

    kind: ClassVar[str] = "other"

    dtype: str
    count: int
    nulls: int

    @property
    def missing(self) -> int:
        """Nulls."""
        return self.nulls

    @property
    def rows(self) -> int:
        """Rows seen: present plus missing values."""
        return self.count + self.nulls

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"kind": self.kind, "dtype": self.dtype, "count": self.count, "nulls": self.nulls}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OtherProfile:
        """Rebuild from `to_dict` output; InvalidInputError if it is not one."""
        with _parsing("OtherProfile"):
            return cls(
                dtype=str(data["dtype"]),
                count=_non_negative(data["count"], "count"),
                nulls=_non_negative(data["nulls"], "nulls"),
            )


ColumnProfile: TypeAlias = NumericProfile | CategoricalProfile | OtherProfile
_KINDS: dict[str, type[NumericProfile] | type[CategoricalProfile] | type[OtherProfile]] = {
    "numeric": NumericProfile,
    "categorical": CategoricalProfile,
    "other": OtherProfile,
}


# -- the table profile ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Profile:
    """Per-column summaries of a table, in the table's column order."""

    num_rows: int
    columns: Mapping[str, ColumnProfile]

    def merge(self, other: Profile) -> Profile:
        """The profile of both tables together; see `merge`."""
        return merge(self, other)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict with ``"version": 1``; floats that JSON lacks become strings."""
        return {
            "version": PROFILE_VERSION,
            "num_rows": self.num_rows,
            "columns": {name: column.to_dict() for name, column in self.columns.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Profile:
        """Rebuild a profile from `to_dict` output (for example after ``json.loads``).

        Raises:
            InvalidInputError: the version is not 1, or the dict is not a profile.
        """
        version = data.get("version") if isinstance(data, Mapping) else None
        if type(version) is not int or version != PROFILE_VERSION:
            raise InvalidInputError(
                f"profile version {version!r} is not supported: this shipyard reads version "
                f"{PROFILE_VERSION}; a newer profile needs a newer shipyard, and a dict "
                "without a version is not a profile"
            )
        with _parsing("Profile"):
            columns: dict[str, ColumnProfile] = {}
            for name, column in data["columns"].items():
                kind = _KINDS.get(column["kind"])
                if kind is None:
                    raise ValueError(f"column {name!r} has unknown kind {column['kind']!r}")
                columns[str(name)] = kind.from_dict(column)
            return cls(num_rows=_non_negative(data["num_rows"], "num_rows"), columns=columns)


def merge(*profiles: Profile) -> Profile:
    """Merge profiles of tables with the same columns into the profile of their union.

    Commutative; see the module docstring for what is exact and what is bounded.

    Args:
        *profiles: one or more profiles with the same column names.

    Returns:
        A new profile; the inputs are unchanged.

    Raises:
        InvalidInputError: no profile given, the column names differ, or a column's types
            disagree (schema drift).
    """
    if not profiles or not all(isinstance(p, Profile) for p in profiles):
        raise InvalidInputError(
            f"merge() takes one or more Profile objects, got "
            f"{[type(p).__name__ for p in profiles]}; build them with profile(table)"
        )
    result = profiles[0]
    for other in profiles[1:]:
        only_ours = [name for name in result.columns if name not in other.columns]
        only_theirs = [name for name in other.columns if name not in result.columns]
        if only_ours or only_theirs:
            raise InvalidInputError(
                f"cannot merge profiles with different columns: {only_ours} only in the first, "
                f"{only_theirs} only in the second; profile the same columns "
                "(profile(table, columns=[...])) on both sides"
            )
        merged = {
            name: _merge_column(name, col, other.columns[name])
            for name, col in result.columns.items()
        }
        result = Profile(result.num_rows + other.num_rows, merged)
    return result


def _merge_column(name: str, a: ColumnProfile, b: ColumnProfile) -> ColumnProfile:
    if a.dtype == "null" and isinstance(a, OtherProfile):
        return replace(b, nulls=b.nulls + a.nulls)
    if b.dtype == "null" and isinstance(b, OtherProfile):
        return replace(a, nulls=a.nulls + b.nulls)
    dtype = a.dtype if a.dtype == b.dtype else None
    if {a.dtype, b.dtype} == {"int", "float"}:
        dtype = "float"
    if dtype is None or a.kind != b.kind:
        raise InvalidInputError(
            f"column {name!r} is {a.dtype} in one profile and {b.dtype} in the other; profiles "
            "merge only when each column keeps its type: cast it to one type before profiling, "
            "or treat the change as schema drift"
        )
    if isinstance(a, NumericProfile) and isinstance(b, NumericProfile):
        return _merge_numeric(a, b, dtype)
    if isinstance(a, CategoricalProfile) and isinstance(b, CategoricalProfile):
        return _merge_categorical(a, b)
    return OtherProfile(dtype, a.count + b.count, a.nulls + b.nulls)


def _merge_numeric(a: NumericProfile, b: NumericProfile, dtype: str) -> NumericProfile:
    count = a.count + b.count
    lo, hi, mean, m2 = a.min, a.max, a.mean, a.m2
    if b.min is None or b.max is None or b.mean is None:
        pass
    elif a.min is None or a.max is None or a.mean is None:
        lo, hi, mean, m2 = b.min, b.max, b.mean, b.m2
    else:
        lo, hi = min(a.min, b.min), max(a.max, b.max)
        # Symmetric forms (Chan et al.), so merge(a, b) and merge(b, a) agree bit for bit.
        mean = (a.count * a.mean + b.count * b.mean) / count
        delta = b.mean - a.mean
        m2 = (a.m2 + b.m2) + delta * delta * float(a.count * b.count) / count
    if dtype == "float":
        lo, hi = (None if lo is None else float(lo)), (None if hi is None else float(hi))
    return NumericProfile(
        dtype=dtype,
        count=count,
        nulls=a.nulls + b.nulls,
        nans=a.nans + b.nans,
        min=lo,
        max=hi,
        mean=mean,
        m2=m2,
        sketch=a.sketch.merge(b.sketch),
    )


def _merge_categorical(a: CategoricalProfile, b: CategoricalProfile) -> CategoricalProfile:
    import numpy as np

    counts = dict(a.top)
    for value, n in b.top:
        counts[value] = counts.get(value, 0) + n
    k = min(a.k, b.k)
    top = tuple(sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:k])
    count = a.count + b.count
    registers = np.maximum(
        np.frombuffer(a.registers, np.uint8), np.frombuffer(b.registers, np.uint8)
    )
    return CategoricalProfile(
        dtype=a.dtype,
        count=count,
        nulls=a.nulls + b.nulls,
        top=top,
        other=count - sum(n for _, n in top),
        k=k,
        registers=registers.tobytes(),
    )


# -- profiling Arrow data ------------------------------------------------------------------


def profile(
    data: pa.Table | pa.RecordBatch | pa.RecordBatchReader | pd.DataFrame,
    *,
    columns: Sequence[str] | None = None,
    top_k: int = DEFAULT_TOP_K,
    sketch_k: int = DEFAULT_SKETCH_K,
) -> Profile:
    """Profile a table column by column.

    Args:
        data: a ``pyarrow.Table``, ``RecordBatch`` or ``RecordBatchReader`` (read about a
            million rows at a time and merged, so it may be larger than memory), or a
            pandas DataFrame (converted with pyarrow, without its index).
        columns: the columns to profile, in this order; all of them by default.
        top_k: how many most frequent values a categorical column keeps.
        sketch_k: the quantile sketch's size parameter (see the module docstring).

    Returns:
        The profile.

    Raises:
        InvalidInputError: ``data`` is of another type or pyarrow cannot convert it, a
            column is named twice or does not exist, or a parameter is out of range.

    Example:
        >>> import pyarrow as pa
        >>> profile(pa.table({"x": [3, 1, 2]})).columns["x"].max
        3
    """
    import pyarrow as pa

    _check_int("top_k", top_k, 1, 1 << 20, DEFAULT_TOP_K)
    _check_int("sketch_k", sketch_k, _MIN_SKETCH_K, _MAX_SKETCH_K, DEFAULT_SKETCH_K)
    options = (columns, top_k, sketch_k)
    if not isinstance(data, pa.RecordBatchReader):
        return _profile_table(_as_table(data), *options)
    parts: list[Profile] = []
    pending: list[pa.RecordBatch] = []
    rows = 0
    for batch in data:
        pending.append(batch)
        rows += batch.num_rows
        if rows >= _READER_BATCH_ROWS:
            parts.append(_profile_table(pa.Table.from_batches(pending), *options))
            pending, rows = [], 0
    if pending or not parts:
        parts.append(_profile_table(pa.Table.from_batches(pending, data.schema), *options))
    return merge(*parts)


def _as_table(data: Any) -> pa.Table:
    import pyarrow as pa

    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    pandas = sys.modules.get("pandas")
    if pandas is not None and isinstance(data, pandas.DataFrame):
        try:
            return pa.Table.from_pandas(data, preserve_index=False)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
            raise InvalidInputError(
                f"pyarrow cannot convert this DataFrame: {exc}; give each column one type "
                "(e.g. df[col].astype('string')) before profiling"
            ) from exc
    raise InvalidInputError(
        f"profile() takes a pyarrow Table, RecordBatch or RecordBatchReader, or a pandas "
        f"DataFrame; got {type(data).__name__}. Wrap plain data with pyarrow.table({{...}})"
    )


def _profile_table(
    table: pa.Table, columns: Sequence[str] | None, top_k: int, sketch_k: int
) -> Profile:
    names = list(table.column_names) if columns is None else list(columns)
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise InvalidInputError(
            f"column names must be unique, but {repeated} appear more than once; rename them "
            "(table.rename_columns([...])) or pick distinct columns=[...]"
        )
    unknown = [name for name in names if name not in table.column_names]
    if unknown:
        raise InvalidInputError(
            f"columns {unknown} are not in the table, which has {table.column_names}"
        )
    # One column at a time, one thread: a thread per column gained nothing on two cores
    # (0.230 s against 0.233 s in benchmarks/profile.py) and lost under load.
    profiles = {name: _profile_column(table.column(name), top_k, sketch_k) for name in names}
    return Profile(num_rows=table.num_rows, columns=profiles)


def _is_string(t: pa.DataType) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t))


def _numeric_dtype(t: pa.DataType) -> str | None:
    import pyarrow as pa

    if pa.types.is_boolean(t):
        return "bool"
    if pa.types.is_integer(t):
        return "int"
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "float"
    if pa.types.is_temporal(t) and not pa.types.is_interval(t):
        return str(t)
    return None


def _profile_column(col: pa.ChunkedArray, top_k: int, sketch_k: int) -> ColumnProfile:
    import pyarrow as pa

    t = col.type
    if pa.types.is_dictionary(t):
        if _is_string(t.value_type):
            return _profile_categorical(col, top_k)
        col, t = col.cast(t.value_type), t.value_type
    if _is_string(t):
        return _profile_categorical(col, top_k)
    if pa.types.is_null(t):
        return OtherProfile("null", 0, len(col))
    dtype = _numeric_dtype(t)
    if dtype is None:
        return OtherProfile(str(t), len(col) - col.null_count, col.null_count)
    return _profile_numeric(col, dtype, sketch_k)


def _profile_numeric(col: pa.ChunkedArray, dtype: str, sketch_k: int) -> NumericProfile:
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    nulls = col.null_count
    if nulls:
        col = pc.drop_null(col)
    if pa.types.is_decimal(col.type):
        col = col.cast(pa.float64())
    elif pa.types.is_temporal(col.type):
        col = col.cast(pa.int32() if col.type.bit_width == 32 else pa.int64())
    chunks = [chunk.to_numpy(zero_copy_only=False) for chunk in col.chunks] or [
        pa.array([], col.type).to_numpy(zero_copy_only=False)
    ]
    values = np.concatenate(chunks) if len(chunks) != 1 else chunks[0]
    nans = 0
    if dtype == "float":
        values = values.astype(np.float64, copy=False)
        nan = np.isnan(values)
        nans = int(np.count_nonzero(nan))
        if nans:
            values = values[~nan]
    if not len(values):
        return NumericProfile(
            dtype, 0, nulls, nans, None, None, None, 0.0, QuantileSketch(sketch_k)
        )
    low, high = values.min(), values.max()
    # Integers and bools become float64 a chunk at a time: no n-sized temporary.
    with np.errstate(invalid="ignore", over="ignore"):  # infinities make these inf or NaN
        mean = float(values.mean(dtype=np.float64))
        m2 = 0.0
        for start in range(0, len(values), _CHUNK):
            deviations = values[start : start + _CHUNK] - mean
            # einsum, not a BLAS dot: OpenBLAS threads would spin on every other core.
            m2 += float(np.einsum("i,i->", deviations, deviations))
    return NumericProfile(
        dtype=dtype,
        count=len(values),
        nulls=nulls,
        nans=nans,
        min=float(low) + 0.0 if dtype == "float" else int(low),  # + 0.0: no -0.0, so merges
        max=float(high) + 0.0 if dtype == "float" else int(high),  # are commutative bit for bit
        mean=mean,
        m2=m2,
        sketch=QuantileSketch._build(values, sketch_k, (float(low), float(high))),
    )


def _profile_categorical(col: pa.ChunkedArray, top_k: int) -> CategoricalProfile:
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_string_view(col.type):  # value_counts reports its nulls as ""
        col = col.cast(pa.large_string())
    counted = pc.value_counts(col)
    values, counts = counted.field("values"), counted.field("counts")
    if values.null_count:
        present = values.is_valid()
        values, counts = values.filter(present), counts.filter(present)
    values = values.cast(pa.large_string())
    order = pc.sort_indices(
        pa.table({"v": values, "c": counts}), sort_keys=[("c", "descending"), ("v", "ascending")]
    )
    head = order[:top_k]
    top = tuple(zip(values.take(head).to_pylist(), counts.take(head).to_pylist(), strict=True))
    count = len(col) - col.null_count
    return CategoricalProfile(
        dtype="string",
        count=count,
        nulls=col.null_count,
        top=top,
        other=count - sum(n for _, n in top),
        k=top_k,
        registers=_hll_registers(values),
    )
