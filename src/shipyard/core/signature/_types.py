"""The schema objects: column types, columns, schemas, params, signatures and their JSON."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from shipyard.core.errors import InvalidInputError
from shipyard.core.signature._values import _is_bool, _is_number

__all__ = ["SCHEMA_VERSION", "ColumnSpec", "ColumnType", "ParamSpec", "Schema", "Signature"]

#: The version ``to_dict`` writes and ``from_dict`` accepts.
SCHEMA_VERSION = 1


class ColumnType(StrEnum):
    """The closed set of column types a schema may use."""

    DOUBLE = "double"
    FLOAT = "float"
    LONG = "long"
    INTEGER = "integer"
    BOOLEAN = "boolean"
    STRING = "string"
    CATEGORY = "category"
    DATETIME = "datetime"
    BINARY = "binary"
    TENSOR = "tensor"


_T = ColumnType
_NUMERIC = frozenset({_T.DOUBLE, _T.FLOAT, _T.LONG, _T.INTEGER})
_PARAM_TYPES = frozenset({*_NUMERIC, _T.BOOLEAN, _T.STRING})
_TENSOR_DTYPES = frozenset(
    {"bool", "float16", "float32", "float64"}
    | {f"{sign}int{bits}" for sign in ("", "u") for bits in (8, 16, 32, 64)}
)
_DATETIME_UNITS = ("s", "ms", "us", "ns")
_INT_BITS = {_T.LONG: 64, _T.INTEGER: 32}


# -- the schema objects ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ColumnSpec:
    """One named column (or tensor) of a schema.

    Args:
        name: The column's name, as the request and the model spell it.
        type: One of :class:`ColumnType` (a plain string such as ``"long"`` is accepted).
        nullable: Whether nulls are accepted. Tensors are never nullable.
        shape: Tensors only: the shape, with -1 for variable dimensions (the batch).
        dtype: Tensors only: the numpy dtype name, e.g. ``"float32"``.
        categories: Category columns only: the known values, in order.
        tz: Datetime columns only: the time zone (``"UTC"``, ``"Europe/Paris"``), or None.
        unit: Datetime columns only: ``"s"``, ``"ms"``, ``"us"`` (default) or ``"ns"``.

    Raises:
        InvalidInputError: If the fields contradict each other.
    """

    name: str
    type: ColumnType
    nullable: bool = False
    shape: tuple[int, ...] | None = None
    dtype: str | None = None
    categories: tuple[str, ...] | None = None
    tz: str | None = None
    unit: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise InvalidInputError(
                f"A column name must be a non-empty string, got {self.name!r}; "
                "rename the column (for a DataFrame: df.columns = df.columns.astype(str))."
            )
        try:
            kind = ColumnType(self.type)
        except ValueError:
            allowed = ", ".join(t.value for t in ColumnType)
            raise InvalidInputError(
                f"Column {self.name!r} has type {self.type!r}; expected one of {allowed}."
            ) from None
        object.__setattr__(self, "type", kind)
        self._check_type_fields(kind)

    def _check_type_fields(self, kind: ColumnType) -> None:
        where = f"Column {self.name!r} ({kind.value})"
        if kind is _T.TENSOR:
            if self.dtype not in _TENSOR_DTYPES:
                raise InvalidInputError(
                    f"{where} has dtype {self.dtype!r}; expected one of "
                    f"{', '.join(sorted(_TENSOR_DTYPES))}."
                )
            shape = tuple(self.shape) if self.shape is not None else ()
            sizes_ok = all(type(d) is int and (d > 0 or d == -1) for d in shape)
            if not shape or not sizes_ok:
                raise InvalidInputError(
                    f"{where} has shape {self.shape!r}; expected a non-empty tuple of "
                    "positive sizes, with -1 for variable dimensions, e.g. (-1, 28, 28)."
                )
            if self.nullable:
                raise InvalidInputError(f"{where} is marked nullable; tensors cannot hold nulls.")
            object.__setattr__(self, "shape", shape)
        elif self.shape is not None or self.dtype is not None:
            raise InvalidInputError(
                f"{where} has a shape or dtype; only tensor columns take them "
                "(a scalar column holds one value per row)."
            )
        if kind is _T.CATEGORY:
            categories = tuple(self.categories) if self.categories is not None else ()
            if not categories or not all(isinstance(c, str) for c in categories):
                raise InvalidInputError(
                    f"{where} needs its categories: a non-empty list of strings, "
                    f"got {self.categories!r}."
                )
            if len(set(categories)) != len(categories):
                raise InvalidInputError(f"{where} lists a category twice: {categories!r}.")
            object.__setattr__(self, "categories", categories)
        elif self.categories is not None:
            raise InvalidInputError(f"{where} has categories; only category columns take them.")
        if kind is _T.DATETIME:
            unit = self.unit or "us"
            if unit not in _DATETIME_UNITS:
                raise InvalidInputError(
                    f"{where} has unit {self.unit!r}; expected one of {', '.join(_DATETIME_UNITS)}."
                )
            object.__setattr__(self, "unit", unit)
        elif self.tz is not None or self.unit is not None:
            raise InvalidInputError(f"{where} has a tz or unit; only datetime columns take them.")

    @property
    def type_label(self) -> str:
        """The type as written in messages and in ``str(schema)``: ``tensor<float32>[-1, 3]``."""
        if self.type is _T.TENSOR:
            return f"tensor<{self.dtype}>[{', '.join(map(str, self.shape or ()))}]"
        if self.type is _T.DATETIME:
            parts = [p for p in (self.unit if self.unit != "us" else None, self.tz) if p]
            return f"datetime[{', '.join(parts)}]" if parts else "datetime"
        if self.type is _T.CATEGORY:
            return f"category({len(self.categories or ())})"
        return self.type.value

    def __str__(self) -> str:
        return f"{self.name}: {self.type_label}{'?' if self.nullable else ''}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields; the optional ones only when set."""
        out: dict[str, Any] = {"name": self.name, "type": self.type.value}
        out["nullable"] = self.nullable
        if self.shape is not None:
            out["shape"] = list(self.shape)
        for key in ("dtype", "tz", "unit"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.categories is not None:
            out["categories"] = list(self.categories)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ColumnSpec:
        """Rebuild a column from :meth:`to_dict` output.

        Raises:
            InvalidInputError: On unknown keys, missing ones or wrong values.
        """
        _check_keys(data, required={"name", "type"}, optional=_COLUMN_OPTIONAL, what="a column")
        shape = data.get("shape")
        categories = data.get("categories")
        nullable = data.get("nullable", False)
        if not isinstance(nullable, bool):
            raise InvalidInputError(
                f"Column {data['name']!r} has nullable={nullable!r}; expected true or false."
            )
        return cls(
            name=data["name"],
            type=data["type"],
            nullable=nullable,
            shape=tuple(shape) if shape is not None else None,
            dtype=data.get("dtype"),
            categories=tuple(categories) if categories is not None else None,
            tz=data.get("tz"),
            unit=data.get("unit"),
        )


_COLUMN_OPTIONAL = {"nullable", "shape", "dtype", "categories", "tz", "unit"}


@dataclass(frozen=True, slots=True)
class Schema:
    """Ordered, uniquely named columns: all scalar columns, or all tensors.

    Raises:
        InvalidInputError: If there are no columns, a name repeats, or tensors and
            scalar columns are mixed.
    """

    columns: tuple[ColumnSpec, ...]

    def __post_init__(self) -> None:
        columns = tuple(self.columns)
        if not columns or not all(isinstance(c, ColumnSpec) for c in columns):
            raise InvalidInputError(
                f"A schema needs at least one ColumnSpec, got {self.columns!r}."
            )
        seen: set[str] = set()
        for column in columns:
            if column.name in seen:
                raise InvalidInputError(
                    f"Column {column.name!r} appears twice in the schema; names must be unique."
                )
            seen.add(column.name)
        if len({c.type is _T.TENSOR for c in columns}) > 1:
            raise InvalidInputError(
                "A schema holds either tensors or scalar columns, not both; got "
                f"{', '.join(map(str, columns))}."
            )
        object.__setattr__(self, "columns", columns)

    @property
    def names(self) -> tuple[str, ...]:
        """The column names, in order."""
        return tuple(c.name for c in self.columns)

    @property
    def is_tensor(self) -> bool:
        """True for a tensor schema (validate with :func:`validate_tensors`)."""
        return self.columns[0].type is _T.TENSOR

    def __len__(self) -> int:
        return len(self.columns)

    def __iter__(self) -> Iterator[ColumnSpec]:
        return iter(self.columns)

    def __contains__(self, name: object) -> bool:
        return any(c.name == name for c in self.columns)

    def __getitem__(self, name: str) -> ColumnSpec:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)

    def __str__(self) -> str:
        return ", ".join(map(str, self.columns))

    def to_dict(self) -> dict[str, Any]:
        """``{"version": 1, "columns": [...]}``, ready for JSON."""
        return {"version": SCHEMA_VERSION, "columns": [c.to_dict() for c in self.columns]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Schema:
        """Rebuild a schema from :meth:`to_dict` output.

        Raises:
            InvalidInputError: On an unknown version or a malformed body.
        """
        _check_version(data, "schema")
        _check_keys(data, required={"version", "columns"}, optional=set(), what="a schema")
        columns = data["columns"]
        if not isinstance(columns, list):
            raise InvalidInputError(f"A schema's 'columns' must be a list, got {columns!r}.")
        return cls(tuple(ColumnSpec.from_dict(_mapping(c, "a column")) for c in columns))


@dataclass(frozen=True, slots=True)
class ParamSpec:
    """An inference-time parameter (``temperature``, ``top_k``) with its type and default.

    Raises:
        InvalidInputError: If the type is not a scalar one or the default does not fit it.
    """

    name: str
    type: ColumnType
    default: float | int | bool | str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise InvalidInputError(f"A param name must be a non-empty string, got {self.name!r}.")
        try:
            kind: ColumnType | None = ColumnType(self.type)
        except ValueError:
            kind = None
        if kind not in _PARAM_TYPES:
            allowed = ", ".join(sorted(t.value for t in _PARAM_TYPES))
            raise InvalidInputError(
                f"Param {self.name!r} has type {getattr(self.type, 'value', self.type)!r}; "
                f"expected one of {allowed}."
            )
        object.__setattr__(self, "type", kind)
        if self.default is not None:
            value, problem = _coerce_param(self.type, self.default)
            if problem:
                raise InvalidInputError(
                    f"Param {self.name!r} ({kind.value}) has default {self.default!r}: {problem}."
                )
            object.__setattr__(self, "default", value)

    def __str__(self) -> str:
        return f"{self.name}: {self.type.value} = {self.default!r}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {"name": self.name, "type": self.type.value, "default": self.default}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ParamSpec:
        """Rebuild a param from :meth:`to_dict` output."""
        _check_keys(data, required={"name", "type"}, optional={"default"}, what="a param")
        return cls(data["name"], data["type"], data.get("default"))


@dataclass(frozen=True, slots=True)
class Signature:
    """What a model version takes (``inputs``), gives (``outputs``) and is tuned by (``params``)."""

    inputs: Schema
    outputs: Schema | None = None
    params: tuple[ParamSpec, ...] = ()

    def __post_init__(self) -> None:
        params = tuple(self.params)
        names = [p.name for p in params]
        if len(set(names)) != len(names):
            raise InvalidInputError(f"Param names must be unique, got {names!r}.")
        object.__setattr__(self, "params", params)

    def __str__(self) -> str:
        out = f"({self.inputs}) -> ({self.outputs or 'unknown'})"
        if self.params:
            out += f" with {', '.join(map(str, self.params))}"
        return out

    def to_dict(self) -> dict[str, Any]:
        """``{"version": 1, "inputs": ..., "outputs": ... or None, "params": [...]}``."""
        return {
            "version": SCHEMA_VERSION,
            "inputs": self.inputs.to_dict(),
            "outputs": self.outputs.to_dict() if self.outputs is not None else None,
            "params": [p.to_dict() for p in self.params],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Signature:
        """Rebuild a signature from :meth:`to_dict` output.

        Raises:
            InvalidInputError: On an unknown version or a malformed body.
        """
        _check_version(data, "signature")
        _check_keys(
            data, required={"version", "inputs"}, optional={"outputs", "params"}, what="a signature"
        )
        outputs = data.get("outputs")
        params = data.get("params") or []
        if not isinstance(params, list):
            raise InvalidInputError(f"A signature's 'params' must be a list, got {params!r}.")
        return cls(
            inputs=Schema.from_dict(_mapping(data["inputs"], "a schema")),
            outputs=Schema.from_dict(_mapping(outputs, "a schema")) if outputs else None,
            params=tuple(ParamSpec.from_dict(_mapping(p, "a param")) for p in params),
        )


def _mapping(data: object, what: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise InvalidInputError(f"Expected {what} as a JSON object, got {data!r}.")
    return data


def _check_version(data: object, what: str) -> None:
    version = _mapping(data, f"a {what}").get("version")
    if version != SCHEMA_VERSION:
        raise InvalidInputError(
            f"Cannot read a {what} of version {version!r}: this shipyard reads version "
            f"{SCHEMA_VERSION}. Upgrade shipyard to read it, or re-log the model with this one."
        )


def _check_keys(
    data: Mapping[str, Any], *, required: set[str], optional: set[str], what: str
) -> None:
    missing = sorted(required - set(data))
    unknown = sorted(set(data) - required - optional)
    if missing or unknown:
        raise InvalidInputError(
            f"Malformed {what} {dict(data)!r}: missing keys {missing}, unknown keys {unknown}; "
            f"expected keys {sorted(required)} and optionally {sorted(optional)}."
        )


# -- fitting a param value to its type ----------------------------------------------------

_NOT_NUMBERS = "booleans and strings are not numbers here"
_WHOLE = "the value has a fractional part (3.0 is accepted, 3.5 is not)"


def _coerce_param(kind: ColumnType, value: Any) -> tuple[Any, str]:
    """(the value as the type wants it, "") or (the value, why it does not fit)."""
    if value is None:
        return None, ""
    if kind is _T.BOOLEAN:
        return (bool(value), "") if _is_bool(value) else (value, "send true or false")
    if kind is _T.STRING:
        return (str(value), "") if isinstance(value, str) else (value, "send a string")
    if not _is_number(value):
        return value, _NOT_NUMBERS
    try:
        number = float(value)
    except OverflowError:
        return value, "out of range"
    if kind in (_T.DOUBLE, _T.FLOAT):
        return number, ""
    if not (isinstance(value, int) or (math.isfinite(number) and number.is_integer())):
        return value, _WHOLE
    whole, bits = int(value), _INT_BITS[kind]
    if not -(2 ** (bits - 1)) <= whole < 2 ** (bits - 1):
        return value, "out of range"
    return whole, ""
