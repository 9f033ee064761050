"""The batcher on its own: merging, bounds, order, failures and the latency bound."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence

import pytest

from shipyard.server._batching import Batcher


class Recorder:
    """A batch function that doubles its inputs and remembers each call's size."""

    def __init__(self, delay: float = 0.0) -> None:
        self.calls: list[list[int]] = []
        self.delay = delay
        self.threads: set[str] = set()

    def __call__(self, items: Sequence[int]) -> list[int | BaseException]:
        self.calls.append(list(items))
        self.threads.add(threading.current_thread().name)
        time.sleep(self.delay)
        return [ValueError(f"bad {i}") if i < 0 else i * 2 for i in items]


def test_concurrent_requests_are_merged_and_answered_in_order() -> None:
    recorder = Recorder(delay=0.02)

    async def main() -> list[int]:
        batcher: Batcher[int, int] = Batcher(recorder, max_batch_size=64, max_latency_ms=0)
        answers = await asyncio.gather(*(batcher.submit(i, 1) for i in range(100)))
        await batcher.close()
        return list(answers)

    assert asyncio.run(main()) == [i * 2 for i in range(100)]
    assert len(recorder.calls) < 10
    assert max(len(call) for call in recorder.calls) <= 64
    assert sorted(i for call in recorder.calls for i in call) == list(range(100))
    assert threading.main_thread().name not in recorder.threads


def test_rows_not_requests_count_against_the_batch_size() -> None:
    recorder = Recorder(delay=0.01)

    async def main() -> None:
        batcher: Batcher[int, int] = Batcher(recorder, max_batch_size=10, max_latency_ms=0)
        await asyncio.gather(*(batcher.submit(i, 4) for i in range(9)))
        await batcher.close()

    asyncio.run(main())
    assert max(len(call) for call in recorder.calls) <= 2  # 4 + 4 rows; a third would be 12


def test_a_failed_item_fails_only_its_request() -> None:
    async def main() -> list[object]:
        batcher: Batcher[int, int] = Batcher(Recorder(), max_batch_size=8, max_latency_ms=0)
        answers = await asyncio.gather(
            *(batcher.submit(i, 1) for i in (1, -1, 2)), return_exceptions=True
        )
        await batcher.close()
        return list(answers)

    first, second, third = asyncio.run(main())
    assert (first, third) == (2, 4)
    assert isinstance(second, ValueError)


def test_a_batch_function_that_raises_fails_its_batch_and_the_batcher_goes_on() -> None:
    calls = 0

    def flaky(items: Sequence[int]) -> list[int | BaseException]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("model down")
        return list(items)

    async def main() -> tuple[BaseException | int, int]:
        batcher: Batcher[int, int] = Batcher(flaky, max_batch_size=8, max_latency_ms=0)
        failed = await asyncio.gather(batcher.submit(1, 1), return_exceptions=True)
        ok = await batcher.submit(7, 1)
        await batcher.close()
        return failed[0], ok

    failed, ok = asyncio.run(main())
    assert isinstance(failed, RuntimeError)
    assert ok == 7


def test_a_lone_request_does_not_wait_for_company() -> None:
    async def main() -> float:
        batcher: Batcher[int, int] = Batcher(Recorder(), max_batch_size=64, max_latency_ms=500)
        await batcher.submit(1, 1)  # the last batch held one request: no waiting
        started = time.perf_counter()
        await batcher.submit(2, 1)
        elapsed = time.perf_counter() - started
        await batcher.close()
        return elapsed

    assert asyncio.run(main()) < 0.25


@pytest.mark.parametrize("latency_ms", [30, 150])
def test_under_concurrent_traffic_a_request_waits_at_most_its_bound(latency_ms: int) -> None:
    recorder = Recorder()

    async def main() -> float:
        batcher: Batcher[int, int] = Batcher(recorder, max_batch_size=64, max_latency_ms=latency_ms)
        await asyncio.gather(*(batcher.submit(i, 1) for i in range(4)))  # concurrent
        started = time.perf_counter()
        await batcher.submit(99, 1)  # alone now: waits for company, but only so long
        elapsed = time.perf_counter() - started
        await batcher.close()
        return elapsed

    elapsed = asyncio.run(main())
    assert latency_ms / 1000 * 0.8 <= elapsed < latency_ms / 1000 + 0.25
