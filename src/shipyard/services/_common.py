"""Small helpers the services share: name rules and who is acting."""

from __future__ import annotations

import getpass
import math
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any, Literal

from shipyard.core.errors import InvalidInputError
from shipyard.core.settings import Settings

__all__ = [
    "MAX_KEY_LENGTH",
    "check_key",
    "check_name",
    "clean_texts",
    "current_user",
    "json_ready",
    "to_moment",
]

#: The width of the key columns of params, tags and metrics.
MAX_KEY_LENGTH = 250

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,255}")


def check_name(kind: str, name: object) -> str:
    """A model, dataset or endpoint name: letters, digits, '.', '_' and '-', 1-256 long.

    Such names fit in URIs (``models:/NAME@ALIAS``) and URL paths without escaping.
    """
    if not isinstance(name, str) or _NAME.fullmatch(name) is None:
        raise InvalidInputError(
            f"{kind} name must start with a letter or digit and hold only letters, digits, "
            f"'.', '_' and '-' (at most 256 characters); got {name!r}"
        )
    return name


def current_user() -> str:
    """The login name of whoever runs this process, or '' when it cannot be known."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""


def check_key(kind: str, key: object) -> str:
    """A param, tag or metric key: non-empty text of at most MAX_KEY_LENGTH characters."""
    if not isinstance(key, str) or not key.strip():
        raise InvalidInputError(f"{kind} key must be a non-empty string, got {key!r}")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidInputError(
            f"{kind} key {key[:40]!r}... is {len(key)} characters; the limit is {MAX_KEY_LENGTH}"
        )
    if any(ord(ch) < 32 for ch in key):
        raise InvalidInputError(f"{kind} key {key!r} contains control characters")
    return key


def clean_texts(
    kind: Literal["param", "tag"], values: Mapping[str, object], settings: Settings
) -> dict[str, str]:
    """Params or tags as text, with valid keys and values within the kind's length limit."""
    setting = f"max_{kind}_length"
    limit: int = getattr(settings, setting)
    clean = {}
    for key, value in values.items():
        name = check_key(kind, key)
        text = value if isinstance(value, str) else str(value)
        if len(text) > limit:
            raise InvalidInputError(
                f"{kind} {name!r} is {len(text)} characters; the limit is {limit} "
                f"(raise it with SHIPYARD_{setting.upper()}, or log long values as an artifact)"
            )
        clean[name] = text
    return clean


def to_moment(name: str, value: object) -> datetime | None:
    """A bound of the time window as an aware UTC datetime (naive values are UTC)."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError as exc:
            raise InvalidInputError(
                f"{name} must be an ISO 8601 date or time such as '2024-05-01' or "
                f"'2024-05-01T12:00:00Z'; got {value!r}"
            ) from exc
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    raise InvalidInputError(
        f"{name} must be a datetime, a date or an ISO 8601 string; got {type(value).__name__}"
    )


def json_ready(value: Any) -> Any:
    """``value`` as strict JSON data: NaN and infinities null, NumPy scalars plain, tuples lists.

    Moments become ISO 8601 text (UTC).
    """
    if isinstance(value, datetime):
        return (value if value.tzinfo is not None else value.replace(tzinfo=UTC)).isoformat()
    if isinstance(value, Mapping):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()  # a NumPy scalar
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
