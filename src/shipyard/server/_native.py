"""The native protocol: ``POST /v1/endpoints/{name}/predict`` with records or columns.

The body is one JSON object::

    {"records": [{"carrier": "UA", "distance": 1400}, ...],   # or
     "columns": {"carrier": ["UA", ...], "distance": [1400, ...]},
     "routing_key": "customer-42",                            # optional
     "ids": ["order-1", ...]}                                 # optional, one per row

Exactly one of ``records`` and ``columns``, with at least one row; columns of one
length. For a tensor model, ``records`` is the batch as nested arrays (one entry per
row) and ``columns`` maps each tensor's name to its nested arrays.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shipyard.core.errors import MalformedRequestError
from shipyard.core.signature import Signature
from shipyard.server._codec import (
    Parsed,
    check_keys,
    json_type,
    load_json,
    optional_str,
    refuse_empty,
    rows_of_columns,
    to_tensor,
)

__all__ = ["MAX_ID_LENGTH", "parse_native"]

#: The longest client id accepted (ids become prediction ids in the log).
MAX_ID_LENGTH = 256

_KEYS = ("records", "columns", "routing_key", "ids")
_EXAMPLE = '{"records": [{"carrier": "UA", "distance": 1400}]}'


def parse_native(
    body: bytes | str | dict[str, Any] | list[Any], signature: Signature | None = None
) -> Parsed:
    """Parse a native prediction request.

    Args:
        body: The raw body (UTF-8 JSON), or the JSON object already decoded.
        signature: The model's signature; a tensor signature reads ``records`` and
            ``columns`` as nested arrays. None reads them as a table.

    Returns:
        The request: ``data`` is the records (kind ``records``), the dict of columns
        (``columns``), or an array / dict of arrays (``tensor``), with ``routing_key``
        and ``ids`` when sent.

    Raises:
        MalformedRequestError: The body is not JSON, or not of the shape above; the
            message names the field.

    Example:
        >>> parsed = parse_native(b'{"records": [{"x": 1.5}], "ids": ["a-1"]}')
        >>> parsed.kind, parsed.rows, parsed.ids
        ('records', 1, ('a-1',))
    """
    document = load_json(body, _EXAMPLE) if isinstance(body, bytes | str) else body
    if not isinstance(document, Mapping):
        raise MalformedRequestError(
            f"The body must be a JSON object with 'records' or 'columns', got "
            f"{json_type(document)}; wrap it, e.g. {_EXAMPLE}."
        )
    check_keys(document, _KEYS, "The request")
    has_records, has_columns = "records" in document, "columns" in document
    if has_records == has_columns:
        got = "both" if has_records else "neither"
        raise MalformedRequestError(
            f"Send exactly one of 'records' (a list of row objects) and 'columns' (an "
            f"object of column: list of values); got {got}. Example: {_EXAMPLE}."
        )
    tensor = signature is not None and signature.inputs.is_tensor
    if has_records:
        parsed = _records(document["records"], tensor)
    else:
        parsed = _columns(document["columns"], tensor)
    routing_key = optional_str(document, "routing_key", "The request's")
    ids = _ids(document.get("ids"), parsed.rows)
    if routing_key is None and ids is None:
        return parsed
    return Parsed(parsed.data, parsed.kind, parsed.rows, routing_key=routing_key, ids=ids)


def _records(records: Any, tensor: bool) -> Parsed:
    if not isinstance(records, list):
        raise MalformedRequestError(
            f"'records' must be a list of row objects, got {json_type(records)}; "
            f"e.g. {_EXAMPLE}. For one row, wrap it in a list.",
            "records",
        )
    refuse_empty(len(records), "records", _EXAMPLE)
    if tensor:
        return Parsed(to_tensor(records, "records"), "tensor", len(records))
    if not all(type(record) is dict for record in records):
        row = next(i for i, record in enumerate(records) if not isinstance(record, dict))
        raise MalformedRequestError(
            f"records[{row}] must be an object of column: value, got "
            f"{json_type(records[row])}. For values listed by column, send "
            "'columns' instead.",
            f"records[{row}]",
        )
    return Parsed(records, "records", len(records))


def _columns(columns: Any, tensor: bool) -> Parsed:
    example = '{"columns": {"carrier": ["UA", "AA"], "distance": [1400, 733]}}'
    if not isinstance(columns, dict) or not columns:
        raise MalformedRequestError(
            f"'columns' must be an object of column name: list of values, got "
            f"{json_type(columns)}; e.g. {example}.",
            "columns",
        )
    for name, values in columns.items():
        if not isinstance(values, list):
            raise MalformedRequestError(
                f"columns[{name!r}] must be a list of values (one per row), got "
                f"{json_type(values)}; for one row wrap the value in a list, "
                f'e.g. {{"{name}": [{_short(values)}]}}.',
                f"columns[{name!r}]",
            )
    rows = rows_of_columns(columns, "The lists in 'columns'")
    refuse_empty(rows, "columns", example)
    if tensor:
        arrays = {name: to_tensor(values, f"columns[{name!r}]") for name, values in columns.items()}
        return Parsed(arrays, "tensor", rows)
    return Parsed(columns, "columns", rows)


def _short(value: Any) -> str:
    text = repr(value) if not isinstance(value, str) else f'"{value}"'
    return text if len(text) <= 20 else "..."


def _ids(ids: Any, rows: int) -> tuple[str, ...] | None:
    if ids is None:
        return None
    if not isinstance(ids, list):
        raise MalformedRequestError(
            f"'ids' must be a list of strings, one per row, got {json_type(ids)}.", "ids"
        )
    if len(ids) != rows:
        raise MalformedRequestError(
            f"'ids' has {len(ids)} id(s) for {rows} row(s); send one id per row, in order, "
            "or leave 'ids' out to have the server make them.",
            "ids",
        )
    for i, value in enumerate(ids):
        if not isinstance(value, str) or not value or len(value) > MAX_ID_LENGTH:
            raise MalformedRequestError(
                f"ids[{i}] must be a non-empty string of at most {MAX_ID_LENGTH} characters, "
                f"got {json_type(value)}.",
                f"ids[{i}]",
            )
    if len(set(ids)) != len(ids):
        seen: dict[str, int] = {}
        for i, value in enumerate(ids):
            if value in seen:
                raise MalformedRequestError(
                    f"ids[{i}] repeats the id {value!r} of ids[{seen[value]}]; each row needs "
                    "its own id (feedback is joined to predictions by it).",
                    f"ids[{i}]",
                )
            seen[value] = i
    return tuple(ids)
