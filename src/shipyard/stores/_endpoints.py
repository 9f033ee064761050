"""Endpoints and the audit trail of their traffic changes.

Every change runs in one write transaction that first locks the endpoint's row (on
PostgreSQL; SQLite's writers queue on the database lock anyway), so read-modify-write
changes such as "add a shadow" never lose a concurrent one, and ``generation`` grows by
exactly one per change. The change and its event commit together.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Row, Select, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from shipyard.core.entities import Endpoint, EndpointEvent
from shipyard.core.errors import (
    AlreadyExistsError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
)
from shipyard.core.ids import from_ms, now_ms
from shipyard.stores._engine import Database
from shipyard.stores._registry import SqlRegistryStore
from shipyard.stores._schema import endpoint_events, endpoints, model_aliases, registered_models

__all__ = [
    "AliasMove",
    "EndpointChange",
    "EndpointState",
    "NewEndpoint",
    "SqlEndpointStore",
]

#: The Endpoint fields a change may set.
_CHANGEABLE = frozenset(
    {
        "model_name",
        "alias",
        "version",
        "canary_version",
        "canary_percent",
        "shadow_versions",
        "max_batch_size",
        "max_latency_ms",
        "description",
    }
)
_LISTED_NAMES = 20  # how many existing endpoint names a "not found" message lists


@dataclass(frozen=True)
class NewEndpoint:
    """What the endpoints service hands the store to create one (already validated)."""

    name: str
    model_name: str
    alias: str | None
    version: int | None
    max_batch_size: int
    max_latency_ms: float
    description: str = ""


@dataclass(frozen=True)
class EndpointState:
    """An endpoint and the version its primary resolves to now (None: alias unset)."""

    endpoint: Endpoint
    primary_version: int | None


@dataclass(frozen=True)
class AliasMove:
    """Move the alias an endpoint follows to ``to``, if it still points at ``expected``.

    The check makes the move a compare-and-set: when someone moved the alias after the
    caller looked, the change fails instead of undoing their move.
    """

    expected: int | None
    to: int


@dataclass(frozen=True)
class EndpointChange:
    """New values for some Endpoint fields, and optionally a move of the followed alias."""

    values: Mapping[str, Any] = field(default_factory=dict)
    move_alias: AliasMove | None = None


#: Computes a change from the endpoint's locked, current state; may raise to refuse it.
ChangeFn = Callable[[EndpointState], EndpointChange]


def _endpoint(row: Row[Any]) -> Endpoint:
    return Endpoint(
        name=row.name,
        model_name=row.model_name,
        alias=row.alias,
        version=row.version,
        created_at=from_ms(row.created_at),
        updated_at=from_ms(row.updated_at),
        canary_version=row.canary_version,
        canary_percent=float(row.canary_percent),
        shadow_versions=tuple(json.loads(row.shadow_versions)),
        max_batch_size=row.max_batch_size,
        max_latency_ms=float(row.max_latency_ms),
        generation=row.generation,
        description=row.description,
    )


def _state(row: Row[Any]) -> EndpointState:
    primary = row.version if row.alias is None else row.alias_version
    return EndpointState(_endpoint(row), primary)


def _policy(state: EndpointState) -> dict[str, Any]:
    """The traffic policy's fields as an event records them in ``before``/``after``."""
    e = state.endpoint
    return {
        "model_name": e.model_name,
        "alias": e.alias,
        "version": e.version,
        "primary_version": state.primary_version,
        "canary_version": e.canary_version,
        "canary_percent": e.canary_percent,
        "shadow_versions": list(e.shadow_versions),
        "max_batch_size": e.max_batch_size,
        "max_latency_ms": e.max_latency_ms,
    }


def _states_query() -> Select[Any]:
    """Endpoints with their alias's target, resolved by the same query."""
    joined = endpoints.outerjoin(
        model_aliases,
        (model_aliases.c.name == endpoints.c.model_name)
        & (model_aliases.c.alias == endpoints.c.alias),
    )
    return select(endpoints, model_aliases.c.version.label("alias_version")).select_from(joined)


def _event(row: Row[Any]) -> EndpointEvent:
    return EndpointEvent(
        endpoint=row.endpoint,
        action=row.action,
        before=None if row.before is None else json.loads(row.before),
        after=None if row.after is None else json.loads(row.after),
        at=from_ms(row.at),
        by=row.by,
        event_id=row.id,
    )


def _row_values(values: Mapping[str, Any]) -> dict[str, Any]:
    unknown = set(values) - _CHANGEABLE
    if unknown:
        raise InvalidInputError(
            f"cannot change endpoint fields {sorted(unknown)}; changeable: {sorted(_CHANGEABLE)}"
        )
    row = dict(values)
    if "shadow_versions" in row:
        row["shadow_versions"] = json.dumps(sorted(row["shadow_versions"]))
    return row


class SqlEndpointStore:
    """Endpoints and their events on SQLite or PostgreSQL; no I/O until first use."""

    def __init__(self, database: Database) -> None:
        self.db = database

    # -- reading ------------------------------------------------------------------------

    def get_endpoint(self, name: str) -> Endpoint:
        """An endpoint by name.

        Raises:
            NotFoundError: no endpoint has that name (the message lists those that exist).
        """
        return self.get_state(name).endpoint

    def get_state(self, name: str) -> EndpointState:
        """An endpoint with the version its primary resolves to now."""
        with self.db.read() as conn:
            row = conn.execute(_states_query().where(endpoints.c.name == name)).first()
            if row is None:
                raise self._not_found(conn, name)
        return _state(row)

    def list_endpoints(self) -> list[Endpoint]:
        """Every endpoint, by name."""
        with self.db.read() as conn:
            rows = conn.execute(select(endpoints).order_by(endpoints.c.name)).all()
        return [_endpoint(row) for row in rows]

    def traffic_snapshot(self) -> list[EndpointState]:
        """Every endpoint with its resolved primary version, in one query, by name.

        Built for a server polling for changes a few times a second.
        """
        with self.db.read() as conn:
            rows = conn.execute(_states_query().order_by(endpoints.c.name)).all()
        return [_state(row) for row in rows]

    def list_events(self, name: str, limit: int | None = None) -> list[EndpointEvent]:
        """An endpoint's events (the last ``limit`` of them), oldest first.

        The events outlive the endpoint: a deleted endpoint's history is still here.

        Raises:
            NotFoundError: there is no such endpoint and never was.
        """
        query = (
            select(endpoint_events)
            .where(endpoint_events.c.endpoint == name)
            .order_by(endpoint_events.c.id.desc())
        )
        if limit is not None:
            query = query.limit(limit)
        with self.db.read() as conn:
            rows = conn.execute(query).all()
            if not rows and self._find(conn, name) is None:
                raise self._not_found(conn, name)
        return [_event(row) for row in reversed(rows)]

    # -- changing -----------------------------------------------------------------------

    def create_endpoint(self, new: NewEndpoint, by: str = "") -> EndpointState:
        """Create an endpoint at generation 1 and record a ``create`` event.

        Raises:
            AlreadyExistsError: the name is taken.
            NotFoundError: the model is not registered.
        """
        if (new.alias is None) == (new.version is None):
            raise InvalidInputError(
                f"endpoint {new.name!r} must follow an alias or serve a fixed version, one of "
                f"the two; got alias={new.alias!r}, version={new.version!r}"
            )
        at = now_ms()
        try:
            with self.db.write() as conn:
                if self._find(conn, new.name) is not None:
                    raise _exists(new.name)
                found = conn.execute(
                    select(registered_models.c.name).where(
                        registered_models.c.name == new.model_name
                    )
                ).first()
                if found is None:
                    raise NotFoundError(
                        f"model {new.model_name!r} not found; `shipyard models list` shows "
                        "registered ones"
                    )
                conn.execute(
                    insert(endpoints).values(
                        name=new.name,
                        model_name=new.model_name,
                        alias=new.alias,
                        version=new.version,
                        canary_version=None,
                        canary_percent=0.0,
                        shadow_versions="[]",
                        max_batch_size=new.max_batch_size,
                        max_latency_ms=new.max_latency_ms,
                        description=new.description,
                        generation=1,
                        created_at=at,
                        updated_at=at,
                    )
                )
                state = self._read(conn, new.name)
                self._record(conn, new.name, "create", None, state, at, by)
        except IntegrityError as exc:
            with self.db.read() as conn:
                taken = self._find(conn, new.name) is not None
            if taken:  # created concurrently under the same name
                raise _exists(new.name) from exc
            raise InvalidInputError(
                f"endpoint {new.name!r} breaks a rule of the endpoints table: {exc.orig or exc}"
            ) from exc
        return state

    def update_endpoint(
        self, name: str, action: str, change: ChangeFn, by: str = ""
    ) -> EndpointState:
        """Apply a change computed from the locked current state; recorded as ``action``.

        ``change`` runs inside the transaction, after the endpoint's row is locked, so
        it sees the latest committed state; it may raise to refuse the change, and then
        nothing is written. ``generation`` grows by one.

        Returns:
            The endpoint after the change, with its primary resolved again (an alias
            move shows there).

        Raises:
            NotFoundError: no endpoint has that name.
            ConflictError: the followed alias moved since the caller looked.
        """
        at = now_ms()
        try:
            with self.db.write() as conn:
                before = self._lock(conn, name)
                planned = change(before)
                if planned.move_alias is not None:
                    self._move_alias(conn, before.endpoint, planned.move_alias, at, by)
                conn.execute(
                    update(endpoints)
                    .where(endpoints.c.name == name)
                    .values(
                        **_row_values(planned.values),
                        generation=endpoints.c.generation + 1,
                        updated_at=at,
                    )
                )
                after = self._read(conn, name)
                self._record(conn, name, action, before, after, at, by)
        except IntegrityError as exc:
            raise InvalidInputError(
                f"endpoint {name!r}: the change breaks a rule of the endpoints table "
                f"(the model must exist, and exactly one of alias and version be set): "
                f"{exc.orig or exc}"
            ) from exc
        return after

    def delete_endpoint(self, name: str, by: str = "") -> Endpoint:
        """Delete an endpoint and record a ``delete`` event; its history stays.

        Returns:
            The endpoint as it was.

        Raises:
            NotFoundError: no endpoint has that name.
        """
        at = now_ms()
        with self.db.write() as conn:
            before = self._lock(conn, name)
            conn.execute(delete(endpoints).where(endpoints.c.name == name))
            self._record(conn, name, "delete", before, None, at, by)
        return before.endpoint

    # -- helpers ------------------------------------------------------------------------

    @staticmethod
    def _find(conn: Connection, name: str) -> str | None:
        query = select(endpoints.c.name).where(endpoints.c.name == name)
        found = conn.execute(query).scalar()
        return None if found is None else str(found)

    def _read(self, conn: Connection, name: str) -> EndpointState:
        row = conn.execute(_states_query().where(endpoints.c.name == name)).first()
        if row is None:
            raise self._not_found(conn, name)
        return _state(row)

    def _lock(self, conn: Connection, name: str) -> EndpointState:
        # ``of``: PostgreSQL refuses to lock the nullable side of the outer join.
        query = _states_query().where(endpoints.c.name == name).with_for_update(of=endpoints)
        row = conn.execute(query).first()
        if row is None:
            raise self._not_found(conn, name)
        return _state(row)

    @staticmethod
    def _not_found(conn: Connection, name: str) -> NotFoundError:
        names = list(
            conn.execute(
                select(endpoints.c.name).order_by(endpoints.c.name).limit(_LISTED_NAMES + 1)
            ).scalars()
        )
        if not names:
            listed = "there are no endpoints yet; create one with `shipyard endpoints create`"
        else:
            more = ", ..." if len(names) > _LISTED_NAMES else ""
            listed = f"endpoints: {', '.join(names[:_LISTED_NAMES])}{more}"
        return NotFoundError(f"endpoint {name!r} not found ({listed})")

    @staticmethod
    def _move_alias(
        conn: Connection, endpoint: Endpoint, move: AliasMove, at: int, by: str
    ) -> None:
        """Move the endpoint's alias in the registry, in this transaction, with its event.

        The registry's own steps (lock the model row, read the target, record the
        event), so the alias history reads the same as after ``shipyard models alias``.
        """
        alias = endpoint.alias
        if alias is None:
            raise ConflictError(f"endpoint {endpoint.name!r} follows no alias; nothing to move")
        model = endpoint.model_name
        SqlRegistryStore._lock_model(conn, model)
        current = SqlRegistryStore._alias_target(conn, model, alias)
        if current != move.expected:
            raise ConflictError(
                f"alias {alias!r} of model {model!r} moved to version {current} meanwhile "
                f"(expected {move.expected}); look at the endpoint again and retry"
            )
        if current is None:
            conn.execute(
                insert(model_aliases).values(
                    name=model, alias=alias, version=move.to, updated_at=at, updated_by=by
                )
            )
        else:
            conn.execute(
                update(model_aliases)
                .where(model_aliases.c.name == model, model_aliases.c.alias == alias)
                .values(version=move.to, updated_at=at, updated_by=by)
            )
        SqlRegistryStore._record_event(conn, model, alias, move.to, current, at, by)

    @staticmethod
    def _record(
        conn: Connection,
        name: str,
        action: str,
        before: EndpointState | None,
        after: EndpointState | None,
        at: int,
        by: str,
    ) -> None:
        conn.execute(
            insert(endpoint_events).values(
                endpoint=name,
                action=action,
                before=None if before is None else json.dumps(_policy(before)),
                after=None if after is None else json.dumps(_policy(after)),
                at=at,
                by=by,
            )
        )


def _exists(name: str) -> AlreadyExistsError:
    return AlreadyExistsError(
        f"endpoint {name!r} already exists; change it with `shipyard endpoints update`, "
        "or choose another name"
    )
