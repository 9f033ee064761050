"""The closed loop's memory: each endpoint's loop state and the audit trail of decisions.

A loop state changes only by compare-and-set on its ``generation``: a controller reads
the state, decides, and writes the next state together with the generation it read. When
another controller moved first, the write matches no row (or, for the first state of an
endpoint, collides on its primary key) and fails with `ConflictError`, so two controllers
never both act on one state. Decisions are appended, never changed.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, insert, select, update
from sqlalchemy.exc import IntegrityError

from shipyard.core.entities import DECISION_KINDS, LOOP_PHASES, Decision, LoopState
from shipyard.core.errors import ConflictError, InvalidInputError, NotFoundError
from shipyard.core.ids import from_ms, now_ms, to_ms
from shipyard.stores._engine import Database
from shipyard.stores._schema import decisions, loop_states

__all__ = ["NewDecision", "SqlLoopStore"]

#: LoopState fields a transition may set, and the column each lives in.
_COLUMNS = {
    "phase": "phase",
    "model": "model",
    "cycle": "cycle",
    "challenger": "challenger",
    "phase_since": "phase_since_ms",
    "cooldown_until": "cooldown_until_ms",
    "checked_until": "checked_until_ms",
    "owner": "owner",
    "lease_until": "lease_until_ms",
}
_TIMES = frozenset({"phase_since", "cooldown_until", "checked_until", "lease_until"})
_INTS = frozenset({"cycle", "challenger"})
_STRS = frozenset({"model", "owner"})


@dataclass(frozen=True)
class NewDecision:
    """A decision as the loop hands it to the store; the store adds id and wall clock.

    A ``trigger`` without a ``cycle`` opens a new cycle: its stored cycle is its own id.
    """

    endpoint: str
    model: str
    kind: str
    outcome: str
    summary: str
    details: Mapping[str, Any]
    at: datetime
    actor: str = "loop"
    cycle: int | None = None
    run_id: str | None = None
    version: int | None = None


def _json_data(value: Any, where: str) -> Any:
    """``value`` as JSON data, NaN and infinities as None; refuses anything else."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidInputError(
                    f"decision details must have string keys; {where} has the key {key!r} "
                    f"({type(key).__name__}): convert it with str()"
                )
            out[key] = _json_data(item, f"{where}[{key!r}]")
        return out
    if isinstance(value, list | tuple):
        return [_json_data(item, f"{where}[{i}]") for i, item in enumerate(value)]
    kind = type(value)
    raise InvalidInputError(
        "decision details must be JSON data (dicts with string keys, lists, strings, "
        f"numbers, booleans, None); {where} is a {kind.__module__}.{kind.__qualname__}: "
        "convert it first, e.g. with float(), int() or str()"
    )


def _time(ms: int | None) -> datetime | None:
    return None if ms is None else from_ms(ms)


def _state(row: Row[Any]) -> LoopState:
    return LoopState(
        endpoint=row.endpoint,
        phase=row.phase,
        model=row.model,
        cycle=row.cycle,
        challenger=row.challenger,
        phase_since=_time(row.phase_since_ms),
        cooldown_until=_time(row.cooldown_until_ms),
        checked_until=_time(row.checked_until_ms),
        owner=row.owner,
        lease_until=_time(row.lease_until_ms),
        generation=int(row.generation),
        updated_at=from_ms(row.updated_ms),
    )


def _decision(row: Row[Any]) -> Decision:
    return Decision(
        id=int(row.id),
        endpoint=row.endpoint,
        model=row.model,
        cycle=None if row.cycle is None else int(row.cycle),
        kind=row.kind,
        outcome=row.outcome,
        summary=row.summary,
        details=json.loads(row.details),
        at=from_ms(row.at_ms),
        created_at=from_ms(row.created_ms),
        actor=row.actor,
        run_id=row.run_id,
        version=row.version,
    )


def _state_values(endpoint: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """Check transition values and turn them into column values."""
    unknown = sorted(set(values) - set(_COLUMNS))
    if unknown:
        raise InvalidInputError(
            f"loop state of endpoint {endpoint!r} has no field {', '.join(unknown)}; a "
            f"transition sets {', '.join(_COLUMNS)} (generation and updated_at move by "
            "themselves)"
        )
    row: dict[str, Any] = {}
    for name, value in values.items():
        if name == "phase":
            if value not in LOOP_PHASES:
                raise InvalidInputError(
                    f"loop phase must be one of {', '.join(LOOP_PHASES)}; got {value!r}"
                )
        elif name in _TIMES:
            if value is not None and not isinstance(value, datetime):
                raise InvalidInputError(
                    f"loop state field {name} must be a datetime or None; got {value!r}"
                )
            value = None if value is None else to_ms(value)
        elif name in _INTS:
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise InvalidInputError(
                    f"loop state field {name} must be an int or None; got {value!r}"
                )
        elif name in _STRS and value is not None and not isinstance(value, str):
            raise InvalidInputError(f"loop state field {name} must be a str or None; got {value!r}")
        row[_COLUMNS[name]] = value
    return row


def _conflict(endpoint: str, expected: int, found: int) -> ConflictError:
    return ConflictError(
        f"loop state of endpoint {endpoint!r} changed meanwhile: expected generation "
        f"{expected}, found {found} (another controller moved first); read the state "
        "again and decide anew"
    )


def _check_kinds(kinds: Sequence[str]) -> None:
    unknown = [kind for kind in kinds if kind not in DECISION_KINDS]
    if unknown:
        raise InvalidInputError(
            f"decision kind must be one of {', '.join(DECISION_KINDS)}; got "
            f"{', '.join(map(repr, unknown))}"
        )


class SqlLoopStore:
    """Loop states and decisions on SQLite or PostgreSQL; no I/O until first use."""

    def __init__(self, database: Database) -> None:
        self.db = database

    # -- states -------------------------------------------------------------------------

    def get_state(self, endpoint: str) -> LoopState:
        """The endpoint's loop state; ``idle`` at generation 0 when it has none yet."""
        query = select(loop_states).where(loop_states.c.endpoint == endpoint)
        with self.db.read() as conn:
            row = conn.execute(query).first()
        return LoopState(endpoint, "idle") if row is None else _state(row)

    def list_states(self) -> list[LoopState]:
        """Every stored loop state, by endpoint name."""
        with self.db.read() as conn:
            rows = conn.execute(select(loop_states).order_by(loop_states.c.endpoint))
            return [_state(row) for row in rows]

    def transition(self, endpoint: str, expected_generation: int, **values: Any) -> LoopState:
        """Move the endpoint's loop state, if it is still at ``expected_generation``.

        Fields left out keep their value (the ``idle`` defaults for the first state);
        ``generation`` grows by one and ``updated_at`` becomes now. Times keep
        millisecond precision.

        Args:
            endpoint: The endpoint whose loop moves.
            expected_generation: The generation the caller read; 0 for an endpoint with
                no stored state yet.
            **values: New values for `LoopState` fields other than ``endpoint``,
                ``generation`` and ``updated_at``.

        Returns:
            The state as stored.

        Raises:
            ConflictError: the state is no longer at ``expected_generation``: another
                controller moved it (or created it) first.
            InvalidInputError: an unknown field, an unknown phase or a value of the
                wrong type.
        """
        if isinstance(expected_generation, bool) or not isinstance(expected_generation, int):
            raise InvalidInputError(
                f"expected_generation must be an int; got {expected_generation!r}"
            )
        if expected_generation < 0:
            raise InvalidInputError(
                f"expected_generation must be 0 or more; got {expected_generation}"
            )
        if "phase" in values and values["phase"] is None:
            raise InvalidInputError(f"loop phase must be one of {', '.join(LOOP_PHASES)}; got None")
        row = _state_values(endpoint, values)
        key = loop_states.c.endpoint == endpoint
        try:
            with self.db.write() as conn:
                if expected_generation == 0:
                    conn.execute(
                        insert(loop_states).values(
                            **{"phase": "idle", **row},
                            endpoint=endpoint,
                            generation=1,
                            updated_ms=now_ms(),
                        )
                    )
                else:
                    moved = conn.execute(
                        update(loop_states)
                        .where(key, loop_states.c.generation == expected_generation)
                        .values(**row, generation=expected_generation + 1, updated_ms=now_ms())
                    )
                    if moved.rowcount != 1:
                        found = conn.execute(select(loop_states.c.generation).where(key)).scalar()
                        raise _conflict(endpoint, expected_generation, int(found or 0))
                stored = conn.execute(select(loop_states).where(key)).one()
        except IntegrityError as exc:  # the first state, created concurrently
            found = self.get_state(endpoint).generation
            raise _conflict(endpoint, expected_generation, found) from exc
        return _state(stored)

    # -- decisions ----------------------------------------------------------------------

    def add_decision(self, new: NewDecision) -> Decision:
        """Append a decision; NaN and infinities in its details are stored as None.

        Raises:
            InvalidInputError: an unknown kind, or details that are not JSON data.
        """
        _check_kinds([new.kind])
        details = json.dumps(_json_data(new.details, "details"), allow_nan=False)
        with self.db.write() as conn:
            decision_id = conn.execute(
                insert(decisions)
                .values(
                    endpoint=new.endpoint,
                    model=new.model,
                    cycle=new.cycle,
                    kind=new.kind,
                    outcome=new.outcome,
                    summary=new.summary,
                    details=details,
                    at_ms=to_ms(new.at),
                    created_ms=now_ms(),
                    actor=new.actor,
                    run_id=new.run_id,
                    version=new.version,
                )
                .returning(decisions.c.id)
            ).scalar_one()
            if new.cycle is None and new.kind == "trigger":
                conn.execute(
                    update(decisions).where(decisions.c.id == decision_id).values(cycle=decision_id)
                )
            row = conn.execute(select(decisions).where(decisions.c.id == decision_id)).one()
        return _decision(row)

    def get_decision(self, decision_id: int) -> Decision:
        """A decision by id.

        Raises:
            NotFoundError: no decision has that id.
        """
        with self.db.read() as conn:
            row = conn.execute(select(decisions).where(decisions.c.id == decision_id)).first()
        if row is None:
            raise NotFoundError(
                f"decision {decision_id} does not exist; see `shipyard decisions list`"
            )
        return _decision(row)

    def list_decisions(
        self,
        endpoint: str | None = None,
        *,
        cycle: int | None = None,
        kinds: Sequence[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = 100,
        newest_first: bool = True,
    ) -> list[Decision]:
        """Decisions in the order they were made, newest first unless asked otherwise.

        Args:
            endpoint: Only this endpoint's decisions.
            cycle: Only this cycle's (the id of its trigger decision).
            kinds: Only decisions of these kinds.
            since: Only decisions at or after this time of the loop's clock.
            until: Only decisions before this time of the loop's clock.
            limit: At most this many (None: all); taken from the newest end when
                ``newest_first``, else from the oldest.
            newest_first: Order newest first (else oldest first).

        Raises:
            InvalidInputError: an unknown kind, or a limit below 1.
        """
        if limit is not None and limit < 1:
            raise InvalidInputError(f"limit must be 1 or more, or None for all; got {limit}")
        query = select(decisions)
        if endpoint is not None:
            query = query.where(decisions.c.endpoint == endpoint)
        if cycle is not None:
            query = query.where(decisions.c.cycle == cycle)
        if kinds is not None:
            _check_kinds(kinds)
            query = query.where(decisions.c.kind.in_(list(kinds)))
        if since is not None:
            query = query.where(decisions.c.at_ms >= to_ms(since))
        if until is not None:
            query = query.where(decisions.c.at_ms < to_ms(until))
        query = query.order_by(decisions.c.id.desc() if newest_first else decisions.c.id)
        if limit is not None:
            query = query.limit(limit)
        with self.db.read() as conn:
            return [_decision(row) for row in conn.execute(query)]
