"""Inferring a schema or a signature from example data (pandas, pyarrow, numpy, lists)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from shipyard.core.errors import InvalidInputError
from shipyard.core.signature._types import (
    _T,
    _TENSOR_DTYPES,
    ColumnSpec,
    ColumnType,
    ParamSpec,
    Schema,
    Signature,
)
from shipyard.core.signature._values import _describe, _is_arrow, _object_array, _type_name

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["infer_schema", "infer_signature"]


_Nullable = Literal["observed", "all"]


def infer_schema(data: Any, *, nullable: _Nullable = "observed", name: str = "input") -> Schema:
    """Infer a schema from example data, typically the training set.

    Accepts a pandas DataFrame or Series, a pyarrow Table or RecordBatch, a numpy array
    (a tensor; a structured array gives columns), a dict of columns (lists, arrays or
    Series; any array of 2 dimensions or more makes it a dict of tensors) or a list of
    records (dicts).

    Args:
        data: The example data.
        nullable: ``"observed"`` (default) marks a column nullable only when ``data``
            has a missing value in it, so a column complete in training refuses nulls
            when serving. ``"all"`` marks every scalar column nullable.
        name: The name given to an unnamed array or Series.

    Returns:
        The schema, columns in the data's order.

    Raises:
        InvalidInputError: If a column's type cannot be told (all values missing, or
            values of mixed types) or is not supported.

    Example:
        >>> import numpy as np
        >>> str(infer_schema(np.zeros((4, 28, 28), dtype="float32"), name="image"))
        'image: tensor<float32>[-1, 28, 28]'
    """
    import numpy as np
    import pandas as pd

    if nullable not in ("observed", "all"):
        raise InvalidInputError(f"nullable must be 'observed' or 'all', got {nullable!r}.")
    every = nullable == "all"
    if isinstance(data, pd.DataFrame):
        _check_frame_names(data)
        return Schema(
            tuple(_infer_series(str(c), data.iloc[:, i], every) for i, c in enumerate(data.columns))
        )
    if isinstance(data, pd.Series):
        label = data.name if isinstance(data.name, str) and data.name else name
        return Schema((_infer_series(label, data, every),))
    if _is_arrow(data):
        return _infer_arrow(data, every)
    if isinstance(data, np.ndarray):
        if data.dtype.names:
            return infer_schema(pd.DataFrame(data), nullable=nullable)
        return Schema((_infer_tensor(name, data),))
    if isinstance(data, Mapping):
        if not data:
            raise InvalidInputError("Cannot infer a schema from an empty dict; pass some columns.")
        if any(isinstance(v, np.ndarray) and v.ndim > 1 for v in data.values()):
            return Schema(tuple(_infer_tensor(_key(k), np.asarray(v)) for k, v in data.items()))
        return Schema(tuple(_infer_values(_key(k), v, every) for k, v in data.items()))
    if isinstance(data, list | tuple) and data and all(isinstance(r, Mapping) for r in data):
        keys = list(dict.fromkeys(k for record in data for k in record))
        return Schema(tuple(_infer_values(_key(k), [r.get(k) for r in data], every) for k in keys))
    raise InvalidInputError(
        f"Cannot infer a schema from {_type_name(data)}; expected a pandas DataFrame or "
        "Series, a pyarrow Table, a numpy array, a dict of columns or a non-empty list of "
        "records."
    )


def _key(key: object) -> str:
    if not isinstance(key, str):
        raise InvalidInputError(f"Column names must be strings, got {key!r} ({_type_name(key)}).")
    return key


def _check_frame_names(frame: pd.DataFrame) -> None:
    for column in frame.columns:
        _key(column)
    duplicated = frame.columns[frame.columns.duplicated()].tolist()
    if duplicated:
        raise InvalidInputError(
            f"The DataFrame has duplicate columns {duplicated!r}; column names must be unique."
        )


def _infer_tensor(name: str, array: Any) -> ColumnSpec:
    dtype = str(array.dtype)
    if dtype not in _TENSOR_DTYPES or array.ndim == 0:
        raise InvalidInputError(
            f"Cannot use {name!r} as a tensor: dtype {dtype}, shape {array.shape}; expected an "
            f"array of 1 or more dimensions of {', '.join(sorted(_TENSOR_DTYPES))}. For text or "
            "mixed columns pass a pandas DataFrame."
        )
    return ColumnSpec(name, _T.TENSOR, shape=(-1, *array.shape[1:]), dtype=dtype)


def _infer_values(name: str, values: Any, every: bool) -> ColumnSpec:
    """A column given as a list, a 1-D array or a Series."""
    import numpy as np
    import pandas as pd

    if isinstance(values, pd.Series | np.ndarray):
        if getattr(values, "ndim", 1) != 1:
            raise InvalidInputError(f"Column {name!r} must be 1-dimensional.")
        return _infer_series(name, pd.Series(values, copy=False), every)
    if isinstance(values, str | bytes) or not isinstance(values, Sequence):
        raise InvalidInputError(
            f"Column {name!r} must be a list of values, got {_describe(values)}."
        )
    array = _object_array(list(values))
    nulls = pd.isna(array)
    return _infer_object(name, array, nulls, every or bool(nulls.any()))


def _infer_series(name: str, series: pd.Series[Any], every: bool) -> ColumnSpec:
    import numpy as np
    import pandas as pd

    dtype = series.dtype
    nullable = every or bool(series.isna().any())
    if isinstance(dtype, pd.CategoricalDtype):
        categories = dtype.categories
        if len(categories) and pd.api.types.infer_dtype(categories) == "string":
            return ColumnSpec(name, _T.CATEGORY, nullable, categories=tuple(categories))
        values = np.asarray(series, dtype=object)
        return _infer_object(name, values, pd.isna(values), nullable)
    if isinstance(dtype, pd.DatetimeTZDtype):
        return ColumnSpec(name, _T.DATETIME, nullable, tz=_tz_name(dtype.tz), unit=dtype.unit)
    if isinstance(dtype, pd.ArrowDtype):
        return _spec_from_arrow_type(name, dtype.pyarrow_dtype, nullable, series)
    if isinstance(dtype, pd.StringDtype):
        return ColumnSpec(name, _T.STRING, nullable)
    if isinstance(dtype, np.dtype):
        if dtype.kind == "O":
            values = series.to_numpy()
            return _infer_object(name, values, pd.isna(values), nullable)
        if dtype.kind == "M":
            return ColumnSpec(name, _T.DATETIME, nullable, unit=str(np.datetime_data(dtype)[0]))  # type: ignore[arg-type]
        if dtype.kind == "U":
            return ColumnSpec(name, _T.STRING, nullable)
        if dtype.kind == "S":
            return ColumnSpec(name, _T.BINARY, nullable)
    kind = _numeric_type(dtype)
    if kind is None:
        raise InvalidInputError(
            f"Column {name!r} has dtype {dtype}, which a signature cannot describe; expected "
            "numbers, booleans, strings, categories, datetimes or bytes (convert durations "
            "to seconds, for example)."
        )
    return ColumnSpec(name, kind, nullable)


def _numeric_type(dtype: Any) -> ColumnType | None:
    """The type of a numpy or pandas masked numeric/boolean dtype, else None."""
    import numpy as np
    import pandas as pd

    base = dtype if isinstance(dtype, np.dtype) else getattr(dtype, "numpy_dtype", None)
    if not isinstance(base, np.dtype):
        return None
    if isinstance(dtype, np.dtype) or pd.api.types.is_extension_array_dtype(dtype):
        if base.kind == "b":
            return _T.BOOLEAN
        if base.kind == "f":
            return _T.DOUBLE if base.itemsize == 8 else _T.FLOAT
        if base.kind in "iu":
            small = base.itemsize < 4 or (base.itemsize == 4 and base.kind == "i")
            return _T.INTEGER if small else _T.LONG
    return None


def _infer_object(name: str, values: Any, nulls: Any, nullable: bool) -> ColumnSpec:
    """A column of Python objects: tell its type from the non-null values."""
    import pandas as pd

    kind = pd.api.types.infer_dtype(values, skipna=True)
    simple = {
        "string": _T.STRING,
        "integer": _T.LONG,
        "floating": _T.DOUBLE,
        "mixed-integer-float": _T.DOUBLE,
        "decimal": _T.DOUBLE,
        "boolean": _T.BOOLEAN,
        "bytes": _T.BINARY,
    }
    if kind in simple:
        if kind == "integer" and not _fits_int64(values[~nulls]):
            raise InvalidInputError(
                f"Column {name!r} holds integers beyond 64 bits; a signature cannot describe "
                "them. Store them as strings or floats."
            )
        return ColumnSpec(name, simple[kind], nullable)
    if kind in ("datetime", "datetime64", "date"):
        try:
            parsed = pd.to_datetime(values)
        except (ValueError, TypeError) as exc:
            raise InvalidInputError(
                f"Column {name!r} holds datetimes in different time zones ({exc}); convert "
                "them to one, e.g. pd.to_datetime(column, utc=True)."
            ) from None
        tz = getattr(parsed.dtype, "tz", None)
        # Python datetimes hold microseconds: "us", whatever unit parsing picked.
        return ColumnSpec(name, _T.DATETIME, nullable, tz=_tz_name(tz) if tz else None)
    if kind == "empty":
        raise InvalidInputError(
            f"Column {name!r} has no non-null values, so its type cannot be told; drop it, "
            "fill it, or give it a dtype (e.g. df[name].astype('float64'))."
        )
    found = sorted({_type_name(v) for v in values[~nulls][:1000]})
    if len(found) == 1:
        raise InvalidInputError(
            f"Column {name!r} holds {found[0]} values, which a signature cannot describe; "
            "expected numbers, booleans, strings, datetimes or bytes (pass tensors as numpy "
            "arrays)."
        )
    raise InvalidInputError(
        f"Column {name!r} mixes values of types {', '.join(found)}; a column needs one type. "
        "Convert it first (e.g. df[name].astype(str))."
    )


def _fits_int64(values: Any) -> bool:
    import numpy as np

    try:
        values.astype(np.int64)
    except OverflowError:
        return False
    return True


def _tz_name(tz: Any) -> str:
    """A name that pandas turns back into the same zone: IANA key, ``UTC`` or ``+02:00``."""
    for attribute in ("key", "zone"):
        value = getattr(tz, attribute, None)
        if isinstance(value, str):
            return value
    text = str(tz)
    return text.removeprefix("UTC") if text.startswith("UTC") and len(text) > 3 else text


def _infer_arrow(table: Any, every: bool) -> Schema:
    columns = []
    for index, field in enumerate(table.schema):
        column = table.column(index)
        nullable = every or column.null_count > 0
        columns.append(_spec_from_arrow_type(_key(field.name), field.type, nullable, column))
    return Schema(tuple(columns))


def _spec_from_arrow_type(name: str, arrow_type: Any, nullable: bool, column: Any) -> ColumnSpec:
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    types = pa.types
    if types.is_boolean(arrow_type):
        return ColumnSpec(name, _T.BOOLEAN, nullable)
    if types.is_integer(arrow_type) or types.is_floating(arrow_type):
        kind = _numeric_type(np.dtype(arrow_type.to_pandas_dtype()))
        return ColumnSpec(name, kind or _T.DOUBLE, nullable)
    if types.is_decimal(arrow_type):
        return ColumnSpec(name, _T.DOUBLE, nullable)
    if _arrow_is(arrow_type, "string", "large_string", "string_view"):
        return ColumnSpec(name, _T.STRING, nullable)
    if _arrow_is(arrow_type, "binary", "large_binary", "binary_view", "fixed_size_binary"):
        return ColumnSpec(name, _T.BINARY, nullable)
    if types.is_timestamp(arrow_type):
        tz = arrow_type.tz
        return ColumnSpec(name, _T.DATETIME, nullable, tz=tz or None, unit=arrow_type.unit)
    if types.is_date(arrow_type):
        return ColumnSpec(name, _T.DATETIME, nullable)
    if types.is_dictionary(arrow_type):
        series = column.to_pandas() if not isinstance(column, pd.Series) else column
        if isinstance(series.dtype, pd.ArrowDtype):
            series = pd.Series(np.asarray(series, dtype=object)).astype("category")
        return _infer_series(name, series, nullable)
    raise InvalidInputError(
        f"Column {name!r} has Arrow type {arrow_type}, which a signature cannot describe; "
        "expected numbers, booleans, strings, dictionaries of strings, timestamps or binary."
    )


def _arrow_is(arrow_type: Any, *names: str) -> bool:
    import pyarrow as pa

    return any(getattr(pa.types, f"is_{name}", lambda _: False)(arrow_type) for name in names)


def infer_signature(
    inputs: Any,
    outputs: Any = None,
    *,
    classes: Sequence[object] | None = None,
    params: Mapping[str, float | int | bool | str] | None = None,
    nullable: _Nullable = "observed",
) -> Signature:
    """Infer a model's signature from example inputs and the outputs it gave for them.

    Args:
        inputs: Example inputs, anything :func:`infer_schema` reads.
        outputs: Example outputs, or None when unknown. A 1-D array, list or Series is
            one column (labels or values; named after the Series, else ``prediction``);
            a 2-D array with ``classes`` is one probability column per class; another
            array is a tensor named ``prediction``; a DataFrame, dict or records are read
            by :func:`infer_schema`.
        classes: Class names for the columns of a 2-D probability array, in order.
        params: Inference-time parameters and their defaults.
        nullable: As for :func:`infer_schema`, applied to the inputs.

    Returns:
        The signature.

    Raises:
        InvalidInputError: If the examples cannot be described, or ``classes`` does not
            match the outputs.

    Example:
        >>> import numpy as np
        >>> proba = np.array([[0.9, 0.1], [0.2, 0.8]])
        >>> sig = infer_signature({"x": [1.0, 2.0]}, proba, classes=["on_time", "late"])
        >>> str(sig)
        '(x: double) -> (on_time: double, late: double)'
    """
    import numpy as np
    import pandas as pd

    signature_params = tuple(
        ParamSpec(_key(k), _param_type(k, v), v) for k, v in (params or {}).items()
    )
    output_schema: Schema | None = None
    if classes is not None:
        proba = np.asarray(outputs)
        if proba.ndim != 2 or proba.shape[1] != len(classes):
            raise InvalidInputError(
                f"classes names {len(classes)} classes, so outputs must be a 2-D array with "
                f"{len(classes)} columns (one probability per class); got shape {proba.shape}."
            )
        frame = pd.DataFrame(proba, columns=[str(c) for c in classes])
        output_schema = infer_schema(frame)
    elif isinstance(outputs, list | tuple) and not all(isinstance(o, Mapping) for o in outputs):
        output_schema = Schema((_infer_values("prediction", outputs, False),))
    elif outputs is not None:
        if isinstance(outputs, np.ndarray) and outputs.ndim == 1 and not outputs.dtype.names:
            outputs = pd.Series(outputs, name="prediction")
        output_schema = infer_schema(outputs, name="prediction")
    return Signature(infer_schema(inputs, nullable=nullable), output_schema, signature_params)


def _param_type(name: object, value: object) -> ColumnType:
    if isinstance(value, bool):
        return _T.BOOLEAN
    if isinstance(value, int):
        return _T.LONG
    if isinstance(value, float):
        return _T.DOUBLE
    if isinstance(value, str):
        return _T.STRING
    raise InvalidInputError(
        f"Param {name!r} has default {_describe(value)}; expected a bool, int, float or str."
    )
