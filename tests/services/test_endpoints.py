"""Endpoints on every backend, over real registered models: targets, canary, shadows,
promote, rollback, history and the traffic a server reads."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import shipyard
from shipyard import (
    AlreadyExistsError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
    Traffic,
)
from shipyard.core.entities import Endpoint
from shipyard.services._common import current_user

MakeStore = Callable[..., shipyard.Store]


@pytest.fixture(scope="module")
def fitted() -> tuple[LogisticRegression, pd.DataFrame]:
    rng = np.random.default_rng(0)
    x = pd.DataFrame({"distance": rng.normal(size=40), "temp": rng.normal(size=40)})
    y = (x["distance"] > 0).astype(int)
    return LogisticRegression().fit(x, y), x


@pytest.fixture
def store(make_store: MakeStore, fitted: tuple[LogisticRegression, pd.DataFrame]) -> shipyard.Store:
    """A store with model ``delays`` v1-v3 (champion → 1) and model ``other`` v1."""
    store = make_store(max_batch_size=16, max_latency_ms=3.0)
    model, x = fitted
    for name, count in (("delays", 3), ("other", 1)):
        for _ in range(count):
            shipyard.register_model(
                model, name, training_data=x, log_training_data=False, store=store
            )
    shipyard.set_alias("delays", "champion", 1, store=store)
    return store


def _alias(store: shipyard.Store) -> int:
    return shipyard.get_model_version("delays", "champion", store=store).version


# -- creating ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "alias", "version"),
    [
        pytest.param("delays@champion", "champion", None, id="alias"),
        pytest.param("delays/2", None, 2, id="version"),
        pytest.param("models:/delays@champion", "champion", None, id="alias-uri"),
        pytest.param("models:/delays/2", None, 2, id="version-uri"),
    ],
)
def test_create_follows_an_alias_or_pins_a_version(
    store: shipyard.Store, spec: str, alias: str | None, version: int | None
) -> None:
    endpoint = shipyard.create_endpoint("api", spec, description="delays", store=store)
    assert (endpoint.model_name, endpoint.alias, endpoint.version) == ("delays", alias, version)
    assert (endpoint.generation, endpoint.description) == (1, "delays")
    # Batching defaults come from the settings.
    assert (endpoint.max_batch_size, endpoint.max_latency_ms) == (16, 3.0)
    assert shipyard.get_endpoint("api", store=store) == endpoint
    assert shipyard.list_endpoints(store=store) == [endpoint]
    (event,) = shipyard.endpoint_history("api", store=store)
    assert (event.action, event.before, event.by) == ("create", None, current_user())
    assert event.after is not None
    assert event.after["primary_version"] == (1 if alias else 2)


def test_create_with_explicit_batching(store: shipyard.Store) -> None:
    endpoint = shipyard.create_endpoint(
        "api", "delays/1", max_batch_size=128, max_latency_ms=0, store=store
    )
    assert (endpoint.max_batch_size, endpoint.max_latency_ms) == (128, 0.0)


@pytest.mark.parametrize(
    ("name", "spec", "options", "message"),
    [
        pytest.param("bad name", "delays/1", {}, "endpoint name must start", id="name"),
        pytest.param("api", "delays", {}, "names no alias or version", id="bare-model"),
        pytest.param("api", "delays/", {}, "names no alias or version", id="empty-version"),
        pytest.param("api", "delays/latest", {}, "cannot follow 'latest'", id="latest"),
        pytest.param("api", "delays/x", {}, "a version number is a whole number", id="version"),
        pytest.param("api", "delays@1x", {}, "an alias starts with a letter", id="alias"),
        pytest.param("api", "", {}, "an endpoint's model is MODEL@ALIAS", id="empty"),
        pytest.param(
            "api", "delays/1", {"max_batch_size": 0}, r"max_batch_size .* got 0", id="batch"
        ),
        pytest.param("api", "delays/1", {"max_batch_size": True}, "got True", id="batch-bool"),
        pytest.param(
            "api", "delays/1", {"max_latency_ms": -1}, r"from 0 to 60000; got -1", id="latency"
        ),
        pytest.param("api", "delays/1", {"max_latency_ms": math.nan}, "got nan", id="latency-nan"),
        pytest.param(
            "api", "delays/1", {"description": 3}, "description must be text", id="description"
        ),
    ],
)
def test_bad_input_is_refused(
    store: shipyard.Store, name: str, spec: str, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidInputError, match=message):
        shipyard.create_endpoint(name, spec, store=store, **options)
    assert shipyard.list_endpoints(store=store) == []


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        pytest.param("nope@champion", "model 'nope' not found", id="model"),
        pytest.param("nope/1", "model 'nope' not found", id="model-version"),
        pytest.param(
            "delays@staging",
            r"model 'delays' has no alias 'staging' \(its aliases: champion\)",
            id="alias",
        ),
        pytest.param(
            "delays/9", r"model 'delays' has no version 9 \(its versions: 1 to 3\)", id="version"
        ),
    ],
)
def test_what_is_missing_is_named(store: shipyard.Store, spec: str, message: str) -> None:
    with pytest.raises(NotFoundError, match=message):
        shipyard.create_endpoint("api", spec, store=store)


def test_a_taken_name_is_refused(store: shipyard.Store) -> None:
    shipyard.create_endpoint("api", "delays/1", store=store)
    with pytest.raises(AlreadyExistsError, match="endpoint 'api' already exists"):
        shipyard.create_endpoint("api", "delays/2", store=store)


def test_unknown_endpoints_are_named_with_those_that_exist(store: shipyard.Store) -> None:
    shipyard.create_endpoint("api", "delays/1", store=store)
    for call in (
        lambda: shipyard.get_endpoint("apx", store=store),
        lambda: shipyard.resolve_traffic("apx", store=store),
        lambda: shipyard.set_canary("apx", 2, 10, store=store),
        lambda: shipyard.promote("apx", store=store),
        lambda: shipyard.rollback("apx", store=store),
        lambda: shipyard.delete_endpoint("apx", store=store),
        lambda: shipyard.endpoint_history("apx", store=store),
    ):
        with pytest.raises(NotFoundError, match=r"endpoint 'apx' not found \(endpoints: api\)"):
            call()


# -- canary ------------------------------------------------------------------------------


def test_canary_takes_a_share_and_stops(store: shipyard.Store) -> None:
    shipyard.create_endpoint("api", "delays@champion", store=store)
    endpoint = shipyard.set_canary("api", 2, 10, store=store)
    assert (endpoint.canary_version, endpoint.canary_percent, endpoint.generation) == (2, 10.0, 2)
    traffic = shipyard.resolve_traffic("api", store=store)
    assert (traffic.primary_version, traffic.canary_version, traffic.canary_percent) == (1, 2, 10)
    endpoint = shipyard.set_canary("api", 3, 100, store=store)  # replaces the earlier one
    assert (endpoint.canary_version, endpoint.canary_percent, endpoint.generation) == (3, 100, 3)
    endpoint = shipyard.stop_canary("api", store=store)
    assert (endpoint.canary_version, endpoint.canary_percent, endpoint.generation) == (None, 0, 4)
    with pytest.raises(ConflictError, match="endpoint 'api' has no canary to stop"):
        shipyard.stop_canary("api", store=store)
    actions = [e.action for e in shipyard.endpoint_history("api", store=store)]
    assert actions == ["create", "canary", "canary", "canary"]


@pytest.mark.parametrize(
    ("version", "percent", "error", "message"),
    [
        pytest.param(2, 0, InvalidInputError, r"more than 0 and at most 100 .* got 0", id="zero"),
        pytest.param(2, 100.5, InvalidInputError, "got 100.5", id="over"),
        pytest.param(2, math.nan, InvalidInputError, "got nan", id="nan"),
        pytest.param(2, True, InvalidInputError, "got True", id="bool"),
        pytest.param(0, 10, InvalidInputError, "a version number is a whole number", id="v0"),
        pytest.param(1, 10, InvalidInputError, "version 1 is already the primary", id="primary"),
        pytest.param(7, 10, NotFoundError, r"no version 7 \(its versions: 1 to 3\)", id="v7"),
    ],
)
def test_bad_canaries_are_refused(
    store: shipyard.Store,
    version: int,
    percent: float,
    error: type[Exception],
    message: str,
) -> None:
    shipyard.create_endpoint("api", "delays@champion", store=store)
    with pytest.raises(error, match=message):
        shipyard.set_canary("api", version, percent, store=store)
    assert shipyard.get_endpoint("api", store=store).generation == 1


# -- shadows -----------------------------------------------------------------------------


def test_shadows_are_added_removed_and_set(store: shipyard.Store) -> None:
    shipyard.create_endpoint("api", "delays/1", store=store)
    assert shipyard.add_shadow("api", 3, store=store).shadow_versions == (3,)
    assert shipyard.add_shadow("api", 2, store=store).shadow_versions == (2, 3)
    with pytest.raises(ConflictError, match="version 2 is already a shadow of endpoint 'api'"):
        shipyard.add_shadow("api", 2, store=store)
    with pytest.raises(InvalidInputError, match="version 1 is the primary of endpoint 'api'"):
        shipyard.add_shadow("api", 1, store=store)
    with pytest.raises(NotFoundError, match=r"no version 4 \(its versions: 1 to 3\)"):
        shipyard.add_shadow("api", 4, store=store)
    with pytest.raises(NotFoundError, match=r"version 1 is not a shadow .* \(its shadows: 2, 3\)"):
        shipyard.remove_shadow("api", 1, store=store)
    assert shipyard.remove_shadow("api", 3, store=store).shadow_versions == (2,)
    assert shipyard.set_shadow("api", [3, 2, 3], store=store).shadow_versions == (2, 3)
    endpoint = shipyard.set_shadow("api", [], store=store)
    assert (endpoint.shadow_versions, endpoint.generation) == ((), 6)
    with pytest.raises(InvalidInputError, match="versions must be a list of version numbers"):
        shipyard.set_shadow("api", "2", store=store)  # type: ignore[arg-type]
    events = shipyard.endpoint_history("api", store=store)
    assert [e.action for e in events].count("shadow") == 5
    assert events[-1].before is not None
    assert events[-1].before["shadow_versions"] == [2, 3]


def test_a_shadow_made_canary_stops_shadowing_and_a_canary_cannot_be_shadowed(
    store: shipyard.Store,
) -> None:
    shipyard.create_endpoint("api", "delays/1", store=store)
    shipyard.set_shadow("api", [2, 3], store=store)
    endpoint = shipyard.set_canary("api", 2, 25, store=store)
    assert (endpoint.canary_version, endpoint.shadow_versions) == (2, (3,))
    with pytest.raises(InvalidInputError, match="version 2 is the canary of endpoint 'api'"):
        shipyard.add_shadow("api", 2, store=store)


# -- promote -----------------------------------------------------------------------------


def test_promote_moves_the_alias_for_an_alias_endpoint(store: shipyard.Store) -> None:
    shipyard.create_endpoint("api", "delays@champion", store=store)
    shipyard.create_endpoint("batch", "delays@champion", store=store)
    shipyard.set_canary("api", 2, 10, store=store)
    shipyard.add_shadow("api", 3, store=store)
    endpoint = shipyard.promote("api", store=store)
    assert (endpoint.alias, endpoint.version, endpoint.canary_version) == ("champion", None, None)
    assert endpoint.canary_percent == 0
    assert endpoint.shadow_versions == (3,)
    assert _alias(store) == 2
    moved = shipyard.alias_history("delays", "champion", store=store)[-1]
    assert (moved.previous_version, moved.version, moved.by) == (1, 2, current_user())
    event = shipyard.endpoint_history("api", store=store)[-1]
    assert event.action == "promote"
    assert event.before is not None
    assert event.after is not None
    assert (event.before["primary_version"], event.after["primary_version"]) == (1, 2)
    assert (event.before["canary_version"], event.after["canary_version"]) == (2, None)
    # Everything following the alias follows.
    snapshot = shipyard.traffic_snapshot(store=store)
    assert (snapshot["api"].primary_version, snapshot["batch"].primary_version) == (2, 2)


def test_promote_sets_the_version_of_a_fixed_endpoint(store: shipyard.Store) -> None:
    shipyard.create_endpoint("api", "delays/1", store=store)
    shipyard.set_canary("api", 3, 50, store=store)
    endpoint = shipyard.promote("api", store=store)
    assert (endpoint.version, endpoint.canary_version, endpoint.generation) == (3, None, 3)
    assert _alias(store) == 1  # the registry is untouched


def test_promote_without_a_canary_is_a_conflict(store: shipyard.Store) -> None:
    shipyard.create_endpoint("api", "delays@champion", store=store)
    with pytest.raises(ConflictError, match="endpoint 'api' has no canary to promote"):
        shipyard.promote("api", store=store)


# -- rollback ----------------------------------------------------------------------------


@pytest.mark.parametrize("spec", ["delays@champion", "delays/1"])
def test_rollback_stops_an_active_canary_first(store: shipyard.Store, spec: str) -> None:
    shipyard.create_endpoint("api", spec, store=store)
    shipyard.set_canary("api", 2, 30, store=store)
    endpoint = shipyard.rollback("api", store=store)
    assert (endpoint.canary_version, endpoint.canary_percent) == (None, 0)
    assert shipyard.resolve_traffic("api", store=store).primary_version == 1
    assert _alias(store) == 1
    assert shipyard.endpoint_history("api", store=store)[-1].action == "rollback"


def _promote_to(store: shipyard.Store, version: int) -> None:
    shipyard.set_canary("api", version, 10, store=store)
    shipyard.promote("api", store=store)


@pytest.mark.parametrize("spec", ["delays@champion", "delays/1"], ids=["alias", "fixed"])
def test_rollback_twice_walks_back_through_the_primaries(store: shipyard.Store, spec: str) -> None:
    shipyard.create_endpoint("api", spec, store=store)
    with pytest.raises(ConflictError, match="nothing to roll back to"):
        shipyard.rollback("api", store=store)
    _promote_to(store, 2)
    _promote_to(store, 3)

    def primary() -> int | None:
        return shipyard.resolve_traffic("api", store=store).primary_version

    assert primary() == 3
    shipyard.rollback("api", store=store)
    assert primary() == 2
    shipyard.rollback("api", store=store)
    assert primary() == 1
    with pytest.raises(ConflictError, match="nothing to roll back to"):
        shipyard.rollback("api", store=store)
    follows_alias = spec.endswith("@champion")
    assert _alias(store) == 1
    if follows_alias:
        history = shipyard.alias_history("delays", store=store)
        moves = [(e.previous_version, e.version) for e in history]
        assert moves == [(None, 1), (1, 2), (2, 3), (3, 2), (2, 1)]
    else:
        assert shipyard.get_endpoint("api", store=store).version == 1
    changes = [
        (e.before["primary_version"], e.after["primary_version"])
        for e in shipyard.endpoint_history("api", store=store)
        if e.action == "rollback" and e.before is not None and e.after is not None
    ]
    assert changes == [(3, 2), (2, 1)]


def test_rollback_of_an_alias_moved_by_hand(store: shipyard.Store) -> None:
    shipyard.create_endpoint("api", "delays@champion", store=store)
    shipyard.set_alias("delays", "champion", 3, store=store)
    endpoint = shipyard.rollback("api", store=store)
    assert _alias(store) == 1
    assert endpoint.generation == 2


def test_rollback_of_an_alias_that_points_nowhere_is_a_conflict(store: shipyard.Store) -> None:
    shipyard.create_endpoint("api", "delays@champion", store=store)
    shipyard.delete_alias("delays", "champion", store=store)
    with pytest.raises(ConflictError, match="which points at no version"):
        shipyard.rollback("api", store=store)


def test_rollback_after_a_fixed_update(store: shipyard.Store) -> None:
    shipyard.create_endpoint("api", "delays/1", store=store)
    shipyard.update_endpoint("api", max_batch_size=8, store=store)  # no version change
    shipyard.update_endpoint("api", model="delays/3", store=store)
    assert shipyard.rollback("api", store=store).version == 1


# -- update and delete -------------------------------------------------------------------


def test_update_changes_target_and_batching(store: shipyard.Store) -> None:
    shipyard.create_endpoint("api", "delays@champion", store=store)
    shipyard.add_shadow("api", 2, store=store)
    endpoint = shipyard.update_endpoint(
        "api", model="delays/2", max_batch_size=4, max_latency_ms=1.5, store=store
    )
    assert (endpoint.alias, endpoint.version, endpoint.shadow_versions) == (None, 2, ())
    assert (endpoint.max_batch_size, endpoint.max_latency_ms, endpoint.generation) == (4, 1.5, 3)
    endpoint = shipyard.update_endpoint("api", description="now pinned", store=store)
    assert (endpoint.description, endpoint.version) == ("now pinned", 2)
    endpoint = shipyard.update_endpoint("api", model="other/1", store=store)
    assert (endpoint.model_name, endpoint.version) == ("other", 1)


def test_update_refusals(store: shipyard.Store) -> None:
    shipyard.create_endpoint("api", "delays@champion", store=store)
    with pytest.raises(InvalidInputError, match="nothing to change on endpoint 'api'"):
        shipyard.update_endpoint("api", store=store)
    with pytest.raises(InvalidInputError, match=r"max_batch_size .* got -2"):
        shipyard.update_endpoint("api", max_batch_size=-2, store=store)
    with pytest.raises(NotFoundError, match="model 'delays' has no alias 'staging'"):
        shipyard.update_endpoint("api", model="delays@staging", store=store)
    shipyard.set_canary("api", 2, 10, store=store)
    with pytest.raises(ConflictError, match="version 2 is the canary of endpoint 'api'; promote"):
        shipyard.update_endpoint("api", model="delays/2", store=store)
    with pytest.raises(ConflictError, match="stop the canary and remove the shadows"):
        shipyard.update_endpoint("api", model="other/1", store=store)
    assert shipyard.get_endpoint("api", store=store).generation == 2


def test_delete_keeps_the_history(store: shipyard.Store) -> None:
    shipyard.create_endpoint("api", "delays/1", store=store)
    gone = shipyard.delete_endpoint("api", store=store)
    assert gone.name == "api"
    assert "api" not in shipyard.traffic_snapshot(store=store)
    with pytest.raises(NotFoundError, match="there are no endpoints yet"):
        shipyard.get_endpoint("api", store=store)
    events = shipyard.endpoint_history("api", store=store)
    by = current_user()
    assert [(e.action, e.by) for e in events] == [("create", by), ("delete", by)]
    assert [e.action for e in shipyard.endpoint_history("api", limit=1, store=store)] == ["delete"]
    with pytest.raises(InvalidInputError, match="limit must be a whole number >= 1; got 0"):
        shipyard.endpoint_history("api", limit=0, store=store)


# -- traffic -----------------------------------------------------------------------------


def test_snapshot_resolves_aliases_and_normalises_roles(store: shipyard.Store) -> None:
    shipyard.create_endpoint("api", "delays@champion", max_batch_size=8, store=store)
    shipyard.create_endpoint("pinned", "delays/3", store=store)
    shipyard.set_canary("api", 2, 20, store=store)
    shipyard.add_shadow("api", 3, store=store)
    snapshot = shipyard.traffic_snapshot(store=store)
    assert snapshot["api"] == Traffic(
        endpoint="api",
        model_name="delays",
        primary_version=1,
        canary_version=2,
        canary_percent=20.0,
        shadow_versions=(3,),
        generation=3,
        max_batch_size=8,
        max_latency_ms=3.0,
    )
    assert snapshot["api"].versions == (1, 2, 3)
    assert snapshot["pinned"].primary_version == 3
    assert snapshot["pinned"].versions == (3,)
    # The alias moves to the canary by hand: the canary has become the primary.
    shipyard.set_alias("delays", "champion", 2, store=store)
    moved = shipyard.resolve_traffic("api", store=store)
    assert (moved.primary_version, moved.canary_version, moved.canary_percent) == (2, None, 0.0)
    shipyard.set_alias("delays", "champion", 3, store=store)
    assert shipyard.resolve_traffic("api", store=store).shadow_versions == ()
    shipyard.delete_alias("delays", "champion", store=store)
    gone = shipyard.traffic_snapshot(store=store)["api"]
    assert (gone.primary_version, gone.versions) == (None, (2, 3))


def test_generation_grows_by_one_per_change(store: shipyard.Store) -> None:
    shipyard.create_endpoint("api", "delays@champion", store=store)
    steps: list[Callable[[], Endpoint]] = [
        lambda: shipyard.set_canary("api", 2, 5, store=store),
        lambda: shipyard.add_shadow("api", 3, store=store),
        lambda: shipyard.promote("api", store=store),
        lambda: shipyard.remove_shadow("api", 3, store=store),
        lambda: shipyard.rollback("api", store=store),
        lambda: shipyard.update_endpoint("api", max_latency_ms=1, store=store),
    ]
    for expected, step in enumerate(steps, start=2):
        assert step().generation == expected
        assert shipyard.traffic_snapshot(store=store)["api"].generation == expected
    assert len(shipyard.endpoint_history("api", store=store)) == len(steps) + 1


def test_concurrent_changes_are_all_kept(make_store: MakeStore, store: shipyard.Store) -> None:
    shipyard.create_endpoint("api", "delays/1", store=store)
    barrier = threading.Barrier(3)
    errors: list[BaseException] = []

    def run(change: Callable[[shipyard.Store], object]) -> None:
        own = make_store()
        barrier.wait()
        try:
            change(own)
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    changes: list[Callable[[shipyard.Store], object]] = [
        lambda s: shipyard.add_shadow("api", 2, store=s),
        lambda s: shipyard.add_shadow("api", 3, store=s),
        lambda s: shipyard.update_endpoint("api", max_batch_size=7, store=s),
    ]
    threads = [threading.Thread(target=run, args=(c,)) for c in changes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    endpoint = shipyard.get_endpoint("api", store=store)
    assert (endpoint.shadow_versions, endpoint.max_batch_size) == ((2, 3), 7)
    assert endpoint.generation == 4
    assert len(shipyard.endpoint_history("api", store=store)) == 4
