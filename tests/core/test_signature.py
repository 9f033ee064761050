"""Signatures: inference from real data, validation of requests, JSON and the v2 mapping."""

from __future__ import annotations

import datetime as dt
import json
import pickle
import re
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pandas import DataFrame

from shipyard.core.errors import InvalidInputError
from shipyard.core.signature import (
    DEFAULT_MAX_ERRORS,
    SCHEMA_VERSION,
    ColumnError,
    ColumnSpec,
    ColumnType,
    ParamSpec,
    Schema,
    SchemaValidationError,
    Signature,
    column_type_from_v2,
    infer_schema,
    infer_signature,
    tensor_dtype_from_v2,
    to_v2_datatype,
    v2_metadata,
    validate,
    validate_params,
    validate_tensors,
)

T = ColumnType


def col(name: str, kind: str, nullable: bool = False, **extra: Any) -> ColumnSpec:
    return ColumnSpec(name, ColumnType(kind), nullable, **extra)


def schema(*columns: ColumnSpec) -> Schema:
    return Schema(columns)


# -- inference -----------------------------------------------------------------------------

NY = "America/New_York"
INFERENCE_CASES = [
    ("float64", pd.Series([1.5, 2.0]), col("x", "double")),
    ("float64 with NaN", pd.Series([1.5, np.nan]), col("x", "double", True)),
    ("float32", pd.Series([1.5], dtype="float32"), col("x", "float")),
    ("float16", pd.Series([1.5], dtype="float16"), col("x", "float")),
    ("Float64 with NA", pd.Series([1.5, None], dtype="Float64"), col("x", "double", True)),
    ("int64", pd.Series([1, 2]), col("x", "long")),
    ("int32", pd.Series([1], dtype="int32"), col("x", "integer")),
    ("int16", pd.Series([1], dtype="int16"), col("x", "integer")),
    ("uint8", pd.Series([1], dtype="uint8"), col("x", "integer")),
    ("uint32", pd.Series([1], dtype="uint32"), col("x", "long")),
    ("Int64 with NA", pd.Series([1, None], dtype="Int64"), col("x", "long", True)),
    ("Int32", pd.Series([1], dtype="Int32"), col("x", "integer")),
    ("bool", pd.Series([True, False]), col("x", "boolean")),
    ("boolean with NA", pd.Series([True, None], dtype="boolean"), col("x", "boolean", True)),
    ("default str dtype", pd.Series(["a", "b"]), col("x", "string")),
    ("str with NaN", pd.Series(["a", None]), col("x", "string", True)),
    ("object strings", pd.Series(["a", "b"], dtype=object), col("x", "string")),
    ("object strings with None", pd.Series(["a", None], dtype=object), col("x", "string", True)),
    ("string[pyarrow] NA", pd.Series(["a", None], dtype="string"), col("x", "string", True)),
    ("object ints with None", pd.Series([1, None], dtype=object), col("x", "long", True)),
    ("object bools", pd.Series([True, False], dtype=object), col("x", "boolean")),
    ("object bytes", pd.Series([b"a", None], dtype=object), col("x", "binary", True)),
    (
        "categorical",
        pd.Series(["b", "a", "b"], dtype="category"),
        col("x", "category", categories=("a", "b")),
    ),
    (
        "categorical with NaN",
        pd.Series(["a", None], dtype="category"),
        col("x", "category", True, categories=("a",)),
    ),
    ("categorical of ints", pd.Series([1, 2], dtype="category"), col("x", "long")),
    ("datetime64[us]", pd.Series(pd.to_datetime(["2013-01-01"])), col("x", "datetime")),
    (
        "datetime64[ns] with NaT",
        pd.Series(pd.to_datetime(["2013-01-01", None])).astype("datetime64[ns]"),
        col("x", "datetime", True, unit="ns"),
    ),
    (
        "datetime with tz",
        pd.Series(pd.date_range("2013-01-01", periods=2, tz=NY)),
        col("x", "datetime", tz=NY),
    ),
    (
        "datetime with a fixed offset",
        pd.Series(pd.to_datetime(["2013-01-01T00:00:00+02:00"])),
        col("x", "datetime", tz="+02:00"),
    ),
    (
        "object datetimes",
        pd.Series([dt.datetime(2013, 1, 1), None], dtype=object),
        col("x", "datetime", True),
    ),
    ("object dates", pd.Series([dt.date(2013, 1, 1)], dtype=object), col("x", "datetime")),
]


@pytest.mark.parametrize(
    ("series", "expected"),
    [case[1:] for case in INFERENCE_CASES],
    ids=[case[0] for case in INFERENCE_CASES],
)
def test_infer_a_pandas_column(series: pd.Series[Any], expected: ColumnSpec) -> None:
    assert infer_schema(pd.DataFrame({"x": series})) == schema(expected)


def test_infer_keeps_the_column_order_and_types_of_a_frame() -> None:
    frame = pd.DataFrame({"carrier": ["AA", "B6"], "distance": [1400, 1065], "temp": [3.2, None]})
    inferred = infer_schema(frame)
    assert inferred.names == ("carrier", "distance", "temp")
    assert str(inferred) == "carrier: string, distance: long, temp: double?"


def test_a_complete_column_is_strict_unless_asked_otherwise() -> None:
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    assert not any(c.nullable for c in infer_schema(frame))
    assert all(c.nullable for c in infer_schema(frame, nullable="all"))


def test_a_fixed_offset_zone_round_trips_through_pandas() -> None:
    frame = pd.DataFrame({"t": pd.to_datetime(["2013-01-01T00:00:00+02:00"])})
    assert_frame_equal(validate(infer_schema(frame), frame), frame)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (pd.DataFrame({"x": [None, None]}, dtype=object), r"'x' has no non-null values"),
        (pd.DataFrame({"x": [1, "a"]}, dtype=object), r"'x' mixes values of types int, str"),
        (pd.DataFrame({"x": pd.to_timedelta([1], unit="s")}), r"dtype timedelta64.*seconds"),
        (pd.DataFrame({0: [1.0]}), r"Column names must be strings, got 0 \(int\)"),
        (pd.DataFrame([[1, 2]], columns=["a", "a"]), r"duplicate columns \['a'\]"),
        ({"x": [2**70]}, r"integers beyond 64 bits"),
        ([1, 2], r"Cannot infer a schema from list"),
        ({"x": [[1, 2], [3]]}, r"'x' holds list values, which a signature cannot describe"),
        ("text", r"Cannot infer a schema from str"),
        (np.array(["a"]), r"Cannot use 'input' as a tensor: dtype <U1"),
        (
            pd.DataFrame({"t": [pd.Timestamp("2013-01-01", tz="UTC"), pd.Timestamp("2013-01-01")]}),
            r"'t' holds datetimes in different time zones",
        ),
    ],
    ids=[
        "all null",
        "mixed",
        "timedelta",
        "int name",
        "duplicate names",
        "huge ints",
        "list of scalars",
        "lists in cells",
        "string",
        "string array",
        "mixed zones",
    ],
)
def test_inference_refuses_what_it_cannot_describe(data: Any, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        infer_schema(data)


def test_infer_from_a_pyarrow_table() -> None:
    table = pa.table(
        {
            "d": pa.array([1.5, None], pa.float64()),
            "f": pa.array([1.5, 2.0], pa.float32()),
            "l": pa.array([1, None], pa.int64()),
            "i": pa.array([1, 2], pa.int16()),
            "b": pa.array([True, False]),
            "s": pa.array(["a", None], pa.large_string()),
            "y": pa.array([b"a", b"b"], pa.binary()),
            "t": pa.array([0, 1], pa.timestamp("ms", tz="UTC")),
            "day": pa.array([0, 1], pa.date32()),
            "money": pa.array([1, 2], pa.decimal128(10, 2)),
            "c": pa.array(["x", "y"]).dictionary_encode(),
        }
    )
    assert infer_schema(table) == schema(
        col("d", "double", True),
        col("f", "float"),
        col("l", "long", True),
        col("i", "integer"),
        col("b", "boolean"),
        col("s", "string", True),
        col("y", "binary"),
        col("t", "datetime", tz="UTC", unit="ms"),
        col("day", "datetime"),
        col("money", "double"),
        col("c", "category", categories=("x", "y")),
    )
    assert infer_schema(table.to_batches()[0]) == infer_schema(table)


def test_infer_from_a_frame_with_arrow_dtypes() -> None:
    frame = pd.DataFrame({"l": pd.array([1, None], dtype="int64[pyarrow]")})
    assert infer_schema(frame) == schema(col("l", "long", True))


def test_a_numpy_array_is_a_tensor_with_a_variable_batch() -> None:
    images = np.zeros((8, 28, 28), dtype="float32")
    inferred = infer_schema(images, name="image")
    assert inferred == schema(col("image", "tensor", shape=(-1, 28, 28), dtype="float32"))
    assert inferred.is_tensor
    assert str(inferred) == "image: tensor<float32>[-1, 28, 28]"


def test_a_structured_array_gives_columns() -> None:
    data = np.array([(1, 2.5)], dtype=[("a", "int64"), ("b", "float64")])
    assert infer_schema(data) == schema(col("a", "long"), col("b", "double"))


def test_a_dict_of_2d_arrays_is_a_dict_of_tensors() -> None:
    data = {"ids": np.zeros((2, 16), dtype="int64"), "mask": np.ones((2, 16), dtype=bool)}
    assert infer_schema(data) == schema(
        col("ids", "tensor", shape=(-1, 16), dtype="int64"),
        col("mask", "tensor", shape=(-1, 16), dtype="bool"),
    )


def test_infer_from_columns_and_records_reads_python_values_exactly() -> None:
    # pd.Series([1, None]) would turn the ints into floats; a signature keeps them long.
    columns = {"n": [1, None], "x": [1, 2.5], "s": ["a", "b"], "b": [True, False]}
    expected = schema(
        col("n", "long", True), col("x", "double"), col("s", "string"), col("b", "boolean")
    )
    assert infer_schema(columns) == expected
    records = [{"n": 1, "x": 1, "s": "a", "b": True}, {"x": 2.5, "s": "b", "b": False}]
    assert infer_schema(records) == expected  # a key left out of a record is a null


# -- signatures ----------------------------------------------------------------------------

INPUTS = pd.DataFrame({"distance": [1400, 1065], "carrier": ["AA", "B6"]})


@pytest.mark.parametrize(
    ("outputs", "expected"),
    [
        (np.array([0, 1]), "prediction: long"),
        (pd.Series([0.1, 0.2], name="delay"), "delay: double"),
        (["late", "on time"], "prediction: string"),
        (np.zeros((2, 3), dtype="float32"), "prediction: tensor<float32>[-1, 3]"),
        (pd.DataFrame({"p": [0.1, 0.9], "label": ["a", "b"]}), "p: double, label: string"),
    ],
    ids=["labels array", "named series", "list of labels", "2-D without classes", "frame"],
)
def test_infer_signature_outputs(outputs: Any, expected: str) -> None:
    signature = infer_signature(INPUTS, outputs)
    assert str(signature.outputs) == expected
    assert str(signature.inputs) == "distance: long, carrier: string"


def test_probabilities_with_class_names_are_one_column_per_class() -> None:
    proba = np.array([[0.9, 0.1], [0.3, 0.7]])
    signature = infer_signature(INPUTS, proba, classes=[False, True])
    assert str(signature.outputs) == "False: double, True: double"
    with pytest.raises(InvalidInputError, match=r"classes names 3 classes.*got shape \(2, 2\)"):
        infer_signature(INPUTS, proba, classes=["a", "b", "c"])


def test_signature_without_outputs_and_with_params() -> None:
    signature = infer_signature(INPUTS, params={"threshold": 0.5, "top_k": 3, "explain": False})
    assert signature.outputs is None
    assert [str(p) for p in signature.params] == [
        "threshold: double = 0.5",
        "top_k: long = 3",
        "explain: boolean = False",
    ]
    assert str(signature).startswith("(distance: long, carrier: string) -> (unknown) with ")


# -- validation: happy paths ---------------------------------------------------------------

FLIGHTS = schema(
    col("carrier", "string"),
    col("distance", "long"),
    col("temp", "double", True),
    col("dep_time", "datetime", tz=NY),
)
EXPECTED_FLIGHTS = pd.DataFrame(
    {
        "carrier": pd.Series(["AA", "B6"], dtype="str"),
        "distance": np.array([1400, 200], dtype="int64"),
        "temp": [3.5, np.nan],
        "dep_time": pd.to_datetime(["2013-01-01 05:15", "2013-01-01 08:00"]).tz_localize(NY),
    }
)


@pytest.mark.parametrize(
    "data",
    [
        [
            {"temp": 3.5, "distance": 1400, "dep_time": "2013-01-01T05:15:00", "carrier": "AA"},
            {"distance": 200.0, "carrier": "B6", "dep_time": "2013-01-01T13:00:00Z"},
        ],
        {
            "distance": [1400, 200],
            "carrier": ["AA", "B6"],
            "temp": [3.5, None],
            "dep_time": ["2013-01-01 05:15", "2013-01-01T08:00:00-05:00"],
        },
        pd.DataFrame(
            {
                "dep_time": [dt.datetime(2013, 1, 1, 5, 15), dt.datetime(2013, 1, 1, 8)],
                "temp": np.array([3.5, np.nan], dtype="float32"),
                "distance": pd.array([1400, 200], dtype="Int32"),
                "carrier": pd.Series(["AA", "B6"], dtype=object),
                "unused": [1, 2],
            }
        ),
    ],
    ids=["records", "columns", "dataframe"],
)
def test_validate_restores_order_and_dtypes(data: Any) -> None:
    # Keys in any order, a long sent as 200.0, a missing nullable key, extra columns,
    # local and UTC times: the model gets the training dtypes in the training order.
    assert_frame_equal(validate(FLIGHTS, data), EXPECTED_FLIGHTS)


def test_validate_keeps_a_frames_index() -> None:
    frame = EXPECTED_FLIGHTS.set_index(pd.Index([10, 20]))
    assert validate(FLIGHTS, frame).index.tolist() == [10, 20]


@pytest.mark.parametrize(
    ("spec", "values", "expected"),
    [
        (col("x", "double"), [1, 2.5, np.int8(3)], np.array([1.0, 2.5, 3.0])),
        (col("x", "float"), [1, 2.5], np.array([1.0, 2.5], dtype="float32")),
        (col("x", "long"), [3.0, -2, np.float32(4)], np.array([3, -2, 4])),
        (col("x", "long", True), [3.0, None], pd.array([3, None], dtype="Int64")),
        (col("x", "integer"), np.array([1, 2], dtype="uint64"), np.array([1, 2], dtype="int32")),
        (col("x", "boolean"), [True, np.bool_(False)], np.array([True, False])),
        (col("x", "boolean", True), [True, None], pd.array([True, None], dtype="boolean")),
        (col("x", "string", True), ["a", np.nan], pd.array(["a", np.nan], dtype="str")),
        (col("x", "binary"), [b"a", bytearray(b"b")], np.array([b"a", b"b"], dtype=object)),
        (
            col("x", "category", True, categories=("a", "b")),
            ["b", None],
            pd.Categorical(["b", None], categories=pd.Index(["a", "b"], dtype="str")),
        ),
        (
            col("x", "datetime"),
            ["2013-01-01", dt.datetime(2013, 1, 2), dt.date(2013, 1, 3)],
            pd.to_datetime(["2013-01-01", "2013-01-02", "2013-01-03"]).array,
        ),
        (
            col("x", "datetime", tz="UTC", unit="ns"),
            ["2013-01-01T01:00:00+01:00", "2013-01-01T00:00:00-01:00"],
            pd.to_datetime(["2013-01-01T00:00", "2013-01-01T01:00"])
            .tz_localize("UTC")
            .as_unit("ns"),
        ),
    ],
    ids=lambda value: str(value) if isinstance(value, ColumnSpec) else "",
)
def test_accepted_values_and_what_the_model_gets(
    spec: ColumnSpec, values: Any, expected: Any
) -> None:
    result = validate(schema(spec), {"x": values})["x"]
    assert_series_equal(result, pd.Series(expected, name="x"))


def test_series_in_a_dict_of_columns_are_read_by_position() -> None:
    data = {"carrier": pd.Series(["AA", "B6"], index=[7, 3]), "distance": (1, 2)}
    result = validate(DISTANCE, data)
    assert result.index.tolist() == [0, 1]
    assert result["carrier"].tolist() == ["AA", "B6"]


def test_an_empty_batch_gets_the_schemas_dtypes() -> None:
    result = validate(FLIGHTS, [])
    assert len(result) == 0
    assert result.dtypes.tolist() == EXPECTED_FLIGHTS.dtypes.tolist()


def test_validate_accepts_a_pyarrow_table() -> None:
    table = pa.Table.from_pandas(EXPECTED_FLIGHTS)
    assert_frame_equal(validate(FLIGHTS, table), EXPECTED_FLIGHTS)


# -- validation: errors --------------------------------------------------------------------

DISTANCE = schema(col("carrier", "string"), col("distance", "long"))


def only_error(spec: ColumnSpec, value: Any, match: str) -> ColumnError:
    """Validate one bad value in column x; return its single error."""
    with pytest.raises(SchemaValidationError, match=match) as caught:
        validate(schema(spec), {"x": [value]})
    assert caught.value.error_count == 1
    (error,) = caught.value.errors
    assert (error.column, error.row) == ("x", 0)
    return error


LONG = "long (a whole number of 64 bits)"
ISO = "datetime (an ISO 8601 date-time)"


@pytest.mark.parametrize(
    ("spec", "value", "expected", "got", "hint"),
    [
        (col("x", "double"), "3.5", "double", "'3.5' (str)", "not numbers"),
        (col("x", "double"), True, "double", "True (bool)", "not numbers"),
        (col("x", "double"), 10**400, "double", "10000000000000000000000000000", "range"),
        (col("x", "float"), 1e39, "float", "1e+39 (float)", "float32's range"),
        (col("x", "long"), 3.5, LONG, "3.5 (float)", "fractional"),
        (col("x", "long"), np.inf, LONG, "inf (float)", "fractional"),
        (col("x", "long"), False, LONG, "False (bool)", "numbers"),
        (col("x", "long"), "7", LONG, "'7' (str)", "not numbers"),
        (col("x", "long"), 2**63, LONG, f"{2**63} (int)", "range"),
        (col("x", "long"), 2.0**63, LONG, "9.223372036854776e+18", ""),
        (col("x", "integer"), 2**31, "integer (a whole number of 32 bits)", "2147483648", "range"),
        (col("x", "boolean"), 1, "boolean", "1 (int)", "not 0/1"),
        (col("x", "boolean"), "true", "boolean", "'true' (str)", "not 0/1"),
        (col("x", "string"), 9, "string", "9 (int)", "quote them"),
        (col("x", "binary"), "abc", "binary (bytes)", "'abc' (str)", "decode"),
        (col("x", "long"), None, "a non-null long", "null", "no missing values in training"),
        (col("x", "double"), np.nan, "a non-null double", "null", "send a value"),
        (
            col("x", "category", categories=("AA", "B6")),
            "ZZ",
            "one of the 2 known categories ('AA', 'B6')",
            "'ZZ' (str)",
            "never saw",
        ),
        (col("x", "category", categories=("1",)), 1, "string", "1 (int)", "its name"),
        (col("x", "datetime"), "01/02/2013", ISO, "'01/02/2013' (str)", "ISO 8601"),
        (col("x", "datetime"), 1357000000, "datetime", "1357000000 (int)", "ISO 8601"),
        (
            col("x", "datetime"),
            "2013-01-01T00:00:00+01:00",
            "datetime (without a time zone)",
            "'2013-01-01T00:00:00+01:00' (str)",
            "local times",
        ),
        (
            col("x", "datetime", tz=NY),
            "2013-03-10T02:30:00",
            f"datetime[{NY}]",
            "'2013-03-10T02:30:00' (str)",
            "skipped or repeated",
        ),
    ],
    ids=lambda value: str(value) if isinstance(value, ColumnSpec) else None,
)
def test_each_kind_of_bad_value_is_named(
    spec: ColumnSpec, value: Any, expected: str, got: str, hint: str
) -> None:
    error = only_error(spec, value, re.escape(f"column 'x', row 0: expected {expected}, got "))
    assert error.expected == expected
    assert error.got.startswith(got)
    assert hint in error.message
    assert error.message.startswith(f"column 'x', row 0: expected {expected}, got {error.got}")


def test_a_datetime_beyond_the_units_range_is_refused_not_crashed() -> None:
    frame = pd.DataFrame({"x": np.array(["2013-01-01", "2500-01-01"], dtype="datetime64[s]")})
    with pytest.raises(SchemaValidationError, match=r"out of range for unit ns") as caught:
        validate(schema(col("x", "datetime", unit="ns")), frame)
    assert [e.row for e in caught.value.errors] == [1]


def test_an_aware_datetime_column_from_a_frame_into_a_naive_schema() -> None:
    frame = pd.DataFrame({"x": pd.date_range("2013-01-01", periods=2, tz="UTC")})
    with pytest.raises(SchemaValidationError, match=r"without a time zone") as caught:
        validate(schema(col("x", "datetime")), frame)
    assert [e.row for e in caught.value.errors] == [0, 1]


def test_mixed_offsets_are_parsed_one_by_one() -> None:
    values = ["2013-01-01T00:00:00+01:00", "2013-01-01T00:00:00-01:00", "2013-01-01T03:00:00"]
    result = validate(schema(col("x", "datetime", tz="UTC")), {"x": values})["x"]
    assert result.dt.hour.tolist() == [23, 1, 3]
    with pytest.raises(SchemaValidationError, match=r"row 3: expected datetime\[UTC\] \(an ISO"):
        validate(schema(col("x", "datetime", tz="UTC")), {"x": [*values, "01/02/2013"]})
    with pytest.raises(SchemaValidationError) as caught:
        validate(schema(col("x", "datetime")), {"x": [*values, "garbage"]})
    assert [(e.row, e.expected) for e in caught.value.errors] == [
        (0, "datetime (without a time zone)"),
        (1, "datetime (without a time zone)"),
        (3, "datetime (an ISO 8601 date-time)"),
    ]


def test_a_missing_column_suggests_a_close_name() -> None:
    with pytest.raises(SchemaValidationError, match=r"column 'distance': expected a column") as c:
        validate(DISTANCE, [{"carrier": "AA", "distanse": 10}])
    (error,) = c.value.errors
    assert (error.column, error.row, error.got) == ("distance", None, "no such column")
    assert "did you mean 'distanse'?" in error.message


def test_a_suggestion_never_names_a_column_of_the_schema() -> None:
    two = schema(col("temp", "double"), col("temp2", "double"))
    with pytest.raises(SchemaValidationError) as caught:
        validate(two, {"temp2": [1.0]})
    assert caught.value.errors[0].message.endswith("; add the column")


def test_extra_columns_are_ignored_or_refused() -> None:
    records = [{"carrier": "AA", "distance": 10, "tail": "N1"}]
    assert validate(DISTANCE, records).columns.tolist() == ["carrier", "distance"]
    with pytest.raises(SchemaValidationError, match=r"column 'tail': expected only the schema"):
        validate(DISTANCE, records, extra="refuse")


def test_many_errors_are_reported_together_with_a_cap() -> None:
    records = [{"carrier": i, "distance": "far"} for i in range(30)]
    with pytest.raises(SchemaValidationError) as caught:
        validate(DISTANCE, records)
    error = caught.value
    assert error.error_count == 60
    assert len(error.errors) == DEFAULT_MAX_ERRORS
    # Row order, each row's columns in schema order.
    assert [(e.row, e.column) for e in error.errors[:3]] == [
        (0, "carrier"),
        (0, "distance"),
        (1, "carrier"),
    ]
    assert error.message.splitlines()[0] == (
        "Input does not match the model's signature: 60 problems ('carrier': 30, 'distance': 30)."
    )
    assert "  ... and 40 more" in error.message
    assert error.message.endswith("Expected columns: carrier: string, distance: long.")


def test_every_failing_column_is_listed_even_past_the_cap() -> None:
    # 50 bad distances come first, but the one bad carrier (row 40) still gets listed.
    records = [{"carrier": "AA", "distance": 0.5} for _ in range(50)]
    records[40]["carrier"] = None
    with pytest.raises(SchemaValidationError) as caught:
        validate(DISTANCE, records, max_errors=5)
    listed = [(e.row, e.column) for e in caught.value.errors]
    assert listed == [*[(row, "distance") for row in range(4)], (40, "carrier")]
    assert caught.value.error_count == 51


@pytest.mark.parametrize(
    ("data", "match", "column", "row"),
    [
        ([{"carrier": "AA", "distance": 1}, ["AA", 1]], r"row 1: expected a record", None, 1),
        ({"carrier": "AA", "distance": [1]}, r"'carrier': expected a list of", "carrier", None),
        (
            {"carrier": ["AA", "B6"], "distance": [1]},
            r"expected columns of equal length, got different lengths \('carrier' has 2",
            None,
            None,
        ),
        ("carrier=AA", r"expected a list of records.*got str", None, None),
        (
            pd.DataFrame([["AA", 1, 2]], columns=["carrier", "distance", "distance"]),
            r"column 'distance': expected unique column names",
            "distance",
            None,
        ),
    ],
    ids=["not a record", "scalar column", "unequal lengths", "a string", "repeated column"],
)
def test_malformed_requests(data: Any, match: str, column: str | None, row: int | None) -> None:
    with pytest.raises(SchemaValidationError, match=match) as caught:
        validate(DISTANCE, data)
    assert (caught.value.errors[0].column, caught.value.errors[0].row) == (column, row)


def test_the_error_is_a_400_with_a_json_body_and_survives_pickling() -> None:
    with pytest.raises(SchemaValidationError) as caught:
        validate(DISTANCE, [{"carrier": "AA", "distance": 1.5}])
    error = caught.value
    assert isinstance(error, InvalidInputError)
    assert isinstance(error, ValueError)
    assert error.status_code == 400
    body = json.loads(json.dumps(error.to_dict()))["error"]
    assert body["type"] == "SchemaValidationError"
    assert body["error_count"] == 1
    assert body["details"] == [
        {
            "column": "distance",
            "row": 0,
            "expected": "long (a whole number of 64 bits)",
            "got": "1.5 (float)",
            "message": "column 'distance', row 0: expected long (a whole number of 64 bits), "
            "got 1.5 (float); the value has a fractional part (3.0 is accepted, 3.5 is not)",
        }
    ]
    copy = pickle.loads(pickle.dumps(error))
    assert (str(copy), copy.errors, copy.error_count) == (str(error), error.errors, 1)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"extra": "drop"}, r"extra must be 'ignore' or 'refuse', got 'drop'"),
        ({"max_errors": 0}, r"max_errors must be a positive int, got 0"),
    ],
)
def test_bad_options(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        validate(DISTANCE, [], **kwargs)


def test_validate_and_validate_tensors_each_refuse_the_other_kind() -> None:
    tensors = infer_schema(np.zeros((1, 3)))
    with pytest.raises(InvalidInputError, match=r"use validate_tensors\(\) instead"):
        validate(tensors, {"input": [[1, 2, 3]]})
    with pytest.raises(InvalidInputError, match=r"use validate\(\) instead"):
        validate_tensors(DISTANCE, {})


# -- tensors -------------------------------------------------------------------------------

IMAGES = schema(col("image", "tensor", shape=(-1, 2, 2), dtype="float32"))
TOKENS = schema(
    col("ids", "tensor", shape=(-1, 3), dtype="int32"),
    col("mask", "tensor", shape=(-1, 3), dtype="bool"),
)


def test_validate_tensors_casts_safely() -> None:
    (image,) = validate_tensors(IMAGES, [[[1, 2], [3, 4]]]).values()
    assert image.dtype == np.float32
    assert image.shape == (1, 2, 2)
    out = validate_tensors(TOKENS, {"ids": np.array([[1.0, 2.0, 3.0]]), "mask": [[True] * 3]})
    assert out["ids"].dtype == np.int32
    assert out["ids"].tolist() == [[1, 2, 3]]


@pytest.mark.parametrize(
    ("data", "column", "got", "hint"),
    [
        ({"ids": [[1, 2]], "mask": [[True] * 3]}, "ids", "tensor<int64>[1, 2]", "shape differs"),
        ({"ids": [[1.5, 2, 3]], "mask": [[True] * 3]}, "ids", "tensor<float64>[1, 3]", "fraction"),
        ({"ids": [[2**40, 2, 3]], "mask": [[True] * 3]}, "ids", "tensor<int64>[1, 3]", "range"),
        ({"ids": [[1, 2, 3]], "mask": [[1, 0, 1]]}, "mask", "tensor<int64>[1, 3]", "booleans"),
        ({"ids": [["a", "b", "c"]], "mask": [[True] * 3]}, "ids", "tensor<<U1>[1, 3]", ""),
        ({"ids": [[1, 2, 3], [1]], "mask": [[True] * 3]}, "ids", "nested lists of uneven", ""),
        ({"ids": [[1, 2, 3]]}, "mask", "no such column", "add the column"),
    ],
    ids=["shape", "fractional", "range", "bool", "strings", "ragged", "missing"],
)
def test_validate_tensors_errors(data: Any, column: str, got: str, hint: str) -> None:
    with pytest.raises(SchemaValidationError, match=re.escape(f"column '{column}'")) as caught:
        validate_tensors(TOKENS, data)
    (error,) = caught.value.errors
    assert (error.column, error.row) == (column, None)
    assert error.got.startswith(got)
    assert hint in error.message


def test_a_bare_array_needs_a_single_tensor_schema() -> None:
    with pytest.raises(SchemaValidationError, match=r"expected a dict of tensors named ids, mask"):
        validate_tensors(TOKENS, np.zeros((1, 3)))


# -- params --------------------------------------------------------------------------------

TUNED = Signature(
    DISTANCE,
    params=(ParamSpec("threshold", T.DOUBLE, 0.5), ParamSpec("top_k", T.LONG, 3)),
)


def test_validate_params_fills_defaults_and_coerces() -> None:
    assert validate_params(TUNED, None) == {"threshold": 0.5, "top_k": 3}
    assert validate_params(TUNED, {"threshold": 1, "top_k": 5.0}) == {"threshold": 1.0, "top_k": 5}
    assert validate_params(TUNED, {"threshold": None}) == {"threshold": 0.5, "top_k": 3}


def test_validate_params_refuses_unknown_and_mistyped() -> None:
    with pytest.raises(SchemaValidationError) as caught:
        validate_params(TUNED, {"threshold": "high", "top_k": 2.5, "seed": 1})
    assert [(e.column, e.got) for e in caught.value.errors] == [
        ("seed", "a param 'seed'"),
        ("threshold", "'high' (str)"),
        ("top_k", "2.5 (float)"),
    ]
    with pytest.raises(SchemaValidationError, match=r"'top_k': expected long, got 1000.*range"):
        validate_params(TUNED, {"top_k": 10**400})
    assert caught.value.message.startswith("Params does not match")


def test_a_param_default_must_fit_its_type() -> None:
    with pytest.raises(InvalidInputError, match=r"'k' \(long\) has default 0.5: .*fractional"):
        ParamSpec("k", T.LONG, 0.5)
    with pytest.raises(InvalidInputError, match=r"Param 'k' has type 'tensor'; expected one of"):
        ParamSpec("k", T.TENSOR)


# -- the schema objects and JSON -----------------------------------------------------------

RICH = Signature(
    inputs=schema(
        col("carrier", "category", categories=("AA", "B6")),
        col("distance", "long"),
        col("temp", "double", True),
        col("dep", "datetime", tz="UTC", unit="ns"),
        col("raw", "binary", True),
    ),
    outputs=schema(col("late", "boolean")),
    params=(ParamSpec("threshold", T.DOUBLE, 0.5),),
)


@pytest.mark.parametrize(
    "thing",
    [RICH, RICH.inputs, Signature(IMAGES), TOKENS],
    ids=["signature", "schema", "tensor signature", "tensor schema"],
)
def test_json_round_trip(thing: Signature | Schema) -> None:
    data = json.loads(json.dumps(thing.to_dict()))
    assert data["version"] == SCHEMA_VERSION
    assert type(thing).from_dict(data) == thing


def test_to_dict_is_compact_and_readable() -> None:
    assert RICH.inputs.to_dict()["columns"][:2] == [
        {"name": "carrier", "type": "category", "nullable": False, "categories": ["AA", "B6"]},
        {"name": "distance", "type": "long", "nullable": False},
    ]


@pytest.mark.parametrize("cls", [Schema, Signature])
def test_unknown_versions_are_refused(cls: type[Schema] | type[Signature]) -> None:
    data = RICH.to_dict() if cls is Signature else RICH.inputs.to_dict()
    with pytest.raises(InvalidInputError, match=r"version 2: this shipyard reads version 1"):
        cls.from_dict({**data, "version": 2})


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"version": 1}, r"missing keys \['columns'\]"),
        ({"version": 1, "columns": [], "extra": 1}, r"unknown keys \['extra'\]"),
        ({"version": 1, "columns": "a"}, r"'columns' must be a list"),
        ({"version": 1, "columns": [{"name": "a"}]}, r"missing keys \['type'\]"),
        ({"version": 1, "columns": [{"name": "a", "type": "int"}]}, r"type 'int'; expected one"),
        ({"version": 1, "columns": []}, r"at least one ColumnSpec"),
        (
            {"version": 1, "columns": [{"name": "a", "type": "long", "nullable": "no"}]},
            r"'a' has nullable='no'; expected true or false",
        ),
    ],
)
def test_malformed_schemas_are_refused(data: dict[str, Any], match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        Schema.from_dict(data)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"name": "", "type": "long"}, r"non-empty string"),
        ({"name": "x", "type": "tensor", "dtype": "float32"}, r"shape None; expected"),
        ({"name": "x", "type": "tensor", "shape": (-1,), "dtype": "str"}, r"dtype 'str'"),
        ({"name": "x", "type": "tensor", "shape": (0,), "dtype": "bool"}, r"shape \(0,\)"),
        (
            {"name": "x", "type": "tensor", "shape": (-1,), "dtype": "bool", "nullable": True},
            r"tensors cannot hold nulls",
        ),
        ({"name": "x", "type": "long", "shape": (2,)}, r"only tensor columns take them"),
        ({"name": "x", "type": "category"}, r"needs its categories"),
        ({"name": "x", "type": "category", "categories": ("a", "a")}, r"a category twice"),
        ({"name": "x", "type": "string", "categories": ("a",)}, r"only category columns"),
        ({"name": "x", "type": "datetime", "unit": "D"}, r"unit 'D'"),
        ({"name": "x", "type": "long", "tz": "UTC"}, r"only datetime columns"),
    ],
)
def test_contradictory_columns_are_refused(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        ColumnSpec(**kwargs)


def test_schemas_refuse_repeats_and_mixing_tensors_with_columns() -> None:
    with pytest.raises(InvalidInputError, match=r"'a' appears twice"):
        schema(col("a", "long"), col("a", "double"))
    with pytest.raises(InvalidInputError, match=r"either tensors or scalar columns"):
        schema(col("a", "long"), col("t", "tensor", shape=(-1,), dtype="float32"))


def test_schema_access_and_strings() -> None:
    inputs = RICH.inputs
    assert len(inputs) == 5
    assert "temp" in inputs
    assert inputs["temp"] == col("temp", "double", True)
    assert [c.name for c in inputs] == list(inputs.names)
    with pytest.raises(KeyError):
        inputs["nope"]
    assert str(inputs) == (
        "carrier: category(2), distance: long, temp: double?, dep: datetime[ns, UTC], raw: binary?"
    )
    assert str(RICH) == f"({inputs}) -> (late: boolean) with threshold: double = 0.5"


def test_a_plain_string_type_becomes_the_enum() -> None:
    assert ColumnSpec("x", "long").type is T.LONG  # type: ignore[arg-type]


# -- Open Inference Protocol ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "datatype"),
    [
        (col("x", "double"), "FP64"),
        (col("x", "float"), "FP32"),
        (col("x", "long"), "INT64"),
        (col("x", "integer"), "INT32"),
        (col("x", "boolean"), "BOOL"),
        (col("x", "string"), "BYTES"),
        (col("x", "category", categories=("a",)), "BYTES"),
        (col("x", "datetime"), "BYTES"),
        (col("x", "binary"), "BYTES"),
        (col("x", "tensor", shape=(-1,), dtype="float16"), "FP16"),
        (col("x", "tensor", shape=(-1,), dtype="uint8"), "UINT8"),
        (col("x", "tensor", shape=(-1,), dtype="bool"), "BOOL"),
    ],
    ids=lambda value: value if isinstance(value, str) else value.type_label,
)
def test_v2_datatypes(spec: ColumnSpec, datatype: str) -> None:
    assert to_v2_datatype(spec) == datatype


@pytest.mark.parametrize("kind", [t for t in ColumnType if t not in (T.TENSOR, T.CATEGORY)])
def test_v2_round_trip_for_scalar_types(kind: ColumnType) -> None:
    spec = col("x", kind.value)
    back = column_type_from_v2(to_v2_datatype(spec))
    assert back == kind or (to_v2_datatype(spec) == "BYTES" and back is T.STRING)


@pytest.mark.parametrize("dtype", ["bool", "float16", "float32", "float64", "int8", "uint64"])
def test_v2_round_trip_for_tensor_dtypes(dtype: str) -> None:
    spec = col("x", "tensor", shape=(-1,), dtype=dtype)
    assert tensor_dtype_from_v2(to_v2_datatype(spec)) == dtype


def test_unknown_v2_datatypes() -> None:
    with pytest.raises(InvalidInputError, match=r"datatype 'FP8'; expected one of BOOL, BYTES"):
        column_type_from_v2("FP8")
    with pytest.raises(InvalidInputError, match=r"datatype 'BYTES'; expected one of BOOL, FP16"):
        tensor_dtype_from_v2("BYTES")


def test_v2_metadata() -> None:
    assert v2_metadata(DISTANCE) == [
        {"name": "carrier", "datatype": "BYTES", "shape": [-1]},
        {"name": "distance", "datatype": "INT64", "shape": [-1]},
    ]
    assert v2_metadata(IMAGES) == [{"name": "image", "datatype": "FP32", "shape": [-1, 2, 2]}]


# -- the property: data validates against the schema inferred from it ---------------------

CATEGORIES = ("AA", "B6", "UA")
BOUNDS = {"float": 1e30, "integer": 2**31 - 1, "long": 2**63 - 1}


def _values(kind: str) -> st.SearchStrategy[Any]:
    if kind in ("double", "float"):
        width = 64 if kind == "double" else 32
        return st.floats(allow_nan=False, allow_infinity=False, width=width)
    if kind in ("long", "integer"):
        return st.integers(-BOUNDS[kind] - 1, BOUNDS[kind])
    if kind == "boolean":
        return st.booleans()
    if kind in ("string", "category"):
        return st.sampled_from(CATEGORIES) if kind == "category" else st.text(max_size=5)
    if kind == "binary":
        return st.binary(max_size=5)
    return st.datetimes(dt.datetime(1900, 1, 1), dt.datetime(2200, 1, 1))


def _column(kind: str, tz: str | None, values: list[Any], nullable: bool) -> Any:
    """A pandas column with the dtype the schema's validation produces."""
    nulls = [i == 0 for i in range(len(values))] if nullable else [False] * len(values)
    data = [None if null else value for value, null in zip(values, nulls, strict=True)]
    if kind in ("double", "float"):
        floats = [np.nan if v is None else v for v in data]
        return np.array(floats, dtype="float64" if kind == "double" else "float32")
    if kind in ("long", "integer"):
        bits = 64 if kind == "long" else 32
        return pd.array(data, dtype=f"Int{bits}") if nullable else np.array(data, f"int{bits}")
    if kind == "boolean":
        return pd.array(data, dtype="boolean") if nullable else np.array(data, dtype=bool)
    if kind == "string":
        return pd.array(data, dtype="str")
    if kind == "category":
        return pd.Categorical(data, categories=pd.Index(CATEGORIES, dtype="str"))
    if kind == "binary":
        return np.array(data, dtype=object)
    stamps = pd.DatetimeIndex(pd.to_datetime(data)).as_unit("us")
    return stamps.tz_localize(tz).array if tz else stamps.array


def _spec(name: str, kind: str, tz: str | None, nullable: bool) -> ColumnSpec:
    if kind == "category":
        return col(name, kind, nullable, categories=CATEGORIES)
    if kind == "datetime":
        return col(name, kind, nullable, tz=tz)
    return col(name, kind, nullable)


@st.composite
def frames(draw: st.DrawFn) -> tuple[Schema, DataFrame]:
    kinds = [t.value for t in ColumnType if t is not T.TENSOR]
    n_rows = draw(st.integers(2, 6))
    columns = draw(
        st.lists(
            st.tuples(st.sampled_from(kinds), st.booleans(), st.sampled_from([None, "UTC", NY])),
            min_size=1,
            max_size=6,
        )
    )
    specs, data = [], {}
    for i, (kind, nullable, tz) in enumerate(columns):
        zone = tz if kind == "datetime" else None
        values = draw(st.lists(_values(kind), min_size=n_rows, max_size=n_rows))
        if kind == "datetime" and zone:  # skip local times a DST change makes ambiguous
            values = [v.replace(hour=12) for v in values]
        specs.append(_spec(f"c{i}", kind, zone, nullable))
        data[f"c{i}"] = _column(kind, zone, values, nullable)
    return Schema(tuple(specs)), pd.DataFrame(data)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames())
def test_any_frame_validates_against_its_inferred_schema(drawn: tuple[Schema, DataFrame]) -> None:
    expected_schema, frame = drawn
    inferred = infer_schema(frame)
    assert inferred == expected_schema
    assert Schema.from_dict(json.loads(json.dumps(inferred.to_dict()))) == inferred
    assert_frame_equal(validate(inferred, frame), frame)
    # The same rows as JSON-like records come back equal too.
    assert_frame_equal(validate(inferred, frame.to_dict("records")), frame)


JSON_VALUES = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(),
        st.text(max_size=8),
        st.sampled_from(["2013-01-01", "2013-01-01T00:00:00+05:00", "2013-03-31T02:30:00", "NaT"]),
    ),
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=2), inner),
    max_leaves=3,
)
EVERY_TYPE = schema(
    col("d", "double"),
    col("f", "float", True),
    col("l", "long"),
    col("i", "integer", True),
    col("b", "boolean"),
    col("s", "string", True),
    col("c", "category", categories=("a", "b")),
    col("t", "datetime"),
    col("tz", "datetime", True, tz="Europe/Paris", unit="ns"),
    col("y", "binary", True),
)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.fixed_dictionaries({}, optional=dict.fromkeys(EVERY_TYPE.names, JSON_VALUES))))
def test_any_json_request_validates_or_raises_a_validation_error(records: list[Any]) -> None:
    # Bad input must become a 4xx with its errors listed, never another exception (a 500).
    outcome: pd.DataFrame | SchemaValidationError
    try:
        outcome = validate(EVERY_TYPE, records)
    except SchemaValidationError as error:
        outcome = error
    if isinstance(outcome, SchemaValidationError):
        assert 0 < len(outcome.errors) <= outcome.error_count
    else:
        assert outcome.columns.tolist() == list(EVERY_TYPE.names)


# -- helpers -------------------------------------------------------------------------------


def assert_frame_equal(left: pd.DataFrame, right: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(left, right, check_exact=True)


def assert_series_equal(left: pd.Series[Any], right: pd.Series[Any]) -> None:
    pd.testing.assert_series_equal(left, right, check_exact=True)
