"""Open Inference Protocol requests: ``/v2/models/{name}/infer`` bodies, JSON or binary.

See :mod:`shipyard.server._v2` for the protocol as this server speaks it.
"""

from __future__ import annotations

import math
import struct
from typing import Any

import numpy as np

from shipyard.core.errors import MalformedRequestError
from shipyard.core.signature import ColumnType, Schema, Signature
from shipyard.server._codec import (
    Parsed,
    RequestedOutput,
    json_type,
    load_json,
    optional_bool,
    optional_str,
)

__all__ = ["HEADER_LENGTH", "decode_v2_infer", "v2_output_names"]

#: The HTTP header that carries the JSON part's length in bytes, both ways.
HEADER_LENGTH = "Inference-Header-Content-Length"

_NUMPY_BY_V2 = {
    "BOOL": np.dtype("bool"),
    "UINT8": np.dtype("<u1"),
    "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"),
    "INT8": np.dtype("<i1"),
    "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "FP16": np.dtype("<f2"),
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
}
_DATATYPES = (*_NUMPY_BY_V2, "BYTES")
_LENGTH = struct.Struct("<I")
_INT, _STR, _LIST = frozenset({int}), frozenset({str}), frozenset({list})
_CONTAINERS = frozenset({list, dict})
_EXAMPLE = '{"inputs": [{"name": "carrier", "shape": [1], "datatype": "BYTES", "data": ["UA"]}]}'


# -- the request ---------------------------------------------------------------------------


def decode_v2_infer(
    body: bytes, header_length: int | str | None, signature: Signature | None
) -> Parsed:
    """Parse an inference request (``POST /v2/models/{name}/infer``).

    Args:
        body: The raw body.
        header_length: The ``Inference-Header-Content-Length`` header (an int, or the
            header's text), or None when the whole body is JSON.
        signature: The model's signature: a tensor signature makes each input an array
            in its shape; a table's inputs become columns. None reads one input of two or
            more dimensions as a tensor, anything else as columns.

    Returns:
        The request: ``data`` is a dict of columns (kind ``columns``; lists for JSON
        data, arrays for binary data) or a dict of arrays by name (``tensor``), with
        ``request_id``, the requested ``outputs`` and ``binary_output``.

    Raises:
        MalformedRequestError: The body does not parse, an input's shape, datatype or
            data do not agree, binary data is short or left over, inputs have different
            numbers of rows, or an output that the model does not give is requested.

    Example:
        >>> body = b'{"inputs": [{"name": "x", "shape": [2], "datatype": "FP64", "data": [1, 2]}]}'
        >>> parsed = decode_v2_infer(body, None, None)
        >>> parsed.kind, parsed.rows, parsed.data
        ('columns', 2, {'x': [1, 2]})
    """
    header, binary = _split_body(body, header_length)
    document = load_json(header, _EXAMPLE)
    if not isinstance(document, dict):
        raise MalformedRequestError(
            f"The inference request must be a JSON object with 'inputs', got "
            f"{json_type(document)}. Example: {_EXAMPLE}."
        )
    request_id = optional_str(document, "id", "The request's")
    parameters = document.get("parameters")
    if parameters is not None and not isinstance(parameters, dict):
        raise MalformedRequestError(
            f"'parameters' must be an object, got {json_type(parameters)}.", "parameters"
        )
    binary_output = optional_bool(
        (parameters or {}).get("binary_data_output"), "parameters.binary_data_output"
    )
    inputs = document.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise MalformedRequestError(
            f"'inputs' must be a non-empty list of tensors, got {json_type(inputs)}. "
            f"Example: {_EXAMPLE}.",
            "inputs",
        )
    schema = signature.inputs if signature is not None else None
    tensors = _read_inputs(inputs, binary, schema)
    outputs = _requested_outputs(document.get("outputs"), binary_output, signature)
    data, kind, rows = _as_model_input(tensors, schema)
    return Parsed(
        data, kind, rows, request_id=request_id, outputs=outputs, binary_output=binary_output
    )


def _split_body(body: bytes, header_length: int | str | None) -> tuple[bytes, bytes]:
    if header_length is None:
        return body, b""
    length: int | None = None
    if isinstance(header_length, int) and not isinstance(header_length, bool):
        length = header_length
    elif isinstance(header_length, str):
        text = header_length.strip()
        if text.isascii() and text.isdigit() and len(text) <= 18:
            length = int(text)
    if length is None or not 0 < length <= len(body):
        raise MalformedRequestError(
            f"The {HEADER_LENGTH} header is {header_length!r}; it must be the length in bytes "
            f"of the JSON part at the start of the body (1 to {len(body)} here).",
            HEADER_LENGTH,
        )
    return body[:length], body[length:]


class _Input:
    """One decoded input: its name, shape and values (a flat list or an array)."""

    __slots__ = ("datatype", "field", "name", "shape", "values")

    def __init__(self, name: str, datatype: str, shape: list[int], values: Any, field: str) -> None:
        self.name = name
        self.datatype = datatype
        self.shape = shape
        self.values = values
        self.field = field


def _read_inputs(inputs: list[Any], binary: bytes, schema: Schema | None) -> list[_Input]:
    out: list[_Input] = []
    names: set[str] = set()
    offset = 0
    # Binary columns keep BYTES as bytes; text ones are decoded.
    raw = {c.name for c in schema if c.type is ColumnType.BINARY} if schema is not None else ()
    for i, entry in enumerate(inputs):
        field = f"inputs[{i}]"
        name, datatype, shape, size = _input_header(entry, field)
        if name in names:
            raise MalformedRequestError(
                f"{field} repeats the input name {name!r}; send each input once.", field
            )
        names.add(name)
        keep_bytes = name in raw
        if size is None:
            values = _json_data(entry.get("data"), datatype, shape, keep_bytes, field)
        else:
            chunk = binary[offset : offset + size]
            if len(chunk) < size:
                raise MalformedRequestError(
                    f"{field} ({name!r}) declares binary_data_size {size}, but the body holds "
                    f"only {len(chunk)} more byte(s) after the JSON; send each input's bytes "
                    f"after the JSON, in input order, and {HEADER_LENGTH} as the JSON's length.",
                    field,
                )
            offset += size
            values = _binary_data(chunk, datatype, shape, keep_bytes, field)
        out.append(_Input(name, datatype, shape, values, field))
    if offset != len(binary):
        raise MalformedRequestError(
            f"The body has {len(binary) - offset} byte(s) after the inputs' binary data; each "
            f"input's parameters.binary_data_size must give its exact byte count, and "
            f"{HEADER_LENGTH} the JSON's length.",
            HEADER_LENGTH,
        )
    return out


def _input_header(entry: Any, field: str) -> tuple[str, str, list[int], int | None]:
    """(name, datatype, shape, binary_data_size or None) of one input, checked."""
    if not isinstance(entry, dict):
        raise MalformedRequestError(
            f"{field} must be an object with name, shape, datatype and data, got "
            f"{json_type(entry)}. Example: {_EXAMPLE}.",
            field,
        )
    name = entry.get("name")
    if not isinstance(name, str) or not name:
        raise MalformedRequestError(
            f"{field}.name must be the input's name (a non-empty string), got {json_type(name)}.",
            f"{field}.name",
        )
    datatype = entry.get("datatype")
    if datatype not in _DATATYPES:
        raise MalformedRequestError(
            f"{field} ({name!r}) has datatype {json_type(datatype)}; expected one of "
            f"{', '.join(_DATATYPES)} (BYTES for text).",
            f"{field}.datatype",
        )
    shape = entry.get("shape")
    if (
        type(shape) is not list
        or len(shape) > 32
        or not set(map(type, shape)) <= _INT
        or min(shape, default=0) < 0
    ):
        raise MalformedRequestError(
            f"{field} ({name!r}) has shape {json_type(shape)}; expected a list of sizes "
            "(non-negative integers), e.g. [2] for two rows of one column.",
            f"{field}.shape",
        )
    parameters = entry.get("parameters")
    if parameters is None:
        parameters = {}
    if not isinstance(parameters, dict):
        raise MalformedRequestError(
            f"{field}.parameters must be an object, got {json_type(parameters)}.",
            f"{field}.parameters",
        )
    if "shared_memory_region" in parameters:
        raise MalformedRequestError(
            f"{field} ({name!r}) uses the shared memory extension, which this server does not "
            "offer; send the data in the body (JSON or binary).",
            f"{field}.parameters.shared_memory_region",
        )
    size = parameters.get("binary_data_size")
    if size is not None and (type(size) is not int or size < 0):
        raise MalformedRequestError(
            f"{field}.parameters.binary_data_size must be a byte count, got {json_type(size)}.",
            f"{field}.parameters.binary_data_size",
        )
    has_data = entry.get("data") is not None
    if has_data == (size is not None):
        raise MalformedRequestError(
            f"{field} ({name!r}) must carry either 'data' or parameters.binary_data_size "
            f"(with the bytes after the JSON), got {'both' if has_data else 'neither'}.",
            field,
        )
    return name, datatype, shape, size


def _json_data(data: Any, datatype: str, shape: list[int], keep_bytes: bool, field: str) -> Any:
    """JSON data, flattened (row-major); nested lists are accepted up to the shape's depth."""
    if type(data) is not list:
        data = [data]  # a single scalar for a shape of one element
    flat: list[Any] = data
    types = set(map(type, flat))  # type checks of whole lists run in C
    for _ in range(max(len(shape) - 1, 0)):
        if list not in types:
            break
        if types != _LIST:
            raise MalformedRequestError(
                f"{field}.data mixes nested lists and values; send it flat, in row-major "
                f"order, or nested to the shape {shape}.",
                f"{field}.data",
            )
        flat = [value for item in flat for value in item]
        types = set(map(type, flat))
    count = math.prod(shape)
    if len(flat) != count or not types.isdisjoint(_CONTAINERS):
        raise MalformedRequestError(
            f"{field}.data must hold {count} value(s) for shape {shape}, flat in row-major "
            f"order (or nested to the shape); got {len(flat)} value(s)"
            f"{' with nested arrays' if len(flat) == count else ''}.",
            f"{field}.data",
        )
    if datatype == "BYTES" and not types <= _STR:
        bad = next(i for i, item in enumerate(flat) if type(item) is not str)
        raise MalformedRequestError(
            f"{field}.data[{bad}] is {json_type(flat[bad])}, but the datatype is BYTES, "
            "whose JSON data are strings; send text as strings, or numbers with a "
            "numeric datatype (FP64, INT64...).",
            f"{field}.data[{bad}]",
        )
    if datatype == "BYTES" and keep_bytes:
        return [item.encode() for item in flat]
    return flat


def _binary_data(
    chunk: bytes, datatype: str, shape: list[int], keep_bytes: bool, field: str
) -> Any:
    count = math.prod(shape)
    if datatype == "BYTES":
        items = _unpack_bytes(chunk, count, field)
        if keep_bytes:
            return items
        try:
            return [item.decode() for item in items]
        except UnicodeDecodeError:
            bad = next(i for i, item in enumerate(items) if not _is_utf8(item))
            raise MalformedRequestError(
                f"{field} element {bad} is not UTF-8 text; BYTES inputs of text columns must "
                "be UTF-8 encoded.",
                field,
            ) from None
    dtype = _NUMPY_BY_V2[datatype]
    if len(chunk) != count * dtype.itemsize:
        raise MalformedRequestError(
            f"{field} has shape {shape} of {datatype}, so {count * dtype.itemsize} bytes, but "
            f"its binary_data_size is {len(chunk)}.",
            f"{field}.parameters.binary_data_size",
        )
    if datatype == "BOOL":
        return np.frombuffer(chunk, dtype=np.uint8) != 0
    # A copy: the request's bytes are read-only, and models may write to their inputs.
    return np.frombuffer(chunk, dtype=dtype).astype(dtype.newbyteorder("="))


def _unpack_bytes(chunk: bytes, count: int, field: str) -> list[bytes]:
    items: list[bytes] = []
    position, end = 0, len(chunk)
    while position < end:
        if position + 4 > end:
            break
        (length,) = _LENGTH.unpack_from(chunk, position)
        position += 4
        if position + length > end:
            position = end + 1
            break
        items.append(chunk[position : position + length])
        position += length
    if position != end or len(items) != count:
        raise MalformedRequestError(
            f"{field} holds BYTES that do not split into {count} element(s): each element "
            "must be a 4-byte little-endian length followed by that many bytes, and "
            "binary_data_size the total.",
            field,
        )
    return items


def _is_utf8(item: bytes) -> bool:
    try:
        item.decode()
    except UnicodeDecodeError:
        return False
    return True


def _as_model_input(tensors: list[_Input], schema: Schema | None) -> tuple[Any, Any, int]:
    """The inputs as columns (a table model) or arrays by name (a tensor model)."""
    tensor = (
        schema.is_tensor
        if schema is not None
        else len(tensors) == 1
        and tensors[0].datatype != "BYTES"
        and len(tensors[0].shape) >= 2
        and tensors[0].shape[1:] != [1]
    )
    rows: dict[int, list[str]] = {}
    data: dict[str, Any] = {}
    for item in tensors:
        shape = item.shape
        if tensor:
            if not shape:
                raise MalformedRequestError(
                    f"{item.field} ({item.name!r}) has shape []; a tensor input needs its "
                    "batch dimension first, e.g. [1, 3] for one row of 3 values.",
                    f"{item.field}.shape",
                )
            data[item.name] = _tensor(item)
        else:
            if len(shape) not in (1, 2) or (len(shape) == 2 and shape[1] != 1):
                raise MalformedRequestError(
                    f"{item.field} ({item.name!r}) has shape {shape}; this model reads one "
                    "input per column, each of shape [n] or [n, 1] for n rows.",
                    f"{item.field}.shape",
                )
            values = item.values
            data[item.name] = values.reshape(-1) if isinstance(values, np.ndarray) else values
        rows.setdefault(shape[0], []).append(item.name)
    if len(rows) > 1:
        described = "; ".join(f"{', '.join(map(repr, names))}: {n}" for n, names in rows.items())
        raise MalformedRequestError(
            f"The inputs have different numbers of rows (their first dimension: {described}); "
            "send the same rows in every input.",
            "inputs",
        )
    count = next(iter(rows))
    if count == 0:
        raise MalformedRequestError(
            "The inputs hold no rows (their first dimension is 0); send at least one.", "inputs"
        )
    return data, ("tensor" if tensor else "columns"), count


def _tensor(item: _Input) -> np.ndarray[Any, Any]:
    values = item.values
    if item.datatype == "BYTES":
        raise MalformedRequestError(
            f"{item.field} ({item.name!r}) is BYTES, but this model takes numeric tensors; "
            "send a numeric datatype (FP32, INT64...).",
            f"{item.field}.datatype",
        )
    if not isinstance(values, np.ndarray):
        try:
            array = np.asarray(values) if values else np.empty(0, _NUMPY_BY_V2[item.datatype])
        except (ValueError, TypeError, OverflowError):
            array = np.asarray(values, dtype=object)
        boolean = item.datatype == "BOOL"
        if array.dtype.kind not in "biuf" or (array.dtype.kind == "b") != boolean:
            expected = "true or false" if boolean else "numbers (not booleans)"
            raise MalformedRequestError(
                f"{item.field}.data ({item.name!r}, {item.datatype}) must hold {expected}, "
                f"got values of type {array.dtype}.",
                f"{item.field}.data",
            )
        values = array
    shaped: np.ndarray[Any, Any] = values.reshape(item.shape)
    return shaped


def _requested_outputs(
    outputs: Any, binary_output: bool, signature: Signature | None
) -> tuple[RequestedOutput, ...] | None:
    if outputs is None:
        return None
    if not isinstance(outputs, list):
        raise MalformedRequestError(
            f"'outputs' must be a list of objects with a name, got {json_type(outputs)}.",
            "outputs",
        )
    known = v2_output_names(signature)
    requested: list[RequestedOutput] = []
    for i, entry in enumerate(outputs):
        field = f"outputs[{i}]"
        name = entry.get("name") if isinstance(entry, dict) else None
        if not isinstance(name, str) or not name:
            raise MalformedRequestError(
                f"{field} must be an object with the output's name, got {json_type(entry)}.",
                field,
            )
        if known is not None and name not in known:
            raise MalformedRequestError(
                f"{field} asks for output {name!r}, which this model does not give; its "
                f"outputs are {', '.join(known)} (see GET /v2/models/<name>).",
                f"{field}.name",
            )
        if any(out.name == name for out in requested):
            raise MalformedRequestError(f"{field} asks for {name!r} twice.", f"{field}.name")
        parameters = entry.get("parameters") or {}
        if not isinstance(parameters, dict):
            raise MalformedRequestError(
                f"{field}.parameters must be an object, got {json_type(parameters)}.",
                f"{field}.parameters",
            )
        for unsupported in ("classification", "shared_memory_region"):
            if parameters.get(unsupported):
                raise MalformedRequestError(
                    f"{field} asks for the {unsupported} extension, which this server does "
                    "not offer; ask for the proba_<class> outputs instead."
                    if unsupported == "classification"
                    else f"{field} asks for the shared memory extension, which this server "
                    "does not offer; leave the data in the response.",
                    f"{field}.parameters.{unsupported}",
                )
        flag = parameters.get("binary_data")
        binary = binary_output if flag is None else optional_bool(flag, f"{field}.binary_data")
        requested.append(RequestedOutput(name, binary))
    return tuple(requested)


def v2_output_names(signature: Signature | None) -> list[str] | None:
    """The outputs an inference answer can hold, as listed by the model metadata.

    None when the signature does not record the outputs (then any name the model's
    answer holds may be asked for).
    """
    if signature is None or signature.outputs is None:
        return None
    return list(signature.outputs.names)
