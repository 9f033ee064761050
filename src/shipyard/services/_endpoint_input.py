"""Checks of what callers hand the endpoints service: model targets, batching, shares."""

from __future__ import annotations

import math
import numbers

from shipyard.core.errors import ConflictError, InvalidInputError, NotFoundError
from shipyard.services._common import check_name
from shipyard.services.registry import check_alias, check_version
from shipyard.stores import EndpointState, Store

__all__ = [
    "check_batch_size",
    "check_description",
    "check_latency",
    "check_percent",
    "parse_model",
    "require_version",
    "resolve_target",
    "same_model",
]

_MAX_LATENCY_MS = 60_000.0  # waiting longer than a minute to fill a batch is a typo
_MODEL_FORMS = "MODEL@ALIAS (follow an alias) or MODEL/VERSION (a fixed version)"


def parse_model(spec: object) -> tuple[str, str | None, int | None]:
    """Read ``MODEL@ALIAS`` or ``MODEL/VERSION`` (``models:/`` in front is fine)."""
    if not isinstance(spec, str) or not spec:
        raise InvalidInputError(f"an endpoint's model is {_MODEL_FORMS}; got {spec!r}")
    rest = spec.removeprefix("models:/")
    name, at, alias = rest.partition("@")
    if at:
        return check_name("model", name), check_alias(alias), None
    name, slash, which = rest.partition("/")
    if not slash or not which:
        raise InvalidInputError(f"model {spec!r} names no alias or version; write {_MODEL_FORMS}")
    if which == "latest":
        raise InvalidInputError(
            f"model {spec!r}: an endpoint cannot follow 'latest'; write {_MODEL_FORMS}, "
            "e.g. set an alias with `shipyard models alias` and follow it"
        )
    return check_name("model", name), None, check_version(which)


def check_batch_size(value: object) -> int:
    """The most rows one model call takes: a whole number >= 1."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInputError(
            f"max_batch_size is the most rows one model call takes: a whole number >= 1; "
            f"got {value!r}"
        )
    return value


def check_latency(value: object) -> float:
    """How long a request may wait to be batched, in ms: 0 to a minute."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not 0 <= float(value) <= _MAX_LATENCY_MS
    ):
        raise InvalidInputError(
            "max_latency_ms is how long a request may wait for others to batch with: "
            f"a number from 0 to {_MAX_LATENCY_MS:g}; got {value!r}"
        )
    return float(value)


def check_percent(value: object) -> float:
    """A canary's share of the traffic: more than 0, at most 100."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not math.isfinite(float(value))
        or not 0 < float(value) <= 100
    ):
        raise InvalidInputError(
            "a canary's percent of the traffic must be more than 0 and at most 100 "
            f"(stop a canary with stop_canary); got {value!r}"
        )
    return float(value)


def check_description(value: object) -> str:
    """Free text."""
    if not isinstance(value, str):
        raise InvalidInputError(f"description must be text; got {value!r}")
    return value


def same_model(state: EndpointState, model: str) -> None:
    """Refuse a change computed for a model the endpoint no longer serves."""
    if state.endpoint.model_name != model:
        raise ConflictError(
            f"endpoint {state.endpoint.name!r} switched to model {state.endpoint.model_name!r} "
            "meanwhile; look at it again and retry"
        )


def require_version(store: Store, model: str, version: object) -> int:
    """A version number that exists in the registry."""
    number = check_version(version)
    try:
        store.registry.get_version(model, number)
    except NotFoundError:
        latest = store.registry.get_model(model).latest_version  # raises for no model
        known = "it has no versions yet" if latest is None else f"its versions: 1 to {latest}"
        raise NotFoundError(f"model {model!r} has no version {number} ({known})") from None
    return number


def resolve_target(store: Store, model: str, alias: str | None, version: int | None) -> int:
    """The version a target names now; raises when the alias or version does not exist."""
    if alias is not None:
        return store.registry.get_alias(model, alias)
    return require_version(store, model, version)
