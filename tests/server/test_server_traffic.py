"""End to end on loopback: canary shares, shadows, promote and rollback under load, alias
switches, and a prediction log row for every answered request."""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from served import LiveServer, Served

import shipyard

pytestmark = pytest.mark.slow


async def _hammer(
    url: str,
    rows: list[dict[str, Any]],
    *,
    requests: int | None = None,
    until: asyncio.Event | None = None,
    concurrency: int = 16,
    routing_key: Callable[[int], str] | None = None,
) -> list[httpx.Response]:
    """Send single-row predictions from ``concurrency`` clients; return every response."""
    answers: list[httpx.Response] = []
    counter = iter(range(10**9))

    async def client(http: httpx.AsyncClient) -> None:
        while True:
            i = next(counter)
            if requests is not None and i >= requests:
                return
            if until is not None and until.is_set():
                return
            body: dict[str, Any] = {"records": [rows[i % len(rows)]]}
            if routing_key is not None:
                body["routing_key"] = routing_key(i)
            sent = time.monotonic()
            answer = await http.post(f"{url}/v1/endpoints/delays/predict", json=body)
            answer.extensions["sent"] = sent
            answers.append(answer)

    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(timeout=30, limits=limits) as http:
        await asyncio.gather(*(client(http) for _ in range(concurrency)))
    return answers


def _versions(answers: list[httpx.Response]) -> Counter[int]:
    return Counter(a.json()["model"]["version"] for a in answers if a.status_code == 200)


def test_canary_share_is_within_statistical_tolerance(
    served: Served, live: Callable[..., LiveServer]
) -> None:
    shipyard.set_canary("delays", 2, 20, store=served.store)
    server = live()
    answers = asyncio.run(_hammer(server.url, served.rows, requests=2000))
    assert {a.status_code for a in answers} == {200}
    share = _versions(answers)[2] / len(answers)
    # Binomial(2000, 0.2): the standard deviation is 0.0089; 4 of them is 1 in 15,000.
    assert abs(share - 0.2) < 4 * math.sqrt(0.2 * 0.8 / 2000)
    roles = Counter(a.json()["model"]["role"] for a in answers)
    assert roles["canary"] == _versions(answers)[2]


def test_a_routing_key_sticks_to_one_side(served: Served, live: Callable[..., LiveServer]) -> None:
    shipyard.set_canary("delays", 2, 50, store=served.store)
    server = live()
    answers = asyncio.run(
        _hammer(server.url, served.rows, requests=400, routing_key=lambda i: f"user-{i % 20}")
    )
    by_key: dict[str, set[int]] = {}
    for answer in answers:
        assert answer.status_code == 200
        key = json.loads(answer.request.content)["routing_key"]
        by_key.setdefault(key, set()).add(answer.json()["model"]["version"])
    assert all(len(versions) == 1 for versions in by_key.values())
    assert {v for versions in by_key.values() for v in versions} == {1, 2}


def test_shadow_outputs_are_logged_never_returned(
    served: Served, live: Callable[..., LiveServer]
) -> None:
    # Version 3 raises: a failing shadow must not touch a single answer.
    shipyard.add_shadow("delays", 2, store=served.store)
    shipyard.add_shadow("delays", 3, store=served.store)
    server = live()
    answers = asyncio.run(_hammer(server.url, served.rows, requests=200))
    assert {a.status_code for a in answers} == {200}
    assert _versions(answers) == {1: 200}
    server.stop()
    log = shipyard.prediction_log("delays", store=served.store)
    roles = Counter(zip(log["role"], log["version"], log["status"], strict=True))
    assert roles[("primary", 1, 200)] == 200
    assert roles[("shadow", 2, 200)] == 200
    assert roles[("shadow", 3, 500)] == 200
    primary = log[log["role"] == "primary"].set_index("prediction_id")
    shadow = log[(log["role"] == "shadow") & (log["version"] == 2)].set_index("prediction_id")
    assert sorted(primary.index) == sorted(shadow.index)
    # The flipped shadow model disagrees with every answer given.
    joined = primary.merge(shadow, left_index=True, right_index=True, suffixes=("", "_shadow"))
    assert (joined["output.prediction"] != joined["output.prediction_shadow"]).all()


@pytest.mark.parametrize("action", ["promote", "rollback"])
def test_promote_and_rollback_under_load_fail_no_request(
    served: Served, live: Callable[..., LiveServer], action: str
) -> None:
    shipyard.set_canary("delays", 2, 30, store=served.store)
    server = live()

    async def scenario() -> tuple[list[httpx.Response], float]:
        stop = asyncio.Event()
        load = asyncio.create_task(_hammer(server.url, served.rows, until=stop))
        await asyncio.sleep(0.5)
        async with httpx.AsyncClient(timeout=30) as admin:
            answer = await admin.post(f"{server.url}/api/endpoints/delays/{action}")
            assert answer.status_code == 200, answer.text
        done = time.monotonic()
        await asyncio.sleep(0.5)
        stop.set()
        return await load, done

    answers, done = asyncio.run(scenario())
    assert {a.status_code for a in answers} == {200}
    expected = 2 if action == "promote" else 1
    after = [a for a in answers if a.extensions["sent"] > done]
    assert after
    # Once the call has answered, the new traffic is in force.
    assert set(_versions(after)) == {expected}
    assert shipyard.get_model("delays", store=served.store).aliases["champion"] == expected


def test_moving_the_alias_switches_within_two_seconds_without_failures(
    served: Served, live: Callable[..., LiveServer]
) -> None:
    server = live()

    async def scenario() -> tuple[list[httpx.Response], float]:
        stop = asyncio.Event()
        load = asyncio.create_task(_hammer(server.url, served.rows, until=stop, concurrency=8))
        await asyncio.sleep(0.3)
        await asyncio.to_thread(shipyard.set_alias, "delays", "champion", 2, store=served.store)
        moved = time.monotonic()
        switched = None
        async with httpx.AsyncClient(timeout=30) as http:
            while time.monotonic() - moved < 5:
                answer = await http.post(
                    f"{server.url}/v1/endpoints/delays/predict", json={"records": served.rows[:1]}
                )
                if answer.json()["model"]["version"] == 2:
                    switched = time.monotonic() - moved
                    break
                await asyncio.sleep(0.02)
        await asyncio.sleep(0.2)
        stop.set()
        assert switched is not None, "the server never switched to version 2"
        return await load, switched

    answers, switched = asyncio.run(scenario())
    assert switched < 2.0
    assert {a.status_code for a in answers} == {200}
    assert set(_versions(answers)) == {1, 2}


def test_every_answered_request_is_in_the_log_after_a_graceful_stop(
    served: Served, live: Callable[..., LiveServer]
) -> None:
    server = live()
    answers = asyncio.run(_hammer(server.url, served.rows, requests=500, concurrency=32))
    server.stop()
    ids = {pid for a in answers for pid in a.json()["prediction_ids"]}
    assert len(ids) == 500
    log = shipyard.prediction_log("delays", store=served.store)
    assert set(log["prediction_id"]) == ids
    assert (log["status"] == 200).all()
    assert (log["latency_ms"] > 0).all()


def test_requests_in_flight_at_a_graceful_stop_are_answered_and_logged(
    served: Served, live: Callable[..., LiveServer]
) -> None:
    server = live()

    async def scenario() -> list[httpx.Response | BaseException]:
        answers: list[httpx.Response | BaseException] = []

        async def client(http: httpx.AsyncClient) -> None:
            for i in range(10_000):
                try:
                    answers.append(
                        await http.post(
                            f"{server.url}/v1/endpoints/delays/predict",
                            json={"records": [served.rows[i % len(served.rows)]]},
                        )
                    )
                except httpx.TransportError as exc:  # refused once the server stops
                    answers.append(exc)
                    return

        async with httpx.AsyncClient(timeout=30) as http:
            load = [asyncio.create_task(client(http)) for _ in range(16)]
            await asyncio.sleep(0.5)
            # The stop begins while 16 clients have requests on the way.
            await asyncio.to_thread(server.stop)
            await asyncio.gather(*load)
        return answers

    answers = asyncio.run(scenario())
    answered = [a for a in answers if isinstance(a, httpx.Response)]
    assert answered
    assert {a.status_code for a in answered} == {200}
    ids = {pid for a in answered for pid in a.json()["prediction_ids"]}
    log = shipyard.prediction_log("delays", store=served.store)
    assert ids <= set(log["prediction_id"])
