"""The Open Inference Protocol codec, tested against the real client: tritonclient's own
request bodies are decoded, and our answers are read back with its ``InferResult``.
"""

from __future__ import annotations

import json
import struct
from typing import Any

import numpy as np
import pandas as pd
import pytest
import tritonclient.http as triton

from shipyard.core.errors import MalformedRequestError
from shipyard.core.signature import (
    ColumnSpec,
    Schema,
    Signature,
    infer_signature,
    v2_metadata,
    validate,
    validate_tensors,
)
from shipyard.server._protocols import (
    HEADER_LENGTH,
    Parsed,
    RequestedOutput,
    decode_v2_infer,
    encode_v2_infer,
    v2_model_metadata,
)

# What registering a classifier records: its inputs, the label and one probability per class.
CLASSIFIER = infer_signature(
    pd.DataFrame(
        {
            "carrier": ["AA", "B6"],
            "distance": [1400.0, 1065.5],
            "hour": [5, 23],
            "weekend": [True, False],
        }
    ),
    pd.DataFrame(
        {"prediction": ["late", "on_time"], "proba_late": [0.1, 0.9], "proba_on_time": [0.9, 0.1]}
    ),
)
TENSOR = Signature(
    Schema((ColumnSpec("pixels", "tensor", shape=(-1, 3), dtype="float32"),)),
    Schema((ColumnSpec("prediction", "tensor", shape=(-1, 2), dtype="float64"),)),
)
ROWS = pd.DataFrame(
    {
        "carrier": ["UA", "Zürich Air", ""],
        "distance": [1400.0, 733.25, 17.0],
        "hour": [5, 23, 0],
        "weekend": [True, False, True],
    }
)
DATATYPES = {"carrier": "BYTES", "distance": "FP64", "hour": "INT64", "weekend": "BOOL"}
BINARY = pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])


def _input(name: str, array: np.ndarray[Any, Any], datatype: str, binary: bool) -> Any:
    tensor = triton.InferInput(name, list(array.shape), datatype)
    tensor.set_data_from_numpy(array, binary_data=binary)
    return tensor


def _body(
    inputs: list[Any], outputs: list[Any] | None = None, request_id: str = ""
) -> tuple[bytes, int | None]:
    body, length = triton.InferenceServerClient.generate_request_body(
        inputs, outputs=outputs, request_id=request_id
    )
    return body, length


def _table_inputs(binary: bool, *, column_shape: bool = False) -> list[Any]:
    inputs = []
    for name, datatype in DATATYPES.items():
        values = ROWS[name].to_numpy(dtype=object if datatype == "BYTES" else None)
        if column_shape:
            values = values.reshape(-1, 1)
        inputs.append(_input(name, values, datatype, binary))
    return inputs


def _read(body: bytes, headers: dict[str, str]) -> Any:
    length = headers.get(HEADER_LENGTH)
    return triton.InferResult.from_response_body(
        body, header_length=int(length) if length is not None else None
    )


# -- requests from tritonclient --------------------------------------------------------------


@BINARY
@pytest.mark.parametrize("column_shape", [False, True], ids=["shape-n", "shape-n-1"])
def test_one_input_per_column(binary: bool, column_shape: bool) -> None:
    body, length = _body(_table_inputs(binary, column_shape=column_shape))
    assert (length is not None) == binary
    parsed = decode_v2_infer(body, length, CLASSIFIER)
    assert (parsed.kind, parsed.rows) == ("columns", 3)
    frame = validate(CLASSIFIER.inputs, parsed.data)
    pd.testing.assert_frame_equal(frame, validate(CLASSIFIER.inputs, ROWS))


def test_the_header_length_may_come_as_the_header_text() -> None:
    body, length = _body(_table_inputs(True), request_id="r-1")
    parsed = decode_v2_infer(body, str(length), CLASSIFIER)
    assert (parsed.rows, parsed.request_id) == (3, "r-1")


@BINARY
def test_a_tensor_input_keeps_its_shape(binary: bool) -> None:
    pixels = np.arange(12, dtype=np.float32).reshape(4, 3)
    body, length = _body([_input("pixels", pixels, "FP32", binary)])
    parsed = decode_v2_infer(body, length, TENSOR)
    assert (parsed.kind, parsed.rows) == ("tensor", 4)
    checked = validate_tensors(TENSOR.inputs, parsed.data)["pixels"]
    np.testing.assert_array_equal(checked, pixels)
    assert checked.flags.writeable


@BINARY
def test_integer_and_boolean_tensors(binary: bool) -> None:
    schema = Signature(
        Schema(
            (
                ColumnSpec("counts", "tensor", shape=(-1, 2), dtype="int64"),
                ColumnSpec("mask", "tensor", shape=(-1, 2), dtype="bool"),
            )
        )
    )
    counts = np.array([[1, -2], [3, 2**40]], dtype=np.int64)
    mask = np.array([[True, False], [False, True]])
    inputs = [_input("counts", counts, "INT64", binary), _input("mask", mask, "BOOL", binary)]
    body, length = _body(inputs)
    checked = validate_tensors(schema.inputs, decode_v2_infer(body, length, schema).data)
    np.testing.assert_array_equal(checked["counts"], counts)
    np.testing.assert_array_equal(checked["mask"], mask)


def test_a_binary_column_keeps_its_bytes() -> None:
    schema = Signature(Schema((ColumnSpec("blob", "binary"),)))
    blob = np.array([b"\x00\xff", b""], dtype=object)
    for binary in (True, False):
        if not binary:
            blob = np.array([b"ab", b"c"], dtype=object)  # JSON carries text only
        body, length = _body([_input("blob", blob, "BYTES", binary)])
        parsed = decode_v2_infer(body, length, schema)
        assert list(parsed.data["blob"]) == list(blob)
        assert validate(schema.inputs, parsed.data)["blob"].tolist() == list(blob)


def test_json_data_may_be_nested_to_the_shape() -> None:
    document = {
        "inputs": [
            {"name": "pixels", "shape": [2, 3], "datatype": "FP32", "data": [[1, 2, 3], [4, 5, 6]]}
        ]
    }
    parsed = decode_v2_infer(json.dumps(document).encode(), None, TENSOR)
    assert parsed.data["pixels"].tolist() == [[1, 2, 3], [4, 5, 6]]


def test_without_a_signature_a_matrix_is_a_tensor_and_vectors_are_columns() -> None:
    matrix = _input("x", np.ones((2, 3)), "FP64", True)
    body, length = _body([matrix])
    assert decode_v2_infer(body, length, None).kind == "tensor"
    body, length = _body(_table_inputs(True))
    assert decode_v2_infer(body, length, None).kind == "columns"


# -- answers read by tritonclient ---------------------------------------------------------------

LABELS = np.array(["late", "on_time", "late"], dtype=object)
PROBA = np.array([[0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
CLASSES = ["late", "on_time"]


def _answer(parsed: Parsed, **kwargs: Any) -> tuple[bytes, dict[str, str]]:
    return encode_v2_infer(
        parsed,
        model_name="delays",
        model_version=3,
        predictions=LABELS,
        probabilities=PROBA,
        classes=CLASSES,
        signature=CLASSIFIER,
        **kwargs,
    )


@BINARY
def test_all_outputs_when_none_are_asked_for(binary: bool) -> None:
    # tritonclient asks for binary outputs when it names none; a JSON client names none.
    body, length = _body(_table_inputs(binary), request_id="abc")
    parsed = decode_v2_infer(body, length, CLASSIFIER)
    if not binary:
        parsed = Parsed(parsed.data, parsed.kind, parsed.rows, request_id="abc")
    answer, headers = _answer(parsed, prediction_ids=["p1", "p2", "p3"])
    assert (HEADER_LENGTH in headers) == binary
    result = _read(answer, headers)
    response = result.get_response()
    assert response["model_name"] == "delays"
    assert response["model_version"] == "3"
    assert response["id"] == "abc"
    assert response["parameters"] == {"prediction_ids": "p1,p2,p3"}
    assert [o["name"] for o in response["outputs"]] == ["prediction", "proba_late", "proba_on_time"]
    labels = result.as_numpy("prediction")
    assert [v.decode() if isinstance(v, bytes) else v for v in labels] == list(LABELS)
    np.testing.assert_array_equal(result.as_numpy("proba_late"), PROBA[:, 0])
    np.testing.assert_array_equal(result.as_numpy("proba_on_time"), PROBA[:, 1])
    assert {o["datatype"] for o in response["outputs"]} == {"BYTES", "FP64"}


def test_requested_outputs_in_their_order_and_form() -> None:
    outputs = [
        triton.InferRequestedOutput("proba_on_time", binary_data=True),
        triton.InferRequestedOutput("prediction", binary_data=False),
    ]
    body, length = _body(_table_inputs(True), outputs=outputs)
    parsed = decode_v2_infer(body, length, CLASSIFIER)
    assert parsed.outputs == (
        RequestedOutput("proba_on_time", binary=True),
        RequestedOutput("prediction", binary=False),
    )
    answer, headers = _answer(parsed)
    result = _read(answer, headers)
    response = result.get_response()
    assert [o["name"] for o in response["outputs"]] == ["proba_on_time", "prediction"]
    assert response["outputs"][1]["data"] == ["late", "on_time", "late"]
    np.testing.assert_array_equal(result.as_numpy("proba_on_time"), PROBA[:, 1])
    assert result.as_numpy("proba_late") is None


def test_json_answers_are_plain_json() -> None:
    outputs = [triton.InferRequestedOutput("prediction", binary_data=False)]
    body, length = _body(_table_inputs(False), outputs=outputs)
    answer, headers = _answer(decode_v2_infer(body, length, CLASSIFIER))
    assert headers == {"Content-Type": "application/json"}
    assert json.loads(answer)["outputs"] == [
        {
            "name": "prediction",
            "datatype": "BYTES",
            "shape": [3],
            "data": ["late", "on_time", "late"],
        }
    ]


@BINARY
def test_a_regressor_answers_one_fp64_output(binary: bool) -> None:
    signature = infer_signature(ROWS, np.array([1.5, 2.5, 3.5]))
    body, length = _body(_table_inputs(binary))
    parsed = decode_v2_infer(body, length, signature)
    answer, headers = encode_v2_infer(
        parsed,
        model_name="m",
        model_version="1",
        predictions=np.array([1.5, np.nan, 3.5]),
        signature=signature,
    )
    result = _read(answer, headers)
    assert result.get_response()["outputs"][0]["datatype"] == "FP64"
    np.testing.assert_array_equal(result.as_numpy("prediction"), [1.5, np.nan, 3.5])


@BINARY
def test_a_tensor_output_keeps_its_shape(binary: bool) -> None:
    pixels = np.zeros((2, 3), dtype=np.float32)
    body, length = _body([_input("pixels", pixels, "FP32", binary)])
    parsed = decode_v2_infer(body, length, TENSOR)
    values = np.array([[1.0, 2.0], [3.0, 4.0]])
    answer, headers = encode_v2_infer(
        parsed, model_name="m", model_version=1, predictions=values, signature=TENSOR
    )
    result = _read(answer, headers)
    np.testing.assert_array_equal(result.as_numpy("prediction"), values)
    assert result.get_response()["outputs"][0]["shape"] == [2, 2]


def test_integer_labels_follow_the_signature() -> None:
    signature = infer_signature(
        ROWS, pd.DataFrame({"prediction": [0, 1, 1], "proba_0": [0.1] * 3, "proba_1": [0.9] * 3})
    )
    parsed = Parsed({}, "columns", 2, outputs=(RequestedOutput("prediction", binary=True),))
    answer, headers = encode_v2_infer(
        parsed,
        model_name="m",
        model_version=1,
        predictions=np.array([0, 1], dtype=np.int32),
        probabilities=np.array([[0.4, 0.6], [0.5, 0.5]]),
        classes=[np.int64(0), np.int64(1)],
        signature=signature,
    )
    result = _read(answer, headers)
    assert result.get_response()["outputs"][0]["datatype"] == "INT64"
    assert result.as_numpy("prediction").tolist() == [0, 1]


def test_columns_of_a_two_column_output_are_split_by_name() -> None:
    signature = infer_signature(ROWS, pd.DataFrame({"low": [1.0], "high": [2.0]}))
    parsed = Parsed({}, "columns", 2)
    answer, headers = encode_v2_infer(
        parsed,
        model_name="m",
        model_version=1,
        predictions=np.array([[1.0, 2.0], [3.0, 4.0]]),
        signature=signature,
    )
    result = _read(answer, headers)
    assert result.as_numpy("high").tolist() == [2.0, 4.0]


# -- metadata -----------------------------------------------------------------------------------


def test_metadata_lists_the_outputs_an_answer_holds() -> None:
    metadata = v2_model_metadata("delays", [1, 3], CLASSIFIER, "shipyard-sklearn")
    assert metadata["name"] == "delays"
    assert metadata["versions"] == ["1", "3"]
    assert metadata["platform"] == "shipyard-sklearn"
    assert metadata["inputs"] == v2_metadata(CLASSIFIER.inputs)
    assert [i["datatype"] for i in metadata["inputs"]] == ["BYTES", "FP64", "INT64", "BOOL"]
    parsed = Parsed({}, "columns", 3)
    answer, _ = _answer(parsed)
    answered = json.loads(answer)["outputs"]
    assert [(o["name"], o["datatype"]) for o in answered] == [
        (o["name"], o["datatype"]) for o in metadata["outputs"]
    ]


def test_metadata_without_a_signature() -> None:
    assert v2_model_metadata("m", ["2"], None, "shipyard-pyfunc")["inputs"] == []


# -- refusals -----------------------------------------------------------------------------------


def _doc(*inputs: dict[str, Any], **extra: Any) -> bytes:
    return json.dumps({"inputs": list(inputs), **extra}).encode()


def _carrier(**overrides: Any) -> dict[str, Any]:
    return {"name": "carrier", "shape": [1], "datatype": "BYTES", "data": ["UA"], **overrides}


def _distance(**overrides: Any) -> dict[str, Any]:
    return {"name": "distance", "shape": [1], "datatype": "FP64", "data": [1.0], **overrides}


@pytest.mark.parametrize(
    ("body", "match"),
    [
        pytest.param(b"", r"body is empty", id="empty"),
        pytest.param(b"[]", r"must be a JSON object with 'inputs', got an array", id="array"),
        pytest.param(b'{"inputs": []}', r"'inputs' must be a non-empty list", id="no-inputs"),
        pytest.param(b'{"inputs": [1]}', r"inputs\[0\] must be an object", id="input-number"),
        pytest.param(
            _doc({"shape": [1]}), r"inputs\[0\].name must be the input's name", id="no-name"
        ),
        pytest.param(
            _doc(_carrier(datatype="STRING")),
            r"datatype a string \('STRING'\); expected one of BOOL",
            id="datatype",
        ),
        pytest.param(
            _doc(_carrier(shape=[-1])),
            r"has shape an array of 1; expected a list of sizes",
            id="negative-shape",
        ),
        pytest.param(_doc(_carrier(shape="1")), r"expected a list of sizes", id="text-shape"),
        pytest.param(
            _doc(_carrier(data=["UA", "AA"])),
            r"must hold 1 value\(s\) for shape \[1\].*got 2",
            id="count",
        ),
        pytest.param(
            _doc(_carrier(data=[3])),
            r"inputs\[0\].data\[0\] is a number \(3\), but the datatype is BYTES",
            id="bytes-number",
        ),
        pytest.param(
            _doc(_carrier(data=None)),
            r"either 'data' or parameters.binary_data_size .*got neither",
            id="no-data",
        ),
        pytest.param(
            _doc(_carrier(parameters={"binary_data_size": 6})),
            r"got both",
            id="data-and-binary",
        ),
        pytest.param(
            _doc(_carrier(parameters={"shared_memory_region": "r"})),
            r"shared memory extension",
            id="shared-memory",
        ),
        pytest.param(
            _doc(_carrier(), _carrier()),
            r"inputs\[1\] repeats the input name 'carrier'",
            id="repeated",
        ),
        pytest.param(
            _doc(_carrier(), _distance(shape=[2], data=[1.0, 2.0])),
            r"different numbers of rows .*'carrier': 1; 'distance': 2",
            id="rows-differ",
        ),
        pytest.param(
            _doc(_distance(shape=[1, 2], data=[1.0, 2.0])),
            r"shape \[1, 2\]; this model reads one input per column",
            id="wide-column",
        ),
        pytest.param(_doc(_distance(shape=[0], data=[])), r"hold no rows", id="zero-rows"),
        pytest.param(_doc(_carrier(), id=7), r"'id' must be a string", id="id-number"),
        pytest.param(
            _doc(_carrier(), parameters=[1]), r"'parameters' must be an object", id="parameters"
        ),
        pytest.param(
            _doc(_carrier(), parameters={"binary_data_output": "yes"}),
            r"parameters.binary_data_output must be true or false",
            id="binary-flag",
        ),
        pytest.param(
            _doc(_carrier(), outputs={"name": "x"}),
            r"'outputs' must be a list",
            id="outputs-object",
        ),
        pytest.param(
            _doc(_carrier(), outputs=[{"name": "proba_delayed"}]),
            r"asks for output 'proba_delayed', which this model does not give; its outputs are "
            r"prediction, proba_late, proba_on_time",
            id="unknown-output",
        ),
        pytest.param(
            _doc(_carrier(), outputs=[{"name": "prediction"}, {"name": "prediction"}]),
            r"outputs\[1\] asks for 'prediction' twice",
            id="output-twice",
        ),
        pytest.param(
            _doc(_carrier(), outputs=[{"name": "prediction", "parameters": {"classification": 2}}]),
            r"classification extension.*proba_<class> outputs",
            id="classification",
        ),
    ],
)
def test_bad_json_requests_say_what_was_expected(body: bytes, match: str) -> None:
    with pytest.raises(MalformedRequestError, match=match):
        decode_v2_infer(body, None, CLASSIFIER)


def _binary(header: dict[str, Any], tail: bytes) -> tuple[bytes, int]:
    raw = json.dumps(header).encode()
    return raw + tail, len(raw)


def _binary_carrier(size: int) -> dict[str, Any]:
    return {
        "inputs": [
            {
                "name": "carrier",
                "shape": [1],
                "datatype": "BYTES",
                "parameters": {"binary_data_size": size},
            }
        ]
    }


@pytest.mark.parametrize(
    ("body_and_length", "match"),
    [
        pytest.param(
            _binary(_binary_carrier(8), struct.pack("<I", 2) + b"UA"),
            r"declares binary_data_size 8, but the body holds only 6 more byte\(s\)",
            id="short",
        ),
        pytest.param(
            _binary(_binary_carrier(6), struct.pack("<I", 3) + b"UA"),
            r"BYTES that do not split into 1 element",
            id="bad-length-prefix",
        ),
        pytest.param(
            _binary(_binary_carrier(6), struct.pack("<I", 2) + b"UAextra"),
            r"5 byte\(s\) after the inputs' binary data",
            id="left-over",
        ),
        pytest.param(
            _binary(_binary_carrier(6), struct.pack("<I", 2) + b"\xff\xfe"),
            r"element 0 is not UTF-8 text",
            id="not-utf8",
        ),
        pytest.param(
            _binary(
                {
                    "inputs": [
                        {
                            "name": "distance",
                            "shape": [1],
                            "datatype": "FP64",
                            "parameters": {"binary_data_size": 4},
                        }
                    ]
                },
                b"\x00" * 4,
            ),
            r"shape \[1\] of FP64, so 8 bytes, but its binary_data_size is 4",
            id="fp64-size",
        ),
        pytest.param(
            (b'{"inputs": []}', 99),
            r"header is 99; it must be the length in bytes",
            id="length-past-end",
        ),
        pytest.param((b'{"inputs": []}', 0), r"header is 0", id="length-zero"),
        pytest.param((b'{"inputs": []}', "12a"), r"header is '12a'", id="length-text"),
        pytest.param((b'{"inputs": []}', "\u00b2"), r"header is '\u00b2'", id="length-superscript"),
        pytest.param((b'{"inputs": []}', "9" * 5000), r"header is '9999", id="length-huge"),
    ],
)
def test_bad_binary_requests_say_what_was_expected(
    body_and_length: tuple[bytes, int | str], match: str
) -> None:
    body, length = body_and_length
    with pytest.raises(MalformedRequestError, match=match):
        decode_v2_infer(body, length, CLASSIFIER)


def test_a_tensor_model_refuses_text_and_mixed_kinds() -> None:
    text = {"name": "pixels", "shape": [1, 3], "datatype": "BYTES", "data": ["a", "b", "c"]}
    with pytest.raises(
        MalformedRequestError, match=r"is BYTES, but this model takes numeric tensors"
    ):
        decode_v2_infer(_doc(text), None, TENSOR)
    flags = {"name": "pixels", "shape": [1, 3], "datatype": "FP32", "data": [True, False, True]}
    with pytest.raises(MalformedRequestError, match=r"must hold numbers \(not booleans\)"):
        decode_v2_infer(_doc(flags), None, TENSOR)
    scalar = {"name": "pixels", "shape": [], "datatype": "FP32", "data": [1.0]}
    with pytest.raises(
        MalformedRequestError, match=r"has shape \[\]; a tensor input needs its batch"
    ):
        decode_v2_infer(_doc(scalar), None, TENSOR)


def test_asking_for_an_output_the_answer_lacks() -> None:
    parsed = Parsed({}, "columns", 1, outputs=(RequestedOutput("proba_maybe"),))
    with pytest.raises(
        MalformedRequestError, match=r"'proba_maybe' was asked for, but .* holds prediction"
    ):
        encode_v2_infer(parsed, model_name="m", model_version=1, predictions=np.array([1.0]))
