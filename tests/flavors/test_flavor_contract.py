"""The contract every flavor keeps: save, load in a fresh process, predict bit for bit the same.

One test, parametrized over real trained models, at least one per flavor. Each model is saved into
an empty folder, its config goes through JSON as a registry keeps it, and it is loaded
both here and in a new interpreter that cannot import this test's code; the answers of
``predict`` and ``predict_proba`` must equal the original model's in dtype, shape and
bytes. All the fresh loads run in one interpreter, started once for the module.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import flavor_cases
import numpy as np
import pandas as pd
import pytest
from flavor_cases import Case
from flavor_fresh import FreshLoad, FreshResult, assert_same, load_in_fresh_process

from shipyard.flavors import FLAVOR_NAMES, PythonModel, detect_flavor, get_flavor

PIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*==[0-9][^\s+]*$")


def _logistic(values: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-values))


class DelayRule(PythonModel):
    """A hand-written classifier: its code lives in this test module only."""

    classes: ClassVar[list[str]] = ["on_time", "late"]

    def __init__(self, weights: dict[str, float]) -> None:
        self.weights = weights

    def predict(self, data: pd.DataFrame) -> np.ndarray:
        late = self.predict_proba(data)[:, 1] > 0.5
        return np.where(late, "late", "on_time")

    def predict_proba(self, data: pd.DataFrame) -> np.ndarray:
        score = data["distance"].to_numpy() / 1000 * self.weights["distance"]
        score = score + (data["carrier"] == "B6").to_numpy() * self.weights["b6"] - 1.5
        late = _logistic(score)
        return np.column_stack([1.0 - late, late])


def pyfunc_in_test_module(tmp_path: Path) -> Case:
    frame, _ = flavor_cases.flights()
    model = DelayRule({"distance": 1.2, "b6": 0.8})
    return Case(
        "pyfunc",
        model,
        frame,
        model.predict(frame),
        model.predict_proba(frame),
        DelayRule.classes,
        absent=[__name__],
        expect_config={"by_value": [__name__]},
    )


USER_MODULE = """
import numpy as np

SCALE = 2.5


def _hours(data):
    return data["hour"].to_numpy().astype(np.float64)


class HourModel:
    def predict(self, data):
        return _hours(data) * SCALE + data["distance"].to_numpy()
"""


def pyfunc_in_unimportable_file(tmp_path: Path) -> Case:
    """A class from a module file the fresh process has no way to import."""
    module = flavor_cases.import_file(tmp_path / "usercode", "hours", USER_MODULE)
    frame, _ = flavor_cases.flights()
    model = module.HourModel()
    return Case(
        "pyfunc",
        model,
        frame,
        model.predict(frame),
        absent=[module.__name__],
        expect_config={"by_value": [module.__name__]},
    )


CASES: list[Any] = [
    pytest.param(flavor_cases.sklearn_pipeline, id="sklearn-pipeline"),
    pytest.param(flavor_cases.lightgbm_classifier, id="lightgbm-classifier"),
    pytest.param(flavor_cases.xgboost_classifier, id="xgboost-classifier"),
    pytest.param(flavor_cases.torch_mlp, id="pytorch-export"),
    pytest.param(flavor_cases.torch_state_dict, id="pytorch-state_dict"),
    pytest.param(flavor_cases.onnx_logistic, id="onnx-zipmap"),
    pytest.param(pyfunc_in_test_module, id="pyfunc-test-module"),
    pytest.param(pyfunc_in_unimportable_file, id="pyfunc-user-file"),
    pytest.param(flavor_cases.pyfunc_code_paths, id="pyfunc-code_paths"),
]


@dataclass
class Saved:
    """A case built and saved into ``folder``, with the config ``save`` returned."""

    case: Case
    folder: Path
    config: dict[str, Any]


@dataclass
class Contract:
    """Every case saved (or the exception, skip included, building it raised) and reloaded."""

    saved: dict[str, Saved]
    errors: dict[str, BaseException]
    fresh: FreshResult


@pytest.fixture(scope="module")
def contract(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Contract]:
    """Build and save every case, then load them all in one fresh process (one start, not 9)."""
    root = tmp_path_factory.mktemp("contract")
    saved: dict[str, Saved] = {}
    errors: dict[str, BaseException] = {}
    try:
        for param in CASES:
            (build,) = param.values
            try:
                case = build(root / param.id)
                folder = root / param.id / "model"
                folder.mkdir(parents=True)
                config = detect_flavor(case.model).save(case.model, folder, **case.options)
            except (Exception, pytest.skip.Exception, pytest.fail.Exception) as exc:
                errors[param.id] = exc  # raised again by this case's test
            else:
                saved[param.id] = Saved(case, folder, config)
        fresh = load_in_fresh_process(
            root / "fresh",
            {
                n: FreshLoad(s.case.flavor, s.folder, s.config, s.case.data)
                for n, s in saved.items()
            },
            python_path=[path for s in saved.values() for path in s.case.python_path],
            absent=[module for s in saved.values() for module in s.case.absent],
        )
        yield Contract(saved, errors, fresh)
    finally:
        flavor_cases.forget_user_modules()


def test_cases_cover_every_flavor() -> None:
    covered = {param.id.partition("-")[0] for param in CASES}
    assert covered == set(FLAVOR_NAMES)


@pytest.mark.parametrize("case_id", [param.id for param in CASES])
def test_saved_model_predicts_the_same_in_a_fresh_process(case_id: str, contract: Contract) -> None:
    if case_id in contract.errors:
        raise contract.errors[case_id]
    item = contract.saved[case_id]
    case, folder, config = item.case, item.folder, item.config
    assert detect_flavor(case.model).name == case.flavor

    assert json.loads(json.dumps(config)) == config
    assert config["flavor"] == case.flavor
    assert case.expect_config.items() <= config.items()
    requirements = get_flavor(case.flavor).requirements(config)
    assert requirements, "a model needs at least its library"
    assert all(PIN.match(line) for line in requirements), requirements

    here = get_flavor(case.flavor).load(folder, json.loads(json.dumps(config)))
    assert_same(here.predict(case.data), case.predict)
    assert here.classes == case.classes
    assert hasattr(here, "predict_proba") == (case.proba is not None)
    if case.proba is not None:
        assert_same(here.predict_proba(case.data), case.proba)

    for module in case.absent:
        assert contract.fresh.importable[module] is False, f"the fresh process can import {module}"
    predict, proba, classes = contract.fresh.outputs(case_id)
    assert_same(predict, case.predict)
    assert classes == case.classes
    if case.proba is None:
        assert proba is None
    else:
        assert_same(proba, case.proba)
