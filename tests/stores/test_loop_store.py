"""The loop store on every backend: compare-and-set loop states and the decision trail."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import numpy as np
import pytest
from sqlalchemy import inspect

import shipyard
from shipyard import ConflictError, Decision, InvalidInputError, LoopState, NotFoundError
from shipyard.core import DECISION_KINDS, LOOP_PHASES
from shipyard.stores import NewDecision, SqlLoopStore

MakeStore = Callable[..., shipyard.Store]

MARCH_1 = datetime(2024, 3, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)


@pytest.fixture
def loop(store: shipyard.Store) -> SqlLoopStore:
    return store.loop


def _decision(
    kind: str = "trigger",
    *,
    endpoint: str = "api",
    at: datetime = MARCH_1,
    cycle: int | None = None,
    outcome: str = "fired",
    details: dict[str, Any] | None = None,
    **extra: Any,
) -> NewDecision:
    return NewDecision(
        endpoint=endpoint,
        model="delays",
        kind=kind,
        outcome=outcome,
        summary=f"{kind} {outcome}",
        details={"drift_share": 0.4} if details is None else details,
        at=at,
        cycle=cycle,
        **extra,
    )


# -- states -------------------------------------------------------------------------------


def test_store_has_one_loop_store(store: shipyard.Store) -> None:
    assert store.loop is store.loop
    assert store.loop.db is store.metadata.db


def test_an_endpoint_without_state_is_idle_at_generation_zero(loop: SqlLoopStore) -> None:
    assert loop.get_state("api") == LoopState("api", "idle")
    assert loop.get_state("api").generation == 0
    assert loop.list_states() == []


def test_first_transition_creates_the_state(loop: SqlLoopStore) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    state = loop.transition(
        "api",
        0,
        phase="retraining",
        model="delays",
        cycle=7,
        phase_since=MARCH_1,
        owner="host:1:ab",
        lease_until=MARCH_1 + HOUR,
    )
    assert state.endpoint == "api"
    assert (state.phase, state.model, state.cycle, state.owner) == (
        "retraining",
        "delays",
        7,
        "host:1:ab",
    )
    assert state.phase_since == MARCH_1
    assert state.lease_until == MARCH_1 + HOUR
    assert (state.challenger, state.cooldown_until, state.checked_until) == (None, None, None)
    assert state.generation == 1
    assert state.updated_at is not None
    assert state.updated_at >= before
    assert state.updated_at.tzinfo is not None
    assert loop.get_state("api") == state


def test_first_transition_defaults_to_idle(loop: SqlLoopStore) -> None:
    state = loop.transition("api", 0, checked_until=MARCH_1)
    assert (state.phase, state.checked_until, state.generation) == ("idle", MARCH_1, 1)


def test_transition_changes_only_the_given_fields(loop: SqlLoopStore) -> None:
    first = loop.transition("api", 0, phase="canary", model="delays", cycle=3, challenger=4)
    second = loop.transition("api", first.generation, phase="awaiting_promotion", owner=None)
    assert second.generation == 2
    assert (second.phase, second.model, second.cycle, second.challenger) == (
        "awaiting_promotion",
        "delays",
        3,
        4,
    )
    third = loop.transition("api", 2, phase="idle", cycle=None, challenger=None)
    assert (third.phase, third.model, third.cycle, third.challenger, third.generation) == (
        "idle",
        "delays",
        None,
        None,
        3,
    )
    assert loop.get_state("api") == third


def test_transition_with_no_values_only_bumps_the_generation(loop: SqlLoopStore) -> None:
    first = loop.transition("api", 0, phase="canary")
    again = loop.transition("api", 1)
    assert again.phase == "canary"
    assert again.generation == first.generation + 1


def test_times_keep_milliseconds_and_come_back_in_utc(loop: SqlLoopStore) -> None:
    paris = datetime(2024, 3, 1, 13, 0, 0, 123_456, tzinfo=timezone(timedelta(hours=1)))
    state = loop.transition("api", 0, cooldown_until=paris)
    assert state.cooldown_until == paris.replace(microsecond=123_000)
    assert state.cooldown_until is not None
    assert state.cooldown_until.utcoffset() == timedelta(0)


def test_stale_generation_is_a_conflict_and_changes_nothing(loop: SqlLoopStore) -> None:
    loop.transition("api", 0, phase="retraining")
    current = loop.transition("api", 1, phase="canary")
    with pytest.raises(
        ConflictError,
        match=r"loop state of endpoint 'api' changed meanwhile: expected generation 1, "
        r"found 2 \(another controller moved first\)",
    ):
        loop.transition("api", 1, phase="idle")
    assert loop.get_state("api") == current


def test_creating_a_state_that_exists_is_a_conflict(loop: SqlLoopStore) -> None:
    current = loop.transition("api", 0, phase="retraining")
    with pytest.raises(ConflictError, match=r"changed meanwhile: expected generation 0, found 1"):
        loop.transition("api", 0, phase="canary")
    assert loop.get_state("api") == current


def test_moving_a_state_that_does_not_exist_is_a_conflict(loop: SqlLoopStore) -> None:
    with pytest.raises(ConflictError, match=r"changed meanwhile: expected generation 3, found 0"):
        loop.transition("api", 3, phase="canary")
    assert loop.list_states() == []


def test_a_conflict_is_a_409(loop: SqlLoopStore) -> None:
    loop.transition("api", 0)
    with pytest.raises(ConflictError) as caught:
        loop.transition("api", 0)
    assert caught.value.status_code == 409


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"generation": 5}, r"has no field generation; a transition sets phase, model"),
        ({"owner_id": "b", "colour": 1}, r"has no field colour, owner_id"),
        ({"updated_at": MARCH_1}, r"generation and updated_at move by themselves"),
        ({"phase": "sleeping"}, r"loop phase must be one of idle, retraining, .*; got 'sleeping'"),
        ({"phase": None}, r"loop phase must be one of .*; got None"),
        ({"phase_since": "2024-03-01"}, r"phase_since must be a datetime or None; got '2024"),
        ({"cycle": "7"}, r"cycle must be an int or None; got '7'"),
        ({"challenger": True}, r"challenger must be an int or None; got True"),
        ({"owner": 3}, r"owner must be a str or None; got 3"),
    ],
    ids=[
        "generation",
        "unknown",
        "updated-at",
        "bad-phase",
        "no-phase",
        "time-as-text",
        "cycle-as-text",
        "bool-challenger",
        "owner-as-int",
    ],
)
def test_bad_transition_values_are_refused(
    loop: SqlLoopStore, values: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidInputError, match=message):
        loop.transition("api", 0, **values)
    assert loop.list_states() == []


@pytest.mark.parametrize("expected", [-1, 1.0, True], ids=["negative", "float", "bool"])
def test_bad_expected_generation_is_refused(loop: SqlLoopStore, expected: Any) -> None:
    with pytest.raises(InvalidInputError, match=r"expected_generation must be"):
        loop.transition("api", expected)


def test_every_phase_is_accepted(loop: SqlLoopStore) -> None:
    generation = 0
    for phase in LOOP_PHASES:
        generation = loop.transition("api", generation, phase=phase).generation
    assert loop.get_state("api").phase == LOOP_PHASES[-1]


def test_list_states_by_endpoint(loop: SqlLoopStore) -> None:
    loop.transition("zeta", 0, phase="canary")
    loop.transition("alpha", 0)
    assert [s.endpoint for s in loop.list_states()] == ["alpha", "zeta"]
    assert loop.list_states()[1] == loop.get_state("zeta")


def test_racing_controllers_exactly_one_wins(make_store: MakeStore) -> None:
    # Each thread is a controller with its own Store (its own connections), as separate
    # processes would be. Every round they all read the same generation, then all try to
    # move it; whatever the interleaving, one wins and the others get a conflict.
    contenders, rounds = 4, 5
    stores = [make_store() for _ in range(contenders)]
    barrier = threading.Barrier(contenders)
    outcomes: list[list[str]] = [[] for _ in range(rounds)]
    failures: list[BaseException] = []

    def controller(index: int) -> None:
        loop = stores[index].loop
        try:
            for round_ in range(rounds):
                seen = loop.get_state("api").generation
                barrier.wait()
                try:
                    loop.transition("api", seen, owner=f"c{index}", cycle=round_)
                    outcomes[round_].append("won")
                except ConflictError:
                    outcomes[round_].append("conflict")
                barrier.wait()  # nobody reads the next round's state before all tried
        except BaseException as exc:  # reported below; a broken barrier frees the others
            failures.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=controller, args=(i,)) for i in range(contenders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    for round_ in outcomes:
        assert sorted(round_) == ["conflict"] * (contenders - 1) + ["won"]
    final = stores[0].loop.get_state("api")
    assert final.generation == rounds
    assert final.cycle == rounds - 1


# -- decisions ----------------------------------------------------------------------------


def test_a_trigger_opens_a_cycle_named_after_itself(loop: SqlLoopStore) -> None:
    trigger = loop.add_decision(_decision("trigger"))
    assert trigger.cycle == trigger.id
    retrain = loop.add_decision(_decision("retrain", cycle=trigger.id, outcome="started"))
    assert retrain.cycle == trigger.id
    assert retrain.id > trigger.id


def test_a_decision_outside_a_cycle_has_none(loop: SqlLoopStore) -> None:
    veto = loop.add_decision(_decision("veto", outcome="vetoed"))
    assert veto.cycle is None


def test_a_trigger_may_join_a_given_cycle(loop: SqlLoopStore) -> None:
    first = loop.add_decision(_decision("trigger"))
    again = loop.add_decision(_decision("trigger", cycle=first.id, outcome="waiting"))
    assert again.cycle == first.id


def test_decision_round_trip(loop: SqlLoopStore) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    details = {"window": {"auc": 0.81, "rows": 1200}, "rules": ["auc < 0.85"], "ok": False}
    made = loop.add_decision(
        _decision(
            "approval",
            outcome="approved",
            details=details,
            actor="alice",
            run_id="a" * 32,
            version=3,
            at=MARCH_1 + HOUR,
        )
    )
    assert isinstance(made, Decision)
    assert (made.endpoint, made.model, made.kind, made.outcome, made.summary) == (
        "api",
        "delays",
        "approval",
        "approved",
        "approval approved",
    )
    assert made.details == details
    assert (made.actor, made.run_id, made.version) == ("alice", "a" * 32, 3)
    assert made.at == MARCH_1 + HOUR
    assert made.created_at >= before
    assert loop.get_decision(made.id) == made


def test_non_finite_numbers_in_details_become_none(loop: SqlLoopStore) -> None:
    made = loop.add_decision(
        _decision(
            details={
                "nan": math.nan,
                "inf": math.inf,
                "nested": [1.5, -math.inf, {"x": np.float64("nan")}],
                "pair": (1, 2),
            }
        )
    )
    assert made.details == {
        "nan": None,
        "inf": None,
        "nested": [1.5, None, {"x": None}],
        "pair": [1, 2],
    }


@pytest.mark.parametrize(
    ("details", "message"),
    [
        ({"n": np.int64(3)}, r"details\['n'\] is a numpy.int64: convert it first"),
        ({"deep": [{"when": MARCH_1}]}, r"details\['deep'\]\[0\]\['when'\] is a datetime.datetime"),
        ({1: "one"}, r"must have string keys; details has the key 1 \(int\)"),
    ],
    ids=["numpy-int", "datetime", "int-key"],
)
def test_details_that_are_not_json_are_refused(
    loop: SqlLoopStore, details: dict[Any, Any], message: str
) -> None:
    with pytest.raises(InvalidInputError, match=message):
        loop.add_decision(_decision(details=details))
    assert loop.list_decisions() == []


def test_unknown_kind_is_refused(loop: SqlLoopStore) -> None:
    with pytest.raises(InvalidInputError, match=r"decision kind must be one of trigger, .*'retry'"):
        loop.add_decision(_decision("retry"))


def test_every_kind_is_accepted(loop: SqlLoopStore) -> None:
    for kind in DECISION_KINDS:
        loop.add_decision(_decision(kind))
    assert [d.kind for d in loop.list_decisions(newest_first=False)] == list(DECISION_KINDS)


def test_missing_decision_names_its_id(loop: SqlLoopStore) -> None:
    with pytest.raises(
        NotFoundError, match=r"decision 999 does not exist; see `shipyard decisions list`"
    ):
        loop.get_decision(999)


@pytest.fixture
def trail(loop: SqlLoopStore) -> list[Decision]:
    """Two cycles on ``api`` and one on ``web``, an hour apart, oldest first."""
    made: list[Decision] = []
    at = MARCH_1
    for endpoint, kinds in [
        ("api", ["trigger", "retrain", "gate", "canary", "verdict", "promotion"]),
        ("web", ["trigger", "retrain", "error"]),
        ("api", ["trigger", "retrain", "gate"]),
    ]:
        cycle = None
        for kind in kinds:
            decision = loop.add_decision(_decision(kind, endpoint=endpoint, at=at, cycle=cycle))
            cycle = decision.cycle
            made.append(decision)
            at += HOUR
    return made


def _ids(decisions: list[Decision]) -> list[int]:
    return [d.id for d in decisions]


def test_list_newest_first_by_default(loop: SqlLoopStore, trail: list[Decision]) -> None:
    assert loop.list_decisions() == trail[::-1]
    assert loop.list_decisions(newest_first=False) == trail


def test_list_by_endpoint_and_cycle(loop: SqlLoopStore, trail: list[Decision]) -> None:
    web = [d for d in trail if d.endpoint == "web"]
    assert loop.list_decisions("web", newest_first=False) == web
    second_api_cycle = trail[9].id
    assert _ids(loop.list_decisions(cycle=second_api_cycle, newest_first=False)) == _ids(trail[9:])
    assert loop.list_decisions("web", cycle=second_api_cycle) == []
    assert loop.list_decisions("nowhere") == []


def test_list_by_kinds(loop: SqlLoopStore, trail: list[Decision]) -> None:
    gates = loop.list_decisions(kinds=["gate", "error"], newest_first=False)
    assert [(d.endpoint, d.kind) for d in gates] == [
        ("api", "gate"),
        ("web", "error"),
        ("api", "gate"),
    ]
    assert loop.list_decisions(kinds=[]) == []
    with pytest.raises(InvalidInputError, match=r"got 'gates'"):
        loop.list_decisions(kinds=["gate", "gates"])


def test_list_by_loop_time(loop: SqlLoopStore, trail: list[Decision]) -> None:
    # ``since`` is inclusive and ``until`` exclusive, on the loop's clock.
    since, until = MARCH_1 + 2 * HOUR, MARCH_1 + 5 * HOUR
    window = loop.list_decisions(since=since, until=until, newest_first=False)
    assert _ids(window) == _ids(trail[2:5])
    assert _ids(loop.list_decisions("api", since=MARCH_1 + 8 * HOUR, newest_first=False)) == _ids(
        trail[9:]
    )


def test_list_limit(loop: SqlLoopStore, trail: list[Decision]) -> None:
    assert loop.list_decisions(limit=2) == trail[:-3:-1]
    assert loop.list_decisions(limit=2, newest_first=False) == trail[:2]
    assert len(loop.list_decisions(limit=None)) == len(trail)
    with pytest.raises(InvalidInputError, match=r"limit must be 1 or more, or None for all; got 0"):
        loop.list_decisions(limit=0)


def test_the_tables_come_with_migration_0005(make_empty_url: Any, tmp_path: Any) -> None:
    opened = shipyard.Store.from_settings(
        shipyard.Settings(
            project_dir=tmp_path,
            metadata_url=make_empty_url(),
            artifact_url=str(tmp_path / "artifacts"),
            auto_create=False,
        )
    )
    tables = {"loop_states", "decisions"}
    try:
        assert opened.metadata.db.upgrade("0004") == "0004"
        assert tables.isdisjoint(inspect(opened.metadata.db.engine).get_table_names())
        assert opened.upgrade() == "0005"
        assert tables <= set(inspect(opened.metadata.db.engine).get_table_names())
        indexes = {i["name"] for i in inspect(opened.metadata.db.engine).get_indexes("decisions")}
        assert indexes == {"ix_decisions_endpoint", "ix_decisions_cycle"}
        assert opened.loop.transition("api", 0, phase="canary").generation == 1
        assert opened.loop.add_decision(_decision()).cycle == 1
    finally:
        opened.close()
