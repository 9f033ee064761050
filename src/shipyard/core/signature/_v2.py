"""Open Inference Protocol (KServe v2): datatypes of columns and tensors, model metadata."""

from __future__ import annotations

from shipyard.core.errors import InvalidInputError
from shipyard.core.signature._types import _T, ColumnSpec, ColumnType, Schema

__all__ = ["column_type_from_v2", "tensor_dtype_from_v2", "to_v2_datatype", "v2_metadata"]


_V2_BY_TYPE = {
    _T.DOUBLE: "FP64",
    _T.FLOAT: "FP32",
    _T.LONG: "INT64",
    _T.INTEGER: "INT32",
    _T.BOOLEAN: "BOOL",
    _T.STRING: "BYTES",
    _T.CATEGORY: "BYTES",
    _T.DATETIME: "BYTES",
    _T.BINARY: "BYTES",
}
_V2_BY_DTYPE = {
    "bool": "BOOL",
    "float16": "FP16",
    "float32": "FP32",
    "float64": "FP64",
    **{f"{s}int{b}": f"{s.upper()}INT{b}" for s in ("", "u") for b in (8, 16, 32, 64)},
}
_DTYPE_BY_V2 = {v2: dtype for dtype, v2 in _V2_BY_DTYPE.items()}
_TYPE_BY_V2 = {
    "FP64": _T.DOUBLE,
    "FP32": _T.FLOAT,
    "FP16": _T.FLOAT,
    "INT64": _T.LONG,
    "UINT64": _T.LONG,
    "UINT32": _T.LONG,
    "INT32": _T.INTEGER,
    "INT16": _T.INTEGER,
    "INT8": _T.INTEGER,
    "UINT16": _T.INTEGER,
    "UINT8": _T.INTEGER,
    "BOOL": _T.BOOLEAN,
    "BYTES": _T.STRING,
}


def to_v2_datatype(column: ColumnSpec) -> str:
    """The Open Inference Protocol datatype (``FP64``, ``INT64``, ``BYTES``...) of a column.

    Strings, categories, datetimes (ISO 8601 text) and binary travel as ``BYTES``.
    """
    if column.type is _T.TENSOR:
        return _V2_BY_DTYPE[column.dtype or ""]
    return _V2_BY_TYPE[column.type]


def column_type_from_v2(datatype: str) -> ColumnType:
    """The column type for an Open Inference Protocol datatype; ``BYTES`` reads as string.

    Raises:
        InvalidInputError: For a datatype the protocol does not define.
    """
    try:
        return _TYPE_BY_V2[datatype.upper()]
    except KeyError:
        raise InvalidInputError(_unknown_v2(datatype)) from None


def tensor_dtype_from_v2(datatype: str) -> str:
    """The numpy dtype name for an Open Inference Protocol tensor datatype (not ``BYTES``).

    Raises:
        InvalidInputError: For ``BYTES`` or a datatype the protocol does not define.
    """
    try:
        return _DTYPE_BY_V2[datatype.upper()]
    except KeyError:
        raise InvalidInputError(_unknown_v2(datatype, tensors=True)) from None


def _unknown_v2(datatype: str, *, tensors: bool = False) -> str:
    known = sorted(_DTYPE_BY_V2 if tensors else _TYPE_BY_V2)
    return (
        f"Unknown Open Inference Protocol datatype {datatype!r}; "
        f"expected one of {', '.join(known)}."
    )


def v2_metadata(schema: Schema) -> list[dict[str, object]]:
    """The ``inputs``/``outputs`` entries of a v2 model metadata response.

    A scalar column is a 1-D tensor of shape ``[-1]``.
    """
    return [
        {
            "name": column.name,
            "datatype": to_v2_datatype(column),
            "shape": list(column.shape) if column.shape is not None else [-1],
        }
        for column in schema.columns
    ]
