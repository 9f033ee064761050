"""Validating a request against a schema: tables, tensors and params."""

from __future__ import annotations

import difflib
import operator
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from shipyard.core.errors import InvalidInputError
from shipyard.core.signature._coerce import _coerce_column
from shipyard.core.signature._errors import DEFAULT_MAX_ERRORS, _Issue, _Issues
from shipyard.core.signature._types import ColumnSpec, Schema, Signature, _coerce_param
from shipyard.core.signature._values import _describe, _is_arrow, _object_array, _type_name

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = ["validate", "validate_params", "validate_tensors"]

_Extra = Literal["ignore", "refuse"]


# -- validating a table ------------------------------------------------------------------


def validate(
    schema: Schema,
    data: Any,
    *,
    extra: _Extra = "ignore",
    max_errors: int = DEFAULT_MAX_ERRORS,
) -> pd.DataFrame:
    """Check a request batch against a schema and return it with the schema's dtypes.

    Every problem is found in one pass and reported together; the fast path (all values
    valid) works on whole columns, with no Python loop over cells except to pull
    columns out of records.

    Args:
        schema: A scalar (non-tensor) schema.
        data: A list of records (dicts), a dict of columns (lists, 1-D arrays or Series),
            a pandas DataFrame or a pyarrow Table.
        extra: What to do with columns the schema does not name: ``"ignore"`` drops
            them, ``"refuse"`` reports each as an error.
        max_errors: How many errors the exception lists (all are counted).

    Returns:
        A DataFrame with exactly the schema's columns, in its order, with the dtypes in
        the package's table; a DataFrame keeps its index, other inputs get 0..n-1.

    Raises:
        SchemaValidationError: Listing each problem's column, row, expected type and
            the value that came.
        InvalidInputError: If the schema holds tensors or an argument is wrong.

    Example:
        >>> schema = Schema((ColumnSpec("distance", "long"),))
        >>> validate(schema, {"distance": [1.5]})
        Traceback (most recent call last):
        ...
        shipyard.core.signature.SchemaValidationError: Input does not match ...
    """
    import pandas as pd

    if schema.is_tensor:
        raise InvalidInputError(
            "validate() takes scalar schemas; this schema holds tensors, "
            "use validate_tensors() instead."
        )
    _check_options(extra, max_errors)
    issues = _Issues(max_errors)
    columns, n_rows, index = _columns_of(data, schema, issues)
    coerced: dict[str, Any] = {}
    for position, spec in enumerate(schema.columns):
        raw = columns.get(spec.name)
        if raw is None:
            if spec.name not in columns:
                unknown = [name for name in columns if name not in schema]
                issues.add(_missing_issue(spec, position, unknown))
            continue
        result = _coerce_column(spec, position, raw, issues)
        if result is not None:
            coerced[spec.name] = result
    if extra == "refuse":
        for name in columns:
            if name not in schema:
                issues.add(
                    _Issue(
                        str(name),
                        len(schema),
                        f"only the schema's columns ({', '.join(schema.names)})",
                        "remove it, or send extra columns to an endpoint that ignores them",
                        got=f"an extra column {name!r}",
                    )
                )
    if issues:
        raise issues.error("Input", f"columns: {schema}")
    return pd.DataFrame(coerced, index=index if index is not None else pd.RangeIndex(n_rows))


def _check_options(extra: str, max_errors: int) -> None:
    if extra not in ("ignore", "refuse"):
        raise InvalidInputError(f"extra must be 'ignore' or 'refuse', got {extra!r}.")
    if isinstance(max_errors, bool) or not isinstance(max_errors, int) or max_errors < 1:
        raise InvalidInputError(f"max_errors must be a positive int, got {max_errors!r}.")


def _missing_issue(spec: ColumnSpec, position: int, unknown: list[Any]) -> _Issue:
    """A missing column, with the closest unknown name the request sent as a suggestion."""
    close = difflib.get_close_matches(spec.name, [str(name) for name in unknown], n=1)
    hint = f"did you mean {close[0]!r}?" if close else "add the column"
    return _Issue(spec.name, position, f"a column of {spec.type_label}", hint, got="no such column")


def _columns_of(
    data: Any, schema: Schema, issues: _Issues
) -> tuple[dict[Any, Any], int, pd.Index[Any] | None]:
    """The request's columns (raw arrays keyed by name), its row count and index."""
    import numpy as np
    import pandas as pd

    if _is_arrow(data):
        data = data.to_pandas()
    if isinstance(data, pd.DataFrame):
        duplicated = set(data.columns[data.columns.duplicated()])
        for name in duplicated:
            issues.add(_Issue(str(name), -1, "unique column names", got="a repeated column"))
        columns: dict[Any, Any] = dict.fromkeys(data.columns)  # the others stay None
        for name in schema.names:
            if name in columns and name not in duplicated:
                columns[name] = _raw(data[name])
        return columns, len(data), data.index
    if isinstance(data, Mapping):
        columns = {}
        lengths: dict[int, str] = {}
        for name, values in data.items():
            if name not in schema:
                columns[name] = None
                continue
            if isinstance(values, pd.Series):
                columns[name] = _raw(values)
            elif isinstance(values, np.ndarray) and values.ndim == 1:
                columns[name] = values
            elif isinstance(values, list | tuple):
                columns[name] = _object_array(values)
            else:
                issues.add(
                    _Issue(
                        str(name),
                        schema.names.index(name),
                        "a list of values",
                        "wrap one row's value in a list, e.g. {name: [value]}",
                        got=_describe(values),
                    )
                )
                columns[name] = None
                continue
            lengths.setdefault(len(columns[name]), str(name))
        if len(lengths) > 1:
            described = ", ".join(f"{col!r} has {n}" for n, col in lengths.items())
            issues.add(
                _Issue(None, -1, "columns of equal length", got=f"different lengths ({described})")
            )
            return dict.fromkeys(columns), 0, None
        return columns, next(iter(lengths), 0), None
    if isinstance(data, list | tuple):
        return _columns_of_records(data, schema, issues)
    issues.add(
        _Issue(
            None,
            -1,
            "a list of records, a dict of columns or a pandas DataFrame",
            got=_type_name(data),
        )
    )
    return dict.fromkeys(schema.names), 0, None


def _columns_of_records(
    records: Sequence[Any], schema: Schema, issues: _Issues
) -> tuple[dict[Any, Any], int, None]:
    import numpy as np

    if not all(type(record) is dict for record in records):
        bad = [i for i, record in enumerate(records) if not isinstance(record, Mapping)]
        if bad:
            expected = "a record (an object of column: value)"
            issues.add(_Issue(None, -1, expected, rows=np.asarray(bad), values=records))
            return dict.fromkeys(schema.names), len(records), None
    if not records:  # an empty batch has every column, with no values
        return {name: np.empty(0, dtype=object) for name in schema.names}, 0, None
    present: set[Any] = set().union(*records)
    columns: dict[Any, Any] = dict.fromkeys(present)
    names = [name for name in schema.names if name in present]
    if not names:
        return columns, len(records), None
    try:
        # The whole transposition runs in C when every record has every key.
        rows = list(map(operator.itemgetter(*names), records))
        values = list(zip(*rows, strict=True)) if len(names) > 1 else [rows]
    except KeyError:
        values = [[record.get(name) for record in records] for name in names]
    for name, column in zip(names, values, strict=True):
        columns[name] = _object_array(column)
    return columns, len(records), None


def _raw(series: pd.Series[Any]) -> Any:
    """A Series' values without its index: a numpy array or an extension array."""
    import numpy as np

    if isinstance(series.dtype, np.dtype):
        return series.to_numpy(copy=False)
    return series.array


# -- validating tensors and params -------------------------------------------------------


def validate_tensors(
    schema: Schema, data: Any, *, max_errors: int = DEFAULT_MAX_ERRORS
) -> dict[str, np.ndarray[Any, Any]]:
    """Check tensors against a tensor schema and return them cast to its dtypes.

    Ints go into float tensors; floats go into int tensors only when whole and in range;
    booleans and numbers are kept apart. Every fixed dimension must match the schema.

    Args:
        schema: A tensor schema.
        data: A dict of arrays (or nested lists) by name, or one array when the schema
            has one tensor.
        max_errors: How many errors the exception lists.

    Returns:
        The arrays by name, in the schema's order.

    Raises:
        SchemaValidationError: Naming each tensor whose dtype or shape is wrong.
        InvalidInputError: If the schema holds scalar columns.
    """

    if not schema.is_tensor:
        raise InvalidInputError(
            "validate_tensors() takes tensor schemas; this schema holds columns, "
            "use validate() instead."
        )
    _check_options("ignore", max_errors)
    issues = _Issues(max_errors)
    if not isinstance(data, Mapping):
        if len(schema) != 1:
            issues.add(
                _Issue(
                    None,
                    -1,
                    f"a dict of tensors named {', '.join(schema.names)}",
                    got=_type_name(data),
                )
            )
            raise issues.error("Input", f"tensors: {schema}")
        data = {schema.names[0]: data}
    out: dict[str, np.ndarray[Any, Any]] = {}
    for position, spec in enumerate(schema.columns):
        if spec.name not in data:
            issues.add(_missing_issue(spec, position, [k for k in data if k not in schema]))
            continue
        array = _coerce_tensor(spec, position, data[spec.name], issues)
        if array is not None:
            out[spec.name] = array
    if issues:
        raise issues.error("Input", f"tensors: {schema}")
    return out


def _coerce_tensor(spec: ColumnSpec, position: int, value: Any, issues: _Issues) -> Any:
    import numpy as np

    def problem(got: str, hint: str = "") -> None:
        issues.add(_Issue(spec.name, position, spec.type_label, hint, got=got))

    try:
        array = np.asarray(value)
    except (ValueError, TypeError):
        problem("nested lists of uneven lengths")
        return None
    got = f"tensor<{array.dtype}>[{', '.join(map(str, array.shape))}]"
    shape = spec.shape or ()
    if array.ndim != len(shape) or any(
        e not in (-1, a) for e, a in zip(shape, array.shape, strict=False)
    ):
        problem(got, "the shape differs; -1 marks a dimension of any size")
        return None
    target = np.dtype(spec.dtype)
    kind = array.dtype.kind
    if (target.kind == "b") != (kind == "b") or kind not in "biuf":
        problem(got, "booleans and numbers are not interchangeable" if kind in "biuf" else "")
        return None
    if (
        target.kind in "iu"
        and kind == "f"
        and not (np.isfinite(array) & (array == np.trunc(array))).all()
    ):
        problem(got, "it holds values with a fractional part (3.0 is accepted, 3.5 is not)")
        return None
    if target.kind in "iu" and kind in "iuf" and array.size:
        info = np.iinfo(target)
        if array.min() < info.min or array.max() > info.max:
            problem(got, f"values are out of {target}'s range")
            return None
    if target.kind == "f" and kind == "f" and target.itemsize < array.dtype.itemsize:
        with np.errstate(over="ignore"):
            narrowed = array.astype(target)
        if (np.isinf(narrowed) & np.isfinite(array)).any():
            problem(got, f"values are out of {target}'s range")
            return None
        return narrowed
    return array.astype(target, copy=False)


def validate_params(
    signature: Signature, params: Mapping[str, Any] | None
) -> dict[str, float | int | bool | str | None]:
    """Check a request's params against the signature and fill in the defaults.

    Args:
        signature: The model's signature.
        params: The params a request sent, or None.

    Returns:
        Every param of the signature, with the request's value or the default.

    Raises:
        SchemaValidationError: For unknown params and values of the wrong type.
    """
    issues = _Issues(DEFAULT_MAX_ERRORS)
    given = dict(params or {})
    out: dict[str, float | int | bool | str | None] = {}
    for position, spec in enumerate(signature.params):
        if given.get(spec.name) is None:  # left out or sent as null: the default
            given.pop(spec.name, None)
            out[spec.name] = spec.default
            continue
        value, problem = _coerce_param(spec.type, given.pop(spec.name))
        if problem:
            issues.add(_Issue(spec.name, position, spec.type.value, problem, got=_describe(value)))
        out[spec.name] = value
    for name in given:
        known = ", ".join(p.name for p in signature.params) or "none"
        issues.add(_Issue(str(name), -1, f"a known param ({known})", got=f"a param {name!r}"))
    if issues:
        raise issues.error("Params", f"params: {', '.join(map(str, signature.params))}")
    return out
