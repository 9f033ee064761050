"""Picking a flavor: by name, by the model's type, and without importing model libraries."""

from __future__ import annotations

import inspect
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import flavor_cases
import numpy as np
import pytest
from flavor_fresh import require

import shipyard.flavors
from shipyard.core.errors import InvalidInputError
from shipyard.flavors import FLAVOR_NAMES, Flavor, PythonModel, detect_flavor, get_flavor

#: What ``import shipyard.flavors`` must not import: every flavor imports its own, late.
HEAVY = [
    "cloudpickle",
    "lightgbm",
    "numpy",
    "onnx",
    "onnxruntime",
    "pandas",
    "scipy",
    "skl2onnx",
    "sklearn",
    "torch",
    "xgboost",
]


def test_all_lists_exactly_the_public_names() -> None:
    public = {
        name
        for name, value in vars(shipyard.flavors).items()
        if not name.startswith("_") and not inspect.ismodule(value) and name != "annotations"
    }
    assert set(shipyard.flavors.__all__) == public


def test_importing_flavors_and_picking_one_loads_no_model_library() -> None:
    code = (
        "import sys\n"
        "from shipyard.flavors import FLAVOR_NAMES, detect_flavor, get_flavor\n"
        "class Rule:\n"
        "    def predict(self, data): return data\n"
        "assert detect_flavor(Rule()).name == 'pyfunc'\n"
        "assert detect_flavor(b'onnx bytes').name == 'onnx'\n"
        "flavors = [get_flavor(name) for name in FLAVOR_NAMES]\n"
        "print(' '.join(sorted(sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    loaded = {name.partition(".")[0] for name in result.stdout.split()}
    assert sorted(loaded & set(HEAVY)) == []


def test_flavor_names_in_order() -> None:
    assert FLAVOR_NAMES == ("sklearn", "lightgbm", "xgboost", "pytorch", "onnx", "pyfunc")


@pytest.mark.parametrize("name", FLAVOR_NAMES)
def test_get_flavor_returns_the_named_flavor(name: str) -> None:
    flavor = get_flavor(name)
    assert isinstance(flavor, Flavor)
    assert flavor.name == name
    assert flavor.tabular == (name not in {"pytorch", "onnx"})


def test_get_flavor_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(InvalidInputError, match=r"Unknown model flavor 'keras'.*sklearn, lightgbm"):
        get_flavor("keras")


class Rule(PythonModel):
    def predict(self, data: Any) -> Any:
        return data


class Duck:
    def predict(self, data: Any) -> Any:
        return data


def _sklearn_pipeline() -> object:
    require("sklearn")
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression())


def _hist_gbm() -> object:
    require("sklearn")
    from sklearn.ensemble import HistGradientBoostingRegressor

    return HistGradientBoostingRegressor()


def _lightgbm_booster() -> object:
    lgb = require("lightgbm")
    features = flavor_cases.numeric_matrix(flavor_cases.flights(60)[0])
    data = lgb.Dataset(features, label=features[:, 0].copy(), params={"verbose": -1})
    return lgb.train({"verbose": -1, "num_leaves": 4}, data, num_boost_round=2)


def _torch_module() -> object:
    torch = require("torch")
    return torch.nn.Sequential(torch.nn.Linear(3, 1))


def _onnx_model() -> object:
    onnx = require("onnx")
    helper = onnx.helper
    node = helper.make_node("Identity", ["x"], ["y"])
    graph = helper.make_graph(
        [node],
        "identity",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [None, 2])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [None, 2])],
    )
    return helper.make_model(graph)


MODELS: list[Any] = [
    pytest.param(_sklearn_pipeline, "sklearn", id="sklearn-pipeline"),
    pytest.param(_hist_gbm, "sklearn", id="sklearn-hist-gbm"),
    pytest.param(lambda: require("lightgbm").LGBMClassifier(), "lightgbm", id="lgbm-classifier"),
    pytest.param(lambda: require("lightgbm").LGBMRegressor(), "lightgbm", id="lgbm-regressor"),
    pytest.param(_lightgbm_booster, "lightgbm", id="lightgbm-booster"),
    pytest.param(lambda: require("xgboost").XGBClassifier(), "xgboost", id="xgb-classifier"),
    pytest.param(lambda: require("xgboost").XGBRanker(), "xgboost", id="xgb-ranker"),
    pytest.param(lambda: require("xgboost").Booster(), "xgboost", id="xgboost-booster"),
    pytest.param(_torch_module, "pytorch", id="torch-module"),
    pytest.param(_onnx_model, "onnx", id="onnx-modelproto"),
    pytest.param(lambda: b"\x08\x07", "onnx", id="onnx-bytes"),
    pytest.param(lambda: "exported/model.onnx", "onnx", id="onnx-path-str"),
    pytest.param(lambda: Path("exported/MODEL.ONNX"), "onnx", id="onnx-path"),
    pytest.param(Rule, "pyfunc", id="pyfunc-python-model"),
    pytest.param(Duck, "pyfunc", id="pyfunc-duck"),
]


@pytest.mark.parametrize(("make", "expected"), MODELS)
def test_detect_flavor(make: Callable[[], object], expected: str) -> None:
    assert detect_flavor(make()).name == expected


@pytest.mark.parametrize(
    ("library", "estimator"),
    [
        pytest.param("lightgbm", "LGBMClassifier", id="lightgbm"),
        pytest.param("xgboost", "XGBRegressor", id="xgboost"),
    ],
)
def test_booster_wrappers_are_estimators_too_but_their_own_flavor_wins(
    library: str, estimator: str
) -> None:
    require("sklearn")
    model = getattr(require(library), estimator)()
    assert get_flavor("sklearn").detect(model), "the wrapper is a scikit-learn estimator"
    assert detect_flavor(model).name == library


@pytest.mark.parametrize(
    "model",
    [
        pytest.param(42, id="int"),
        pytest.param(np.zeros(3), id="ndarray"),
        pytest.param(Duck, id="class-not-instance"),
        pytest.param("model.pkl", id="non-onnx-path"),
    ],
)
def test_detect_flavor_refuses_what_nothing_saves(model: object) -> None:
    klass = type(model)
    with pytest.raises(InvalidInputError) as caught:
        detect_flavor(model)
    message = str(caught.value)
    assert f"Cannot tell how to save a {klass.__module__}.{klass.__qualname__}" in message
    assert "torch.nn.Module" in message
    assert "predict(self, data)" in message
    assert "pyfunc" in message


def test_a_scikit_learn_transformer_without_predict_is_refused() -> None:
    require("sklearn")
    from sklearn.preprocessing import StandardScaler

    with pytest.raises(InvalidInputError, match=r"sklearn\..*StandardScaler.*no predict method"):
        detect_flavor(StandardScaler())
