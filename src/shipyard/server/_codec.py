"""What the protocol codecs share: the parsed request, JSON reading, and checks on values.

A codec turns a request body into a :class:`Parsed` (data that
:meth:`shipyard.services.LoadedModel.prepare` accepts, its row count and the protocol's
extras) and refuses anything else with a :class:`~shipyard.core.errors.InvalidInputError`
that names the field, says what was expected, what came and how to fix it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import orjson

from shipyard.core.errors import MalformedRequestError

__all__ = ["Kind", "Parsed", "RequestedOutput"]

#: What ``Parsed.data`` is: a list of dicts (``records``), a dict of columns whose values
#: are lists, tuples or 1-D arrays (``columns``), or for a tensor model an array or a dict
#: of arrays by name (``tensor``).
Kind = Literal["records", "columns", "tensor"]


@dataclass(frozen=True, slots=True)
class RequestedOutput:
    """An output an Open Inference Protocol request asked for, and how to send it back.

    Attributes:
        name: The output's name, as in ``GET /v2/models/{name}``.
        binary: Send it with the binary tensor data extension instead of in the JSON.
    """

    name: str
    binary: bool = False


@dataclass(frozen=True, slots=True)
class Parsed:
    """A request body, parsed: the inputs for the model and the protocol's extras.

    Attributes:
        data: The inputs, in a form the model's ``prepare`` accepts (see ``kind``).
        kind: What ``data`` is: ``records``, ``columns`` or ``tensor`` (see :data:`Kind`).
        rows: How many rows (the size of the batch dimension for tensors), at least 1.
        routing_key: Native protocol: the key that keeps a caller on one canary side.
        ids: Native protocol: the client's ids, one per row, unique.
        request_id: Open Inference Protocol: the request's ``id``, echoed in the answer.
        outputs: Open Inference Protocol: the outputs asked for, in order; None for all.
        binary_output: Open Inference Protocol: send outputs not listed in ``outputs``
            as binary (the request's ``parameters.binary_data_output``).
        params: MLflow scoring: the ``params``, checked against the signature's params
            and completed with their defaults; None when the request sent none and the
            signature declares none.
    """

    data: Any
    kind: Kind
    rows: int
    routing_key: str | None = None
    ids: tuple[str, ...] | None = None
    request_id: str | None = None
    outputs: tuple[RequestedOutput, ...] | None = None
    binary_output: bool = False
    params: dict[str, Any] | None = None


# -- reading JSON ---------------------------------------------------------------------


def load_json(body: bytes | str, example: str) -> Any:
    """The JSON document of a body, or a MalformedRequestError showing a valid one."""
    if not body:
        raise MalformedRequestError(
            f"The request body is empty; send a JSON object such as {example}."
        )
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedRequestError(
            f"The request body is not valid JSON ({exc}); send a UTF-8 JSON object "
            f"such as {example}."
        ) from None


def json_type(value: object) -> str:
    """How a message names a JSON value's type: ``an object``, ``a string 'abc'``..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean ({'true' if value else 'false'})"
    if isinstance(value, int | float):
        return f"a number ({value!r})"
    if isinstance(value, str):
        text = value if len(value) <= 30 else value[:27] + "..."
        return f"a string ({text!r})"
    if isinstance(value, list | tuple):
        return f"an array of {len(value)}"
    if isinstance(value, Mapping):
        keys = ", ".join(repr(k) for k in list(value)[:5])
        return f"an object with keys {keys}" if keys else "an empty object"
    return type(value).__name__


def check_keys(
    document: Mapping[str, Any], allowed: tuple[str, ...], where: str, field: str | None = None
) -> None:
    """Refuse keys that ``allowed`` does not list (a typo would otherwise be ignored)."""
    unknown = [key for key in document if key not in allowed]
    if unknown:
        raise MalformedRequestError(
            f"{where} has unknown key(s) {', '.join(map(repr, unknown))}; expected only "
            f"{', '.join(map(repr, allowed))}. Remove or rename them.",
            field,
        )


def optional_str(document: Mapping[str, Any], key: str, where: str) -> str | None:
    """The string at ``key``, None when absent or null; anything else is refused."""
    value = document.get(key)
    if value is None or isinstance(value, str):
        return value
    raise MalformedRequestError(
        f"{where} {key!r} must be a string, got {json_type(value)}; send it as a JSON "
        f'string, e.g. "{key}": "{value}".',
        key,
    )


def optional_bool(value: object, field: str) -> bool:
    """A JSON boolean, False when absent or null; anything else is refused."""
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    raise MalformedRequestError(f"{field} must be true or false, got {json_type(value)}.", field)


# -- values for models ----------------------------------------------------------------


def to_tensor(value: Any, field: str) -> np.ndarray[Any, Any]:
    """Nested lists as one array; uneven nesting is refused with where it happened."""
    try:
        array = np.asarray(value)
    except (ValueError, TypeError, OverflowError, RecursionError):
        raise MalformedRequestError(
            f"{field} is not a tensor: its nested arrays have uneven lengths; every row "
            "must have the same shape, e.g. [[1.0, 2.0], [3.0, 4.0]].",
            field,
        ) from None
    if array.ndim == 0:
        raise MalformedRequestError(
            f"{field} must be an array with one entry per row, got {json_type(value)}; "
            "wrap a single row in a list, e.g. [[1.0, 2.0]].",
            field,
        )
    return array


def rows_of_columns(columns: Mapping[str, Any], field: str) -> int:
    """The common length of a dict of columns; unequal lengths are refused, naming them."""
    lengths: dict[int, list[str]] = {}
    for name, values in columns.items():
        lengths.setdefault(len(values), []).append(name)
    if len(lengths) > 1:
        described = "; ".join(
            f"{', '.join(map(repr, names[:3]))}{' ...' if len(names) > 3 else ''} "
            f"{'has' if len(names) == 1 else 'have'} {n}"
            for n, names in sorted(lengths.items())
        )
        raise MalformedRequestError(
            f"{field} must all have the same length (one value per row); got {described}. "
            "Send one value per row in every column, null where a value is missing.",
            field,
        )
    return next(iter(lengths), 0)


def refuse_empty(rows: int, field: str, example: str) -> None:
    """A request with no rows is a client bug (nothing to predict): refuse it."""
    if rows == 0:
        raise MalformedRequestError(
            f"{field} holds no rows; send at least one, e.g. {example}.", field
        )


# -- answers --------------------------------------------------------------------------


def jsonable(values: np.ndarray[Any, Any]) -> list[Any]:
    """An array as JSON-ready Python values, whatever its dtype.

    NaN stays a float (orjson writes it as null); pandas' NA and NaT become None, numpy
    scalars Python ones, datetimes ISO 8601 text, bytes text (undecodable bytes
    escaped), anything else its ``str``.
    """
    array = np.asarray(values)
    if array.dtype.kind == "M":  # datetimes as ISO 8601 text, as pandas writes them
        return np.datetime_as_string(array).tolist()  # type: ignore[no-any-return]
    result: list[Any] = array.tolist()
    if array.dtype.kind == "O":
        result = [_plain(value) for value in result]
    return result


_PLAIN = frozenset({str, int, float, bool, type(None)})


def _plain(value: Any) -> Any:
    if type(value) in _PLAIN:  # not isinstance: numpy's float64 is a float subclass
        return value
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, np.generic):
        return _plain(value.item())
    if type(value).__name__ in ("NAType", "NaTType"):
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="backslashreplace")
    isoformat = getattr(value, "isoformat", None)
    if callable(isoformat):
        return isoformat()
    return str(value)
