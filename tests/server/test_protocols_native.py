"""The native protocol's parser: records or columns, routing keys, client ids, and refusals."""

from __future__ import annotations

import numpy as np
import orjson
import pytest

from shipyard.core.errors import InvalidInputError, MalformedRequestError
from shipyard.core.signature import ColumnSpec, Schema, Signature, validate, validate_tensors
from shipyard.server._protocols import MAX_ID_LENGTH, parse_native

TABLE = Signature(
    Schema((ColumnSpec("carrier", "string"), ColumnSpec("distance", "long", nullable=True)))
)
TENSOR = Signature(Schema((ColumnSpec("pixels", "tensor", shape=(-1, 3), dtype="float32"),)))


def _body(document: object) -> bytes:
    return orjson.dumps(document)


def test_records_pass_through_as_sent() -> None:
    records = [{"carrier": "UA", "distance": 1400}, {"carrier": "AA", "distance": None}]
    parsed = parse_native(_body({"records": records}), TABLE)
    assert (parsed.kind, parsed.rows, parsed.data) == ("records", 2, records)
    assert (parsed.routing_key, parsed.ids) == (None, None)
    frame = validate(TABLE.inputs, parsed.data)
    assert frame["distance"].isna().tolist() == [False, True]


def test_columns_pass_through_as_sent() -> None:
    columns = {"carrier": ["UA", "AA", "B6"], "distance": [1400, 733, 1065]}
    parsed = parse_native(_body({"columns": columns}), TABLE)
    assert (parsed.kind, parsed.rows, parsed.data) == ("columns", 3, columns)
    assert validate(TABLE.inputs, parsed.data)["distance"].tolist() == [1400, 733, 1065]


def test_routing_key_and_ids_are_kept() -> None:
    body = {
        "records": [{"carrier": "UA", "distance": 1}, {"carrier": "AA", "distance": 2}],
        "routing_key": "customer-42",
        "ids": ["order-1", "order-2"],
    }
    parsed = parse_native(_body(body), TABLE)
    assert parsed.routing_key == "customer-42"
    assert parsed.ids == ("order-1", "order-2")


def test_an_already_decoded_object_is_read_too() -> None:
    parsed = parse_native({"columns": {"carrier": ["UA"]}, "routing_key": "k"})
    assert (parsed.kind, parsed.rows, parsed.routing_key) == ("columns", 1, "k")
    with pytest.raises(MalformedRequestError, match=r"got an array of 1"):
        parse_native([{"carrier": "UA"}])


def test_without_a_signature_records_read_as_a_table() -> None:
    parsed = parse_native(b'{"records": [{"x": [1, 2]}]}')
    assert (parsed.kind, parsed.rows) == ("records", 1)


def test_tensor_models_read_records_as_the_batch() -> None:
    parsed = parse_native(b'{"records": [[1, 2, 3], [4, 5, 6]]}', TENSOR)
    assert parsed.kind == "tensor"
    assert parsed.rows == 2
    assert isinstance(parsed.data, np.ndarray)
    assert parsed.data.shape == (2, 3)
    assert validate_tensors(TENSOR.inputs, parsed.data)["pixels"].dtype == np.float32


def test_tensor_models_read_columns_as_tensors_by_name() -> None:
    parsed = parse_native(b'{"columns": {"pixels": [[1, 2, 3]]}}', TENSOR)
    assert parsed.kind == "tensor"
    assert parsed.rows == 1
    assert validate_tensors(TENSOR.inputs, parsed.data)["pixels"].shape == (1, 3)


@pytest.mark.parametrize(
    ("body", "match", "field"),
    [
        (b"", r"body is empty; send a JSON object", None),
        (b"{", r"not valid JSON .*send a UTF-8 JSON object", None),
        (b"\xff\xfe", r"not valid JSON", None),
        (b"[1, 2]", r"JSON object with 'records' or 'columns', got an array of 2", None),
        (b'"records"', r"got a string \('records'\)", None),
        (b"{}", r"exactly one of 'records' .* got neither", None),
        (b'{"records": [{}], "columns": {}}', r"got both", None),
        (b'{"record": [{}]}', r"unknown key\(s\) 'record'; expected only 'records'", None),
        (b'{"records": {"a": 1}}', r"'records' must be a list of row objects", "records"),
        (b'{"records": []}', r"records holds no rows; send at least one", "records"),
        (b'{"records": [{"a": 1}, [1]]}', r"records\[1\] must be an object", "records[1]"),
        (b'{"columns": []}', r"'columns' must be an object of column name", "columns"),
        (b'{"columns": {}}', r"got an empty object", "columns"),
        (
            b'{"columns": {"a": 1}}',
            r"columns\['a'\] must be a list .*\{\"a\": \[1\]\}",
            "columns['a']",
        ),
        (b'{"columns": {"a": [1], "b": [1, 2]}}', r"same length .*'a' has 1; 'b' has 2", None),
        (b'{"columns": {"a": []}}', r"columns holds no rows", "columns"),
        (b'{"records": [{}], "routing_key": 7}', r"'routing_key' must be a string", None),
        (b'{"records": [{}], "ids": "a"}', r"'ids' must be a list of strings", "ids"),
        (b'{"records": [{}], "ids": ["a", "b"]}', r"'ids' has 2 id\(s\) for 1 row", "ids"),
        (b'{"records": [{}], "ids": [3]}', r"ids\[0\] must be a non-empty string", "ids[0]"),
        (b'{"records": [{}], "ids": [""]}', r"ids\[0\] must be a non-empty string", "ids[0]"),
        (b'{"records": [{}, {}], "ids": ["a", "a"]}', r"ids\[1\] repeats the id 'a'", "ids[1]"),
    ],
    ids=[
        "empty",
        "not-json",
        "not-utf8",
        "array",
        "string",
        "neither",
        "both",
        "typo",
        "records-object",
        "records-empty",
        "record-list",
        "columns-list",
        "columns-empty",
        "column-scalar",
        "columns-uneven",
        "column-empty",
        "routing-key-number",
        "ids-string",
        "ids-count",
        "id-number",
        "id-empty",
        "id-repeated",
    ],
)
def test_bad_bodies_say_what_was_expected(body: bytes, match: str, field: str | None) -> None:
    with pytest.raises(MalformedRequestError, match=match) as caught:
        parse_native(body, TABLE)
    assert caught.value.status_code == 400
    if field is not None:
        assert caught.value.field == field
        assert caught.value.details() == [{"field": field, "message": caught.value.message}]


def test_ids_have_a_length_cap() -> None:
    long_id = "x" * (MAX_ID_LENGTH + 1)
    with pytest.raises(MalformedRequestError, match="at most 256 characters"):
        parse_native(_body({"records": [{}], "ids": [long_id]}))


def test_uneven_tensor_rows_are_refused_naming_the_field() -> None:
    with pytest.raises(MalformedRequestError, match=r"records is not a tensor: .*uneven"):
        parse_native(b'{"records": [[1, 2, 3], [4]]}', TENSOR)


def test_a_tensor_of_the_wrong_shape_is_left_to_validation() -> None:
    parsed = parse_native(b'{"records": [1, 2]}', TENSOR)
    assert parsed.data.shape == (2,)
    with pytest.raises(InvalidInputError, match=r"'pixels': expected tensor<float32>\[-1, 3\]"):
        validate_tensors(TENSOR.inputs, parsed.data)
