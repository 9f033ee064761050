"""MLflow scoring: what ``mlflow models serve`` reads at ``/invocations``, and its answer.

JSON bodies hold exactly one of these keys (others are ignored, as MLflow does):

- ``dataframe_split``: ``{"columns": [...], "data": [[row], ...], "index": [...]}``
  (pandas' ``to_dict(orient="split")``; ``index`` is checked and dropped).
- ``dataframe_records``: ``[{"column": value, ...}, ...]``.
- ``instances`` and ``inputs`` (TF Serving's format): a list of records, an object of
  columns (lists), an object of scalars (one row), a list of values for a model with one
  column, or nested lists for a tensor model.

and optionally ``params``. ``text/csv`` bodies have a header row; in text columns only
an empty field is missing (so a carrier called ``NA`` stays itself), in other columns
the usual spellings (``NA``, ``NaN``, ``null``...) are too. A first column with an
empty header (the index ``DataFrame.to_csv()`` writes) is dropped.

Where shipyard differs from MLflow, on purpose: ``params`` are checked against the
signature's params (an unknown param is a 400, where MLflow logs a warning and drops
it), and a list of rows by position for a model with named columns is refused with a
hint (MLflow fails later, on missing columns ``0, 1, ...``).
"""

from __future__ import annotations

import io
from dataclasses import replace
from typing import Any

from shipyard.core.errors import MalformedRequestError, UnsupportedMediaTypeError
from shipyard.core.signature import ColumnType, Schema, Signature, validate_params
from shipyard.server._codec import (
    Parsed,
    check_keys,
    json_type,
    jsonable,
    load_json,
    refuse_empty,
    rows_of_columns,
    to_tensor,
)

__all__ = ["format_mlflow", "parse_mlflow"]

_FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
_EXAMPLE = '{"dataframe_split": {"columns": ["carrier", "distance"], "data": [["UA", 1400]]}}'
_TEXT_TYPES = frozenset(
    {ColumnType.STRING, ColumnType.CATEGORY, ColumnType.DATETIME, ColumnType.BINARY}
)
# What reads as missing in a CSV column that is not text (pandas' usual spellings).
_CSV_NULLS = ["", "NA", "N/A", "n/a", "NaN", "-NaN", "nan", "-nan", "null", "NULL", "None", "<NA>"]


def parse_mlflow(
    body: bytes,
    content_type: str | None = "application/json",
    signature: Signature | None = None,
) -> Parsed:
    """Parse an MLflow scoring request (``POST /invocations``).

    Args:
        body: The raw body.
        content_type: The ``Content-Type`` header: ``application/json`` (the default when
            None or empty) or ``text/csv``, with ``charset=utf-8`` at most.
        signature: The model's signature: it tells a tensor model's nested lists from a
            table's rows, names the column of a one-column model, types CSV columns and
            checks ``params``. None reads tables as sent and lists of lists as a tensor.

    Returns:
        The request, with ``params`` (checked, defaults filled in) when the signature
        declares params or the request sent some.

    Raises:
        UnsupportedMediaTypeError: A content type other than JSON or CSV, or a charset
            other than UTF-8 (415).
        MalformedRequestError: The body does not parse or is not one of the formats.
        SchemaValidationError: ``params`` that the signature does not declare, or of the
            wrong type.

    Example:
        >>> body = b'{"dataframe_split": {"columns": ["x", "y"], "data": [[1, 2], [3, 4]]}}'
        >>> parsed = parse_mlflow(body, "application/json")
        >>> parsed.kind, parsed.rows, parsed.data
        ('columns', 2, {'x': (1, 3), 'y': (2, 4)})
    """
    schema = signature.inputs if signature is not None else None
    if _media_type(content_type) == "csv":
        return _csv(body, schema)
    document = load_json(body, _EXAMPLE)
    if not isinstance(document, dict):
        hint = ' (wrap a list of records as {"dataframe_records": [...]})'
        raise MalformedRequestError(
            f"The body must be a JSON object with exactly one of {', '.join(_FORMATS)}, got "
            f"{json_type(document)}{hint if isinstance(document, list) else ''}. "
            f"Example: {_EXAMPLE}."
        )
    present = [key for key in _FORMATS if key in document]
    if len(present) != 1:
        if present:
            got = ", ".join(present)
        else:
            got = f"keys {', '.join(map(repr, document))}" if document else "an empty object"
        raise MalformedRequestError(
            f"The body must hold exactly one of {', '.join(_FORMATS)}; got {got}. "
            f"Example: {_EXAMPLE}."
        )
    key = present[0]
    if key == "dataframe_split":
        parsed = _split(document[key], schema)
    elif key == "dataframe_records":
        parsed = _records(document[key], key, schema)
    else:
        parsed = _tf_serving(document[key], key, schema)
    params = _params(document.get("params"), signature)
    return parsed if params is None else replace(parsed, params=params)


def format_mlflow(predictions: Any) -> dict[str, Any]:
    """The answer ``mlflow models serve`` gives: ``{"predictions": [...]}``.

    A classifier's labels or a regressor's values, one per row, as a JSON list (rows of
    a 2-D output as lists); NaN becomes null.

    Example:
        >>> import numpy as np
        >>> format_mlflow(np.array(["late", "on_time"], dtype=object))
        {'predictions': ['late', 'on_time']}
    """
    import numpy as np

    return {"predictions": jsonable(np.asarray(predictions))}


# -- content types ---------------------------------------------------------------------


def _media_type(content_type: str | None) -> str:
    if content_type is None or not content_type.strip():
        return "json"
    mime, *parameters = (part.strip() for part in content_type.split(";"))
    for parameter in parameters:
        key, _, value = parameter.partition("=")
        charset = value.strip().strip('"').lower()
        if key.strip().lower() == "charset" and charset not in ("utf-8", "utf8"):
            raise UnsupportedMediaTypeError(
                f"The body's charset is {charset!r}; this route reads UTF-8 only. Encode the "
                "body as UTF-8 and send charset=utf-8 (or no charset)."
            )
    kind = {"application/json": "json", "text/csv": "csv"}.get(mime.lower())
    if kind is None:
        raise UnsupportedMediaTypeError(
            f"Content-Type {mime!r} is not read here; send application/json (one of "
            f"{', '.join(_FORMATS)}) or text/csv with a header row."
        )
    return kind


# -- JSON formats ----------------------------------------------------------------------


def _split(value: Any, schema: Schema | None) -> Parsed:
    field = "dataframe_split"
    if not isinstance(value, dict):
        raise MalformedRequestError(
            f"'dataframe_split' must be an object with 'columns' and 'data', got "
            f"{json_type(value)}. Example: {_EXAMPLE}.",
            field,
        )
    check_keys(value, ("columns", "data", "index"), "'dataframe_split'", field)
    data = value.get("data")
    if not isinstance(data, list):
        raise MalformedRequestError(
            f"dataframe_split.data must be a list of rows (lists of values), got "
            f"{json_type(data)}. Example: {_EXAMPLE}.",
            f"{field}.data",
        )
    refuse_empty(len(data), f"{field}.data", _EXAMPLE)
    index = value.get("index")
    if index is not None and (not isinstance(index, list) or len(index) != len(data)):
        raise MalformedRequestError(
            f"dataframe_split.index must be a list with one label per row ({len(data)}), got "
            f"{json_type(index)}; or leave it out.",
            f"{field}.index",
        )
    columns = value.get("columns")
    if (schema is None and columns is None) or (schema is not None and schema.is_tensor):
        return Parsed(to_tensor(data, f"{field}.data"), "tensor", len(data))
    if not isinstance(columns, list) or not columns:
        raise MalformedRequestError(
            f"dataframe_split.columns must list the column names, got {json_type(columns)}; "
            f"a model with named columns reads each row by them. Example: {_EXAMPLE}.",
            f"{field}.columns",
        )
    bad = next((i for i, name in enumerate(columns) if not isinstance(name, str)), None)
    if bad is not None:
        raise MalformedRequestError(
            f"dataframe_split.columns[{bad}] must be a column name (a string), got "
            f"{json_type(columns[bad])}.",
            f"{field}.columns[{bad}]",
        )
    if len(set(columns)) != len(columns):
        repeated = sorted({name for name in columns if columns.count(name) > 1})
        raise MalformedRequestError(
            f"dataframe_split.columns names {', '.join(map(repr, repeated))} more than once; "
            "each column may appear once.",
            f"{field}.columns",
        )
    width = len(columns)
    if all(type(row) is list and len(row) == width for row in data):
        return Parsed(
            dict(zip(columns, zip(*data, strict=True), strict=True)), "columns", len(data)
        )
    if width == 1 and not any(isinstance(row, list | dict) for row in data):
        return Parsed({columns[0]: data}, "columns", len(data))
    row = next(i for i, row in enumerate(data) if type(row) is not list or len(row) != width)
    got = f"{len(data[row])} values" if isinstance(data[row], list) else json_type(data[row])
    raise MalformedRequestError(
        f"dataframe_split.data[{row}] must be a list of {width} values (one per column: "
        f"{', '.join(columns[:5])}{', ...' if width > 5 else ''}), got {got}.",
        f"{field}.data[{row}]",
    )


def _records(value: Any, key: str, schema: Schema | None) -> Parsed:
    if schema is not None and schema.is_tensor:
        raise MalformedRequestError(
            f"'{key}' holds rows of named columns, but this model takes a tensor "
            f"({schema}); send the batch as nested lists, e.g. "
            '{"inputs": [[1.0, 2.0], [3.0, 4.0]]}.',
            key,
        )
    if not isinstance(value, list):
        raise MalformedRequestError(
            f"'{key}' must be a list of records (objects of column: value), got "
            f"{json_type(value)}. For columns of values use 'dataframe_split' or 'inputs'.",
            key,
        )
    refuse_empty(len(value), key, f'{{"{key}": [{{"carrier": "UA", "distance": 1400}}]}}')
    if not all(type(record) is dict for record in value):
        row = next(i for i, record in enumerate(value) if not isinstance(record, dict))
        raise MalformedRequestError(
            f"{key}[{row}] must be a record (an object of column: value), got "
            f"{json_type(value[row])}; every element of the list is one row.",
            f"{key}[{row}]",
        )
    return Parsed(value, "records", len(value))


def _tf_serving(value: Any, key: str, schema: Schema | None) -> Parsed:
    if schema is not None and schema.is_tensor:
        return _tensors(value, key)
    if isinstance(value, dict):
        return _tf_columns(value, key)
    if schema is not None and len(schema) == 1 and isinstance(value, str | int | float):
        return Parsed({schema.names[0]: [value]}, "columns", 1)  # one value: one row
    if not isinstance(value, list):
        raise MalformedRequestError(
            f"'{key}' must be a list of records, an object of columns or nested lists, got "
            f'{json_type(value)}; e.g. {{"{key}": [{{"carrier": "UA", "distance": 1400}}]}}.',
            key,
        )
    refuse_empty(len(value), key, f'{{"{key}": [{{"carrier": "UA"}}]}}')
    if any(type(item) is dict for item in value):
        return _records(value, key, schema)
    nested = any(isinstance(item, list) for item in value)
    if schema is not None and len(schema) == 1 and not nested:
        return Parsed({schema.names[0]: value}, "columns", len(value))
    if schema is None:
        return Parsed(to_tensor(value, key), "tensor", len(value))
    raise MalformedRequestError(
        f"'{key}' is a list of {'rows by position' if nested else 'values'}, but this model "
        f"reads named columns ({', '.join(schema.names[:5])}{', ...' if len(schema) > 5 else ''}"
        f'); send records, e.g. {{"{key}": [{{"{schema.names[0]}": ...}}]}}, or '
        "'dataframe_split' with 'columns'.",
        key,
    )


def _tf_columns(value: dict[str, Any], key: str) -> Parsed:
    if not value:
        raise MalformedRequestError(
            f"'{key}' is an empty object; send columns, e.g. "
            f'{{"{key}": {{"carrier": ["UA"], "distance": [1400]}}}}.',
            key,
        )
    lists = [isinstance(values, list) for values in value.values()]
    if all(lists):
        rows = rows_of_columns(value, f"The lists in '{key}'")
        refuse_empty(rows, key, f'{{"{key}": {{"carrier": ["UA"]}}}}')
        return Parsed(value, "columns", rows)
    if not any(lists):  # an object of scalars is one row, as in MLflow
        return Parsed([value], "records", 1)
    name = next(name for name, values in value.items() if not isinstance(values, list))
    raise MalformedRequestError(
        f"{key}[{name!r}] is {json_type(value[name])} while other columns are lists; send "
        "every column as a list of values (one per row), or every value as a scalar for a "
        "single row.",
        f"{key}[{name!r}]",
    )


def _tensors(value: Any, key: str) -> Parsed:
    if isinstance(value, dict):
        if not value:
            raise MalformedRequestError(
                f"'{key}' is an empty object; send the tensors by name.", key
            )
        arrays = {name: to_tensor(values, f"{key}[{name!r}]") for name, values in value.items()}
        rows = rows_of_columns(arrays, f"The tensors in '{key}' (their first dimension)")
        refuse_empty(rows, key, f'{{"{key}": [[1.0, 2.0]]}}')
        return Parsed(arrays, "tensor", rows)
    array = to_tensor(value, key)
    refuse_empty(len(array), key, f'{{"{key}": [[1.0, 2.0]]}}')
    return Parsed(array, "tensor", len(array))


def _params(value: Any, signature: Signature | None) -> dict[str, Any] | None:
    if value is not None and not isinstance(value, dict):
        raise MalformedRequestError(
            f"'params' must be an object of name: value, got {json_type(value)}.", "params"
        )
    if signature is None:
        return dict(value) if value else None
    if value is None and not signature.params:
        return None
    return validate_params(signature, value) or None


# -- CSV ---------------------------------------------------------------------------------


def _csv(body: bytes, schema: Schema | None) -> Parsed:
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    text = [c.name for c in schema if c.type in _TEXT_TYPES] if schema is not None else []
    convert = pa_csv.ConvertOptions(
        column_types=dict.fromkeys(text, pa.string()),
        null_values=_CSV_NULLS,
        strings_can_be_null=False,  # text columns: only an empty field is missing (below)
    )
    try:
        body.decode()  # pyarrow reads undecodable text as binary, header names too
    except UnicodeDecodeError as exc:
        raise MalformedRequestError(
            f"The CSV body is not UTF-8 text (byte {exc.start} is not valid UTF-8); send it "
            "encoded as UTF-8."
        ) from None
    try:
        table = pa_csv.read_csv(
            io.BytesIO(body),
            read_options=pa_csv.ReadOptions(use_threads=False),
            parse_options=pa_csv.ParseOptions(newlines_in_values=True),
            convert_options=convert,
        )
    except (pa.ArrowException, ValueError) as exc:
        raise MalformedRequestError(
            f"The CSV body does not parse ({str(exc).strip() or type(exc).__name__}); send "
            "UTF-8 CSV with a header row naming the columns, e.g. 'carrier,distance\\nUA,1400', "
            "as DataFrame.to_csv(index=False) writes it."
        ) from None
    names = table.column_names
    if names and names[0] == "" and (schema is None or "" not in schema):
        table, names = table.remove_column(0), names[1:]  # the index to_csv() writes
    if len(set(names)) != len(names):
        repeated = sorted({name for name in names if names.count(name) > 1})
        raise MalformedRequestError(
            f"The CSV header names {', '.join(map(repr, repeated))} more than once; each "
            "column may appear once."
        )
    refuse_empty(table.num_rows, "The CSV body", "'carrier,distance\\nUA,1400'")
    columns = table.to_pydict()
    for name in text:
        values = columns.get(name)
        if values is None:
            continue
        if schema is not None and schema[name].type is ColumnType.BINARY:
            columns[name] = [value.encode() if value else None for value in values]
        elif "" in values:
            columns[name] = [None if value == "" else value for value in values]
    if schema is not None and schema.is_tensor:
        return Parsed(
            to_tensor(list(zip(*columns.values(), strict=True)), "the CSV body"),
            "tensor",
            table.num_rows,
        )
    return Parsed(columns, "columns", table.num_rows)
