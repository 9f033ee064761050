"""Monitoring windows: parsing ``1d``/``1mo``, alignment in UTC, and covering a span exactly."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from itertools import pairwise

import pytest

from shipyard import InvalidInputError
from shipyard.services._windows import Every, parse_every, windows

NEW_YORK = timezone(timedelta(hours=-5))


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def at(text: str) -> datetime:
    """An ISO 8601 time without a zone, in UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("1h", Every(1, "h"), id="1h"),
        pytest.param("6h", Every(6, "h"), id="6h"),
        pytest.param("1d", Every(1, "d"), id="1d"),
        pytest.param("7d", Every(7, "d"), id="7d"),
        pytest.param("1w", Every(1, "w"), id="1w"),
        pytest.param("1mo", Every(1, "mo"), id="1mo"),
        pytest.param("2mo", Every(2, "mo"), id="2mo"),
        pytest.param(" 12H ", Every(12, "h"), id="spaces-and-upper-case"),
        pytest.param("1 MO", Every(1, "mo"), id="space-inside"),
        pytest.param("01d", Every(1, "d"), id="leading-zero"),
    ],
)
def test_parse_every(text: str, expected: Every) -> None:
    assert parse_every(text) == expected


def test_every_prints_as_it_is_written() -> None:
    assert [str(parse_every(t)) for t in ("6h", " 1D", "2MO", "1w")] == ["6h", "1d", "2mo", "1w"]


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("0d", id="zero"),
        pytest.param("1y", id="years"),
        pytest.param("", id="empty"),
        pytest.param("d1", id="unit-first"),
        pytest.param("1", id="no-unit"),
        pytest.param("mo", id="no-count"),
        pytest.param("-1d", id="negative"),
        pytest.param("1.5d", id="fraction"),
        pytest.param("1m", id="minutes-or-months"),
        pytest.param("1d2h", id="two-parts"),
    ],
)
def test_parse_errors_say_what_is_expected(text: str) -> None:
    message = (
        "a window length is a count from 1 to 1000 and a unit, h (hours), d (days), "
        f"w (weeks) or mo (months), such as 1h, 6h, 1d, 7d or 1mo; got {text!r}"
    )
    with pytest.raises(InvalidInputError, match=re.escape(message)):
        parse_every(text)
    with pytest.raises(ValueError, match="a window length is"):
        parse_every(text)


# (id, every, moment, start of its window, end of it); times are UTC
FLOORS = [
    ("1h", "1h", "2024-03-01 10:59:59.999999", "2024-03-01 10:00", "2024-03-01 11:00"),
    ("1h-on-a-boundary", "1h", "2024-03-01 10:00", "2024-03-01 10:00", "2024-03-01 11:00"),
    ("6h-night", "6h", "2024-03-01 05:59", "2024-03-01 00:00", "2024-03-01 06:00"),
    ("6h-at-six", "6h", "2024-03-01 06:00", "2024-03-01 06:00", "2024-03-01 12:00"),
    ("6h-evening", "6h", "2024-03-01 23:30", "2024-03-01 18:00", "2024-03-02"),
    ("1d", "1d", "2024-03-01 23:59:59", "2024-03-01", "2024-03-02"),
    ("1d-leap-day", "1d", "2024-02-29 12:00", "2024-02-29", "2024-03-01"),
    # 7d counts whole weeks since the epoch, a Thursday; 1w starts on Monday
    ("7d-from-thursday", "7d", "2024-03-06 12:00", "2024-02-29", "2024-03-07"),
    ("1w-wednesday", "1w", "2024-03-06 12:00", "2024-03-04", "2024-03-11"),
    ("1w-monday", "1w", "2024-03-04", "2024-03-04", "2024-03-11"),
    ("1w-sunday-night", "1w", "2024-03-10 23:59", "2024-03-04", "2024-03-11"),
    ("2w", "2w", "2024-03-06", "2024-03-04", "2024-03-18"),
    ("1mo-last-minute", "1mo", "2024-03-31 23:59", "2024-03-01", "2024-04-01"),
    ("1mo-february", "1mo", "2024-02-29", "2024-02-01", "2024-03-01"),
    ("2mo-january", "2mo", "2024-02-10", "2024-01-01", "2024-03-01"),
    ("2mo-march", "2mo", "2024-03-01", "2024-03-01", "2024-05-01"),
    ("2mo-may", "2mo", "2024-06-30", "2024-05-01", "2024-07-01"),
    ("3mo-quarter", "3mo", "2024-12-15", "2024-10-01", "2025-01-01"),
    # year boundaries
    ("1d-new-years-eve", "1d", "2024-12-31 23:59", "2024-12-31", "2025-01-01"),
    ("1w-across-years", "1w", "2025-01-01 08:00", "2024-12-30", "2025-01-06"),
    ("1mo-december", "1mo", "2024-12-31", "2024-12-01", "2025-01-01"),
    ("1mo-january", "1mo", "2025-01-01", "2025-01-01", "2025-02-01"),
    ("2mo-november", "2mo", "2024-12-31", "2024-11-01", "2025-01-01"),
    ("2mo-next-january", "2mo", "2025-02-28", "2025-01-01", "2025-03-01"),
    ("1d-before-the-epoch", "1d", "1969-12-31 12:00", "1969-12-31", "1970-01-01"),
    ("1w-before-the-epoch", "1w", "1969-12-31", "1969-12-29", "1970-01-05"),
]


@pytest.mark.parametrize(
    ("every", "moment", "start", "end"),
    [pytest.param(*row[1:], id=row[0]) for row in FLOORS],
)
def test_floor_and_after(every: str, moment: str, start: str, end: str) -> None:
    length = parse_every(every)
    got = length.floor(at(moment))
    assert got == at(start)
    assert got.tzinfo is UTC
    assert length.after(got) == at(end)
    assert length.floor(got) == got  # a start is its own window's start
    if length.unit == "w":
        assert got.weekday() == 0


@pytest.mark.parametrize(
    ("every", "moment", "start"),
    [
        # 01:00 in Paris is midnight UTC: the same day
        pytest.param("1d", "2024-03-02T01:00+01:00", "2024-03-02", id="paris-midnight"),
        # 00:30 in Paris is still the day before in UTC
        pytest.param("1d", "2024-03-02T00:30+01:00", "2024-03-01", id="paris-before-midnight"),
        pytest.param("1d", "2024-03-01T20:00-05:00", "2024-03-02", id="new-york-evening"),
        pytest.param("6h", "2024-03-01T08:00+09:00", "2024-02-29 18:00", id="tokyo-6h"),
        pytest.param("1w", "2024-03-04T05:00+09:00", "2024-02-26", id="tokyo-monday-morning"),
        pytest.param("1mo", "2024-04-01T00:30+01:00", "2024-03-01", id="paris-first-of-month"),
        pytest.param("1mo", "2024-12-31T20:00-05:00", "2025-01-01", id="new-york-new-year"),
    ],
)
def test_other_zones_are_converted_to_utc(every: str, moment: str, start: str) -> None:
    aware = datetime.fromisoformat(moment)
    assert aware.utcoffset() != timedelta(0)
    got = parse_every(every).floor(aware)
    assert got == at(start)
    assert got.tzinfo is UTC


def test_months_have_no_fixed_step() -> None:
    assert parse_every("6h").step == timedelta(hours=6)
    assert parse_every("2w").step == timedelta(days=14)
    with pytest.raises(ValueError, match="months have no fixed length"):
        _ = parse_every("1mo").step


def test_windows_cover_since_to_until_exactly() -> None:
    got = list(windows(utc(2024, 3, 1, 10), utc(2024, 3, 4), parse_every("1d")))
    assert got == [
        (utc(2024, 3, 1), utc(2024, 3, 2)),
        (utc(2024, 3, 2), utc(2024, 3, 3)),
        (utc(2024, 3, 3), utc(2024, 3, 4)),
    ]
    # a moment past the last boundary opens one more window
    later = list(windows(utc(2024, 3, 1), at("2024-03-04 00:00:00.000001"), parse_every("1d")))
    assert later[-1] == (utc(2024, 3, 4), utc(2024, 3, 5))
    assert len(later) == 4


def test_months_across_a_year() -> None:
    got = list(windows(utc(2024, 11, 15), utc(2025, 2, 1), parse_every("1mo")))
    assert [start for start, _ in got] == [utc(2024, 11, 1), utc(2024, 12, 1), utc(2025, 1, 1)]
    assert got[-1][1] == utc(2025, 2, 1)
    two = list(windows(utc(2024, 10, 2), utc(2025, 3, 2), parse_every("2mo")))
    assert [start for start, _ in two] == [
        utc(2024, 9, 1),
        utc(2024, 11, 1),
        utc(2025, 1, 1),
        utc(2025, 3, 1),
    ]


@pytest.mark.parametrize("every", ["1h", "6h", "1d", "7d", "1w", "2w", "1mo", "2mo", "3mo"])
@pytest.mark.parametrize(
    ("since", "until"),
    [
        pytest.param(utc(2024, 2, 27, 13, 17), utc(2024, 5, 3, 2), id="spring"),
        pytest.param(utc(2024, 12, 20, 23), utc(2025, 1, 9, 1), id="new-year"),
        pytest.param(utc(2024, 3, 1), at("2024-03-01 00:00:00.000001"), id="one-microsecond"),
    ],
)
def test_windows_are_aligned_contiguous_and_cover_the_span(
    every: str, since: datetime, until: datetime
) -> None:
    length = parse_every(every)
    got = list(windows(since, until, length))
    assert got
    assert got[0][0] <= since < got[0][1]
    assert got[-1][0] < until <= got[-1][1]
    for (_, end), (start, _) in pairwise(got):
        assert end == start
    for start, end in got:
        assert start.tzinfo is UTC
        assert length.floor(start) == start
        assert length.after(start) == end
        assert start < end


def test_windows_in_another_zone_are_utc() -> None:
    since = datetime(2024, 3, 1, 1, tzinfo=timezone(timedelta(hours=2)))  # Feb 29, 23:00 UTC
    until = datetime(2024, 3, 1, 12, tzinfo=NEW_YORK)  # Mar 1, 17:00 UTC
    assert list(windows(since, until, parse_every("1d"))) == [
        (utc(2024, 2, 29), utc(2024, 3, 1)),
        (utc(2024, 3, 1), utc(2024, 3, 2)),
    ]


def test_an_empty_span_on_a_boundary_has_no_windows() -> None:
    assert list(windows(utc(2024, 3, 1), utc(2024, 3, 1), parse_every("1d"))) == []
