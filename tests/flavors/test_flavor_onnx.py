"""ONNX: one input takes the whole batch, several take one column each; probabilities second."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import flavor_cases
import numpy as np
import pandas as pd
import pytest
from flavor_fresh import assert_same, require

from shipyard.core.errors import InvalidInputError
from shipyard.flavors import get_flavor


@pytest.fixture(scope="module")
def per_column() -> tuple[Any, pd.DataFrame, Any]:
    """A skl2onnx pipeline with one input per column: strings one-hot, numbers scaled."""
    require("onnx")
    ort = require("onnxruntime")
    require("sklearn")
    skl2onnx = require("skl2onnx")
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    frame, score = flavor_cases.flights()
    prep = ColumnTransformer(
        [
            ("strings", OneHotEncoder(), flavor_cases.CATEGORICAL),
            ("numbers", StandardScaler(), flavor_cases.NUMERIC),
        ]
    )
    pipeline = Pipeline([("prep", prep), ("model", LogisticRegression())])
    with flavor_cases.single_threaded():
        pipeline.fit(frame, flavor_cases.three_classes(score))
    inputs = [(name, StringTensorType([None, 1])) for name in flavor_cases.CATEGORICAL]
    inputs += [(name, FloatTensorType([None, 1])) for name in flavor_cases.NUMERIC]
    model = skl2onnx.convert_sklearn(
        pipeline, initial_types=inputs, options={id(pipeline): {"zipmap": False}}
    )
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return model, frame, session


def _feeds(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    feeds = {name: frame[[name]].to_numpy().astype(str) for name in flavor_cases.CATEGORICAL}
    feeds |= {name: frame[[name]].to_numpy().astype(np.float32) for name in flavor_cases.NUMERIC}
    return feeds


def test_per_column_inputs_are_fed_from_dataframe_columns(
    per_column: tuple[Any, pd.DataFrame, Any], tmp_path: Path
) -> None:
    model, frame, session = per_column
    labels, proba = session.run(None, _feeds(frame))
    config = get_flavor("onnx").save(model, tmp_path)
    assert config["inputs"] == ["carrier", "origin", "distance", "hour"]
    assert config["classes"] == ["early", "late", "on_time"]

    loaded = get_flavor("onnx").load(tmp_path, config)
    shuffled = frame[["hour", "origin", "distance", "carrier"]]  # by name, not position
    assert_same(loaded.predict(shuffled), labels)
    assert_same(loaded.predict_proba(shuffled), proba)  # type: ignore[attr-defined]
    assert proba.shape == (len(frame), 3)
    assert loaded.classes == ["early", "late", "on_time"]
    assert_same(loaded.predict(_feeds(frame)), labels)


def test_per_column_model_says_what_is_missing(
    per_column: tuple[Any, pd.DataFrame, Any], tmp_path: Path
) -> None:
    model, frame, _ = per_column
    loaded = get_flavor("onnx").load(tmp_path, get_flavor("onnx").save(model, tmp_path))
    with pytest.raises(InvalidInputError, match=r"the DataFrame lacks \['origin'\]"):
        loaded.predict(frame.drop(columns="origin"))
    with pytest.raises(InvalidInputError, match=r"takes 4 inputs.*not a ndarray"):
        loaded.predict(np.zeros((2, 4)))
    with pytest.raises(InvalidInputError, match=r"the dict lacks \['hour'\]"):
        loaded.predict({k: v for k, v in _feeds(frame).items() if k != "hour"})


def _affine(onnx: Any) -> Any:
    """y = x @ w + b in double precision, built by hand with onnx.helper."""
    helper = onnx.helper
    weights = helper.make_tensor("w", onnx.TensorProto.DOUBLE, [3, 1], [0.5, -1.0, 2.0])
    bias = helper.make_tensor("b", onnx.TensorProto.DOUBLE, [1], [0.25])
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "w"], ["xw"]),
            helper.make_node("Add", ["xw", "b"], ["y"]),
        ],
        "affine",
        [helper.make_tensor_value_info("x", onnx.TensorProto.DOUBLE, [None, 3])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.DOUBLE, [None, 1])],
        initializer=[weights, bias],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize("source", ["modelproto", "bytes", "path"])
def test_single_input_model_from_any_source(source: str, tmp_path: Path) -> None:
    onnx = require("onnx")
    require("onnxruntime")
    model = _affine(onnx)
    if source == "bytes":
        model = model.SerializeToString()
    elif source == "path":
        model_file = tmp_path / "affine.onnx"
        model_file.write_bytes(model.SerializeToString())
        model = model_file
    folder = tmp_path / "model"
    folder.mkdir()
    config = get_flavor("onnx").save(model, folder)
    assert config["inputs"] == ["x"]
    assert config["classes"] is None
    loaded = get_flavor("onnx").load(folder, config)
    assert not hasattr(loaded, "predict_proba")
    batch = np.arange(6).reshape(2, 3)  # ints, cast to the graph's double
    assert_same(loaded.predict(batch), batch.astype(np.float64) @ [[0.5], [-1.0], [2.0]] + 0.25)
    assert_same(loaded.predict(pd.DataFrame(batch)), loaded.predict(batch))


def test_bytes_that_are_not_onnx_are_refused(tmp_path: Path) -> None:
    require("onnx")
    with pytest.raises(InvalidInputError, match="not an ONNX model"):
        get_flavor("onnx").save(b"\x00 certainly not protobuf \xff\xff", tmp_path)


def test_missing_onnx_file_is_refused(tmp_path: Path) -> None:
    require("onnx")
    with pytest.raises(InvalidInputError, match="is not a file"):
        get_flavor("onnx").save(tmp_path / "nowhere.onnx", tmp_path)
