"""Serving endpoints: what each one serves, and how its traffic is split.

An endpoint's primary follows an alias of a registered model (``MODEL@ALIAS``: it
switches when the alias moves) or is a fixed version (``MODEL/VERSION``). A canary
version can take a share of the traffic, shadow versions get a copy of every request
off the request path, and :func:`promote` / :func:`rollback` move the primary in one
call. Every change is recorded with who made it and the policy before and after.

Example:
    >>> import shipyard
    >>> shipyard.create_endpoint("delays-api", "delays@champion")  # doctest: +SKIP
    >>> shipyard.set_canary("delays-api", version=4, percent=10)  # doctest: +SKIP
    >>> shipyard.promote("delays-api")  # champion now points at 4  # doctest: +SKIP
    >>> shipyard.rollback("delays-api")  # and back at the one before  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from shipyard.core.entities import Endpoint, EndpointEvent
from shipyard.core.errors import ConflictError, InvalidInputError, NotFoundError
from shipyard.services._common import check_name, current_user
from shipyard.services._context import get_default_store
from shipyard.services._endpoint_input import (
    check_batch_size,
    check_description,
    check_latency,
    check_percent,
    parse_model,
    require_version,
    resolve_target,
    same_model,
)
from shipyard.services.registry import check_version
from shipyard.stores import AliasMove, EndpointChange, EndpointState, NewEndpoint, Store

__all__ = [
    "Traffic",
    "add_shadow",
    "create_endpoint",
    "delete_endpoint",
    "endpoint_history",
    "get_endpoint",
    "list_endpoints",
    "promote",
    "remove_shadow",
    "resolve_traffic",
    "rollback",
    "set_canary",
    "set_shadow",
    "stop_canary",
    "traffic_snapshot",
    "update_endpoint",
]


@dataclass(frozen=True, slots=True)
class Traffic:
    """Where an endpoint's requests go now: what a server needs to route them.

    ``primary_version`` is None when the followed alias points at no version. A canary
    that has become the primary (its alias moved there) is dropped, and so is a shadow
    equal to the primary or the canary, so every version here has one role.
    """

    endpoint: str
    model_name: str
    primary_version: int | None
    canary_version: int | None
    canary_percent: float
    shadow_versions: tuple[int, ...]
    generation: int
    max_batch_size: int
    max_latency_ms: float

    @property
    def versions(self) -> tuple[int, ...]:
        """Every version that takes part (primary, canary, shadows): those to load."""
        found = [self.primary_version, self.canary_version, *self.shadow_versions]
        return tuple(dict.fromkeys(v for v in found if v is not None))


def _store(store: Store | None) -> Store:
    return store if store is not None else get_default_store()


def _traffic(state: EndpointState) -> Traffic:
    e = state.endpoint
    primary = state.primary_version
    canary = e.canary_version if e.canary_version != primary else None
    shadows = tuple(v for v in e.shadow_versions if v not in (primary, canary))
    return Traffic(
        endpoint=e.name,
        model_name=e.model_name,
        primary_version=primary,
        canary_version=canary,
        canary_percent=e.canary_percent if canary is not None else 0.0,
        shadow_versions=shadows,
        generation=e.generation,
        max_batch_size=e.max_batch_size,
        max_latency_ms=e.max_latency_ms,
    )


# -- creating and reading ---------------------------------------------------------------


def create_endpoint(
    name: str,
    model: str,
    *,
    max_batch_size: int | None = None,
    max_latency_ms: float | None = None,
    description: str = "",
    store: Store | None = None,
) -> Endpoint:
    """Define a serving endpoint for a registered model.

    Args:
        name: letters, digits, '.', '_' and '-'; it appears in URLs.
        model: ``MODEL@ALIAS`` to follow an alias (the endpoint switches when it moves)
            or ``MODEL/VERSION`` for a fixed version; ``models:/`` in front is accepted.
        max_batch_size: the most rows one model call takes (default: the
            ``max_batch_size`` setting).
        max_latency_ms: how long a request may wait for others to be batched with
            (default: the ``max_latency_ms`` setting).
        description: free text.
        store: where to keep it (default: the store from settings).

    Returns:
        The new endpoint, at generation 1.

    Raises:
        InvalidInputError: a bad name, model form or batching value.
        NotFoundError: the model, alias or version does not exist (the message says
            which do).
        AlreadyExistsError: the name is taken.
    """
    store = _store(store)
    check_name("endpoint", name)
    model_name, alias, version = parse_model(model)
    batch = store.settings.max_batch_size if max_batch_size is None else max_batch_size
    latency = store.settings.max_latency_ms if max_latency_ms is None else max_latency_ms
    new = NewEndpoint(
        name=name,
        model_name=model_name,
        alias=alias,
        version=version,
        max_batch_size=check_batch_size(batch),
        max_latency_ms=check_latency(latency),
        description=check_description(description),
    )
    resolve_target(store, model_name, alias, version)
    return store.endpoints.create_endpoint(new, current_user()).endpoint


def get_endpoint(name: str, *, store: Store | None = None) -> Endpoint:
    """An endpoint by name.

    Raises:
        NotFoundError: no endpoint has that name (the message lists those that exist).
    """
    return _store(store).endpoints.get_endpoint(name)


def list_endpoints(*, store: Store | None = None) -> list[Endpoint]:
    """Every endpoint, by name."""
    return _store(store).endpoints.list_endpoints()


def endpoint_history(
    name: str, *, limit: int | None = None, store: Store | None = None
) -> list[EndpointEvent]:
    """Every change to an endpoint (or the last ``limit``), oldest first.

    The history outlives the endpoint: it is still there after :func:`delete_endpoint`.

    Raises:
        NotFoundError: no endpoint has, or ever had, that name.
    """
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise InvalidInputError(f"limit must be a whole number >= 1; got {limit!r}")
    return _store(store).endpoints.list_events(name, limit)


def resolve_traffic(name: str, *, store: Store | None = None) -> Traffic:
    """Where an endpoint's requests go now, with its alias resolved to a version.

    Raises:
        NotFoundError: no endpoint has that name.
    """
    return _traffic(_store(store).endpoints.get_state(name))


def traffic_snapshot(store: Store | None = None) -> dict[str, Traffic]:
    """Every endpoint's traffic, by name, read with one query (a server polls this).

    Example:
        >>> for name, traffic in shipyard.traffic_snapshot().items():  # doctest: +SKIP
        ...     print(name, traffic.primary_version, traffic.generation)
    """
    states = _store(store).endpoints.traffic_snapshot()
    return {state.endpoint.name: _traffic(state) for state in states}


# -- changing ---------------------------------------------------------------------------


def update_endpoint(
    name: str,
    *,
    model: str | None = None,
    max_batch_size: int | None = None,
    max_latency_ms: float | None = None,
    description: str | None = None,
    store: Store | None = None,
) -> Endpoint:
    """Change what an endpoint serves, its batching, or its description.

    Args:
        name: the endpoint.
        model: a new target, ``MODEL@ALIAS`` or ``MODEL/VERSION``. A shadow that
            becomes the primary stops being a shadow.
        max_batch_size: the most rows one model call takes.
        max_latency_ms: how long a request may wait for others to be batched with.
        description: free text.
        store: where the endpoint is (default: the store from settings).

    Returns:
        The endpoint, one generation on.

    Raises:
        InvalidInputError: nothing to change, or a bad value.
        NotFoundError: the endpoint, model, alias or version does not exist.
        ConflictError: the new primary is the canary (promote it instead), or the model
            changes while a canary or shadows (versions of the old model) are set.
    """
    store = _store(store)
    values: dict[str, object] = {}
    if max_batch_size is not None:
        values["max_batch_size"] = check_batch_size(max_batch_size)
    if max_latency_ms is not None:
        values["max_latency_ms"] = check_latency(max_latency_ms)
    if description is not None:
        values["description"] = check_description(description)
    target: tuple[str, str | None, int | None] | None = None
    primary: int | None = None
    if model is not None:
        target = parse_model(model)
        primary = resolve_target(store, *target)
    if target is None and not values:
        raise InvalidInputError(
            f"nothing to change on endpoint {name!r}: give model, max_batch_size, "
            "max_latency_ms or description"
        )

    def change(state: EndpointState) -> EndpointChange:
        if target is None:
            return EndpointChange(values)
        e = state.endpoint
        model_name, alias, version = target
        if model_name != e.model_name and (e.canary_version is not None or e.shadow_versions):
            raise ConflictError(
                f"endpoint {name!r} has a canary or shadows of model {e.model_name!r}; stop "
                f"the canary and remove the shadows before switching to model {model_name!r}"
            )
        if primary == e.canary_version:
            raise ConflictError(
                f"version {primary} is the canary of endpoint {name!r}; promote it instead "
                f"(`shipyard endpoints promote {name}`)"
            )
        shadows = tuple(v for v in e.shadow_versions if v != primary)
        return EndpointChange(
            {
                **values,
                "model_name": model_name,
                "alias": alias,
                "version": version,
                "shadow_versions": shadows,
            }
        )

    return store.endpoints.update_endpoint(name, "update", change, current_user()).endpoint


def delete_endpoint(name: str, *, store: Store | None = None) -> Endpoint:
    """Delete an endpoint; a server stops serving it. Its history is kept.

    Returns:
        The endpoint as it was.

    Raises:
        NotFoundError: no endpoint has that name.
    """
    return _store(store).endpoints.delete_endpoint(name, current_user())


def set_canary(name: str, version: int, percent: float, *, store: Store | None = None) -> Endpoint:
    """Send ``percent`` of an endpoint's traffic to ``version``, the rest to the primary.

    A server picks the canary by a hash of the request's routing key when it has one
    (so a caller sticks to one version), at random otherwise. Setting a canary replaces
    any earlier one; a shadow made the canary stops being a shadow.

    Args:
        name: the endpoint.
        version: a version of the endpoint's model, not the primary.
        percent: the canary's share, more than 0 and at most 100.
        store: where the endpoint is (default: the store from settings).

    Returns:
        The endpoint, one generation on.

    Raises:
        InvalidInputError: a bad percent or version number, or the version is the primary.
        NotFoundError: the endpoint or the version does not exist.
    """
    store = _store(store)
    share = check_percent(percent)
    endpoint = store.endpoints.get_endpoint(name)
    number = require_version(store, endpoint.model_name, version)

    def change(state: EndpointState) -> EndpointChange:
        same_model(state, endpoint.model_name)
        if number == state.primary_version:
            raise InvalidInputError(
                f"version {number} is already the primary of endpoint {name!r}; a canary "
                "is another version"
            )
        shadows = tuple(v for v in state.endpoint.shadow_versions if v != number)
        return EndpointChange(
            {"canary_version": number, "canary_percent": share, "shadow_versions": shadows}
        )

    return store.endpoints.update_endpoint(name, "canary", change, current_user()).endpoint


def _no_canary(name: str, what: str) -> ConflictError:
    return ConflictError(
        f"endpoint {name!r} has no canary to {what}; start one with "
        f"`shipyard endpoints canary {name} --version V --percent P`"
    )


def stop_canary(name: str, *, store: Store | None = None) -> Endpoint:
    """Send all of an endpoint's traffic back to the primary.

    Raises:
        NotFoundError: no endpoint has that name.
        ConflictError: the endpoint has no canary.
    """

    def change(state: EndpointState) -> EndpointChange:
        if state.endpoint.canary_version is None:
            raise _no_canary(name, "stop")
        return EndpointChange({"canary_version": None, "canary_percent": 0.0})

    return _store(store).endpoints.update_endpoint(name, "canary", change, current_user()).endpoint


def _set_shadows(
    store: Store,
    name: str,
    model: str | None,
    compute: Callable[[tuple[int, ...]], Iterable[int]],
) -> Endpoint:
    def change(state: EndpointState) -> EndpointChange:
        if model is not None:
            same_model(state, model)
        shadows = tuple(sorted(set(compute(state.endpoint.shadow_versions))))
        for v in shadows:
            if v == state.primary_version:
                raise InvalidInputError(
                    f"version {v} is the primary of endpoint {name!r}; a shadow is another version"
                )
            if v == state.endpoint.canary_version:
                raise InvalidInputError(
                    f"version {v} is the canary of endpoint {name!r}: it already answers "
                    "live traffic; stop the canary first to shadow it"
                )
        return EndpointChange({"shadow_versions": shadows})

    return store.endpoints.update_endpoint(name, "shadow", change, current_user()).endpoint


def set_shadow(name: str, versions: Sequence[int], *, store: Store | None = None) -> Endpoint:
    """Make exactly ``versions`` the endpoint's shadows (an empty list removes them all).

    A shadow gets a copy of every request off the request path: its answers are logged,
    never returned, and its failures or slowness never touch the response.

    Raises:
        InvalidInputError: a version is the primary or the canary.
        NotFoundError: the endpoint or a version does not exist.
    """
    store = _store(store)
    if isinstance(versions, str | bytes) or not isinstance(versions, Sequence):
        raise InvalidInputError(f"versions must be a list of version numbers; got {versions!r}")
    model = store.endpoints.get_endpoint(name).model_name
    wanted = [require_version(store, model, v) for v in versions]
    return _set_shadows(store, name, model, lambda _current: wanted)


def add_shadow(name: str, version: int, *, store: Store | None = None) -> Endpoint:
    """Add a shadow version to an endpoint (see :func:`set_shadow`).

    Raises:
        InvalidInputError: the version is the primary or the canary.
        NotFoundError: the endpoint or the version does not exist.
        ConflictError: the version is a shadow already.
    """
    store = _store(store)
    model = store.endpoints.get_endpoint(name).model_name
    number = require_version(store, model, version)

    def compute(current: tuple[int, ...]) -> Iterable[int]:
        if number in current:
            raise ConflictError(f"version {number} is already a shadow of endpoint {name!r}")
        return (*current, number)

    return _set_shadows(store, name, model, compute)


def remove_shadow(name: str, version: int, *, store: Store | None = None) -> Endpoint:
    """Stop sending copies of an endpoint's requests to a shadow version.

    Raises:
        NotFoundError: the endpoint does not exist, or the version is not its shadow
            (the message lists the shadows).
    """
    number = check_version(version)

    def compute(current: tuple[int, ...]) -> Iterable[int]:
        if number not in current:
            listed = ", ".join(map(str, current)) or "none"
            raise NotFoundError(
                f"version {number} is not a shadow of endpoint {name!r} (its shadows: {listed})"
            )
        return (v for v in current if v != number)

    return _set_shadows(_store(store), name, None, compute)


def promote(name: str, *, store: Store | None = None) -> Endpoint:
    """Make the canary the primary, taking all the traffic.

    For an endpoint that follows an alias, the alias itself moves to the canary's
    version in the registry (recorded in its alias history), so every other user of
    ``MODEL@ALIAS`` follows; for a fixed endpoint, its version becomes the canary's. The
    canary is cleared either way, in the same transaction.

    Returns:
        The endpoint, one generation on.

    Raises:
        NotFoundError: no endpoint has that name.
        ConflictError: the endpoint has no canary, or its alias moved meanwhile.
    """

    def change(state: EndpointState) -> EndpointChange:
        e = state.endpoint
        canary = e.canary_version
        if canary is None:
            raise _no_canary(name, "promote")
        values: dict[str, object] = {
            "canary_version": None,
            "canary_percent": 0.0,
            "shadow_versions": tuple(v for v in e.shadow_versions if v != canary),
        }
        if e.alias is not None:
            return EndpointChange(values, AliasMove(expected=state.primary_version, to=canary))
        return EndpointChange({**values, "version": canary})

    store = _store(store)
    return store.endpoints.update_endpoint(name, "promote", change, current_user()).endpoint


def _undo_stack(versions: Iterable[int | None]) -> list[int]:
    """The primaries one can roll back through, oldest first, from a list of changes.

    A change back to the version before the current one is an undo (a rollback, or one
    done by hand), so it pops the stack rather than pushing; None (an alias deleted, or
    the endpoint re-created or switched away) starts afresh.
    """
    stack: list[int] = []
    for version in versions:
        if version is None:
            stack.clear()
        elif stack and stack[-1] == version:
            continue
        elif len(stack) >= 2 and stack[-2] == version:
            stack.pop()
        else:
            stack.append(version)
    return stack


def _alias_rollback(store: Store, state: EndpointState, alias: str) -> AliasMove:
    e = state.endpoint
    current = state.primary_version
    if current is None:
        raise ConflictError(
            f"endpoint {e.name!r} follows alias {alias!r} of model {e.model_name!r}, which "
            "points at no version: nothing to roll back; set it with `shipyard models alias`"
        )
    history = store.registry.alias_history(e.model_name, alias)
    stack = _undo_stack(event.version for event in history)
    if len(stack) < 2 or stack[-1] != current:
        raise ConflictError(
            f"nothing to roll back to: alias {alias!r} of model {e.model_name!r} has no "
            f"earlier version to return to from version {current} (see `shipyard models "
            f"aliases {e.model_name}`)"
        )
    return AliasMove(expected=current, to=stack[-2])


def _fixed_rollback(store: Store, state: EndpointState) -> int:
    e = state.endpoint
    sequence: list[int | None] = []
    for event in store.endpoints.list_events(e.name):
        after = event.after
        if event.action == "create" or after is None:
            sequence.append(None)
        if (
            after is None
            or after.get("alias") is not None
            or after.get("model_name") != e.model_name
        ):
            sequence.append(None)
        else:
            sequence.append(after.get("version"))
    stack = _undo_stack(sequence)
    if len(stack) < 2 or stack[-1] != e.version:
        raise ConflictError(
            f"nothing to roll back to: endpoint {e.name!r} has served only version "
            f"{e.version} of model {e.model_name!r} since it was created (or since its "
            "model last changed); see `shipyard endpoints history`"
        )
    return stack[-2]


def rollback(name: str, *, store: Store | None = None) -> Endpoint:
    """Undo the last traffic change in one call: the previous primary comes back.

    - With a canary active, the canary stops and all traffic goes back to the primary.
    - Otherwise, for an endpoint that follows an alias, the alias moves back in the
      registry to the version it pointed at before (from its alias history), so every
      user of ``MODEL@ALIAS`` goes back too.
    - For a fixed endpoint, its version goes back to the one before the last change of
      version (from the endpoint's history).

    Rolling back again goes further back, not forth: a move back to the version before
    counts as an undo, so v1 → v2 → v3 rolls back to v2, then to v1, then fails. A shadow
    that becomes the primary stops being a shadow.

    Returns:
        The endpoint, one generation on.

    Raises:
        NotFoundError: no endpoint has that name.
        ConflictError: there is nothing to roll back to, or the endpoint (or its alias)
            changed while rolling back: look again and retry.
    """
    store = _store(store)
    seen = store.endpoints.get_state(name)
    move: AliasMove | None = None
    version: int | None = None
    if seen.endpoint.canary_version is None:
        if seen.endpoint.alias is not None:
            move = _alias_rollback(store, seen, seen.endpoint.alias)
        else:
            version = _fixed_rollback(store, seen)

    def change(state: EndpointState) -> EndpointChange:
        e = state.endpoint
        if e.canary_version is not None:
            return EndpointChange({"canary_version": None, "canary_percent": 0.0})
        back = move.to if move is not None else version
        if back is None or e.generation != seen.endpoint.generation:
            raise ConflictError(
                f"endpoint {name!r} changed while rolling back; look at it again and retry"
            )
        shadows = tuple(v for v in e.shadow_versions if v != back)
        if move is not None:
            return EndpointChange({"shadow_versions": shadows}, move)
        return EndpointChange({"shadow_versions": shadows, "version": version})

    return store.endpoints.update_endpoint(name, "rollback", change, current_user()).endpoint
