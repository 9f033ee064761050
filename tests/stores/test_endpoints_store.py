"""The endpoint store on every backend: create, change under a lock, events, the snapshot."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

import shipyard
from shipyard import AlreadyExistsError, ConflictError, InvalidInputError, NotFoundError
from shipyard.stores import (
    AliasMove,
    EndpointChange,
    EndpointState,
    NewEndpoint,
    NewVersion,
    SqlEndpointStore,
)

MakeStore = Callable[..., shipyard.Store]


def _versions(store: shipyard.Store, model: str, count: int) -> None:
    """Record ``count`` versions of ``model`` (metadata only: no files are needed here)."""
    for i in range(count):
        store.registry.create_version(
            model, NewVersion(flavor="sklearn", artifact_prefix=f"{model}/{i}", manifest_sha256="0")
        )


@pytest.fixture
def endpoints(store: shipyard.Store) -> SqlEndpointStore:
    _versions(store, "delays", 3)
    store.registry.set_alias("delays", "champion", 1)
    return store.endpoints


def _new(
    name: str = "api", *, alias: str | None = "champion", version: int | None = None
) -> NewEndpoint:
    return NewEndpoint(
        name=name,
        model_name="delays",
        alias=alias,
        version=version,
        max_batch_size=32,
        max_latency_ms=2.5,
        description="flight delays",
    )


def test_create_and_get(endpoints: SqlEndpointStore) -> None:
    state = endpoints.create_endpoint(_new(), by="ana")
    assert state.primary_version == 1
    created = state.endpoint
    assert (created.name, created.model_name, created.alias, created.version) == (
        "api",
        "delays",
        "champion",
        None,
    )
    assert (created.max_batch_size, created.max_latency_ms) == (32, 2.5)
    assert (created.generation, created.canary_version, created.shadow_versions) == (1, None, ())
    assert created.target == "delays@champion"
    assert endpoints.get_endpoint("api") == created
    assert endpoints.list_endpoints() == [created]
    (event,) = endpoints.list_events("api")
    assert (event.action, event.by, event.before) == ("create", "ana", None)
    assert event.after is not None
    assert event.after["primary_version"] == 1
    assert event.after["alias"] == "champion"


def test_a_taken_name_is_refused(endpoints: SqlEndpointStore) -> None:
    endpoints.create_endpoint(_new())
    with pytest.raises(AlreadyExistsError, match="endpoint 'api' already exists"):
        endpoints.create_endpoint(_new(version=2, alias=None))


@pytest.mark.parametrize(
    ("alias", "version"),
    [pytest.param("champion", 2, id="both"), pytest.param(None, None, id="neither")],
)
def test_exactly_one_of_alias_and_version(
    endpoints: SqlEndpointStore, alias: str | None, version: int | None
) -> None:
    with pytest.raises(InvalidInputError, match="must follow an alias or serve a fixed version"):
        endpoints.create_endpoint(_new(alias=alias, version=version))


def test_an_unknown_model_is_refused(endpoints: SqlEndpointStore) -> None:
    new = NewEndpoint("api", "nope", None, 1, 8, 1.0)
    with pytest.raises(NotFoundError, match="model 'nope' not found"):
        endpoints.create_endpoint(new)


def test_not_found_lists_what_exists(store: shipyard.Store, endpoints: SqlEndpointStore) -> None:
    with pytest.raises(NotFoundError, match="there are no endpoints yet"):
        endpoints.get_endpoint("api")
    endpoints.create_endpoint(_new("b-api"))
    endpoints.create_endpoint(_new("a-api"))
    with pytest.raises(
        NotFoundError, match=r"endpoint 'api' not found \(endpoints: a-api, b-api\)"
    ):
        endpoints.get_endpoint("api")
    with pytest.raises(NotFoundError, match="endpoint 'api' not found"):
        endpoints.update_endpoint("api", "update", lambda s: EndpointChange())
    with pytest.raises(NotFoundError, match="endpoint 'api' not found"):
        endpoints.delete_endpoint("api")


def test_a_change_bumps_generation_and_records_before_and_after(
    endpoints: SqlEndpointStore,
) -> None:
    endpoints.create_endpoint(_new())
    seen: list[EndpointState] = []

    def change(state: EndpointState) -> EndpointChange:
        seen.append(state)
        return EndpointChange({"canary_version": 2, "canary_percent": 10.0})

    after = endpoints.update_endpoint("api", "canary", change, by="bo")
    assert seen[0].endpoint.generation == 1
    assert after.endpoint.generation == 2
    assert (after.endpoint.canary_version, after.endpoint.canary_percent) == (2, 10.0)
    event = endpoints.list_events("api")[-1]
    assert (event.action, event.by) == ("canary", "bo")
    assert event.before is not None
    assert event.after is not None
    assert (event.before["canary_version"], event.after["canary_version"]) == (None, 2)
    assert event.after["canary_percent"] == 10.0
    assert event.event_id > endpoints.list_events("api")[0].event_id


def test_a_refused_change_writes_nothing(endpoints: SqlEndpointStore) -> None:
    endpoints.create_endpoint(_new())

    def refuse(state: EndpointState) -> EndpointChange:
        raise ConflictError("no")

    with pytest.raises(ConflictError, match="no"):
        endpoints.update_endpoint("api", "canary", refuse)
    assert endpoints.get_endpoint("api").generation == 1
    assert len(endpoints.list_events("api")) == 1


def test_unknown_fields_are_refused(endpoints: SqlEndpointStore) -> None:
    endpoints.create_endpoint(_new())
    with pytest.raises(InvalidInputError, match=r"cannot change endpoint fields \['generation'\]"):
        endpoints.update_endpoint("api", "update", lambda s: EndpointChange({"generation": 9}))


def test_a_change_breaking_the_table_rules_is_invalid_input(endpoints: SqlEndpointStore) -> None:
    endpoints.create_endpoint(_new())
    with pytest.raises(InvalidInputError, match="breaks a rule of the endpoints table"):
        endpoints.update_endpoint("api", "update", lambda s: EndpointChange({"version": 2}))
    assert endpoints.get_endpoint("api").generation == 1


def test_moving_the_alias_is_recorded_in_the_registry(
    store: shipyard.Store, endpoints: SqlEndpointStore
) -> None:
    endpoints.create_endpoint(_new())
    after = endpoints.update_endpoint(
        "api", "promote", lambda s: EndpointChange(move_alias=AliasMove(1, 3)), by="cy"
    )
    assert after.primary_version == 3
    assert store.registry.get_alias("delays", "champion") == 3
    last = store.registry.alias_history("delays", "champion")[-1]
    assert (last.previous_version, last.version, last.by) == (1, 3, "cy")
    event = endpoints.list_events("api")[-1]
    assert event.before is not None
    assert event.after is not None
    assert (event.before["primary_version"], event.after["primary_version"]) == (1, 3)


def test_an_alias_that_moved_meanwhile_is_a_conflict(
    store: shipyard.Store, endpoints: SqlEndpointStore
) -> None:
    endpoints.create_endpoint(_new())
    store.registry.set_alias("delays", "champion", 2)
    with pytest.raises(ConflictError, match="moved to version 2 meanwhile"):
        endpoints.update_endpoint(
            "api", "promote", lambda s: EndpointChange(move_alias=AliasMove(1, 3))
        )
    assert store.registry.get_alias("delays", "champion") == 2
    assert endpoints.get_endpoint("api").generation == 1


def test_delete_keeps_the_history(endpoints: SqlEndpointStore) -> None:
    endpoints.create_endpoint(_new())
    gone = endpoints.delete_endpoint("api", by="di")
    assert gone.name == "api"
    assert endpoints.list_endpoints() == []
    create, delete = endpoints.list_events("api")
    assert (delete.action, delete.after, delete.by) == ("delete", None, "di")
    assert delete.before == create.after
    endpoints.create_endpoint(_new())  # the name is free again; the trail goes on
    assert [e.action for e in endpoints.list_events("api")] == ["create", "delete", "create"]
    assert [e.action for e in endpoints.list_events("api", limit=2)] == ["delete", "create"]
    with pytest.raises(NotFoundError, match="endpoint 'never' not found"):
        endpoints.list_events("never")


def test_snapshot_resolves_aliases_in_one_query(
    store: shipyard.Store, endpoints: SqlEndpointStore
) -> None:
    endpoints.create_endpoint(_new("follows"))
    endpoints.create_endpoint(_new("fixed", alias=None, version=2))
    store.registry.set_alias("delays", "challenger", 3)
    endpoints.create_endpoint(_new("other", alias="challenger"))
    snapshot = {s.endpoint.name: s.primary_version for s in endpoints.traffic_snapshot()}
    assert snapshot == {"fixed": 2, "follows": 1, "other": 3}
    store.registry.set_alias("delays", "champion", 3)
    store.registry.delete_alias("delays", "challenger")
    snapshot = {s.endpoint.name: s.primary_version for s in endpoints.traffic_snapshot()}
    assert snapshot == {"fixed": 2, "follows": 3, "other": None}
    assert endpoints.get_state("other").primary_version is None


def test_concurrent_changes_all_land_and_bump_generation_once_each(
    make_store: MakeStore, endpoints: SqlEndpointStore
) -> None:
    endpoints.create_endpoint(_new())
    workers = 8
    barrier = threading.Barrier(workers)
    errors: list[BaseException] = []

    def add(version: int) -> None:
        own = make_store().endpoints  # its own engine, as another process would have
        barrier.wait()
        try:
            own.update_endpoint(
                "api",
                "shadow",
                lambda s: EndpointChange(
                    {"shadow_versions": (*s.endpoint.shadow_versions, version)}
                ),
            )
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=add, args=(100 + i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    final = endpoints.get_endpoint("api")
    assert final.shadow_versions == tuple(100 + i for i in range(workers))
    assert final.generation == 1 + workers
    generations = [e.after["shadow_versions"] for e in endpoints.list_events("api")[1:] if e.after]
    assert [len(g) for g in generations] == list(range(1, workers + 1))
