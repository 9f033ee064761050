"""Identifiers and clocks, in one place so tests and stores agree on them."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

__all__ = ["from_ms", "new_id", "now_ms", "to_ms"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def new_id() -> str:
    """A new random 32-character hex identifier."""
    return uuid.uuid4().hex


def now_ms() -> int:
    """Milliseconds since the epoch, UTC."""
    return time.time_ns() // 1_000_000


def from_ms(ms: int) -> datetime:
    """A timezone-aware UTC datetime from epoch milliseconds."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def to_ms(value: datetime) -> int:
    """Epoch milliseconds from a datetime (naive ones are taken as UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    # Integer arithmetic: int(value.timestamp() * 1000) loses a millisecond to float rounding.
    return (value - _EPOCH) // _MS
