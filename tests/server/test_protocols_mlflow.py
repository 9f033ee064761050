"""MLflow scoring: the JSON formats and CSV that ``mlflow models serve`` reads, and its answer."""

from __future__ import annotations

import numpy as np
import orjson
import pandas as pd
import pytest

from shipyard.core.errors import MalformedRequestError, UnsupportedMediaTypeError
from shipyard.core.signature import (
    ColumnSpec,
    ParamSpec,
    Schema,
    SchemaValidationError,
    Signature,
    validate,
    validate_tensors,
)
from shipyard.server._protocols import Parsed, format_mlflow, parse_mlflow

FLIGHTS = Signature(
    Schema(
        (
            ColumnSpec("carrier", "string", nullable=True),
            ColumnSpec("distance", "long", nullable=True),
            ColumnSpec("temp", "double", nullable=True),
        )
    )
)
ONE_COLUMN = Signature(Schema((ColumnSpec("text", "string"),)))
TENSOR = Signature(Schema((ColumnSpec("x", "tensor", shape=(-1, 2), dtype="float64"),)))
WITH_PARAMS = Signature(
    FLIGHTS.inputs, params=(ParamSpec("threshold", "double", 0.5), ParamSpec("top_k", "long", 3))
)
JSON = "application/json"


def _frame(parsed: Parsed, signature: Signature = FLIGHTS) -> pd.DataFrame:
    return validate(signature.inputs, parsed.data)


def _json(document: object) -> bytes:
    return orjson.dumps(document)


# -- the JSON formats, as MLflow's documentation shows them ------------------------------


def test_dataframe_split_reads_rows_by_column_name() -> None:
    body = {
        "dataframe_split": {
            "columns": ["carrier", "distance", "temp"],
            "data": [["UA", 1400, 51.2], ["B6", 1065, None]],
        }
    }
    parsed = parse_mlflow(_json(body), JSON, FLIGHTS)
    assert (parsed.kind, parsed.rows) == ("columns", 2)
    frame = _frame(parsed)
    assert frame["carrier"].tolist() == ["UA", "B6"]
    assert frame["distance"].tolist() == [1400, 1065]
    assert frame["temp"].isna().tolist() == [False, True]


def test_dataframe_split_as_pandas_writes_it_with_an_index() -> None:
    frame = pd.DataFrame({"carrier": ["AA", "DL"], "distance": [733, 200], "temp": [1.0, 2.0]})
    body = b'{"dataframe_split": ' + frame.to_json(orient="split").encode() + b"}"
    parsed = parse_mlflow(body, JSON, FLIGHTS)
    assert _frame(parsed).equals(validate(FLIGHTS.inputs, frame))


def test_dataframe_split_of_one_column_may_list_bare_values() -> None:
    body = b'{"dataframe_split": {"columns": ["text"], "data": ["a", "b"]}}'
    parsed = parse_mlflow(body, JSON, ONE_COLUMN)
    assert (parsed.kind, parsed.rows, parsed.data) == ("columns", 2, {"text": ["a", "b"]})


def test_dataframe_records() -> None:
    body = {"dataframe_records": [{"carrier": "UA", "distance": 1400, "temp": 60.5}]}
    parsed = parse_mlflow(_json(body), JSON, FLIGHTS)
    assert (parsed.kind, parsed.rows) == ("records", 1)
    assert _frame(parsed).iloc[0].tolist() == ["UA", 1400, 60.5]


def test_instances_as_records() -> None:
    body = {"instances": [{"carrier": "UA", "distance": 1, "temp": 2.0}] * 3}
    parsed = parse_mlflow(_json(body), JSON, FLIGHTS)
    assert (parsed.kind, parsed.rows) == ("records", 3)


def test_inputs_as_columns() -> None:
    body = {"inputs": {"carrier": ["UA", "AA"], "distance": [1, 2], "temp": [3.0, 4.0]}}
    parsed = parse_mlflow(_json(body), JSON, FLIGHTS)
    assert (parsed.kind, parsed.rows) == ("columns", 2)
    assert _frame(parsed)["distance"].tolist() == [1, 2]


def test_inputs_of_scalars_are_one_row() -> None:
    body = {"inputs": {"carrier": "UA", "distance": 1400, "temp": 12.5}}
    parsed = parse_mlflow(_json(body), JSON, FLIGHTS)
    assert (parsed.kind, parsed.rows) == ("records", 1)
    assert _frame(parsed).iloc[0].tolist() == ["UA", 1400, 12.5]


def test_inputs_list_of_values_for_a_one_column_model() -> None:
    parsed = parse_mlflow(b'{"inputs": ["good", "bad"]}', JSON, ONE_COLUMN)
    assert (parsed.kind, parsed.data) == ("columns", {"text": ["good", "bad"]})
    one = parse_mlflow(b'{"inputs": "good"}', JSON, ONE_COLUMN)
    assert (one.kind, one.rows, one.data) == ("columns", 1, {"text": ["good"]})


@pytest.mark.parametrize("key", ["inputs", "instances"])
def test_nested_lists_are_the_batch_of_a_tensor_model(key: str) -> None:
    parsed = parse_mlflow(_json({key: [[1, 2], [3, 4], [5, 6]]}), JSON, TENSOR)
    assert (parsed.kind, parsed.rows) == ("tensor", 3)
    assert validate_tensors(TENSOR.inputs, parsed.data)["x"].tolist()[2] == [5.0, 6.0]


def test_named_tensors() -> None:
    parsed = parse_mlflow(b'{"inputs": {"x": [[1, 2]]}}', JSON, TENSOR)
    assert parsed.kind == "tensor"
    assert validate_tensors(TENSOR.inputs, parsed.data)["x"].shape == (1, 2)


def test_dataframe_split_of_a_tensor_model_is_its_data() -> None:
    body = b'{"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2]]}}'
    parsed = parse_mlflow(body, JSON, TENSOR)
    assert parsed.kind == "tensor"
    assert parsed.data.tolist() == [[1, 2]]


def test_without_a_signature_lists_of_lists_are_a_tensor() -> None:
    parsed = parse_mlflow(b'{"inputs": [[1, 2, 3, 4]]}', JSON)
    assert (parsed.kind, parsed.rows) == ("tensor", 1)
    assert parsed.data.shape == (1, 4)


def test_other_top_level_keys_are_ignored_as_mlflow_does() -> None:
    body = b'{"dataframe_records": [{"carrier": "UA"}], "client": "v1.2"}'
    assert parse_mlflow(body, JSON, FLIGHTS).rows == 1


# -- params ----------------------------------------------------------------------------


def test_params_are_checked_and_completed_with_defaults() -> None:
    body = b'{"inputs": {"carrier": ["UA"]}, "params": {"top_k": 5}}'
    assert parse_mlflow(body, JSON, WITH_PARAMS).params == {"threshold": 0.5, "top_k": 5}
    no_params = parse_mlflow(b'{"inputs": {"carrier": ["UA"]}}', JSON, WITH_PARAMS)
    assert no_params.params == {"threshold": 0.5, "top_k": 3}


def test_params_a_model_does_not_declare_are_refused() -> None:
    body = b'{"inputs": {"carrier": ["UA"]}, "params": {"temperature": 0.1}}'
    with pytest.raises(SchemaValidationError, match=r"expected a known param \(none\)"):
        parse_mlflow(body, JSON, FLIGHTS)
    assert (
        parse_mlflow(b'{"inputs": {"carrier": ["UA"]}, "params": {}}', JSON, FLIGHTS).params is None
    )


def test_params_of_the_wrong_type_are_refused() -> None:
    body = b'{"inputs": {"carrier": ["UA"]}, "params": {"top_k": "many"}}'
    with pytest.raises(SchemaValidationError, match=r"column 'top_k': expected long"):
        parse_mlflow(body, JSON, WITH_PARAMS)
    with pytest.raises(MalformedRequestError, match=r"'params' must be an object"):
        parse_mlflow(b'{"inputs": {"carrier": ["UA"]}, "params": [1]}', JSON, WITH_PARAMS)


# -- content types -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "",
        "application/json",
        "application/json; charset=utf-8",
        'Application/JSON;charset="UTF-8"',
    ],
    ids=["none", "empty", "json", "json-utf8", "json-quoted-utf8"],
)
def test_json_content_types(content_type: str | None) -> None:
    assert parse_mlflow(b'{"inputs": {"carrier": ["UA"]}}', content_type, FLIGHTS).rows == 1


@pytest.mark.parametrize(
    ("content_type", "match"),
    [
        ("application/x-www-form-urlencoded", r"'application/x-www-form-urlencoded' is not read"),
        ("text/plain", r"send application/json .* or text/csv"),
        ("application/json; charset=latin-1", r"charset is 'latin-1'; this route reads UTF-8"),
    ],
    ids=["form", "text", "latin-1"],
)
def test_other_content_types_are_415(content_type: str, match: str) -> None:
    with pytest.raises(UnsupportedMediaTypeError, match=match) as caught:
        parse_mlflow(b'{"inputs": {"carrier": ["UA"]}}', content_type, FLIGHTS)
    assert caught.value.status_code == 415


# -- CSV -------------------------------------------------------------------------------


def test_csv_with_quoted_strings_and_missing_values() -> None:
    body = b'carrier,distance,temp\n"United, Inc.",1400,51.5\n"say ""hi""",,\nNA,NA,NaN\n,733,-3\n'
    parsed = parse_mlflow(body, "text/csv", FLIGHTS)
    assert (parsed.kind, parsed.rows) == ("columns", 4)
    frame = _frame(parsed)
    # In a text column only an empty field is missing: a carrier called NA stays itself.
    assert frame["carrier"].tolist()[:3] == ["United, Inc.", 'say "hi"', "NA"]
    assert frame["carrier"].isna().tolist() == [False, False, False, True]
    assert frame["distance"].isna().tolist() == [False, True, True, False]
    assert frame["distance"].dropna().tolist() == [1400, 733]
    assert frame["temp"].isna().tolist() == [False, True, True, False]


def test_csv_text_columns_keep_digits_as_text() -> None:
    schema = Signature(Schema((ColumnSpec("flight", "string"), ColumnSpec("n", "long"))))
    parsed = parse_mlflow(b"flight,n\n0042,1\n", "text/csv; charset=utf-8", schema)
    assert validate(schema.inputs, parsed.data).iloc[0].tolist() == ["0042", 1]


def test_csv_as_pandas_writes_it_index_included() -> None:
    frame = pd.DataFrame({"carrier": ["AA", None], "distance": [733, 200], "temp": [1.5, np.nan]})
    parsed = parse_mlflow(frame.to_csv().encode(), "text/csv", FLIGHTS)
    assert list(parsed.data) == ["carrier", "distance", "temp"]
    assert _frame(parsed).equals(validate(FLIGHTS.inputs, frame))


def test_csv_with_a_byte_order_mark() -> None:
    parsed = parse_mlflow("\ufeffcarrier\nUA\n".encode(), "text/csv", FLIGHTS)
    assert list(parsed.data) == ["carrier"]


def test_csv_for_a_tensor_model() -> None:
    parsed = parse_mlflow(b"a,b\n1,2\n3,4\n", "text/csv", TENSOR)
    assert (parsed.kind, parsed.rows) == ("tensor", 2)
    assert validate_tensors(TENSOR.inputs, parsed.data)["x"].tolist() == [[1, 2], [3, 4]]


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (b"", r"CSV body does not parse"),
        (b"carrier,distance\n", r"The CSV body holds no rows"),
        (b"a,b\n1,2\n1,2,3\n", r"CSV body does not parse \(.*Expected 2 columns, got 3"),
        (b"carrier\n\xff\xfe\n", r"CSV body is not UTF-8 text \(byte 8"),
    ],
    ids=["empty", "header-only", "ragged", "not-utf8"],
)
def test_bad_csv_is_refused(body: bytes, match: str) -> None:
    with pytest.raises(MalformedRequestError, match=match):
        parse_mlflow(body, "text/csv", FLIGHTS)


# -- refusals ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "match"),
    [
        pytest.param(b"not json", r"not valid JSON", id="not-json"),
        pytest.param(b"[1]", r"got an array of 1 \(wrap a list of records", id="list"),
        pytest.param(b"{}", r"exactly one of .*; got an empty object", id="no-format"),
        pytest.param(b'{"data": 1}', r"exactly one of .*; got keys 'data'", id="unknown"),
        pytest.param(
            b'{"inputs": [], "instances": []}', r"got instances, inputs", id="two-formats"
        ),
        pytest.param(
            b'{"dataframe_split": [1]}', r"'dataframe_split' must be an object", id="split-list"
        ),
        pytest.param(
            b'{"dataframe_split": {"data": [[1]], "orient": "split"}}',
            r"unknown key\(s\) 'orient'",
            id="split-extra-key",
        ),
        pytest.param(
            b'{"dataframe_split": {"columns": ["a"]}}',
            r"data must be a list of rows",
            id="split-no-data",
        ),
        pytest.param(
            b'{"dataframe_split": {"data": [[1]]}}',
            r"columns must list the column names",
            id="split-no-columns",
        ),
        pytest.param(
            b'{"dataframe_split": {"columns": ["a", 1], "data": [[1, 2]]}}',
            r"columns\[1\] must be a column name",
            id="split-column-number",
        ),
        pytest.param(
            b'{"dataframe_split": {"columns": ["a", "a"], "data": [[1, 2]]}}',
            r"names 'a' more than once",
            id="split-repeated-column",
        ),
        pytest.param(
            b'{"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2], [1]]}}',
            r"data\[1\] must be a list of 2 values .*got 1 values",
            id="split-short-row",
        ),
        pytest.param(
            b'{"dataframe_split": {"columns": ["a"], "data": [[1]], "index": [0, 1]}}',
            r"index must be a list with one label per row \(1\)",
            id="split-index",
        ),
        pytest.param(
            b'{"dataframe_split": {"columns": ["a"], "data": []}}',
            r"holds no rows",
            id="split-empty",
        ),
        pytest.param(
            b'{"dataframe_records": {"a": [1]}}', r"must be a list of records", id="records-object"
        ),
        pytest.param(
            b'{"dataframe_records": [{"a": 1}, 2]}',
            r"dataframe_records\[1\] must be a record",
            id="records-number",
        ),
        pytest.param(
            b'{"inputs": 3}', r"'inputs' must be a list of records, an object", id="inputs-scalar"
        ),
        pytest.param(b'{"inputs": {}}', r"'inputs' is an empty object", id="inputs-empty"),
        pytest.param(
            b'{"inputs": {"a": [1], "b": 2}}',
            r"inputs\['b'\] is a number \(2\) while other columns are lists",
            id="inputs-mixed",
        ),
        pytest.param(b'{"inputs": {"a": [1], "b": [1, 2]}}', r"same length", id="inputs-uneven"),
        pytest.param(
            b'{"instances": [[1, "UA", 2.0]]}',
            r"list of rows by position, but this model reads named columns",
            id="rows-by-position",
        ),
    ],
)
def test_bad_json_says_what_was_expected(body: bytes, match: str) -> None:
    with pytest.raises(MalformedRequestError, match=match):
        parse_mlflow(body, JSON, FLIGHTS)


def test_records_for_a_tensor_model_are_refused_with_a_hint() -> None:
    with pytest.raises(MalformedRequestError, match=r"this model takes a tensor .*nested lists"):
        parse_mlflow(b'{"dataframe_records": [{"a": 1}]}', JSON, TENSOR)


# -- the answer ------------------------------------------------------------------------------


def test_answer_is_a_list_of_labels_as_mlflow_gives_for_a_classifier() -> None:
    labels = np.array(["late", "on_time", "late"], dtype=object)
    assert orjson.dumps(format_mlflow(labels)) == b'{"predictions":["late","on_time","late"]}'
    assert format_mlflow(np.array([0, 1])) == {"predictions": [0, 1]}


def test_answer_of_a_regressor_writes_nan_as_null() -> None:
    values = np.array([1.5, np.nan])
    assert orjson.dumps(format_mlflow(values)) == b'{"predictions":[1.5,null]}'


def test_answer_of_a_two_output_model_lists_rows() -> None:
    assert format_mlflow(np.array([[1.0, 2.0], [3.0, 4.0]])) == {
        "predictions": [[1.0, 2.0], [3.0, 4.0]]
    }


def test_answer_with_datetimes_writes_iso_text() -> None:
    when = np.array(["2013-01-01T05:00:00"], dtype="datetime64[s]")
    assert format_mlflow(when) == {"predictions": ["2013-01-01T05:00:00"]}
