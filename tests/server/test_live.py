"""The in-memory record of recent answers behind the dashboard's live chart."""

from __future__ import annotations

import pytest

from shipyard.server._live import LiveStats, Record, summarize


def _records(now: float) -> list[Record]:
    """v1 answers 10 requests in each of the last three 2-second buckets; two fail at the end."""
    found: list[Record] = []
    for bucket in range(3):
        end = now - 2.0 * (2 - bucket)
        found += [(end - 0.1 * (i + 1), 1, "primary", float(i + 1), 200) for i in range(10)]
    found += [(now - 0.5, 2, "canary", 3.0, 500), (now - 0.4, None, "", 0.2, 400)]
    return sorted(found, key=lambda record: record[0])


def test_buckets_hold_rates_percentiles_and_failures_per_version() -> None:
    now = 1_000.0
    snapshot = summarize("api", _records(now), seconds=6, bucket=2, now=now)
    assert len(snapshot.ends) == 3
    assert snapshot.total == 32
    one, two, early = snapshot.series
    assert (one.version, one.role, one.label) == (1, "primary", "v1 (primary)")
    assert one.requests_per_s == [5.0, 5.0, 5.0]
    assert one.p50_ms == [5.0, 5.0, 5.0]
    assert one.p99_ms == [10.0, 10.0, 10.0]
    assert (two.label, two.errors, two.p50_ms) == ("v2 (canary)", [0, 0, 1], [None, None, None])
    assert (early.label, early.rejected, early.errors) == ("no version", [0, 0, 1], [0, 0, 0])


def test_records_outside_the_span_are_left_out() -> None:
    now = 1_000.0
    snapshot = summarize("api", _records(now), seconds=2, bucket=2, now=now)
    assert snapshot.total == 12
    assert snapshot.series[0].requests_per_s == [5.0]


def test_an_overflowed_deque_leaves_the_buckets_it_no_longer_covers_without_a_rate() -> None:
    stats = LiveStats(keep=5)
    for i in range(8):
        stats.record("api", 1, "primary", float(i), 200)
    assert stats.full("api")
    assert [r[3] for r in stats.records("api")] == [3.0, 4.0, 5.0, 6.0, 7.0]
    assert stats.rate("api", 60) == pytest.approx(5 / 60)
    kept: list[Record] = [(995.5, 1, "primary", 1.0, 200), (997.0, 1, "primary", 1.0, 200)]
    snapshot = summarize("api", kept, seconds=6, bucket=2, truncated=True, now=1_000.0)
    # the oldest bucket started before the oldest record kept: some of its requests are gone
    assert snapshot.series[0].requests_per_s == [None, 0.5, 0.0]


def test_forget_drops_endpoints_no_longer_served() -> None:
    stats = LiveStats()
    stats.record("old", 1, "primary", 1.0, 200)
    stats.record("api", 1, "primary", 1.0, 200)
    stats.forget(["api"])
    assert stats.records("old") == []
    assert len(stats.records("api")) == 1


@pytest.mark.parametrize(("seconds", "bucket"), [(60, 0), (1, 2)], ids=["no-bucket", "short"])
def test_a_span_shorter_than_a_bucket_is_refused(seconds: float, bucket: float) -> None:
    with pytest.raises(ValueError, match="bucket must be > 0"):
        summarize("api", [], seconds, bucket)
