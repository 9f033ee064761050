"""Monitoring windows: ``1h``, ``6h``, ``1d``, ``7d``, ``1w``, ``1mo``, aligned in UTC.

Hour and day windows start at multiples of their length since the epoch (``1d`` at
midnight UTC, ``6h`` at 00, 06, 12, 18, ``7d`` on Thursdays as 1970-01-01 was one);
``w`` windows start on Monday; months on the first. Naive datetimes are taken as UTC.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from shipyard.core.errors import InvalidInputError

__all__ = ["Every", "parse_every", "windows"]

_PATTERN = re.compile(r"\s*(\d+)\s*(mo|h|d|w)\s*", re.IGNORECASE)
_MAX_COUNT = 1000  # 1000 months is 83 years: anything longer is a typo
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MONDAY = datetime(1970, 1, 5, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Every:
    """A window length: a count of hours, days, weeks or months."""

    count: int
    unit: str  # "h", "d", "w" or "mo"

    def __str__(self) -> str:
        return f"{self.count}{self.unit}"

    def floor(self, moment: datetime) -> datetime:
        """The start of the window that holds ``moment``."""
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
        if self.unit == "mo":
            months = moment.year * 12 + moment.month - 1
            months -= months % self.count
            return datetime(months // 12, months % 12 + 1, 1, tzinfo=UTC)
        origin = _MONDAY if self.unit == "w" else _EPOCH
        step = self.step
        return origin + ((moment - origin) // step) * step

    @property
    def step(self) -> timedelta:
        """The length as a timedelta (months have none)."""
        hours = {"h": 1, "d": 24, "w": 24 * 7}.get(self.unit)
        if hours is None:
            raise ValueError("months have no fixed length")
        return timedelta(hours=hours * self.count)

    def after(self, start: datetime) -> datetime:
        """The end of the window that starts at ``start``."""
        if self.unit != "mo":
            return start + self.step
        months = start.year * 12 + start.month - 1 + self.count
        return datetime(months // 12, months % 12 + 1, 1, tzinfo=UTC)


def parse_every(text: str) -> Every:
    """Parse a window length such as ``1d`` or ``1mo``.

    Raises:
        InvalidInputError: the text is not a positive count followed by h, d, w or mo.
    """
    match = _PATTERN.fullmatch(str(text))
    if match is None or not 1 <= int(match.group(1)) <= _MAX_COUNT:
        raise InvalidInputError(
            f"a window length is a count from 1 to {_MAX_COUNT} and a unit, h (hours), "
            f"d (days), w (weeks) or mo (months), such as 1h, 6h, 1d, 7d or 1mo; got {text!r}"
        )
    return Every(int(match.group(1)), match.group(2).lower())


def windows(since: datetime, until: datetime, every: Every) -> Iterator[tuple[datetime, datetime]]:
    """The aligned windows that overlap ``[since, until)``, oldest first (aware datetimes)."""
    start = every.floor(since)
    while start < until:
        end = every.after(start)
        yield start, end
        start = end
