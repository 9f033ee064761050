"""The codecs around a real registered classifier: parse, prepare, predict, answer.

What the server does for each protocol, without the server: the parsed request goes
through the model's own ``prepare`` (the signature check), and the answer is read back
the way the protocol's clients read it.
"""

from __future__ import annotations

import numpy as np
import orjson
import pandas as pd
import pytest
import tritonclient.http as triton
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

import shipyard
from shipyard.core.signature import SchemaValidationError
from shipyard.server._protocols import (
    HEADER_LENGTH,
    Parsed,
    decode_v2_infer,
    encode_v2_infer,
    format_mlflow,
    parse_mlflow,
    parse_native,
    v2_model_metadata,
)

ROWS = [
    {"carrier": "B6", "distance": 1065, "temp": 30.5},
    {"carrier": "UA", "distance": 1400, "temp": 71.0},
]


@pytest.fixture
def model(store: shipyard.Store) -> shipyard.LoadedModel:
    rng = np.random.default_rng(0)
    X = pd.DataFrame(
        {
            "carrier": rng.choice(["AA", "B6", "UA"], 150),
            "distance": rng.integers(100, 2500, 150),
            "temp": rng.normal(50, 15, 150).round(1),
        }
    )
    y = np.where((X["temp"] < 45) | (X["carrier"] == "B6"), "late", "on_time")
    encode = ColumnTransformer(
        [("carrier", OneHotEncoder(handle_unknown="ignore"), ["carrier"])], remainder="passthrough"
    )
    pipeline = Pipeline([("encode", encode), ("model", LogisticRegression(max_iter=500))])
    shipyard.register_model(pipeline.fit(X, y), "delays", training_data=X, store=store)
    return shipyard.load_model("models:/delays/1", store=store)


def _expected(model: shipyard.LoadedModel) -> np.ndarray:
    return model.predict(ROWS)


def test_native(model: shipyard.LoadedModel) -> None:
    parsed = parse_native(orjson.dumps({"records": ROWS, "ids": ["a", "b"]}), model.signature)
    predictions = model.predict(model.prepare(parsed.data), validate=False)
    assert predictions.tolist() == _expected(model).tolist() == ["late", "on_time"]
    columns = parse_native(orjson.dumps({"columns": pd.DataFrame(ROWS).to_dict(orient="list")}))
    assert model.predict(columns.data).tolist() == predictions.tolist()


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (
            orjson.dumps({"dataframe_split": pd.DataFrame(ROWS).to_dict(orient="split")}),
            "application/json",
        ),
        (orjson.dumps({"dataframe_records": ROWS}), "application/json"),
        (orjson.dumps({"instances": ROWS}), "application/json"),
        (orjson.dumps({"inputs": pd.DataFrame(ROWS).to_dict(orient="list")}), "application/json"),
        (pd.DataFrame(ROWS).to_csv(index=False).encode(), "text/csv"),
    ],
    ids=["dataframe_split", "dataframe_records", "instances", "inputs", "csv"],
)
def test_mlflow(model: shipyard.LoadedModel, body: bytes, content_type: str) -> None:
    parsed = parse_mlflow(body, content_type, model.signature)
    predictions = model.predict(model.prepare(parsed.data), validate=False)
    assert orjson.dumps(format_mlflow(predictions)) == b'{"predictions":["late","on_time"]}'


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_open_inference_protocol(model: shipyard.LoadedModel, binary: bool) -> None:
    assert model.signature is not None
    metadata = v2_model_metadata("delays", [1], model.signature, "shipyard-sklearn")
    frame = pd.DataFrame(ROWS)
    inputs = []
    for entry in metadata["inputs"]:  # what a tritonclient user builds from the metadata
        values = frame[entry["name"]].to_numpy(
            dtype=object if entry["datatype"] == "BYTES" else None
        )
        tensor = triton.InferInput(entry["name"], [len(frame), 1], entry["datatype"])
        tensor.set_data_from_numpy(values.reshape(-1, 1), binary_data=binary)
        inputs.append(tensor)
    outputs = [
        triton.InferRequestedOutput(o["name"], binary_data=binary) for o in metadata["outputs"]
    ]
    body, length = triton.InferenceServerClient.generate_request_body(inputs, outputs=outputs)
    parsed = decode_v2_infer(body, length, model.signature)
    prepared = model.prepare(parsed.data)
    answer, headers = encode_v2_infer(
        parsed,
        model_name="delays",
        model_version=1,
        predictions=model.predict(prepared, validate=False),
        probabilities=model.predict_proba(prepared, validate=False),
        classes=model.classes,
        signature=model.signature,
    )
    length_header = headers.get(HEADER_LENGTH)
    result = triton.InferResult.from_response_body(
        answer, header_length=int(length_header) if length_header else None
    )
    labels = [v.decode() if isinstance(v, bytes) else v for v in result.as_numpy("prediction")]
    assert labels == ["late", "on_time"]
    proba = model.predict_proba(ROWS)
    for i, label in enumerate(model.classes or []):
        np.testing.assert_allclose(result.as_numpy(f"proba_{label}"), proba[:, i])


def test_a_bad_column_is_named_by_the_signature_check(model: shipyard.LoadedModel) -> None:
    document = {
        "inputs": [
            {"name": "carrier", "shape": [1], "datatype": "BYTES", "data": ["UA"]},
            {"name": "distance", "shape": [1], "datatype": "FP64", "data": [3.5]},
            {"name": "tmp", "shape": [1], "datatype": "FP64", "data": [3.5]},
        ]
    }
    parsed = decode_v2_infer(orjson.dumps(document), None, model.signature)
    with pytest.raises(SchemaValidationError) as caught:
        model.prepare(parsed.data)
    problems = {(e.column, e.row) for e in caught.value.errors}
    # The misspelt column is both missing and extra (extra columns are refused).
    assert problems == {("distance", 0), ("temp", None), ("tmp", None)}
    assert "did you mean 'tmp'?" in caught.value.message


def test_parsed_data_merges_as_the_batcher_merges_it() -> None:
    # The server merges concurrent requests of one kind before one prepare() call.
    a = parse_native(orjson.dumps({"records": ROWS[:1]}))
    b = parse_mlflow(orjson.dumps({"dataframe_records": ROWS[1:]}), "application/json")
    assert isinstance(a, Parsed)
    assert a.kind == b.kind == "records"
    assert a.data + b.data == ROWS
