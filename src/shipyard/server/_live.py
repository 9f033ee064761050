"""The last minutes of answered requests, in memory, for the dashboard's live chart.

The hot path appends one tuple per answered request to its endpoint's bounded deque
(no lock: requests are answered on the event loop, and a deque's append is atomic); a
page turns the recent ones into per-version series of requests per second, latency
percentiles and errors only when it asks (:meth:`LiveStats.snapshot`). Nothing here is
shared between workers: each process charts what it answered itself.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["LiveSeries", "LiveSnapshot", "LiveStats", "Record", "summarize"]

#: (monotonic seconds, version or None, role, latency in ms, HTTP status).
Record = tuple[float, int | None, str, float, int]

#: Records kept per endpoint: about 7 MB at most; a minute of up to ~800 requests/s.
DEFAULT_KEEP = 50_000


@dataclass(frozen=True, slots=True)
class LiveSeries:
    """One version's figures per bucket, oldest bucket first.

    ``version`` is None for requests that failed before a version was chosen (a body
    that does not parse, say). ``role`` is the role it answered in last (``primary``,
    ``canary``; empty when it only failed). A bucket the endpoint's deque no longer
    covers (it overflowed) has None for its rate; a bucket without a successful
    answer has None percentiles.
    """

    version: int | None
    role: str
    requests_per_s: list[float | None]
    p50_ms: list[float | None]
    p99_ms: list[float | None]
    errors: list[int]  # answered with a 5xx status
    rejected: list[int]  # answered with a 4xx status

    @property
    def label(self) -> str:
        """How charts name it: ``v2 (canary)``, or ``no version`` for early failures."""
        if self.version is None:
            return "no version"
        return f"v{self.version}" + (f" ({self.role})" if self.role else "")


@dataclass(frozen=True, slots=True)
class LiveSnapshot:
    """An endpoint's recent traffic: bucket end times and one series per version."""

    endpoint: str
    bucket_s: float
    ends: list[float]  # wall-clock epoch seconds at the end of each bucket
    series: list[LiveSeries]  # by version; ``no version`` last
    total: int  # answered requests in the span


class LiveStats:
    """Recent answered requests of every endpoint, a bounded deque each.

    Args:
        keep: the most records kept per endpoint; past it the oldest go first.
    """

    def __init__(self, keep: int = DEFAULT_KEEP) -> None:
        self.keep = keep
        self._recent: dict[str, deque[Record]] = {}

    def record(
        self, endpoint: str, version: int | None, role: str, latency_ms: float, status: int
    ) -> None:
        """Remember one answered request (called on the request path: keep it cheap)."""
        found = self._recent.get(endpoint)
        if found is None:
            found = self._recent.setdefault(endpoint, deque(maxlen=self.keep))
        found.append((time.monotonic(), version, role, latency_ms, status))

    def records(self, endpoint: str) -> list[Record]:
        """A copy of an endpoint's records, oldest first (take it on the event loop)."""
        found = self._recent.get(endpoint)
        return [] if found is None else list(found)

    def rate(self, endpoint: str, seconds: float = 60.0) -> float:
        """Requests answered per second over the last ``seconds``, counted from the newest."""
        found = self._recent.get(endpoint)
        if not found:
            return 0.0
        since = time.monotonic() - seconds
        count = 0
        for record in reversed(found):
            if record[0] <= since:
                break
            count += 1
        return count / seconds

    def full(self, endpoint: str) -> bool:
        """True when the endpoint's deque is at its bound (older requests were dropped)."""
        found = self._recent.get(endpoint)
        return found is not None and len(found) >= self.keep

    def forget(self, keep_only: Sequence[str]) -> None:
        """Drop the records of endpoints not in ``keep_only`` (deleted ones)."""
        for name in set(self._recent) - set(keep_only):
            del self._recent[name]

    def snapshot(self, endpoint: str, seconds: float = 60.0, bucket: float = 2.0) -> LiveSnapshot:
        """The last ``seconds`` of an endpoint's answers, cut into ``bucket``-second buckets."""
        return summarize(
            endpoint, self.records(endpoint), seconds, bucket, truncated=self.full(endpoint)
        )


def _percentile(ordered: list[float], q: float) -> float:
    """The nearest-rank percentile of sorted values."""
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


def summarize(
    endpoint: str,
    records: Sequence[Record],
    seconds: float = 60.0,
    bucket: float = 2.0,
    *,
    truncated: bool = False,
    now: float | None = None,
) -> LiveSnapshot:
    """Per-version series over the ``seconds`` before ``now`` (monotonic; default: now).

    The buckets end at ``now``, so the newest answers are in the last one. With
    ``truncated`` (the deque overflowed), buckets that started before its oldest record
    have no rate: part of their requests is gone.

    Raises:
        ValueError: ``bucket`` is not positive or ``seconds`` is shorter than a bucket.
    """
    if not bucket > 0 or not seconds >= bucket:
        raise ValueError(
            f"bucket must be > 0 and seconds >= bucket; got bucket={bucket}, seconds={seconds}"
        )
    moment = time.monotonic() if now is None else now
    wall = time.time() - (time.monotonic() - moment)
    count = int(seconds // bucket)
    start = moment - count * bucket
    covered_from = records[0][0] if truncated and records else -math.inf
    served: dict[int | None, list[int]] = {}
    latencies: dict[int | None, list[list[float]]] = {}
    errors: dict[int | None, list[int]] = {}
    rejected: dict[int | None, list[int]] = {}
    roles: dict[int | None, str] = {}
    total = 0
    for at, version, role, latency, status in records:
        if at <= start or at > moment:
            continue
        index = min(count - 1, int((at - start) // bucket))
        if version not in served:
            served[version] = [0] * count
            latencies[version] = [[] for _ in range(count)]
            errors[version] = [0] * count
            rejected[version] = [0] * count
        served[version][index] += 1
        total += 1
        if role:
            roles[version] = role
        if status < 400:
            latencies[version][index].append(latency)
        elif status >= 500:
            errors[version][index] += 1
        else:
            rejected[version][index] += 1
    starts = [start + i * bucket for i in range(count)]
    series = []
    for version in sorted(served, key=lambda v: (v is None, v or 0)):
        p50: list[float | None] = []
        p99: list[float | None] = []
        for values in latencies[version]:
            ordered = sorted(values)
            p50.append(_percentile(ordered, 0.5) if ordered else None)
            p99.append(_percentile(ordered, 0.99) if ordered else None)
        rates: list[float | None] = [
            None if begun < covered_from else n / bucket
            for n, begun in zip(served[version], starts, strict=True)
        ]
        series.append(
            LiveSeries(
                version,
                roles.get(version, ""),
                rates,
                p50,
                p99,
                errors[version],
                rejected[version],
            )
        )
    ends = [wall - (count - 1 - i) * bucket for i in range(count)]
    return LiveSnapshot(endpoint, bucket, ends, series, total)
