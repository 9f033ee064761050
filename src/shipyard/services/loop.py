"""The closed loop: notice decay, retrain, gate, canary, then promote or roll back.

Each endpoint with a ``[loop.ENDPOINT]`` policy moves through phases kept in the store
(``idle`` → ``retraining`` → [``awaiting_approval``] → ``canary`` →
[``awaiting_promotion``] → ``idle``), so a controller that restarts carries on where it
was, and a compare-and-set on the phase means two controllers never retrain one
endpoint at once. Every step writes a :class:`~shipyard.core.entities.Decision` with its
reasons and numbers; a human can approve or veto from the CLI.

Example:
    >>> import shipyard
    >>> shipyard.loop_tick("flight-delays")  # doctest: +SKIP
    [Decision(kind='trigger', outcome='fired', summary='auc 0.641 is 0.066 below ...'), ...]
    >>> shipyard.list_decisions("flight-delays")  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from shipyard.core.entities import Decision, LoopState
from shipyard.core.errors import ConflictError
from shipyard.core.policy import LoopPolicy, TrainingSpec
from shipyard.services import endpoints
from shipyard.services._common import check_name, current_user
from shipyard.services._context import get_default_store
from shipyard.services._loop_controller import Controller, new_owner, now_of, policy_for
from shipyard.stores import Store

__all__ = [
    "LoopStatus",
    "approve",
    "get_decision",
    "list_decisions",
    "loop_status",
    "loop_tick",
    "trigger_retrain",
    "veto",
]


def _controller(
    store: Store,
    endpoint: str,
    policy: LoopPolicy | None,
    training: TrainingSpec | None,
    now: datetime | str | None,
    *,
    owner: str | None = None,
    actor: str | None,
) -> Controller:
    """The controller for one step on ``endpoint``: its policy, clock, owner and actor."""
    return Controller(
        store,
        endpoint,
        policy_for(store, endpoint, policy),
        training,
        now_of(now),
        owner=owner or new_owner(),
        actor=actor or current_user(),
    )


@dataclass(frozen=True)
class LoopStatus:
    """One endpoint's loop: its phase, its policy and what it decided last."""

    endpoint: str
    state: LoopState
    policy: LoopPolicy | None
    last_decision: Decision | None


def loop_tick(
    endpoint: str,
    *,
    now: datetime | str | None = None,
    policy: LoopPolicy | None = None,
    training: TrainingSpec | None = None,
    store: Store | None = None,
    owner: str | None = None,
) -> list[Decision]:
    """One step of the loop for an endpoint: check triggers, or judge its canary.

    An idle endpoint's completed monitoring windows are computed and its triggers checked;
    one that fires runs the cycle up to the canary (retrain with the model's pipeline,
    gate against the champion on held-out recent traffic, start the canary). An endpoint
    in canary has its live evidence judged: promote, roll back, or keep watching.

    Args:
        endpoint: the endpoint's name.
        now: the loop's clock (default: now); a replay of past traffic passes its own.
        policy: the rules (default: ``[loop.ENDPOINT]`` of shipyard.toml).
        training: how the model trains (default: ``[models.MODEL]`` of shipyard.toml).
        store: where everything lives (default: the default store).
        owner: who holds a retrain's lease (default: this host and process).

    Returns:
        The decisions this step took, oldest first (empty when nothing happened).

    Raises:
        NotFoundError: no endpoint has that name.
        ConfigError: no policy for the endpoint, or a rollout test that cannot judge its metric.
    """
    check_name("endpoint", endpoint)
    store = store if store is not None else get_default_store()
    controller = _controller(store, endpoint, policy, training, now, owner=owner, actor="loop")
    return controller.run(None)


def trigger_retrain(
    endpoint: str,
    reason: str = "",
    *,
    now: datetime | str | None = None,
    policy: LoopPolicy | None = None,
    training: TrainingSpec | None = None,
    actor: str | None = None,
    store: Store | None = None,
) -> list[Decision]:
    """Start a cycle now, by hand: retrain, gate and (if it passes) start the canary.

    The cool-down does not apply to a human's request.

    Raises:
        ConflictError: the endpoint is already in a cycle, or its model is retraining.
    """
    check_name("endpoint", endpoint)
    store = store if store is not None else get_default_store()
    controller = _controller(store, endpoint, policy, training, now, actor=actor)
    state = store.loop.get_state(endpoint)
    if state.phase != "idle":
        raise ConflictError(
            f"endpoint {endpoint!r} is already {state.phase} in cycle {state.cycle}; see "
            f"`shipyard loop status {endpoint}`"
        )
    return controller.run(reason)


def _pending(store: Store, decision_id: int) -> tuple[Decision, LoopState]:
    decision = store.loop.get_decision(decision_id)
    state = store.loop.get_state(decision.endpoint)
    if state.cycle is None or decision.cycle != state.cycle or state.phase == "idle":
        raise ConflictError(
            f"decision {decision_id} belongs to cycle {decision.cycle} of {decision.endpoint!r}, "
            f"which is over (the endpoint is {state.phase}); nothing to approve or veto"
        )
    return decision, state


def approve(
    decision_id: int,
    *,
    now: datetime | str | None = None,
    policy: LoopPolicy | None = None,
    actor: str | None = None,
    store: Store | None = None,
) -> list[Decision]:
    """Approve what an approval decision waits for: the canary, or the promotion.

    Raises:
        NotFoundError: no decision has that id.
        ConflictError: the decision is not waiting for a human.
    """
    store = store if store is not None else get_default_store()
    decision, state = _pending(store, decision_id)
    if decision.kind != "approval" or decision.outcome != "waiting":
        raise ConflictError(
            f"decision {decision_id} is a {decision.kind} ({decision.outcome}), not an approval "
            "waiting for a human; `shipyard loop status` shows the one to approve"
        )
    if state.phase not in ("awaiting_approval", "awaiting_promotion"):
        raise ConflictError(
            f"cycle {state.cycle} of {decision.endpoint!r} waits for no approval (it is "
            f"{state.phase}); `shipyard loop status` shows what it does"
        )
    controller = _controller(store, decision.endpoint, policy, None, now, actor=actor)
    version = decision.version if state.challenger is None else state.challenger
    if version is None:
        raise ConflictError(f"cycle {state.cycle} names no challenger to approve; veto it")
    # Claim the state first: a veto or another approval that came in meanwhile wins.
    claimed = controller.move(state)
    what = "canary" if state.phase == "awaiting_approval" else "promotion"
    controller.decide(
        "approval",
        "approved",
        f"{controller.actor} approved the {what} of v{version}",
        cycle=state.cycle,
        version=version,
    )
    if state.phase == "awaiting_approval":
        controller.start_canary(claimed, version)
    else:
        controller.promote(claimed)
    return controller.decisions


def veto(
    decision_id: int,
    reason: str = "",
    *,
    now: datetime | str | None = None,
    policy: LoopPolicy | None = None,
    actor: str | None = None,
    store: Store | None = None,
) -> list[Decision]:
    """Stop the cycle a decision belongs to: no canary, or the canary rolled back.

    Raises:
        NotFoundError: no decision has that id.
        ConflictError: the cycle is over, or still retraining (veto its gate decision).
    """
    store = store if store is not None else get_default_store()
    decision, state = _pending(store, decision_id)
    if state.phase == "retraining":
        raise ConflictError(
            f"cycle {state.cycle} of {decision.endpoint!r} is still retraining; veto it once "
            "its gate has decided"
        )
    controller = _controller(store, decision.endpoint, policy, None, now, actor=actor)
    version = state.challenger
    state = controller.move(state)  # claimed: a racing approval or tick now backs off
    controller.decide(
        "veto",
        "vetoed",
        f"{controller.actor} vetoed v{version}" + (f": {reason}" if reason else ""),
        {"reason": reason, "phase": state.phase},
        cycle=state.cycle,
        version=version,
    )
    if state.phase in ("canary", "awaiting_promotion"):
        controller.roll_back(state, f"vetoed by {controller.actor}")
    else:
        controller.drop_challenger_alias()
        controller.finish(state)
    return controller.decisions


def loop_status(endpoint: str | None = None, *, store: Store | None = None) -> list[LoopStatus]:
    """Where each endpoint's loop is: those with a policy or a history, or just ``endpoint``."""
    store = store if store is not None else get_default_store()
    states = {s.endpoint: s for s in store.loop.list_states()}
    names = sorted(set(states) | set(store.settings.loop))
    if endpoint is not None:
        check_name("endpoint", endpoint)
        endpoints.get_endpoint(endpoint, store=store)
        names = [endpoint]
    out = []
    for name in names:
        state = states.get(name) or store.loop.get_state(name)
        last = store.loop.list_decisions(name, limit=1)
        out.append(
            LoopStatus(name, state, store.settings.loop.get(name), last[0] if last else None)
        )
    return out


def list_decisions(
    endpoint: str | None = None,
    *,
    cycle: int | None = None,
    kinds: Sequence[str] | None = None,
    limit: int | None = 100,
    store: Store | None = None,
) -> list[Decision]:
    """The loop's decisions, newest first, optionally of one endpoint, cycle or kind."""
    store = store if store is not None else get_default_store()
    if endpoint is not None:
        check_name("endpoint", endpoint)
    return store.loop.list_decisions(endpoint, cycle=cycle, kinds=kinds, limit=limit)


def get_decision(decision_id: int, *, store: Store | None = None) -> Decision:
    """One decision by id.

    Raises:
        NotFoundError: no decision has that id.
    """
    store = store if store is not None else get_default_store()
    return store.loop.get_decision(decision_id)
