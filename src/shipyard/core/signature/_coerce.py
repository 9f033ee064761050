"""Coercing one request column to the dtype its ColumnSpec promises, one coercer per type."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from shipyard.core.signature._errors import _Issue, _Issues
from shipyard.core.signature._types import (
    _INT_BITS,
    _NOT_NUMBERS,
    _T,
    _WHOLE,
    ColumnSpec,
    ColumnType,
)
from shipyard.core.signature._values import _is_bool, _is_number

__all__: list[str] = []


@dataclass
class _Column:
    """One request column under check: its spec, raw values, where the nulls are, its kind.

    ``kind`` is the numpy kind (``b i u f O M U S``) of a numpy or masked pandas array, or
    ``""`` for other extension arrays; ``inferred`` is pandas' ``infer_dtype`` of an object
    column's non-null values (``"integer"``, ``"string"``...), else ``""``.
    """

    spec: ColumnSpec
    position: int
    raw: Any
    nulls: Any
    kind: str
    inferred: str
    issues: _Issues
    failed: bool = False

    def refuse(self, rows: Any, expected: str, hint: str = "") -> None:
        """Record the rows (positions) as errors."""
        if len(rows):
            self.failed = True
            issue = _Issue(self.spec.name, self.position, expected, hint, rows, self.raw)
            self.issues.add(issue)

    def refuse_unless(self, accepts: Any, expected: str, hint: str = "") -> bool:
        """Check each non-null value with ``accepts`` (the slow path); True if any failed."""
        import numpy as np

        values = self.objects()
        rows = [i for i in np.flatnonzero(~self.nulls) if not accepts(values[i])]
        self.refuse(np.asarray(rows, dtype=np.int64), expected, hint)
        return bool(rows)

    def objects(self) -> Any:
        """The values as a numpy object array."""
        import numpy as np

        return self.raw if self.kind == "O" else np.asarray(self.raw, dtype=object)


# Kinds of object column that cannot hold a null, so the null scan can be skipped.
_NULL_FREE = frozenset({"string", "integer", "boolean", "bytes"})
_NUMBER_KINDS = frozenset({"integer", "floating", "mixed-integer-float", "decimal", "empty"})
_ISO = "send an ISO 8601 string such as 2013-01-01T05:00:00, with an offset if needed"
_LOCAL = "the model learned from local times; send them without an offset"


def _coerce_column(spec: ColumnSpec, position: int, raw: Any, issues: _Issues) -> Any:
    """The column converted to the spec's dtype, or None after recording its problems."""
    import numpy as np
    import pandas as pd

    kind = _array_kind(raw)
    inferred = ""
    if kind == "O":
        inferred = pd.api.types.infer_dtype(raw, skipna=False)
        if inferred in _NULL_FREE:
            nulls = np.zeros(len(raw), dtype=bool)
        else:
            nulls = pd.isna(raw)
            if nulls.any():
                inferred = pd.api.types.infer_dtype(raw, skipna=True)
    else:
        nulls = np.asarray(pd.isna(raw), dtype=bool)
    column = _Column(spec, position, raw, nulls, kind, inferred, issues)
    if not spec.nullable and nulls.any():
        column.refuse(
            np.flatnonzero(nulls),
            f"a non-null {spec.type_label}",
            "the column had no missing values in training; send a value",
        )
    result = _COERCERS[spec.type](column)
    return None if column.failed else result


def _array_kind(raw: Any) -> str:
    """The numpy kind of a numpy array or of a masked/Arrow numeric pandas array, else ''."""
    import numpy as np

    dtype = raw.dtype
    if isinstance(dtype, np.dtype):
        return dtype.kind
    base = getattr(dtype, "numpy_dtype", None)
    if isinstance(base, np.dtype) and base.kind in "biuf":
        return base.kind
    return ""


def _to_float(column: _Column) -> Any:
    """float64 values with NaN at the nulls, or None if a non-null value is not a number."""
    import numpy as np

    raw = column.raw
    if column.kind in ("i", "u", "f"):
        if isinstance(raw, np.ndarray):
            return raw.astype(np.float64, copy=False)
        return raw.to_numpy(dtype=np.float64, na_value=np.nan)
    if column.kind == "O" and column.inferred in _NUMBER_KINDS:
        values = raw
        if column.nulls.any():
            values = raw.copy()
            values[column.nulls] = np.nan
        try:
            return values.astype(np.float64)
        except (TypeError, ValueError, OverflowError):
            return None
    return None


def _to_float_slow(column: _Column) -> Any:
    """float64 of numbers too big for float64 (as inf), only to report them out of range."""
    import numpy as np

    def to_float(value: Any) -> float:
        try:
            return float(value)
        except OverflowError:
            return math.inf

    pairs = zip(column.objects(), column.nulls, strict=True)
    return np.asarray([math.nan if null else to_float(value) for value, null in pairs])


def _coerce_float(column: _Column) -> Any:
    import numpy as np

    label = column.spec.type_label
    values = None if column.kind == "b" else _to_float(column)
    if values is None:
        if not column.refuse_unless(_is_number, label, _NOT_NUMBERS):
            column.refuse(np.flatnonzero(np.isinf(_to_float_slow(column))), label, "out of range")
        return None
    if column.spec.type is _T.DOUBLE:
        return values
    with np.errstate(over="ignore"):
        narrowed = values.astype(np.float32)
    overflow = np.flatnonzero(np.isinf(narrowed) & np.isfinite(values))
    column.refuse(overflow, label, "the value is beyond float32's range (about 3.4e38)")
    return narrowed


def _coerce_int(column: _Column) -> Any:
    import numpy as np

    spec, raw, nulls = column.spec, column.raw, column.nulls
    bits = _INT_BITS[spec.type]
    target = np.dtype(f"int{bits}")
    label = f"{spec.type_label} (a whole number of {bits} bits)"
    ints = None
    if column.kind in ("i", "u"):
        ints = (
            raw if isinstance(raw, np.ndarray) else raw.to_numpy(raw.dtype.numpy_dtype, na_value=0)
        )
    elif column.kind == "O" and column.inferred in ("integer", "empty"):
        filled = raw
        if nulls.any():
            filled = raw.copy()
            filled[nulls] = 0
        try:
            ints = filled.astype(np.int64)
        except OverflowError:
            ints = None  # beyond 64 bits: the float path below reports them out of range
    if ints is not None:
        column.refuse(np.flatnonzero(_outside(ints, target)), label, "out of range")
        return _int_result(ints.astype(target, copy=False), column)
    floats = None if column.kind == "b" else _to_float(column)
    if floats is None:
        if column.refuse_unless(_is_number, label, _NOT_NUMBERS):
            return None
        floats = _to_float_slow(column)
    low, high = -(2 ** (bits - 1)), 2 ** (bits - 1)  # high is exclusive
    with np.errstate(invalid="ignore"):
        whole = nulls | (np.isfinite(floats) & (floats == np.trunc(floats)))
        inside = nulls | ~whole | ((floats >= low) & (floats < high))
    column.refuse(np.flatnonzero(~whole), label, _WHOLE)
    column.refuse(np.flatnonzero(~inside), label, "out of range")
    if column.failed:
        return None
    return _int_result(np.where(nulls, 0, floats).astype(target), column)


def _outside(ints: Any, target: Any) -> Any:
    """Where integers do not fit the target integer dtype."""
    import numpy as np

    source, limits = np.iinfo(ints.dtype), np.iinfo(target)
    outside = np.zeros(len(ints), dtype=bool)
    if source.max > limits.max:
        outside |= ints > ints.dtype.type(limits.max)
    if source.min < limits.min:
        outside |= ints < ints.dtype.type(limits.min)
    return outside


def _int_result(values: Any, column: _Column) -> Any:
    import pandas as pd

    if not column.spec.nullable:
        return values
    return pd.arrays.IntegerArray(values, column.nulls.copy())


def _coerce_bool(column: _Column) -> Any:
    import numpy as np
    import pandas as pd

    raw, nulls = column.raw, column.nulls
    if column.kind == "b":
        values = raw if isinstance(raw, np.ndarray) else raw.to_numpy(bool, na_value=False)
    elif column.kind == "O" and column.inferred in ("boolean", "empty"):
        values = raw.copy()
        values[nulls] = False
        values = values.astype(bool)
    else:
        column.refuse_unless(_is_bool, "boolean", "send true or false, not 0/1 or text")
        return None
    return pd.arrays.BooleanArray(values, nulls.copy()) if column.spec.nullable else values


def _string_dtype() -> Any:
    """pandas' default string dtype: ``str`` in pandas 3, object before."""
    import numpy as np
    import pandas as pd

    if int(pd.__version__.split(".")[0]) >= 3:
        return pd.StringDtype(na_value=np.nan)
    return np.dtype(object)


def _as_strings(column: _Column, hint: str) -> Any:
    """The column if it holds only strings (and nulls), else None after refusing the rest."""
    import pandas as pd

    dtype = column.raw.dtype
    if isinstance(dtype, pd.StringDtype) or column.kind == "U":
        return column.raw
    if isinstance(dtype, pd.CategoricalDtype):
        categories = dtype.categories
        if not len(categories) or pd.api.types.infer_dtype(categories) == "string":
            return column.raw
    values = column.objects()
    inferred = column.inferred or pd.api.types.infer_dtype(values, skipna=True)
    if inferred in ("string", "empty"):
        return values
    column.refuse_unless(lambda v: isinstance(v, str), "string", hint)
    return None


def _coerce_string(column: _Column) -> Any:
    import pandas as pd

    values = _as_strings(column, "numbers are not strings here; quote them")
    dtype = _string_dtype()
    if values is None or dtype == values.dtype:
        return values
    return pd.array(values, dtype=dtype)


def _coerce_category(column: _Column) -> Any:
    import numpy as np
    import pandas as pd

    values = _as_strings(column, "a category is sent as its name")
    if values is None:
        return None
    categories = list(column.spec.categories or ())
    dtype = pd.CategoricalDtype(pd.Index(categories, dtype=_string_dtype()))
    codes = dtype.categories.get_indexer(values)
    shown = ", ".join(map(repr, categories[:10])) + (", ..." if len(categories) > 10 else "")
    column.refuse(
        np.flatnonzero((codes == -1) & ~column.nulls),
        f"one of the {len(categories)} known categories ({shown})",
        "the model never saw this category",
    )
    return None if column.failed else pd.Categorical.from_codes(codes, dtype=dtype)


def _is_datetime_like(value: object) -> bool:
    import numpy as np

    return isinstance(value, str | datetime | date | np.datetime64)


_DATETIME_KINDS = frozenset({"datetime", "datetime64", "date", "string", "empty"})


def _coerce_datetime(column: _Column) -> Any:
    import numpy as np
    import pandas as pd

    spec = column.spec
    if isinstance(column.raw.dtype, pd.DatetimeTZDtype) or column.kind == "M":
        return _set_zone(column, pd.DatetimeIndex(column.raw))
    values = column.objects()
    inferred = column.inferred or pd.api.types.infer_dtype(values, skipna=True)
    if inferred not in _DATETIME_KINDS and column.refuse_unless(
        _is_datetime_like, spec.type_label, _ISO
    ):
        return None
    try:
        parsed = pd.to_datetime(values, format="ISO8601", errors="coerce", cache=False)
    except (ValueError, TypeError):
        # Different offsets, or some values with an offset and some without.
        return _datetime_one_by_one(column, values)
    unparsed = np.flatnonzero(np.asarray(parsed.isna()) & ~column.nulls)
    column.refuse(unparsed, f"{spec.type_label} (an ISO 8601 date-time)", _ISO)
    return None if column.failed else _set_zone(column, parsed)


def _set_zone(column: _Column, parsed: Any) -> Any:
    """Put parsed datetimes in the column's zone and unit, refusing what does not fit."""
    import numpy as np

    spec = column.spec
    if parsed.tz is None and spec.tz is not None:
        parsed = parsed.tz_localize(spec.tz, ambiguous="NaT", nonexistent="NaT")
        column.refuse(
            np.flatnonzero(np.asarray(parsed.isna()) & ~column.nulls),
            spec.type_label,
            f"that local time is skipped or repeated in {spec.tz} (a DST change); "
            "send it with an offset",
        )
    elif parsed.tz is not None and spec.tz is None:
        expected = f"{spec.type_label} (without a time zone)"
        column.refuse(np.flatnonzero(~column.nulls), expected, _LOCAL)
    elif parsed.tz is not None:
        parsed = parsed.tz_convert(spec.tz)
    if column.failed:
        return None
    try:
        return parsed.as_unit(spec.unit).array
    except ValueError:  # OutOfBoundsDatetime: only "ns" is that narrow (1677 to 2262)
        outside = [i for i in np.flatnonzero(~column.nulls) if not _fits(parsed[i], spec.unit)]
        column.refuse(np.asarray(outside), spec.type_label, f"out of range for unit {spec.unit}")
        return None


def _fits(stamp: Any, unit: Any) -> bool:
    try:
        stamp.as_unit(unit)
    except ValueError:
        return False
    return True


def _datetime_one_by_one(column: _Column, values: Any) -> Any:
    """Parse values that mix offsets one at a time (a rare, slower path)."""
    import numpy as np
    import pandas as pd

    spec = column.spec
    parsed: list[Any] = []
    unparsed, aware = [], []
    for i, value in enumerate(values):
        stamp: Any = pd.NaT
        if not column.nulls[i]:
            try:
                stamp = pd.Timestamp(
                    datetime.fromisoformat(value) if isinstance(value, str) else value
                )
            except (ValueError, TypeError):
                unparsed.append(i)
            else:
                if stamp.tzinfo is not None:
                    aware.append(i)
                    stamp = stamp.tz_convert(spec.tz) if spec.tz else stamp
                elif spec.tz is not None:
                    stamp = stamp.tz_localize(spec.tz, ambiguous="NaT", nonexistent="NaT")
        parsed.append(stamp)
    column.refuse(np.asarray(unparsed), f"{spec.type_label} (an ISO 8601 date-time)", _ISO)
    if spec.tz is None:
        column.refuse(np.asarray(aware), f"{spec.type_label} (without a time zone)", _LOCAL)
    if column.failed:
        return None
    zone = pd.DatetimeTZDtype(unit=spec.unit or "us", tz=spec.tz)  # type: ignore[call-overload]
    return _set_zone(column, pd.DatetimeIndex(parsed, dtype=zone))


def _coerce_binary(column: _Column) -> Any:
    import numpy as np
    import pandas as pd

    values = column.objects()
    inferred = column.inferred or pd.api.types.infer_dtype(values, skipna=True)
    if inferred in ("bytes", "empty"):
        return values
    if column.refuse_unless(_is_bytes, "binary (bytes)", "decode text to bytes first"):
        return None
    out = values.copy()
    for i in np.flatnonzero(~column.nulls):
        out[i] = bytes(out[i])
    return out


def _is_bytes(value: object) -> bool:
    return isinstance(value, bytes | bytearray | memoryview)


_COERCERS: dict[ColumnType, Any] = {
    _T.DOUBLE: _coerce_float,
    _T.FLOAT: _coerce_float,
    _T.LONG: _coerce_int,
    _T.INTEGER: _coerce_int,
    _T.BOOLEAN: _coerce_bool,
    _T.STRING: _coerce_string,
    _T.CATEGORY: _coerce_category,
    _T.DATETIME: _coerce_datetime,
    _T.BINARY: _coerce_binary,
}
