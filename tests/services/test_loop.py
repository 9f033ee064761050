"""The closed loop on every backend: triggers, retrain, gate, canary verdicts, leases, approvals.

A real champion serves a real endpoint; traffic and its labels go through the real log
writer and feedback; the loop retrains with a real pipeline module from the project
folder, registers the challenger, starts the canary on the endpoint and judges the
canary's logged answers. One test runs the whole path through a uvicorn server.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from loop_setup import (
    DAY,
    ENDPOINT,
    MODEL,
    NOW,
    Loop,
    features,
    loop_policy,
    make_loop,
)

import shipyard
from shipyard import ConflictError
from shipyard.cli._live_server import LiveServer
from shipyard.core.entities import Decision
from shipyard.server import create_app
from shipyard.services.loop import approve, loop_status, loop_tick, trigger_retrain, veto

HOUR = timedelta(hours=1)


@pytest.fixture
def loop(store: shipyard.Store) -> Iterator[Loop]:
    made = make_loop(store)
    yield made
    made.close()


def _kinds(decisions: Sequence[Decision]) -> list[tuple[str, str]]:
    return [(d.kind, d.outcome) for d in decisions]


def _month(loop: Loop, concept: str) -> None:
    """Thirty days of labelled champion traffic before NOW, 100 answers a day."""
    loop.log(NOW - 30 * DAY, 30, 100, seed=1, concept=concept)


def _aliases(loop: Loop) -> dict[str, int]:
    return shipyard.get_model(MODEL, store=loop.store).aliases


def _gate_tag(loop: Loop, version: int) -> str | None:
    found = shipyard.get_model_version(MODEL, version, store=loop.store)
    return found.tags.get("shipyard.loop.gate")


def _start_canary(loop: Loop, **policy: Any) -> list[Decision]:
    """A month of concept-b traffic, and a retrain whose challenger passes to the canary."""
    _month(loop, "b")
    return trigger_retrain(
        ENDPOINT,
        now=NOW,
        policy=loop_policy(**policy),
        training=loop.training(),
        store=loop.store,
    )


# -- retrain and gate ---------------------------------------------------------------------


def test_challenger_trained_on_shuffled_labels_is_refused(loop: Loop) -> None:
    _month(loop, "a")
    decisions = trigger_retrain(
        ENDPOINT,
        "labels look off",
        now=NOW,
        policy=loop_policy(),
        training=loop.training("shuffled"),
        actor="ana",
        store=loop.store,
    )
    assert _kinds(decisions) == [
        ("trigger", "requested"),
        ("retrain", "started"),
        ("retrain", "finished"),
        ("gate", "refused"),
    ]
    trigger, started, finished, gate = decisions
    assert trigger.actor == "ana"
    assert "labels look off" in trigger.summary
    assert {d.cycle for d in decisions} == {trigger.id}
    assert started.details["holdout"] == {
        "since": (NOW - 7 * DAY).isoformat(),
        "until": NOW.isoformat(),
    }
    assert finished.details["train_rows"] == 2_300  # 23 days before the 7-day holdout
    assert finished.version == gate.version == 2
    assert finished.run_id is not None
    assert gate.run_id == finished.run_id

    details = gate.details
    assert details["passed"] is False
    assert details["metric"] == "auc"
    assert details["rows"] == 700
    assert details["champion_version"] == 1
    for side in ("champion", "challenger"):
        assert {"auc", "log_loss", "accuracy"} <= set(details[side])
    assert details["champion"]["auc"] > 0.9
    assert details["challenger"]["auc"] < 0.7
    assert "not beyond the margin" in gate.summary
    assert "700 held-out rows" in gate.summary

    endpoint = shipyard.get_endpoint(ENDPOINT, store=loop.store)
    assert endpoint.canary_version is None
    assert endpoint.version == 1
    state = loop.store.loop.get_state(ENDPOINT)
    assert state.phase == "idle"
    assert state.challenger is None
    assert state.owner is None
    assert state.cooldown_until == NOW + 7 * DAY
    assert _gate_tag(loop, 2) == "refused"
    assert "challenger" not in _aliases(loop)
    run = shipyard.get_run(finished.run_id, store=loop.store)
    assert run.metrics["auc"] == pytest.approx(details["challenger"]["auc"])
    assert run.metrics["champion.auc"] == pytest.approx(details["champion"]["auc"])


def test_better_challenger_passes_the_gate_and_starts_the_canary(loop: Loop) -> None:
    decisions = _start_canary(loop)
    assert _kinds(decisions) == [
        ("trigger", "requested"),
        ("retrain", "started"),
        ("retrain", "finished"),
        ("gate", "passed"),
        ("canary", "started"),
    ]
    gate, canary = decisions[-2:]
    assert gate.details["challenger"]["auc"] > gate.details["champion"]["auc"] + 0.2
    assert "beyond the margin" in gate.summary
    assert canary.version == 2
    assert canary.details["percent"] == 50
    assert [d.at for d in decisions] == [NOW] * 5

    endpoint = shipyard.get_endpoint(ENDPOINT, store=loop.store)
    assert (endpoint.version, endpoint.canary_version, endpoint.canary_percent) == (1, 2, 50)
    state = loop.store.loop.get_state(ENDPOINT)
    assert (state.phase, state.challenger, state.phase_since) == ("canary", 2, NOW)
    assert state.cycle == decisions[0].id
    assert _gate_tag(loop, 2) == "passed"
    assert _aliases(loop)["challenger"] == 2
    (status,) = loop_status(ENDPOINT, store=loop.store)
    assert status.state == state
    assert status.last_decision == canary

    with pytest.raises(ConflictError, match="already canary"):
        trigger_retrain(ENDPOINT, now=NOW, policy=loop_policy(), store=loop.store)


@pytest.mark.parametrize(
    ("mode", "error"),
    [("fail", "StepFailedError"), ("missing", "ConfigError")],
    ids=["step-raises", "module-missing"],
)
def test_failed_pipeline_ends_the_cycle_not_the_controller(
    loop: Loop, mode: str, error: str
) -> None:
    _month(loop, "b")  # the champion has lost its edge: the metric trigger fires
    training = loop.training(mode)
    if mode == "missing":
        training = training.model_copy(update={"pipeline": "no_such_module:pipeline"})
    policy = loop_policy(trigger={"drift_share": None})
    decisions = loop_tick(ENDPOINT, now=NOW, policy=policy, training=training, store=loop.store)
    assert _kinds(decisions) == [
        ("trigger", "fired"),
        ("retrain", "started"),
        ("retrain", "failed"),
    ]
    assert decisions[0].summary.startswith("performance: auc")
    failed = decisions[-1]
    assert failed.details["error"] == error
    assert failed.summary.startswith(f"the retrain failed: {error}")
    state = loop.store.loop.get_state(ENDPOINT)
    assert state.phase == "idle"
    assert state.cooldown_until == NOW + 7 * DAY
    assert [v.version for v in shipyard.list_model_versions(MODEL, store=loop.store)] == [1]
    assert shipyard.get_endpoint(ENDPOINT, store=loop.store).canary_version is None


def test_model_without_training_spec_fails_its_retrain(loop: Loop) -> None:
    decisions = trigger_retrain(ENDPOINT, now=NOW, policy=loop_policy(), store=loop.store)
    assert _kinds(decisions) == [("trigger", "requested"), ("retrain", "failed")]
    assert "declares no training pipeline" in decisions[-1].summary
    assert loop.store.loop.get_state(ENDPOINT).phase == "idle"


def test_too_little_labelled_traffic_skips_the_retrain(loop: Loop) -> None:
    loop.log(NOW - 10 * DAY, 10, 15, seed=1, concept="b")
    decisions = trigger_retrain(
        ENDPOINT, now=NOW, policy=loop_policy(), training=loop.training(), store=loop.store
    )
    assert _kinds(decisions) == [
        ("trigger", "requested"),
        ("retrain", "started"),
        ("retrain", "skipped"),
    ]
    assert decisions[-1].details == {"recent_rows": 45, "holdout_rows": 105}
    assert "45 rows of recent labelled traffic (retrain.min_rows 200)" in decisions[-1].summary
    assert loop.store.loop.get_state(ENDPOINT).phase == "idle"
    assert [v.version for v in shipyard.list_model_versions(MODEL, store=loop.store)] == [1]


def test_no_labelled_traffic_before_the_holdout_skips_the_retrain(loop: Loop) -> None:
    loop.log(NOW - 3 * DAY, 3, 40, seed=1, concept="b")  # all of it inside the holdout
    decisions = trigger_retrain(
        ENDPOINT, now=NOW, policy=loop_policy(), training=loop.training(), store=loop.store
    )
    assert _kinds(decisions)[-1] == ("retrain", "skipped")
    assert decisions[-1].details["holdout_rows"] == 120


# -- the canary's verdict -----------------------------------------------------------------

RULES = {
    "bootstrap": {"test": "bootstrap", "metric": "auc"},
    "z": {"test": "z", "metric": "accuracy"},
}


def _evidence(loop: Loop, *, invert: bool, seed: int = 50) -> None:
    """A day of labelled answers from both roles after NOW, concept b."""
    canary = shipyard.load_model(f"models:/{MODEL}/2", store=loop.store)
    loop.log(NOW, 1, 300, seed=seed, concept="b")
    loop.log(
        NOW,
        1,
        300,
        seed=seed + 1,
        concept="b",
        model=canary,
        version=2,
        role="canary",
        invert=invert,
    )


@pytest.mark.parametrize("test", list(RULES))
def test_canary_no_worse_than_the_primary_is_promoted(loop: Loop, test: str) -> None:
    policy = loop_policy(rollout=RULES[test])
    _start_canary(loop, rollout=RULES[test])
    assert loop_tick(ENDPOINT, now=NOW + HOUR, policy=policy, store=loop.store) == []
    assert loop.store.loop.get_state(ENDPOINT).phase == "canary"  # still waiting for evidence

    _evidence(loop, invert=False)
    decisions = loop_tick(ENDPOINT, now=NOW + DAY, policy=policy, store=loop.store)
    assert _kinds(decisions) == [("verdict", "promote"), ("promotion", "promoted")]
    verdict = decisions[0]
    assert verdict.summary.startswith("the canary is not worse")
    assert verdict.details["canary_labelled"] == verdict.details["primary_labelled"] == 300
    assert verdict.details["test"]["canary"] > verdict.details["test"]["primary"]
    assert decisions[1].details == {"from": 1, "to": 2}
    traffic = shipyard.resolve_traffic(ENDPOINT, store=loop.store)
    assert (traffic.primary_version, traffic.canary_version) == (2, None)
    state = loop.store.loop.get_state(ENDPOINT)
    assert state.phase == "idle"
    assert state.cooldown_until == NOW + 8 * DAY
    assert "challenger" not in _aliases(loop)


@pytest.mark.parametrize("test", list(RULES))
def test_canary_clearly_worse_than_the_primary_is_rolled_back(loop: Loop, test: str) -> None:
    policy = loop_policy(rollout=RULES[test])
    _start_canary(loop, rollout=RULES[test])
    _evidence(loop, invert=True)
    decisions = loop_tick(ENDPOINT, now=NOW + DAY, policy=policy, store=loop.store)
    assert _kinds(decisions) == [("verdict", "rollback"), ("rollback", "rolled_back")]
    assert decisions[0].summary.startswith("the canary is significantly worse")
    comparison = decisions[0].details["test"]
    assert comparison["high"] < 0
    traffic = shipyard.resolve_traffic(ENDPOINT, store=loop.store)
    assert (traffic.primary_version, traffic.canary_version) == (1, None)
    state = loop.store.loop.get_state(ENDPOINT)
    assert state.phase == "idle"
    assert state.challenger is None
    assert "challenger" not in _aliases(loop)


def test_canary_without_evidence_by_its_deadline_is_rolled_back(loop: Loop) -> None:
    _start_canary(loop)
    decisions = loop_tick(ENDPOINT, now=NOW + 7 * DAY, policy=loop_policy(), store=loop.store)
    assert _kinds(decisions) == [("verdict", "rollback"), ("rollback", "rolled_back")]
    assert decisions[0].summary.startswith("not enough evidence within 7d")
    assert shipyard.get_endpoint(ENDPOINT, store=loop.store).canary_version is None


def test_promotion_moves_the_alias_the_endpoint_follows(store: shipyard.Store) -> None:
    loop = make_loop(store, target=f"{MODEL}@champion")
    try:
        _start_canary(loop)
        _evidence(loop, invert=False)
        decisions = loop_tick(ENDPOINT, now=NOW + DAY, policy=loop_policy(), store=store)
        assert _kinds(decisions) == [("verdict", "promote"), ("promotion", "promoted")]
        assert _aliases(loop) == {"champion": 2}
        endpoint = shipyard.get_endpoint(ENDPOINT, store=store)
        assert endpoint.alias == "champion"
        assert endpoint.canary_version is None
        assert shipyard.resolve_traffic(ENDPOINT, store=store).primary_version == 2
    finally:
        loop.close()


def test_canary_changed_outside_the_loop_ends_the_cycle(loop: Loop) -> None:
    _start_canary(loop)
    shipyard.stop_canary(ENDPOINT, store=loop.store)
    decisions = loop_tick(ENDPOINT, now=NOW + HOUR, policy=loop_policy(), store=loop.store)
    assert _kinds(decisions) == [("canary", "ended")]
    assert "changed outside the loop" in decisions[0].summary
    state = loop.store.loop.get_state(ENDPOINT)
    assert state.phase == "idle"
    assert state.cooldown_until == NOW + HOUR + 7 * DAY


def test_controller_restarted_mid_rollout_carries_on_from_the_store(loop: Loop) -> None:
    started = _start_canary(loop)
    _evidence(loop, invert=False)
    fresh = shipyard.Store.from_settings(loop.store.settings)
    try:
        decisions = loop_tick(ENDPOINT, now=NOW + DAY, policy=loop_policy(), store=fresh)
        assert _kinds(decisions) == [("verdict", "promote"), ("promotion", "promoted")]
        assert {d.cycle for d in decisions} == {started[0].id}
        assert fresh.loop.get_state(ENDPOINT) == loop.store.loop.get_state(ENDPOINT)
    finally:
        fresh.close()
    assert shipyard.resolve_traffic(ENDPOINT, store=loop.store).primary_version == 2


def test_promotion_waits_for_approval_when_the_rollout_asks(loop: Loop) -> None:
    policy = loop_policy(rollout={"approval": True})
    _start_canary(loop, rollout={"approval": True})
    _evidence(loop, invert=False)
    decisions = loop_tick(ENDPOINT, now=NOW + DAY, policy=policy, store=loop.store)
    assert _kinds(decisions) == [("verdict", "promote"), ("approval", "waiting")]
    assert loop.store.loop.get_state(ENDPOINT).phase == "awaiting_promotion"
    assert shipyard.resolve_traffic(ENDPOINT, store=loop.store).primary_version == 1
    assert loop_tick(ENDPOINT, now=NOW + 2 * DAY, policy=policy, store=loop.store) == []

    approved = approve(decisions[-1].id, now=NOW + 2 * DAY, policy=policy, store=loop.store)
    assert _kinds(approved) == [("approval", "approved"), ("promotion", "promoted")]
    assert shipyard.resolve_traffic(ENDPOINT, store=loop.store).primary_version == 2
    assert loop.store.loop.get_state(ENDPOINT).phase == "idle"


# -- one retrain at a time ----------------------------------------------------------------


def _crash(loop: Loop, lease: str) -> str:
    """Start a retrain whose controller dies in the pipeline; returns the dead owner."""
    _month(loop, "b")
    with pytest.raises(BaseException, match="the controller was killed") as died:
        trigger_retrain(
            ENDPOINT,
            now=NOW,
            policy=loop_policy(lease=lease),
            training=loop.training("crash"),
            store=loop.store,
        )
    assert type(died.value).__name__ == "Crash"
    state = loop.store.loop.get_state(ENDPOINT)
    assert state.phase == "retraining"
    assert state.owner is not None
    return state.owner


def test_live_lease_of_another_controller_is_left_alone(loop: Loop) -> None:
    _crash(loop, lease="1h")
    before = loop.store.loop.get_state(ENDPOINT)
    decisions = loop_tick(
        ENDPOINT, now=NOW, policy=loop_policy(), training=loop.training(), store=loop.store
    )
    assert decisions == []
    assert loop.store.loop.get_state(ENDPOINT) == before
    with pytest.raises(ConflictError, match="already retraining"):
        trigger_retrain(ENDPOINT, now=NOW, policy=loop_policy(), store=loop.store)
    # another endpoint serving the same model may not retrain it meanwhile
    shipyard.create_endpoint("scores-eu", f"{MODEL}/1", store=loop.store)
    with pytest.raises(ConflictError, match="already retraining for endpoint 'scores'"):
        trigger_retrain("scores-eu", now=NOW, policy=loop_policy(), store=loop.store)
    assert loop.store.loop.get_state("scores-eu").phase == "idle"


def test_lapsed_lease_restarts_the_retrain(loop: Loop) -> None:
    dead = _crash(loop, lease="0s")
    cycle = loop.store.loop.get_state(ENDPOINT).cycle
    decisions = loop_tick(
        ENDPOINT,
        now=NOW,
        policy=loop_policy(),
        training=loop.training(),
        store=loop.store,
        owner="second-controller",
    )
    assert _kinds(decisions) == [
        ("retrain", "restarted"),
        ("retrain", "started"),
        ("retrain", "finished"),
        ("gate", "passed"),
        ("canary", "started"),
    ]
    assert {d.cycle for d in decisions} == {cycle}
    assert decisions[0].details["previous_owner"] == dead
    state = loop.store.loop.get_state(ENDPOINT)
    assert (state.phase, state.challenger, state.owner) == ("canary", 2, None)


# -- approvals ----------------------------------------------------------------------------


def test_gate_approval_then_approve_veto_and_stale_decisions(loop: Loop) -> None:
    policy = loop_policy(gate={"approval": True})
    first = _start_canary(loop, gate={"approval": True})
    assert _kinds(first)[-2:] == [("gate", "passed"), ("approval", "waiting")]
    waiting = first[-1]
    assert waiting.version == 2
    state = loop.store.loop.get_state(ENDPOINT)
    assert (state.phase, state.challenger) == ("awaiting_approval", 2)
    assert shipyard.get_endpoint(ENDPOINT, store=loop.store).canary_version is None
    assert _aliases(loop)["challenger"] == 2
    assert loop_tick(ENDPOINT, now=NOW + HOUR, policy=policy, store=loop.store) == []

    started = approve(waiting.id, now=NOW + HOUR, policy=policy, actor="ana", store=loop.store)
    assert _kinds(started) == [("approval", "approved"), ("canary", "started")]
    assert started[0].actor == "ana"
    assert started[0].cycle == waiting.cycle
    assert shipyard.get_endpoint(ENDPOINT, store=loop.store).canary_version == 2
    assert loop.store.loop.get_state(ENDPOINT).phase == "canary"
    with pytest.raises(ConflictError, match="waits for no approval"):
        approve(waiting.id, policy=policy, store=loop.store)

    stopped = veto(started[-1].id, "too early", now=NOW + 2 * HOUR, policy=policy, store=loop.store)
    assert _kinds(stopped) == [("veto", "vetoed"), ("rollback", "rolled_back")]
    assert shipyard.get_endpoint(ENDPOINT, store=loop.store).canary_version is None
    with pytest.raises(ConflictError, match="which is over"):
        approve(waiting.id, policy=policy, store=loop.store)

    # a second cycle, vetoed before its canary
    second = trigger_retrain(
        ENDPOINT, now=NOW + DAY, policy=policy, training=loop.training(), store=loop.store
    )
    assert _kinds(second)[-1] == ("approval", "waiting")
    assert second[-1].version == 3
    assert second[0].cycle != waiting.cycle
    vetoed = veto(second[-1].id, now=NOW + DAY, policy=policy, store=loop.store)
    assert _kinds(vetoed) == [("veto", "vetoed")]
    state = loop.store.loop.get_state(ENDPOINT)
    assert state.phase == "idle"
    assert state.cooldown_until == NOW + 8 * DAY
    assert shipyard.get_endpoint(ENDPOINT, store=loop.store).canary_version is None
    assert "challenger" not in _aliases(loop)
    with pytest.raises(ConflictError, match="which is over"):
        veto(second[-1].id, policy=policy, store=loop.store)


# -- triggers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("concept", "shift", "fired"),
    [("a", 2.0, "drift:"), ("b", 0.0, "performance: auc"), ("a", 0.0, None)],
    ids=["inputs-shifted", "labels-gone-bad", "clean"],
)
def test_triggers_fire_on_drift_and_metric_drop_only(
    loop: Loop, concept: str, shift: float, fired: str | None
) -> None:
    loop.log(NOW - DAY, 1, 600, seed=3, concept=concept, shift=shift)
    decisions = loop_tick(ENDPOINT, now=NOW, policy=loop_policy(), store=loop.store)
    state = loop.store.loop.get_state(ENDPOINT)
    assert state.checked_until == NOW
    if fired is None:
        assert decisions == []
        assert state.phase == "idle"
        assert state.cycle is None
        return
    assert _kinds(decisions) == [("trigger", "fired"), ("retrain", "failed")]
    trigger = decisions[0]
    assert trigger.summary.startswith(fired)
    assert trigger.actor == "loop"
    assert ";" not in trigger.summary  # one reason, not both
    details = trigger.details
    assert details["window"]["rows"] == 600
    if fired == "drift:":
        assert details["drift_share"] >= 0.5
    else:
        assert details["labelled"] == 600
        assert details["value"] < details["reference"] - 0.1


def test_cooldown_keeps_triggers_quiet_until_it_ends(loop: Loop) -> None:
    policy = loop_policy()
    for day in (NOW - DAY, NOW + 2 * DAY, NOW + 10 * DAY):
        loop.log(day, 1, 200, seed=4, concept="a", shift=2.0)
    assert _kinds(loop_tick(ENDPOINT, now=NOW, policy=policy, store=loop.store))[0] == (
        "trigger",
        "fired",
    )
    assert loop.store.loop.get_state(ENDPOINT).cooldown_until == NOW + 7 * DAY
    assert loop_tick(ENDPOINT, now=NOW + 3 * DAY, policy=policy, store=loop.store) == []
    # a human's request does not wait for the cool-down
    asked = trigger_retrain(ENDPOINT, now=NOW + 3 * DAY, policy=policy, store=loop.store)
    assert _kinds(asked)[0] == ("trigger", "requested")
    assert loop_tick(ENDPOINT, now=NOW + 8 * DAY, policy=policy, store=loop.store) == []
    again = loop_tick(ENDPOINT, now=NOW + 11 * DAY, policy=policy, store=loop.store)
    assert _kinds(again)[0] == ("trigger", "fired")


# -- end to end through a server ----------------------------------------------------------


class Clock:
    """The server's clock for logged predictions, moved by the test."""

    def __init__(self, moment: datetime) -> None:
        self.seconds = moment.timestamp()

    def set(self, moment: datetime) -> None:
        self.seconds = moment.timestamp()

    def __call__(self) -> float:
        return self.seconds


def _wait_for_serving(http: httpx.Client, primary: int, canary: int | None) -> None:
    """Block until the server routes the endpoint as asked (it polls the store)."""
    deadline = time.monotonic() + 30
    serving: Any = None
    while time.monotonic() < deadline:
        serving = http.get(f"/api/endpoints/{ENDPOINT}").json().get("serving")
        if serving and (serving["primary"], serving["canary"]) == (primary, canary):
            return
        time.sleep(0.02)
    raise AssertionError(f"the server still serves {serving}, not v{primary} + canary {canary}")


def _send(http: httpx.Client, rows: int, seed: int) -> list[httpx.Response]:
    frame = features(rows, seed=seed)
    return [
        http.post(f"/v1/endpoints/{ENDPOINT}/predict", json={"records": [row]})
        for row in frame.to_dict("records")
    ]


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_raising_canary_is_rolled_back_and_no_request_fails_after(
    make_store: Any,
) -> None:
    store = make_store(serve_poll_seconds=0.05, log_flush_seconds=30)
    loop = make_loop(store)
    _month(loop, "b")
    clock = Clock(NOW)
    app = create_app(store, clock=clock)
    server = LiveServer(app).start()
    policy = loop_policy()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            decisions = trigger_retrain(
                ENDPOINT, now=NOW, policy=policy, training=loop.training("breaks"), store=store
            )
            assert _kinds(decisions)[-2:] == [("gate", "passed"), ("canary", "started")]
            _wait_for_serving(http, primary=1, canary=2)

            clock.set(NOW + HOUR)
            answers = _send(http, 100, seed=90)
            failed = [a for a in answers if a.status_code != 200]
            assert failed
            assert {a.status_code for a in failed} == {500}
            assert {a.json()["model"]["version"] for a in answers if a.status_code == 200} == {1}
            app.state.runtime.writer.flush(timeout=30)

            decisions = loop_tick(ENDPOINT, now=NOW + 2 * HOUR, policy=policy, store=store)
            assert _kinds(decisions) == [("verdict", "rollback"), ("rollback", "rolled_back")]
            verdict = decisions[0]
            assert verdict.summary.startswith(f"the canary failed {len(failed)} of")
            assert verdict.details["canary_errors"] == len(failed)
            assert verdict.details["primary_requests"] == 100 - verdict.details["canary_requests"]
            _wait_for_serving(http, primary=1, canary=None)

            clock.set(NOW + 3 * HOUR)
            after = _send(http, 200, seed=91)
            assert [a.status_code for a in after] == [200] * 200
            assert {a.json()["model"]["version"] for a in after} == {1}
        assert loop.store.loop.get_state(ENDPOINT).phase == "idle"
    finally:
        server.stop()
        loop.close()
