"""The metadata store contract, run on every backend: experiments, runs, params, tags,
metrics, the artifact index and run inputs."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest

import shipyard
from shipyard import ArtifactInfo, RunInput, RunStatus
from shipyard.stores import SqlMetadataStore


@pytest.fixture
def meta(store: shipyard.Store) -> SqlMetadataStore:
    return store.metadata


@pytest.fixture
def run_id(meta: SqlMetadataStore) -> str:
    experiment = meta.create_experiment("contract")
    return meta.create_run(experiment.experiment_id, "r1", tags={}, params={}).run_id


# -- experiments ---------------------------------------------------------------------------


def test_create_and_get_experiment_by_name_or_id(meta: SqlMetadataStore) -> None:
    created = meta.create_experiment("flights", description="delay model")
    assert created.name == "flights"
    assert created.description == "delay model"
    assert len(created.experiment_id) == 32
    assert meta.get_experiment("flights") == created
    assert meta.get_experiment(created.experiment_id) == created


def test_duplicate_experiment_is_refused(meta: SqlMetadataStore) -> None:
    meta.create_experiment("flights")
    with pytest.raises(shipyard.AlreadyExistsError, match="experiment 'flights' already exists"):
        meta.create_experiment("flights")
    assert [e.name for e in meta.list_experiments()] == ["flights"]


def test_unknown_experiment(meta: SqlMetadataStore) -> None:
    with pytest.raises(shipyard.NotFoundError, match="experiment 'nope' not found"):
        meta.get_experiment("nope")
    with pytest.raises(KeyError):
        meta.get_experiment("nope")


def test_get_or_create_experiment(meta: SqlMetadataStore) -> None:
    first = meta.get_or_create_experiment("flights")
    assert meta.get_or_create_experiment("flights") == first
    assert meta.list_experiments() == [first]


def test_list_experiments_oldest_first(meta: SqlMetadataStore) -> None:
    made = [meta.create_experiment(name) for name in ("a", "b", "c")]
    listed = meta.list_experiments()
    assert {e.name for e in listed} == {"a", "b", "c"}
    assert set(listed) == set(made)
    assert [e.created_at for e in listed] == sorted(e.created_at for e in listed)


def test_count_runs_per_experiment(meta: SqlMetadataStore) -> None:
    busy = meta.create_experiment("busy")
    quiet = meta.create_experiment("quiet")
    meta.create_experiment("empty")
    for _ in range(3):
        meta.create_run(busy.experiment_id, "", tags={}, params={})
    meta.create_run(quiet.experiment_id, "", tags={}, params={})
    assert meta.count_runs() == {busy.experiment_id: 3, quiet.experiment_id: 1}


# -- runs ----------------------------------------------------------------------------------


def test_create_run_records_everything(meta: SqlMetadataStore) -> None:
    experiment = meta.create_experiment("e")
    created = meta.create_run(
        experiment.experiment_id,
        "baseline",
        tags={"team": "ml"},
        params={"lr": "0.1"},
        host="worker-1",
        pid=4242,
    )
    assert created.status is RunStatus.RUNNING
    assert created.end_time is None
    assert created.duration_s is None
    fetched = meta.get_run(created.run_id)
    assert fetched == created
    assert fetched.params == {"lr": "0.1"}
    assert fetched.tags == {"team": "ml"}
    assert fetched.metrics == {}
    assert (fetched.host, fetched.pid) == ("worker-1", 4242)
    assert fetched.start_time.tzinfo is not None


def test_run_without_a_name_is_named_after_its_id(meta: SqlMetadataStore) -> None:
    experiment = meta.create_experiment("e")
    created = meta.create_run(experiment.experiment_id, "", tags={}, params={})
    assert created.name == created.run_id[:8]
    assert meta.get_run(created.run_id).name == created.run_id[:8]


def test_run_in_unknown_experiment_is_refused(meta: SqlMetadataStore) -> None:
    with pytest.raises(shipyard.NotFoundError, match="experiment id 'f00d' not found"):
        meta.create_run("f00d", "orphan", tags={}, params={})


@pytest.mark.parametrize(
    "status", [RunStatus.FINISHED, RunStatus.FAILED, RunStatus.KILLED], ids=str.lower
)
def test_end_run(meta: SqlMetadataStore, run_id: str, status: RunStatus) -> None:
    ended = meta.end_run(run_id, status, message="done here")
    assert ended.status is status
    assert ended.message == "done here"
    assert ended.end_time is not None
    assert ended.duration_s is not None
    assert ended.duration_s >= 0
    assert meta.get_run(run_id) == ended


def test_ending_twice_is_a_conflict(meta: SqlMetadataStore, run_id: str) -> None:
    meta.end_run(run_id, RunStatus.FAILED)
    with pytest.raises(shipyard.ConflictError, match=f"run {run_id} already ended as FAILED"):
        meta.end_run(run_id, RunStatus.FINISHED)
    assert meta.get_run(run_id).status is RunStatus.FAILED


def test_ending_as_running_is_refused(meta: SqlMetadataStore, run_id: str) -> None:
    with pytest.raises(shipyard.ConflictError, match="not RUNNING"):
        meta.end_run(run_id, RunStatus.RUNNING)


_MISSING = "0" * 32
_ON_UNKNOWN_RUN: list[Any] = [
    pytest.param(lambda m: m.get_run(_MISSING), id="get_run"),
    pytest.param(lambda m: m.end_run(_MISSING, RunStatus.FINISHED), id="end_run"),
    pytest.param(lambda m: m.log_params(_MISSING, {"a": "1"}), id="log_params"),
    pytest.param(lambda m: m.set_tags(_MISSING, {"a": "1"}), id="set_tags"),
    pytest.param(lambda m: m.log_metrics(_MISSING, [("a", 1.0, 0, 0)]), id="log_metrics"),
    pytest.param(lambda m: m.get_metric_history(_MISSING, "a"), id="get_metric_history"),
    pytest.param(
        lambda m: m.record_artifact(_MISSING, ArtifactInfo("a.txt", 1, "0" * 64)),
        id="record_artifact",
    ),
    pytest.param(lambda m: m.list_artifacts(_MISSING), id="list_artifacts"),
    pytest.param(lambda m: m.get_artifact(_MISSING, "a.txt"), id="get_artifact"),
    pytest.param(lambda m: m.log_inputs(_MISSING, [RunInput("d" * 64, "x")]), id="log_inputs"),
    pytest.param(lambda m: m.list_inputs(_MISSING), id="list_inputs"),
]


@pytest.mark.parametrize("call", _ON_UNKNOWN_RUN)
def test_unknown_run_is_not_found(
    meta: SqlMetadataStore, call: Callable[[SqlMetadataStore], object]
) -> None:
    meta.create_experiment("e")  # a non-empty store, so "not found" is about the run
    with pytest.raises(shipyard.NotFoundError, match=f"run '{_MISSING}' not found") as caught:
        call(meta)
    assert isinstance(caught.value, KeyError)
    assert caught.value.status_code == 404


# -- params and tags -------------------------------------------------------------------------


def test_params_are_write_once(meta: SqlMetadataStore, run_id: str) -> None:
    meta.log_params(run_id, {"lr": "0.1", "depth": "6"})
    meta.log_params(run_id, {"lr": "0.1"})  # the same value again is fine
    with pytest.raises(
        shipyard.ParamConflictError,
        match=rf"param 'lr' of run {run_id} is already '0\.1'; got '0\.2'\. Params are write-once",
    ):
        meta.log_params(run_id, {"lr": "0.2", "new": "x"})
    # The refused batch wrote nothing, not even its fresh key.
    assert meta.get_run(run_id).params == {"lr": "0.1", "depth": "6"}


def test_param_conflict_is_an_invalid_input_with_status_409(
    meta: SqlMetadataStore, run_id: str
) -> None:
    meta.log_params(run_id, {"lr": "0.1"})
    with pytest.raises(ValueError, match="already") as caught:
        meta.log_params(run_id, {"lr": "1"})
    assert isinstance(caught.value, shipyard.InvalidInputError)
    assert caught.value.status_code == 409


def test_empty_params_and_tags_are_no_ops(meta: SqlMetadataStore, run_id: str) -> None:
    meta.log_params(run_id, {})
    meta.set_tags(run_id, {})
    meta.log_metrics(run_id, [])
    meta.log_inputs(run_id, [])
    run = meta.get_run(run_id)
    assert (run.params, run.tags, run.metrics) == ({}, {}, {})


def test_tags_are_upserted(meta: SqlMetadataStore, run_id: str) -> None:
    meta.set_tags(run_id, {"stage": "dev", "owner": "ana"})
    meta.set_tags(run_id, {"stage": "prod"})
    assert meta.get_run(run_id).tags == {"stage": "prod", "owner": "ana"}


def test_values_keep_unicode_and_length(meta: SqlMetadataStore, run_id: str) -> None:
    long_text = "ü" * 5000
    meta.log_params(run_id, {"note": long_text, "emoji": "🚢"})
    meta.set_tags(run_id, {"quote": 'it\'s "quoted"'})
    run = meta.get_run(run_id)
    assert run.params == {"note": long_text, "emoji": "🚢"}
    assert run.tags == {"quote": 'it\'s "quoted"'}


# -- metrics ------------------------------------------------------------------------------


def _history(meta: SqlMetadataStore, run_id: str, key: str) -> list[tuple[float, int, int]]:
    return [(m.value, m.step, m.timestamp) for m in meta.get_metric_history(run_id, key)]


def test_metric_history_is_in_step_order(meta: SqlMetadataStore, run_id: str) -> None:
    meta.log_metrics(run_id, [("loss", 0.5, 2, 1_000), ("loss", 0.9, 0, 1_000)])
    meta.log_metrics(run_id, [("loss", 0.7, 1, 2_000), ("acc", 0.1, 0, 1_000)])
    meta.log_metrics(run_id, [("loss", 0.4, 2, 500)])  # same step, older timestamp
    assert _history(meta, run_id, "loss") == [
        (0.9, 0, 1_000),
        (0.7, 1, 2_000),
        (0.4, 2, 500),
        (0.5, 2, 1_000),
    ]
    assert _history(meta, run_id, "acc") == [(0.1, 0, 1_000)]
    assert meta.get_metric_history(run_id, "never-logged") == []
    assert all(m.key == "loss" for m in meta.get_metric_history(run_id, "loss"))


def test_large_batch_is_stored_whole(meta: SqlMetadataStore, run_id: str) -> None:
    points = [(f"k{i % 3}", float(i), i // 3, 1_000 + i) for i in range(3_000)]
    meta.log_metrics(run_id, points)
    histories = [meta.get_metric_history(run_id, f"k{k}") for k in range(3)]
    assert [len(h) for h in histories] == [1_000, 1_000, 1_000]
    assert [m.step for m in histories[0]] == list(range(1_000))
    assert meta.get_run(run_id).metrics == {"k0": 2997.0, "k1": 2998.0, "k2": 2999.0}


@pytest.mark.parametrize(
    ("batches", "latest"),
    [
        pytest.param([[("m", 1.0, 0, 10), ("m", 2.0, 1, 5)]], 2.0, id="highest-step-wins"),
        pytest.param([[("m", 1.0, 3, 10)], [("m", 2.0, 1, 99)]], 1.0, id="late-lower-step-loses"),
        pytest.param([[("m", 1.0, 1, 10)], [("m", 2.0, 1, 20)]], 2.0, id="same-step-newer-wins"),
        pytest.param([[("m", 1.0, 1, 20)], [("m", 2.0, 1, 10)]], 1.0, id="same-step-older-loses"),
        pytest.param(
            [[("m", 1.0, 5, 10), ("m", 3.0, 7, 1), ("m", 2.0, 6, 99)]], 3.0, id="unsorted-batch"
        ),
        pytest.param(
            [[("m", 9.0, 2, 10)], [("m", 1.0, 0, 50), ("m", 8.0, 2, 11)], [("m", 7.0, 1, 60)]],
            8.0,
            id="out-of-order-batches",
        ),
    ],
)
def test_latest_value_is_highest_step_then_newest(
    meta: SqlMetadataStore,
    run_id: str,
    batches: list[list[tuple[str, float, int, int]]],
    latest: float,
) -> None:
    for batch in batches:
        meta.log_metrics(run_id, batch)
    assert meta.get_run(run_id).metrics == {"m": latest}


@pytest.mark.parametrize(
    "value",
    [math.nan, math.inf, -math.inf, 0.0, -1e-300, 1.7976931348623157e308],
    ids=["nan", "inf", "-inf", "zero", "tiny", "max"],
)
def test_special_floats_round_trip(meta: SqlMetadataStore, run_id: str, value: float) -> None:
    meta.log_metrics(run_id, [("x", 1.0, 0, 1), ("x", value, 1, 2)])
    history = meta.get_metric_history(run_id, "x")
    latest = meta.get_run(run_id).metrics["x"]
    for got in (history[1].value, latest):
        if math.isnan(value):
            assert math.isnan(got)
        else:
            assert got == value
    assert history[0].value == 1.0


def test_nan_is_not_newer_than_a_later_step(meta: SqlMetadataStore, run_id: str) -> None:
    meta.log_metrics(run_id, [("x", 0.5, 2, 1)])
    meta.log_metrics(run_id, [("x", math.nan, 1, 2)])
    assert meta.get_run(run_id).metrics == {"x": 0.5}


def test_metrics_of_two_runs_stay_apart(meta: SqlMetadataStore, run_id: str) -> None:
    other = meta.create_run(meta.get_run(run_id).experiment_id, "r2", tags={}, params={}).run_id
    meta.log_metrics(run_id, [("m", 1.0, 0, 1)])
    meta.log_metrics(other, [("m", 2.0, 0, 1), ("m", 3.0, 1, 1)])
    assert meta.get_run(run_id).metrics == {"m": 1.0}
    assert meta.get_run(other).metrics == {"m": 3.0}
    assert len(meta.get_metric_history(run_id, "m")) == 1


# -- artifact index and inputs -------------------------------------------------------------


def test_artifact_index(meta: SqlMetadataStore, run_id: str) -> None:
    model = ArtifactInfo("model/model.pkl", 10, "a" * 64)
    plot = ArtifactInfo("plots/roc.png", 20, "b" * 64)
    meta.record_artifact(run_id, plot)
    meta.record_artifact(run_id, model)
    assert meta.list_artifacts(run_id) == [model, plot]
    assert meta.get_artifact(run_id, "plots/roc.png") == plot

    replaced = ArtifactInfo("plots/roc.png", 30, "c" * 64)
    meta.record_artifact(run_id, replaced)
    assert meta.list_artifacts(run_id) == [model, replaced]


def test_unknown_artifact(meta: SqlMetadataStore, run_id: str) -> None:
    with pytest.raises(shipyard.NotFoundError, match=f"run {run_id} has no artifact 'nope.txt'"):
        meta.get_artifact(run_id, "nope.txt")
    assert meta.list_artifacts(run_id) == []


def test_run_inputs(meta: SqlMetadataStore, run_id: str) -> None:
    train = RunInput("1" * 64, "flights-2013", "training")
    test = RunInput("2" * 64, "flights-2014", "evaluation")
    same_data_other_use = RunInput("1" * 64, "flights-2013", "evaluation")
    meta.log_inputs(run_id, [train, test])
    meta.log_inputs(run_id, [train, same_data_other_use])  # linking twice is harmless
    assert meta.list_inputs(run_id) == [same_data_other_use, test, train]


def test_inputs_and_artifacts_belong_to_one_run(meta: SqlMetadataStore, run_id: str) -> None:
    meta.log_inputs(run_id, [RunInput("1" * 64, "d")])
    other = meta.create_run(meta.get_run(run_id).experiment_id, "r2", tags={}, params={}).run_id
    assert meta.list_inputs(other) == []
    assert meta.list_artifacts(other) == []
