"""Any body gives a parsed request or an InvalidInputError, never another exception (a 500).

Random bytes mostly exercise the JSON reader, so most strategies build near-valid
documents (the protocol's keys, the signature's column names, odd values in them) and
follow the parsed request into the signature check the server runs next.
"""

from __future__ import annotations

import json
import struct
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shipyard.core.errors import InvalidInputError
from shipyard.core.signature import (
    ColumnSpec,
    ParamSpec,
    Schema,
    Signature,
    validate,
    validate_tensors,
)
from shipyard.server._protocols import (
    Parsed,
    RequestedOutput,
    decode_v2_infer,
    encode_v2_infer,
    parse_mlflow,
    parse_native,
)

TABLE = Signature(
    Schema(
        (
            ColumnSpec("carrier", "string", nullable=True),
            ColumnSpec("distance", "long"),
            ColumnSpec("temp", "double", nullable=True),
            ColumnSpec("weekend", "boolean"),
            ColumnSpec("blob", "binary", nullable=True),
        )
    ),
    Schema((ColumnSpec("prediction", "string"), ColumnSpec("proba_a", "double"))),
    (ParamSpec("k", "long", 1),),
)
ONE_COLUMN = Signature(Schema((ColumnSpec("text", "string"),)))
TENSOR = Signature(
    Schema(
        (
            ColumnSpec("x", "tensor", shape=(-1, 2), dtype="float32"),
            ColumnSpec("m", "tensor", shape=(-1,), dtype="bool"),
        )
    )
)
SIGNATURES = [TABLE, ONE_COLUMN, TENSOR, None]
NAMES = ["carrier", "distance", "temp", "weekend", "blob", "text", "x", "m", "prediction", ""]
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=6),
    st.sampled_from(NAMES),
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(NAMES) | st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=24,
)
signatures = st.sampled_from(SIGNATURES)


def _dump(document: Any) -> bytes:
    # The standard library writes what orjson refuses (NaN, huge ints): good test bodies.
    return json.dumps(document).encode()


def _follow(parsed: Parsed, signature: Signature | None) -> None:
    """What the server does next: check the parsed inputs against the signature."""
    assert parsed.rows >= 1
    if signature is None:
        return
    try:
        if signature.inputs.is_tensor:
            validate_tensors(signature.inputs, parsed.data)
        else:
            validate(signature.inputs, parsed.data)
    except InvalidInputError:
        pass


def _parse_or_refuse(call: Any, signature: Signature | None) -> None:
    try:
        parsed = call()
    except InvalidInputError:
        return
    _follow(parsed, signature)


@FUZZ
@given(
    body=st.binary(max_size=200),
    signature=signatures,
    content_type=st.sampled_from(["application/json", "text/csv", None]),
)
def test_any_bytes(body: bytes, signature: Signature | None, content_type: str | None) -> None:
    _parse_or_refuse(lambda: parse_native(body, signature), signature)
    _parse_or_refuse(lambda: parse_mlflow(body, content_type, signature), signature)
    _parse_or_refuse(lambda: decode_v2_infer(body, None, signature), signature)
    _parse_or_refuse(lambda: decode_v2_infer(body, len(body) // 2 or None, signature), signature)


native_documents = st.fixed_dictionaries(
    {},
    optional={
        "records": st.lists(
            st.dictionaries(st.sampled_from(NAMES), json_values, max_size=5), max_size=3
        )
        | json_values,
        "columns": st.dictionaries(
            st.sampled_from(NAMES), st.lists(json_values, max_size=3) | json_values, max_size=5
        )
        | json_values,
        "routing_key": json_values,
        "ids": st.lists(st.text(max_size=3), max_size=3) | json_values,
    },
)


@FUZZ
@given(document=native_documents, signature=signatures)
def test_native_documents(document: dict[str, Any], signature: Signature | None) -> None:
    _parse_or_refuse(lambda: parse_native(_dump(document), signature), signature)


mlflow_documents = st.fixed_dictionaries(
    {},
    optional={
        "dataframe_split": st.fixed_dictionaries(
            {},
            optional={
                "columns": st.lists(st.sampled_from(NAMES), max_size=5) | json_values,
                "data": st.lists(st.lists(json_values, max_size=5) | json_values, max_size=3),
                "index": json_values,
            },
        )
        | json_values,
        "dataframe_records": st.lists(
            st.dictionaries(st.sampled_from(NAMES), json_values), max_size=3
        )
        | json_values,
        "instances": json_values,
        "inputs": json_values,
        "params": st.dictionaries(st.sampled_from(["k", "z"]), json_values, max_size=2)
        | json_values,
    },
)


@FUZZ
@given(document=mlflow_documents, signature=signatures)
def test_mlflow_documents(document: dict[str, Any], signature: Signature | None) -> None:
    _parse_or_refuse(
        lambda: parse_mlflow(_dump(document), "application/json", signature), signature
    )


csv_text = st.lists(
    st.lists(
        st.sampled_from(
            ["", "UA", '"a,b"', '"x""y"', "NA", "1", "2.5", "-3", "True", "nan", "1e400", "\u00e9"]
        )
        | st.text(max_size=4),
        min_size=1,
        max_size=6,
    ),
    max_size=4,
)


@FUZZ
@given(
    header=st.lists(st.sampled_from(NAMES) | st.text(max_size=3), min_size=1, max_size=6),
    rows=csv_text,
    signature=signatures,
)
def test_csv_bodies(header: list[str], rows: list[list[str]], signature: Signature | None) -> None:
    lines = [",".join(header)] + [",".join(row) for row in rows]
    body = "\n".join(lines).encode()
    _parse_or_refuse(lambda: parse_mlflow(body, "text/csv", signature), signature)


DATATYPES = ["BOOL", "INT8", "UINT64", "INT64", "FP16", "FP32", "FP64", "BYTES", "BF16", "STRING"]
v2_inputs = st.fixed_dictionaries(
    {},
    optional={
        "name": st.sampled_from(NAMES) | json_values,
        "shape": st.lists(st.integers(min_value=-1, max_value=4), max_size=3) | json_values,
        "datatype": st.sampled_from(DATATYPES) | json_values,
        "data": st.lists(json_values, max_size=8) | json_values,
        "parameters": st.fixed_dictionaries(
            {}, optional={"binary_data_size": st.integers(min_value=-1, max_value=24) | json_values}
        )
        | json_values,
    },
)
v2_outputs = st.lists(
    st.fixed_dictionaries(
        {},
        optional={
            "name": st.sampled_from(NAMES) | json_values,
            "parameters": st.fixed_dictionaries({}, optional={"binary_data": json_values})
            | json_values,
        },
    ),
    max_size=3,
)
v2_documents = st.fixed_dictionaries(
    {"inputs": st.lists(v2_inputs, max_size=3) | json_values},
    optional={
        "id": json_values,
        "outputs": v2_outputs | json_values,
        "parameters": st.fixed_dictionaries({}, optional={"binary_data_output": json_values})
        | json_values,
    },
)
binary_tails = st.lists(
    st.binary(max_size=12)
    | st.text(max_size=4).map(lambda text: struct.pack("<I", len(text.encode())) + text.encode()),
    max_size=4,
).map(b"".join)


@FUZZ
@given(document=v2_documents, tail=binary_tails, signature=signatures, shift=st.integers(-2, 2))
def test_v2_documents(
    document: dict[str, Any], tail: bytes, signature: Signature | None, shift: int
) -> None:
    header = _dump(document)
    body = header + tail
    length = len(header) + shift if tail or shift else None
    try:
        parsed = decode_v2_infer(body, length, signature)
    except InvalidInputError:
        return
    _follow(parsed, signature)
    # The answer to any request that parsed encodes (the output names were checked).
    predictions = np.array(["a"] * parsed.rows, dtype=object)
    try:
        encode_v2_infer(
            parsed,
            model_name="m",
            model_version=1,
            predictions=predictions,
            probabilities=np.full((parsed.rows, 1), 0.5),
            classes=["a"],
            signature=signature,
        )
    except InvalidInputError:
        assert signature is None or signature.outputs is None


@pytest.mark.parametrize(
    "predictions",
    [
        np.array([1.5, np.nan, -np.inf]),
        np.array(["x", None, 3], dtype=object),
        np.array([True, False]),
        np.array([[1, 2], [3, 4]], dtype=np.int8),
        pd.array([1, None], dtype="Int64").to_numpy(dtype=object),
    ],
    ids=["floats", "objects", "bools", "int8-matrix", "nullable-ints"],
)
@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_odd_predictions_encode(predictions: np.ndarray[Any, Any], binary: bool) -> None:
    parsed = Parsed({}, "columns", len(predictions), binary_output=binary)
    body, headers = encode_v2_infer(
        parsed, model_name="m", model_version=1, predictions=predictions
    )
    assert body.startswith(b'{"model_name":"m"')
    assert ("Inference-Header-Content-Length" in headers) == binary
    requested = Parsed({}, "columns", 1, outputs=(RequestedOutput("prediction", binary),))
    encode_v2_infer(requested, model_name="m", model_version=1, predictions=predictions)
