"""Identifiers and clocks shared by the stores."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shipyard.core.ids import from_ms, new_id, now_ms, to_ms


def test_new_id_is_32_hex_characters_and_unique() -> None:
    ids = {new_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(re.fullmatch(r"[0-9a-f]{32}", value) for value in ids)


def test_now_ms_is_epoch_milliseconds() -> None:
    before = time.time() * 1000
    now = now_ms()
    after = time.time() * 1000
    assert isinstance(now, int)
    assert before - 1 <= now <= after + 1


@pytest.mark.parametrize(
    ("moment", "ms"),
    [
        pytest.param(datetime(1970, 1, 1, tzinfo=UTC), 0, id="epoch"),
        pytest.param(datetime(2024, 1, 1, tzinfo=UTC), 1_704_067_200_000, id="utc"),
        pytest.param(datetime(2024, 1, 1), 1_704_067_200_000, id="naive-is-utc"),
        pytest.param(
            datetime(2024, 1, 1, 2, tzinfo=timezone(timedelta(hours=2))),
            1_704_067_200_000,
            id="offset",
        ),
        pytest.param(
            datetime(2024, 1, 1, 0, 0, 0, 123_000, tzinfo=UTC), 1_704_067_200_123, id="millis"
        ),
        pytest.param(
            # timestamp() * 1000 gives 2193295676153.9998 here; the result must not truncate it.
            datetime(2039, 7, 3, 8, 47, 56, 154_000, tzinfo=UTC),
            2_193_295_676_154,
            id="no-float-rounding",
        ),
        pytest.param(datetime(2024, 1, 1, 0, 0, 0, 999, tzinfo=UTC), 1_704_067_200_000, id="floor"),
    ],
)
def test_to_ms(moment: datetime, ms: int) -> None:
    assert to_ms(moment) == ms


def test_from_ms_is_aware_utc_and_round_trips() -> None:
    moment = from_ms(1_704_067_200_123)
    assert moment == datetime(2024, 1, 1, 0, 0, 0, 123_000, tzinfo=UTC)
    assert moment.tzinfo is UTC
    assert to_ms(moment) == 1_704_067_200_123


@given(st.integers(min_value=0, max_value=2**42))
def test_ms_round_trip(ms: int) -> None:
    assert to_ms(from_ms(ms)) == ms
