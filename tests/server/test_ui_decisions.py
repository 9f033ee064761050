"""The dashboard's decisions pages and the management API's approve and veto routes, on a
real closed loop: a champion serving endpoint ``scores``, a month of labelled traffic
that drifted from it, and a retrain whose challenger waits for a human at the gate."""

from __future__ import annotations

import html
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from served import LiveServer

import shipyard
from shipyard.core.entities import Decision
from shipyard.server import create_app

# The loop tests' helpers: a champion, labelled traffic and a training pipeline module.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "services"))
from loop_setup import DAY, ENDPOINT, NOW, Loop, loop_policy, make_loop

POLICY = loop_policy(gate={"approval": True})


@dataclass
class Waiting:
    """A server on a loop whose first cycle waits for approval of its canary."""

    http: httpx.Client
    loop: Loop
    decisions: list[Decision]  # the cycle so far: trigger ... gate, approval waiting

    @property
    def waiting(self) -> Decision:
        return self.decisions[-1]

    @property
    def trigger(self) -> Decision:
        return self.decisions[0]


@pytest.fixture
def cycle(tmp_path: Path) -> Iterator[Waiting]:
    store = shipyard.Store.from_settings(
        shipyard.Settings(
            home=tmp_path / "home",
            project_dir=tmp_path,
            serve_poll_seconds=0.1,
            loop={ENDPOINT: POLICY},
        )
    )
    store.upgrade()
    loop = make_loop(store)
    loop.log(NOW - 30 * DAY, 30, 100, seed=1, concept="b")  # the champion no longer fits
    decisions = shipyard.trigger_retrain(
        ENDPOINT, now=NOW, policy=POLICY, training=loop.training(), store=store
    )
    assert [(d.kind, d.outcome) for d in decisions[-2:]] == [
        ("gate", "passed"),
        ("approval", "waiting"),
    ]
    server = LiveServer(create_app(store)).start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            yield Waiting(http, loop, decisions)
    finally:
        server.stop()
        loop.close()
        store.close()


def _testids(page: str) -> set[str]:
    return set(re.findall(r'data-testid="([^"]+)"', page))


def _kinds(answer: httpx.Response) -> list[tuple[str, str]]:
    assert answer.status_code == 200, answer.text
    return [(d["kind"], d["outcome"]) for d in answer.json()["decisions"]]


def _serving(http: httpx.Client) -> tuple[int, int | None]:
    serving = http.get(f"/api/endpoints/{ENDPOINT}").json()["serving"]
    return serving["primary"], serving["canary"]


def test_the_timeline_and_the_loop_status(cycle: Waiting) -> None:
    answer = cycle.http.get("/ui/decisions")
    assert answer.status_code == 200
    page = answer.text
    assert {"decisions-timeline", "loop-status"} <= _testids(page)
    for decision in cycle.decisions:
        assert f'href="/ui/decisions/{decision.id}"' in page
    assert "awaiting_approval" in page
    assert f"waits for you: #{cycle.waiting.id}" in page
    gate = next(d for d in cycle.decisions if d.kind == "gate")
    assert gate.run_id
    assert f'href="/ui/runs/{gate.run_id}"' in page
    assert 'href="/ui/models/scores/2"' in page

    gates = cycle.http.get("/ui/decisions", params={"endpoint": ENDPOINT, "kind": "gate"}).text
    assert re.findall(r'data-decision="(\d+)"', gates) == [str(gate.id)]
    one = cycle.http.get("/ui/decisions", params={"cycle": str(cycle.trigger.id)}).text
    assert len(re.findall(r'data-decision="', one)) == len(cycle.decisions)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"endpoint": "<script>alert(1)</script>"}, "endpoint name must start"),
        ({"cycle": "<b>x"}, "cycle must be a decision id"),
    ],
    ids=["hostile-endpoint", "bad-cycle"],
)
def test_bad_filters_are_a_message_not_a_500(
    cycle: Waiting, params: dict[str, str], message: str
) -> None:
    answer = cycle.http.get("/ui/decisions", params=params)
    assert answer.status_code == 200
    assert message in html.unescape(answer.text)
    assert "<script>alert" not in answer.text
    assert "<b>x" not in answer.text
    assert "decisions-timeline" in _testids(answer.text)


def test_a_decision_page_has_approve_and_veto_while_it_waits(cycle: Waiting) -> None:
    page = cycle.http.get(f"/ui/decisions/{cycle.waiting.id}").text
    assert {"decision", "approve", "veto", "cycle-timeline"} <= _testids(page)
    assert f'data-url="/api/decisions/{cycle.waiting.id}/approve"' in page
    trigger = cycle.http.get(f"/ui/decisions/{cycle.trigger.id}").text
    assert "veto" in _testids(trigger)  # its cycle is in flight
    assert "approve" not in _testids(trigger)  # but it is no approval
    gate = next(d for d in cycle.decisions if d.kind == "gate")
    scores = cycle.http.get(f"/ui/decisions/{gate.id}").text
    assert "champion" in scores
    assert "challenger" in scores


def test_approve_then_veto_through_the_api(cycle: Waiting) -> None:
    http, waiting = cycle.http, cycle.waiting
    assert _serving(http) == (1, None)

    missing = http.post("/api/decisions/999999/approve")
    assert missing.status_code == 404
    not_an_approval = http.post(f"/api/decisions/{cycle.trigger.id}/approve")
    assert not_an_approval.status_code == 409
    assert "not an approval" in not_an_approval.json()["error"]["message"]

    approved = http.post(f"/api/decisions/{waiting.id}/approve")
    assert _kinds(approved) == [("approval", "approved"), ("canary", "started")]
    assert _serving(http) == (1, 2)  # applied by this server before it answered
    page = http.get(f"/ui/decisions/{waiting.id}").text
    assert "approve" not in _testids(page)
    assert "veto" in _testids(page)
    assert http.post(f"/api/decisions/{waiting.id}/approve").status_code == 409

    vetoed = http.post(f"/api/decisions/{waiting.id}/veto", json={"reason": "too early"})
    bad = http.post(f"/api/decisions/{waiting.id}/veto", json={"reason": 3})
    assert bad.status_code == 400
    assert "a veto's body is" in bad.json()["error"]["message"]
    assert _kinds(vetoed) == [("veto", "vetoed"), ("rollback", "rolled_back")]
    assert vetoed.json()["decisions"][0]["details"]["reason"] == "too early"
    assert _serving(http) == (1, None)
    assert http.post(f"/api/decisions/{waiting.id}/veto", json={}).status_code == 409
    assert http.post("/api/decisions/999999/veto").status_code == 404

    page = http.get(f"/ui/decisions/{waiting.id}").text
    assert not {"approve", "veto"} & _testids(page)
    assert "too early" in http.get("/ui/decisions").text


def test_a_veto_before_the_canary_ends_the_cycle(cycle: Waiting) -> None:
    vetoed = cycle.http.post(f"/api/decisions/{cycle.waiting.id}/veto")
    assert _kinds(vetoed) == [("veto", "vetoed")]
    assert _serving(cycle.http) == (1, None)
    status = cycle.http.get("/ui/decisions").text
    assert "waits for you" not in status


@pytest.mark.parametrize("path", ["/ui/decisions/999999", "/ui/decisions/abc"], ids=str)
def test_an_unknown_decision_is_a_404_page(cycle: Waiting, path: str) -> None:
    answer = cycle.http.get(path)
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("text/html")
