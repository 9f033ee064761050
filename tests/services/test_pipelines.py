"""Pipelines on every backend: wiring by name, caching, what a run records, failures."""

from __future__ import annotations

import hashlib
import json
import pickle
import sys
import uuid
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn.linear_model import LogisticRegression

import shipyard
from shipyard import (
    ConfigError,
    InvalidInputError,
    RunStatus,
    StepFailedError,
)

#: Every call of a step function below appends the step's name here.
CALLS: list[str] = []


@pytest.fixture(autouse=True)
def _fresh_calls() -> None:
    CALLS.clear()


def _frame(n: int = 120, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    x2 = rng.normal(size=n)
    return pd.DataFrame({"x1": x1, "x2": x2, "label": (x1 + 0.5 * x2 > 0).astype(int)})


def clean(data: pd.DataFrame) -> pd.DataFrame:
    CALLS.append("clean")
    return data.dropna().reset_index(drop=True)


def split(data: pd.DataFrame, test_share: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    CALLS.append("split")
    cut = int(len(data) * (1 - test_share))
    return data.iloc[:cut], data.iloc[cut:]


def fit(train: pd.DataFrame, C: float) -> LogisticRegression:
    CALLS.append("fit")
    model = LogisticRegression(C=C, max_iter=1000)
    return model.fit(train[["x1", "x2"]], train["label"])


def fit_balanced(train: pd.DataFrame, C: float) -> LogisticRegression:
    CALLS.append("fit")
    model = LogisticRegression(C=C, max_iter=1000, class_weight="balanced")
    return model.fit(train[["x1", "x2"]], train["label"])


def evaluate(model: LogisticRegression, test: pd.DataFrame) -> float:
    CALLS.append("evaluate")
    return float(model.score(test[["x1", "x2"]], test["label"]))


def _training(fit_func: Any = fit, name: str = "flights-training") -> shipyard.Pipeline:
    return shipyard.pipeline(
        [
            shipyard.step(clean, inputs="data", outputs="clean"),
            shipyard.step(split, inputs=["clean", "params:test_share"], outputs=["train", "test"]),
            shipyard.step(fit_func, {"train": "train", "C": "params:model.C"}, "model", name="fit"),
            shipyard.step(evaluate, inputs=["model", "test"], outputs="accuracy"),
        ],
        name=name,
    )


PARAMS = {"test_share": 0.25, "model": {"C": 1.0}}


def _run(store: shipyard.Store, pipe: shipyard.Pipeline | None = None, **kw: Any) -> Any:
    pipe = pipe if pipe is not None else _training()
    kw.setdefault("inputs", {"data": _frame()})
    kw.setdefault("params", PARAMS)
    return pipe.run(store=store, **kw)


# -- wiring -----------------------------------------------------------------------------------


def test_steps_wired_by_position_and_by_keyword(store: shipyard.Store) -> None:
    pipe = _training()
    assert pipe.inputs == ("data",)
    assert pipe.outputs == ("accuracy",)
    assert pipe.params == ("test_share", "model.C")
    result = _run(store)
    assert [s.name for s in result.steps] == ["clean", "split", "fit", "evaluate"]
    assert CALLS == ["clean", "split", "fit", "evaluate"]
    assert set(result.outputs) == {"accuracy"}
    assert 0.8 <= result.outputs["accuracy"] <= 1.0
    assert len(result.data["train"]) == 90
    assert len(result.data["test"]) == 30
    assert isinstance(result.data["model"], LogisticRegression)
    assert all(len(s.digest) == 64 and not s.cached and s.seconds >= 0 for s in result.steps)


def test_steps_run_in_dependency_order_whatever_the_listing(store: shipyard.Store) -> None:
    listed = list(reversed(_training().steps))
    pipe = shipyard.pipeline(listed, name="reversed")
    assert [s.name for s in pipe.steps] == ["clean", "split", "fit", "evaluate"]
    _run(store, pipe)
    assert CALLS == ["clean", "split", "fit", "evaluate"]


def test_pipelines_combine(store: shipyard.Store) -> None:
    first = shipyard.pipeline(_training().steps[:2], name="prepare")
    second = shipyard.pipeline(_training().steps[2:], name="model")
    assert second.inputs == ("train", "test")
    whole = shipyard.pipeline([second, first], name="whole")
    assert whole.outputs == ("accuracy",)
    assert 0.8 <= _run(store, whole).outputs["accuracy"] <= 1.0


def pair(a: int, b: int) -> tuple[int, int]:
    CALLS.append("pair")
    return a + b, a * b


def test_a_single_output_keeps_a_tuple_and_a_list_of_outputs_unpacks_it(
    store: shipyard.Store,
) -> None:
    pipe = shipyard.pipeline(
        [
            shipyard.step(pair, inputs=["params:a", "params:b"], outputs="both", name="whole"),
            shipyard.step(pair, inputs=["params:a", "params:b"], outputs=["sum", "product"]),
        ],
        name="pairs",
    )
    result = pipe.run(params={"a": 2, "b": 3}, store=store)
    assert result.outputs == {"both": (5, 6), "sum": 5, "product": 6}


def test_giving_every_output_of_a_step_skips_it(store: shipyard.Store) -> None:
    halves = split(_frame(), 0.5)
    CALLS.clear()
    result = _training().run(
        inputs={"train": halves[0], "test": halves[1]}, params=PARAMS, store=store
    )
    assert CALLS == ["fit", "evaluate"]
    assert [s.name for s in result.steps] == ["fit", "evaluate"]
    with pytest.raises(InvalidInputError, match=r"give all of its outputs to skip it, or none"):
        _training().run(inputs={"data": _frame(), "train": halves[0]}, params=PARAMS, store=store)


# -- mistakes caught when the pipeline is built -------------------------------------------------


def _noop(x: Any) -> Any:
    return x


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda: shipyard.pipeline(
                [
                    shipyard.step(_noop, "a", "b", name="one"),
                    shipyard.step(_noop, "c", "b", name="two"),
                ],
                name="p",
            ),
            r"data 'b' is made by both step 'one' and step 'two'",
        ),
        (
            lambda: shipyard.pipeline(
                [
                    shipyard.step(_noop, "a", "b", name="one"),
                    shipyard.step(_noop, "b", "a", name="two"),
                ],
                name="p",
            ),
            r"has a cycle: steps \['one', 'two'\] wait on each other",
        ),
        (
            lambda: shipyard.pipeline([shipyard.step(_noop, "a", "a")], name="p"),
            r"has a cycle: steps \['_noop'\]",
        ),
        (
            lambda: shipyard.pipeline(
                [shipyard.step(_noop, "a", "b"), shipyard.step(_noop, "b", "c")], name="p"
            ),
            r"several steps named \['_noop'\]; pass name=",
        ),
        (lambda: shipyard.pipeline([], name="p"), "has no steps"),
        (lambda: shipyard.pipeline([_noop], name="p"), "made of steps"),  # type: ignore[list-item]
        (lambda: shipyard.pipeline([shipyard.step(_noop, "a", "b")], name="a b"), "pipeline name"),
        (lambda: shipyard.step(_noop, ["a", "b"], "c"), r"cannot call .*_noop.*parameters: x"),
        (
            lambda: shipyard.step(_noop, {"x": "a", "y": "b"}, "c"),
            r"unexpected keyword argument 'y' \(its parameters: x\)",
        ),
        (lambda: shipyard.step(_noop, "a", ["b", "b"]), r"lists output\(s\) \['b'\] more than"),
        (lambda: shipyard.step(_noop, "a b", "c"), "a data name holds only letters"),
        (lambda: shipyard.step(_noop, "params:", "c"), "names no usable param"),
        (lambda: shipyard.step(_noop, "a", "params:x"), "a data name holds only letters"),
        (lambda: shipyard.step(42, "a", "b"), "step needs a callable"),  # type: ignore[arg-type]
    ],
    ids=[
        "two makers",
        "cycle",
        "reads its own output",
        "same step name",
        "no steps",
        "not a step",
        "bad pipeline name",
        "too many inputs",
        "unknown keyword",
        "output twice",
        "bad data name",
        "empty param",
        "param as output",
        "not callable",
    ],
)
def test_mistakes_are_refused_when_building(build: Any, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        build()


# -- mistakes caught before a run starts --------------------------------------------------------


@pytest.mark.parametrize(
    ("inputs", "params", "message"),
    [
        ({}, PARAMS, r"needs input\(s\) \['data'\] that were not given; pass inputs=\{'data'"),
        (
            {"data": 1, "dta": 2},
            PARAMS,
            r"reads no data named \['dta'\]; its inputs are \['data'\]",
        ),
        (
            {"data": 1},
            {"test_share": 0.2},
            r"step 'fit' .* reads param\(s\) \['model.C'\] .* \(given: \['test_share'\]\)",
        ),
        ([("data", 1)], PARAMS, "inputs is a dict of name -> value, got list"),
        ({"data": 1}, [1], "params is a dict of name -> value, got list"),
    ],
    ids=["missing input", "unknown input", "missing param", "inputs not a dict", "params list"],
)
def test_missing_or_unknown_inputs_and_params_fail_before_any_run(
    store: shipyard.Store, inputs: Any, params: Any, message: str
) -> None:
    with pytest.raises(InvalidInputError, match=message):
        _training().run(inputs, params, store=store)
    assert CALLS == []
    assert shipyard.list_experiments(store=store) == []


def test_unknown_executor_names_the_known_ones(store: shipyard.Store) -> None:
    with pytest.raises(ConfigError, match=r"unknown executor 'ray'; known: local"):
        _run(store, executor="ray")
    with pytest.raises(InvalidInputError, match=r"an object with submit\(step, args, kwargs\)"):
        _run(store, executor=object())


class CountingExecutor:
    """Runs steps here but counts what it is given, as a remote executor would see it."""

    def __init__(self) -> None:
        self.submitted: list[str] = []

    def submit(self, step: shipyard.Step, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        self.submitted.append(step.name)
        future: Future[Any] = Future()
        future.set_result(step.func(*args, **kwargs))
        return future


def test_a_custom_executor_runs_the_steps(store: shipyard.Store) -> None:
    executor = CountingExecutor()
    assert isinstance(executor, shipyard.Executor)
    assert isinstance(shipyard.LocalExecutor(), shipyard.Executor)
    result = _run(store, executor=executor)
    assert executor.submitted == ["clean", "split", "fit", "evaluate"]
    record = json.loads(shipyard.read_artifact(result.run_id, "pipeline.json", store=store))
    assert record["executor"] == "CountingExecutor"


# -- caching ------------------------------------------------------------------------------------


def test_a_second_run_takes_every_output_from_the_cache(store: shipyard.Store) -> None:
    first = _run(store)
    CALLS.clear()
    second = _run(store, inputs={"data": _frame()})  # equal content, another object
    assert CALLS == []
    assert [s.cached for s in second.steps] == [True] * 4
    assert [s.digest for s in second.steps] == [s.digest for s in first.steps]
    assert second.outputs == first.outputs
    assert second.run_id != first.run_id
    CALLS.clear()
    _run(store, cache=False)
    assert CALLS == ["clean", "split", "fit", "evaluate"]


@pytest.mark.parametrize(
    ("change", "rerun"),
    [
        ({"params": {"test_share": 0.25, "model": {"C": 0.1}}}, ["fit", "evaluate"]),
        ({"params": {"test_share": 0.5, "model": {"C": 1.0}}}, ["split", "fit", "evaluate"]),
        ({"inputs": {"data": _frame(seed=1)}}, ["clean", "split", "fit", "evaluate"]),
        ({"pipe": "fit_balanced"}, ["fit", "evaluate"]),
    ],
    ids=["param of fit", "param of split", "input data", "code of fit"],
)
def test_a_change_reruns_its_step_and_those_downstream_only(
    store: shipyard.Store, change: dict[str, Any], rerun: list[str]
) -> None:
    _run(store)
    CALLS.clear()
    kw = dict(change)
    if kw.pop("pipe", None):
        kw["pipe"] = _training(fit_balanced)
    result = _run(store, **kw)
    assert rerun == CALLS
    assert [s.name for s in result.steps if not s.cached] == rerun


def test_a_step_whose_output_is_unchanged_does_not_rerun_its_consumers(
    store: shipyard.Store,
) -> None:
    _run(store)
    CALLS.clear()
    with_gap = pd.concat([_frame(), pd.DataFrame({"x1": [np.nan], "x2": [0.0], "label": [0]})])
    _run(store, inputs={"data": with_gap})  # clean() drops the new row again
    assert CALLS == ["clean"]


def _entry(store: shipyard.Store, digest: str) -> Path:
    return store.artifacts.local_path(f"pipelines/cache/{digest}/outputs.pkl")


@pytest.mark.parametrize(
    "damage",
    [
        lambda path: path.write_bytes(b"not a pickle"),
        lambda path: path.unlink(),
        lambda path: path.with_name("outputs.pkl.sha256").write_text("garbage"),
        lambda path: path.with_name("outputs.pkl.sha256").unlink(),
    ],
    ids=["changed bytes", "missing outputs", "bad sidecar", "missing sidecar"],
)
def test_an_unusable_cache_entry_is_computed_again(store: shipyard.Store, damage: Any) -> None:
    first = _run(store)
    fit_digest = next(s.digest for s in first.steps if s.name == "fit")
    damage(_entry(store, fit_digest))
    CALLS.clear()
    second = _run(store)
    assert CALLS == ["fit"]  # evaluate's inputs are unchanged, so it stays cached
    assert [s.name for s in second.steps if not s.cached] == ["fit"]
    assert second.outputs == first.outputs
    CALLS.clear()
    _run(store)
    assert CALLS == []  # the entry was written again


def test_an_entry_that_unpickles_to_something_else_is_a_miss(store: shipyard.Store) -> None:
    first = _run(store)
    digest = next(s.digest for s in first.steps if s.name == "split")
    path = _entry(store, digest)
    wrong = pickle.dumps(("only one",))  # split makes two outputs
    path.write_bytes(wrong)
    path.with_name("outputs.pkl.sha256").write_text(hashlib.sha256(wrong).hexdigest())
    CALLS.clear()
    _run(store)
    assert CALLS == ["split"]


def make_lock(x: int) -> Any:
    import threading

    CALLS.append("lock")
    return threading.Lock()


def test_outputs_that_do_not_pickle_are_not_cached(store: shipyard.Store) -> None:
    pipe = shipyard.pipeline([shipyard.step(make_lock, "params:x", "lock")], name="locks")
    pipe.run(params={"x": 1}, store=store)
    result = pipe.run(params={"x": 1}, store=store)
    assert CALLS == ["lock", "lock"]
    assert not result.steps[0].cached


def test_arrow_numpy_and_plain_values_are_digested_by_content(store: shipyard.Store) -> None:
    def width(table: pa.Table, array: np.ndarray, options: dict[str, Any], tags: set[str]) -> int:
        CALLS.append("width")
        return int(table.num_columns) + array.size + len(options) + len(tags)

    pipe = shipyard.pipeline(
        [shipyard.step(width, ["table", "array", "options", "tags"], "width")], name="shapes"
    )

    def inputs(scale: float = 1.0) -> dict[str, Any]:
        return {
            "table": pa.table({"a": [1, 2], "b": ["x", "y"]}),
            "array": np.arange(6, dtype="float64").reshape(2, 3) * scale,
            "options": {"b": [1, 2], "a": None},
            "tags": {"x", "y", "z"},
        }

    assert pipe.run(inputs(), store=store).outputs == {"width": 13}
    assert pipe.run(inputs(), store=store).steps[0].cached
    assert not pipe.run(inputs(scale=2.0), store=store).steps[0].cached
    assert CALLS == ["width", "width"]


# -- what a run records -------------------------------------------------------------------------


def test_the_run_records_params_tag_datasets_and_pipeline_json(store: shipyard.Store) -> None:
    result = _run(store)
    run = shipyard.get_run(result.run_id, store=store)
    assert run.status is RunStatus.FINISHED
    assert run.name == "flights-training"
    assert shipyard.list_experiments(store=store)[0].name == "flights-training"
    assert run.params == {"test_share": "0.25", "model.C": "1.0"}
    assert run.tags["shipyard.pipeline"] == "flights-training"
    assert run.metrics["pipeline.seconds"] >= 0
    inputs = store.metadata.list_inputs(result.run_id)
    assert [(i.name, i.context) for i in inputs] == [("flights-training.data", "training")]
    assert inputs[0].digest == shipyard.dataset_digest(_frame())
    record = json.loads(shipyard.read_artifact(result.run_id, "pipeline.json", store=store))
    assert record["pipeline"] == "flights-training"
    assert record["inputs"] == ["data"]
    assert record["outputs"] == ["accuracy"]
    assert record["failed_step"] is None
    assert [s["name"] for s in record["steps"]] == ["clean", "split", "fit", "evaluate"]
    fit_record = record["steps"][2]
    assert fit_record["inputs"] == {"train": "train", "C": "params:model.C"}
    assert fit_record["outputs"] == "model"
    assert fit_record["function"] == f"{__name__}:fit"
    assert fit_record["digest"] == result.steps[2].digest
    assert fit_record["cached"] is False
    assert record["steps"][1]["outputs"] == ["train", "test"]


def test_an_experiment_can_be_named(store: shipyard.Store) -> None:
    result = _run(store, experiment="nightly")
    assert shipyard.search_runs("nightly", store=store)[0].run_id == result.run_id


def test_into_a_given_run_that_stays_open_for_the_model_and_lineage(
    store: shipyard.Store,
) -> None:
    frame = _frame()
    with shipyard.start_run("flights", store=store, capture_env=False) as run:
        result = _training().run({"data": frame}, PARAMS, run=run)
        assert result.run_id == run.run_id
        assert shipyard.get_run(run.run_id, store=store).status is RunStatus.RUNNING
        train = result.data["train"]
        version = run.log_model(result.data["model"], "delays", training_data=train[["x1", "x2"]])
    lineage = shipyard.model_lineage("delays", version.version, store=store)
    assert lineage.run is not None
    assert lineage.run.run_id == run.run_id
    names = {(i.name, i.via) for i in lineage.inputs}
    assert ("flights-training.data", "run") in names
    data_input = next(i for i in lineage.inputs if i.name == "flights-training.data")
    assert data_input.dataset is not None
    pd.testing.assert_frame_equal(shipyard.load_dataset(data_input.dataset, store=store), frame)
    with pytest.raises(InvalidInputError, match="records into that run"):
        _training().run({"data": frame}, PARAMS, run=run, experiment="x")


# -- failures -----------------------------------------------------------------------------------


def explode(train: pd.DataFrame, C: float) -> LogisticRegression:
    raise ValueError(f"C must be positive, got {C}")


def test_a_failing_step_fails_the_run_and_names_the_step(store: shipyard.Store) -> None:
    pipe = _training(explode)
    with pytest.raises(StepFailedError, match=r"step 'fit' of pipeline 'flights-training'") as info:
        _run(store, pipe)
    assert info.value.step == "fit"
    assert isinstance(info.value.__cause__, ValueError)
    assert "C must be positive, got 1.0" in str(info.value)
    assert isinstance(info.value, RuntimeError)
    assert CALLS == ["clean", "split"]
    (run,) = shipyard.search_runs("flights-training", store=store)
    assert run.status is RunStatus.FAILED
    assert "step 'fit'" in run.message
    record = json.loads(shipyard.read_artifact(run.run_id, "pipeline.json", store=store))
    assert record["failed_step"] == "fit"
    assert [s["status"] for s in record["steps"]] == ["finished", "finished", "failed", "not run"]
    copy = pickle.loads(pickle.dumps(info.value))
    assert (copy.step, str(copy)) == ("fit", str(info.value))


def test_a_failing_step_leaves_a_given_run_open(store: shipyard.Store) -> None:
    with shipyard.start_run("flights", store=store, capture_env=False) as run:
        with pytest.raises(StepFailedError, match="step 'fit'"):
            _training(explode).run({"data": _frame()}, PARAMS, run=run)
        assert shipyard.get_run(run.run_id, store=store).status is RunStatus.RUNNING
    assert shipyard.get_run(run.run_id, store=store).status is RunStatus.FINISHED


def three(a: int) -> tuple[int, int, int]:
    return a, a, a


@pytest.mark.parametrize(
    ("func", "message"),
    [
        (three, r"returned a tuple of 3 values, but its outputs \['x', 'y'\] need a tuple of 2"),
        (_noop, r"returned one int, but its outputs \['x', 'y'\] need a tuple of 2"),
    ],
    ids=["too many", "not a tuple"],
)
def test_a_return_of_the_wrong_arity_names_the_step(
    store: shipyard.Store, func: Any, message: str
) -> None:
    pipe = shipyard.pipeline(
        [shipyard.step(func, "params:a", ["x", "y"], name="shape")], name="arity"
    )
    with pytest.raises(StepFailedError, match=rf"step 'shape' of pipeline 'arity' {message}"):
        pipe.run(params={"a": 1}, store=store)


# -- load_pipeline ------------------------------------------------------------------------------


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, str]]:
    """A project folder and a fresh module name; sys.path and sys.modules are restored."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    module = f"pipes_{uuid.uuid4().hex[:8]}"
    yield tmp_path, module
    for name in [n for n in sys.modules if n.startswith(module)]:
        del sys.modules[name]


MODULE = """
import shipyard

def double(x):
    return 2 * x

def build():
    return shipyard.pipeline([shipyard.step(double, "x", "y")], name="doubling")

built = build()
number = 3

def broken():
    raise RuntimeError("no config")

def not_a_pipeline():
    return 42
"""


def test_load_pipeline_from_a_function_or_an_attribute(
    project: tuple[Path, str], store: shipyard.Store
) -> None:
    folder, module = project
    (folder / f"{module}.py").write_text(MODULE)
    pipe = shipyard.load_pipeline(f"{module}:build", project_dir=folder)
    assert pipe.name == "doubling"
    assert pipe.run({"x": 4}, store=store).outputs == {"y": 8}
    assert shipyard.load_pipeline(f"{module}:built", project_dir=folder).inputs == ("x",)


def test_load_pipeline_from_a_package_in_the_current_folder(
    project: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, module = project
    (folder / module).mkdir()
    (folder / module / "__init__.py").write_text("")
    (folder / module / "training.py").write_text(MODULE)
    monkeypatch.chdir(folder)
    assert shipyard.load_pipeline(f"{module}.training:build").name == "doubling"


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("no-colon", r"a pipeline reference is 'module:function'"),
        ("a:b:c", r"a pipeline reference is 'module:function'"),
        ("missing_module_xyz:build", r"cannot import 'missing_module_xyz'"),
        ("{module}:absent", r"has no attribute 'absent'"),
        ("{module}:number", r"is a int; it should be a shipyard Pipeline"),
        ("{module}:broken", r"calling broken\(\) raised RuntimeError: no config"),
        ("{module}:not_a_pipeline", r"not_a_pipeline\(\) returned a int"),
        ("{module}_bad:build", r"importing '.*_bad' raised ZeroDivisionError"),
    ],
    ids=[
        "no colon",
        "two colons",
        "no module",
        "no attribute",
        "not callable",
        "raises",
        "wrong type",
        "module raises",
    ],
)
def test_load_pipeline_errors_are_config_errors(
    project: tuple[Path, str], reference: str, message: str
) -> None:
    folder, module = project
    (folder / f"{module}.py").write_text(MODULE)
    (folder / f"{module}_bad.py").write_text("1 / 0\n")
    with pytest.raises(ConfigError, match=message):
        shipyard.load_pipeline(reference.format(module=module), project_dir=folder)


# -- what the cache key sees ----------------------------------------------------------


@pytest.mark.parametrize(
    ("left", "right"),
    [
        (pd.DataFrame({"a": [1, 2]}, dtype=object), pd.DataFrame({"a": ["1", "2"]})),
        (pd.DataFrame({"a": [True]}, dtype=object), pd.DataFrame({"a": ["True"]})),
        (
            pd.DataFrame({"a": pd.Categorical(["x"], categories=["x", "y"])}),
            pd.DataFrame({"a": pd.Categorical(["x"])}),
        ),
        (
            pd.DataFrame({"a": pd.Categorical(["x"], ordered=True)}),
            pd.DataFrame({"a": pd.Categorical(["x"])}),
        ),
    ],
    ids=["int-vs-text", "bool-vs-text", "categories", "ordered"],
)
def test_frames_a_step_would_treat_differently_have_different_keys(
    left: pd.DataFrame, right: pd.DataFrame
) -> None:
    from shipyard.services._pipeline_cache import value_digest

    assert value_digest(left) != value_digest(right)
    assert value_digest(left) == value_digest(left.copy())


def test_the_key_follows_the_code_that_runs_not_the_file_on_disk(tmp_path: Path) -> None:
    from shipyard.services._pipeline_cache import code_digest

    module = tmp_path / "edited_step.py"
    module.write_text("def step(x):\n    return x + 1\n", encoding="utf-8")
    loaded: dict[str, Any] = {}
    exec(compile(module.read_text(), str(module), "exec"), loaded)
    # The file is edited under the loaded function: its source on disk now reads "+ 100"
    # while the old code still runs, so the old function must not get the new one's key.
    module.write_text("def step(x):\n    return x + 100\n", encoding="utf-8")
    import linecache

    linecache.checkcache(str(module))
    edited: dict[str, Any] = {}
    exec(compile(module.read_text(), str(module), "exec"), edited)
    assert loaded["step"](1) == 2
    assert code_digest(loaded["step"]) != code_digest(edited["step"])
