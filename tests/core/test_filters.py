"""The run search language: filter strings and order_by terms parse into small trees."""

from __future__ import annotations

import contextlib
import math
import random
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shipyard.core.errors import InvalidFilterError, InvalidInputError
from shipyard.core.filters import (
    ATTRIBUTES,
    BoolOp,
    Comparison,
    FieldRef,
    FilterNode,
    Not,
    OrderKey,
    parse_filter,
    parse_order_by,
)


def metric(key: str) -> FieldRef:
    return FieldRef("metric", key)


def param(key: str) -> FieldRef:
    return FieldRef("param", key)


def tag(key: str) -> FieldRef:
    return FieldRef("tag", key)


def attr(key: str) -> FieldRef:
    return FieldRef("attribute", key)


A = Comparison(metric("a"), ">", 1.0)
B = Comparison(metric("b"), ">", 2.0)
C = Comparison(metric("c"), ">", 3.0)

JAN_1_2024_MS = 1_704_067_200_000.0


# -- comparisons ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("metrics.auc > 0.8", Comparison(metric("auc"), ">", 0.8), id="metric"),
        pytest.param("metric.auc > 0.8", Comparison(metric("auc"), ">", 0.8), id="metric-singular"),
        pytest.param("params.model = 'gbm'", Comparison(param("model"), "=", "gbm"), id="param"),
        pytest.param("param.model = 'gbm'", Comparison(param("model"), "=", "gbm"), id="param-1"),
        pytest.param(
            "parameters.model = 'gbm'", Comparison(param("model"), "=", "gbm"), id="parameters"
        ),
        pytest.param("tags.team = 'risk'", Comparison(tag("team"), "=", "risk"), id="tag"),
        pytest.param("tag.team = 'risk'", Comparison(tag("team"), "=", "risk"), id="tag-singular"),
        pytest.param(
            "tags.shipyard.git.commit = 'abc123'",
            Comparison(tag("shipyard.git.commit"), "=", "abc123"),
            id="tag-key-with-dots",
        ),
        pytest.param(
            "params.data/path:v-2 = 'x'",
            Comparison(param("data/path:v-2"), "=", "x"),
            id="key-with-slash-colon-dash",
        ),
        pytest.param("METRICS.auc > 1", Comparison(metric("auc"), ">", 1.0), id="prefix-any-case"),
        pytest.param("metrics.AUC > 1", Comparison(metric("AUC"), ">", 1.0), id="key-keeps-case"),
    ],
)
def test_field_kinds(text: str, expected: Comparison) -> None:
    assert parse_filter(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("metrics.`val loss` < 1", metric("val loss"), id="backticks"),
        pytest.param('metrics."val loss" < 1', metric("val loss"), id="double-quotes"),
        pytest.param("metrics.'val loss' < 1", metric("val loss"), id="single-quotes"),
        pytest.param("metrics.`a.b` < 1", metric("a.b"), id="backticks-with-dot"),
        pytest.param('metrics."say ""hi""" < 1', metric('say "hi"'), id="doubled-quote-in-key"),
        pytest.param("tags.`shipyard.git.dirty` = 'x'", tag("shipyard.git.dirty"), id="tag-dotted"),
        pytest.param("`status` = 'x'", attr("status"), id="backticked-attribute"),
        pytest.param("attributes.`status` = 'x'", attr("status"), id="prefixed-backticked"),
    ],
)
def test_quoted_keys(text: str, expected: FieldRef) -> None:
    node = parse_filter(text)
    assert isinstance(node, Comparison)
    assert node.field == expected


@pytest.mark.parametrize(
    ("text", "key"),
    [
        pytest.param("run_id = 'x'", "run_id", id="run_id"),
        pytest.param("id = 'x'", "run_id", id="id-alias"),
        pytest.param("name = 'x'", "name", id="name"),
        pytest.param("run_name = 'x'", "name", id="run_name-alias"),
        pytest.param("status = 'x'", "status", id="status"),
        pytest.param("STATUS = 'x'", "status", id="status-upper-case"),
        pytest.param("experiment_id = 'x'", "experiment_id", id="experiment_id"),
        pytest.param("attributes.status = 'x'", "status", id="attributes-prefix"),
        pytest.param("attribute.status = 'x'", "status", id="attribute-prefix"),
        pytest.param("attr.status = 'x'", "status", id="attr-prefix"),
        pytest.param("run.status = 'x'", "status", id="run-prefix"),
        pytest.param("run.id = 'x'", "run_id", id="run-prefix-alias"),
    ],
)
def test_string_attributes(text: str, key: str) -> None:
    assert parse_filter(text) == Comparison(attr(key), "=", "x")


@pytest.mark.parametrize(
    ("text", "key", "value"),
    [
        pytest.param("start_time >= 1700000000000", "start_time", 1.7e12, id="epoch-ms"),
        pytest.param("end_time >= 1700000000000", "end_time", 1.7e12, id="end_time"),
        pytest.param("created >= 1700000000000", "start_time", 1.7e12, id="created-alias"),
        pytest.param("start_time >= '2024-01-01'", "start_time", JAN_1_2024_MS, id="iso-date"),
        pytest.param(
            "start_time >= '2024-01-01T00:00:00'", "start_time", JAN_1_2024_MS, id="naive-is-utc"
        ),
        pytest.param(
            "start_time >= '2024-01-01T02:00:00+02:00'",
            "start_time",
            JAN_1_2024_MS,
            id="with-offset",
        ),
        pytest.param(
            'start_time >= "2024-01-01 00:00:01.5"',
            "start_time",
            JAN_1_2024_MS + 1500,
            id="space-and-fraction",
        ),
    ],
)
def test_time_attributes_become_epoch_ms(text: str, key: str, value: float) -> None:
    assert parse_filter(text) == Comparison(attr(key), ">=", value)


@pytest.mark.parametrize(
    ("written", "op"),
    [
        pytest.param("=", "=", id="eq"),
        pytest.param("==", "=", id="double-eq"),
        pytest.param("!=", "!=", id="ne"),
        pytest.param("<>", "!=", id="sql-ne"),
        pytest.param("<", "<", id="lt"),
        pytest.param("<=", "<=", id="le"),
        pytest.param(">", ">", id="gt"),
        pytest.param(">=", ">=", id="ge"),
    ],
)
def test_numeric_operators(written: str, op: str) -> None:
    assert parse_filter(f"metrics.loss {written} 0.5") == Comparison(metric("loss"), op, 0.5)
    assert parse_filter(f"metrics.loss{written}0.5") == Comparison(metric("loss"), op, 0.5)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("params.opt = 'adam'", Comparison(param("opt"), "=", "adam"), id="eq"),
        pytest.param("params.opt == 'adam'", Comparison(param("opt"), "=", "adam"), id="double-eq"),
        pytest.param("params.opt != 'adam'", Comparison(param("opt"), "!=", "adam"), id="ne"),
        pytest.param("params.opt <> 'adam'", Comparison(param("opt"), "!=", "adam"), id="sql-ne"),
        pytest.param("params.opt like 'ad%'", Comparison(param("opt"), "like", "ad%"), id="like"),
        pytest.param("params.opt LIKE 'ad%'", Comparison(param("opt"), "like", "ad%"), id="LIKE"),
        pytest.param("tags.t ilike 'AD%'", Comparison(tag("t"), "ilike", "AD%"), id="ilike"),
        pytest.param("status like 'FIN%'", Comparison(attr("status"), "like", "FIN%"), id="attr"),
        pytest.param(
            "params.opt in ('adam', 'sgd')",
            Comparison(param("opt"), "in", ("adam", "sgd")),
            id="in",
        ),
        pytest.param(
            "params.opt IN ('adam')", Comparison(param("opt"), "in", ("adam",)), id="in-one"
        ),
        pytest.param(
            "tags.t not in ('a', \"b\")", Comparison(tag("t"), "not in", ("a", "b")), id="not-in"
        ),
        pytest.param(
            "status NOT IN ('FAILED','KILLED')",
            Comparison(attr("status"), "not in", ("FAILED", "KILLED")),
            id="NOT-IN-no-spaces",
        ),
    ],
)
def test_string_operators(text: str, expected: Comparison) -> None:
    assert parse_filter(text) == expected


@pytest.mark.parametrize(
    ("text", "value"),
    [
        pytest.param("params.lr = 0.10", "0.10", id="decimal-kept-as-written"),
        pytest.param("params.lr = 1e-3", "1e-3", id="exponent-kept-as-written"),
        pytest.param("params.n = 007", "007", id="leading-zeros"),
        pytest.param("params.n = -5", "-5", id="negative"),
        pytest.param("params.x = inf", "inf", id="inf-is-text"),
        pytest.param("tags.n = 10", "10", id="tag"),
        pytest.param("name = 5", "5", id="string-attribute"),
        pytest.param("params.s = 'it''s'", "it's", id="doubled-single-quote"),
        pytest.param('params.s = "say ""hi"""', 'say "hi"', id="doubled-double-quote"),
        pytest.param("params.s = ''", "", id="empty-string"),
        pytest.param("params.s = 'a and b or (c)'", "a and b or (c)", id="keywords-in-string"),
    ],
)
def test_params_and_tags_compare_as_text(text: str, value: str) -> None:
    node = parse_filter(text)
    assert isinstance(node, Comparison)
    assert node.value == value


def test_in_list_of_bare_numbers_keeps_the_text() -> None:
    assert parse_filter("params.depth in (4, 08, 1.50)") == Comparison(
        param("depth"), "in", ("4", "08", "1.50")
    )


@pytest.mark.parametrize(
    ("written", "value"),
    [
        pytest.param("1", 1.0, id="int"),
        pytest.param("-1", -1.0, id="negative"),
        pytest.param("+5", 5.0, id="plus"),
        pytest.param("0.25", 0.25, id="decimal"),
        pytest.param(".5", 0.5, id="leading-dot"),
        pytest.param("5.", 5.0, id="trailing-dot"),
        pytest.param("1e3", 1000.0, id="exponent"),
        pytest.param("1E-3", 0.001, id="upper-exponent"),
        pytest.param("-2.5e+2", -250.0, id="signed-exponent"),
        pytest.param("1e400", math.inf, id="overflow-is-inf"),
        pytest.param("inf", math.inf, id="inf"),
        pytest.param("Infinity", math.inf, id="Infinity"),
        pytest.param("+inf", math.inf, id="plus-inf"),
        pytest.param("-inf", -math.inf, id="minus-inf"),
        pytest.param("-Infinity", -math.inf, id="minus-Infinity"),
    ],
)
def test_metric_numbers(written: str, value: float) -> None:
    assert parse_filter(f"metrics.m >= {written}") == Comparison(metric("m"), ">=", value)


def test_metric_number_without_spaces_before_a_negative() -> None:
    assert parse_filter("metrics.m>-1") == Comparison(metric("m"), ">", -1.0)


def test_dash_inside_a_name_belongs_to_the_key() -> None:
    assert parse_filter("metrics.f1-score > 0") == Comparison(metric("f1-score"), ">", 0.0)


@pytest.mark.parametrize("text", [None, "", "   ", "\n\t"], ids=["none", "empty", "spaces", "ws"])
def test_no_filter(text: str | None) -> None:
    assert parse_filter(text) is None


# -- boolean structure ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("metrics.a > 1 and metrics.b > 2", BoolOp("and", (A, B)), id="and"),
        pytest.param("metrics.a > 1 or metrics.b > 2", BoolOp("or", (A, B)), id="or"),
        pytest.param(
            "metrics.a > 1 and metrics.b > 2 and metrics.c > 3",
            BoolOp("and", (A, B, C)),
            id="and-chain-is-flat",
        ),
        pytest.param(
            "metrics.a > 1 or metrics.b > 2 and metrics.c > 3",
            BoolOp("or", (A, BoolOp("and", (B, C)))),
            id="and-binds-tighter-right",
        ),
        pytest.param(
            "metrics.a > 1 and metrics.b > 2 or metrics.c > 3",
            BoolOp("or", (BoolOp("and", (A, B)), C)),
            id="and-binds-tighter-left",
        ),
        pytest.param(
            "(metrics.a > 1 or metrics.b > 2) and metrics.c > 3",
            BoolOp("and", (BoolOp("or", (A, B)), C)),
            id="parentheses-override",
        ),
        pytest.param("((metrics.a > 1))", A, id="redundant-parentheses"),
        pytest.param("not metrics.a > 1", Not(A), id="not"),
        pytest.param("not not metrics.a > 1", Not(Not(A)), id="double-not"),
        pytest.param(
            "not metrics.a > 1 and metrics.b > 2",
            BoolOp("and", (Not(A), B)),
            id="not-binds-tighter-than-and",
        ),
        pytest.param(
            "not (metrics.a > 1 or metrics.b > 2)",
            Not(BoolOp("or", (A, B))),
            id="not-parenthesised",
        ),
        pytest.param(
            "metrics.a > 1 AND metrics.b > 2 Or NOT metrics.c > 3",
            BoolOp("or", (BoolOp("and", (A, B)), Not(C))),
            id="keywords-any-case",
        ),
    ],
)
def test_boolean_structure(text: str, expected: FilterNode) -> None:
    assert parse_filter(text) == expected


# -- errors -----------------------------------------------------------------------------


def assert_caret(error: InvalidFilterError, text: str, position: int) -> None:
    """The message ends with the text and a caret under the offending character."""
    *_, shown, caret = str(error).split("\n")
    assert shown == f"  {text}"
    assert caret == "  " + " " * position + "^"


@pytest.mark.parametrize(
    ("text", "position", "message"),
    [
        pytest.param(
            "a = 1",
            0,
            r"unknown field 'a'; use metrics\.KEY, params\.KEY, tags\.KEY or one of: end_time, ",
            id="unknown-attribute",
        ),
        pytest.param(
            "metrics.a > 1 and attributes.color = 'red'",
            18,
            r"unknown field 'attributes\.color'",
            id="unknown-prefixed-attribute",
        ),
        pytest.param("bogus.key = 'x'", 0, r"unknown field 'bogus\.key'", id="unknown-prefix"),
        pytest.param(
            "metrics.auc",
            11,
            r"expected a comparison \(=, !=, <, <=, >, >=, like, ilike, in\) after 'metrics\.auc',"
            r" got the end of the filter",
            id="missing-operator-at-end",
        ),
        pytest.param(
            "metrics.auc 0.8",
            12,
            r"expected a comparison .* after 'metrics\.auc', got '0\.8'",
            id="missing-operator",
        ),
        pytest.param(
            "params.a not like 'x'", 9, r"expected a comparison .* got 'not'", id="not-like"
        ),
        pytest.param(
            "metrics.auc >", 13, r"expected a value, got the end of the filter", id="missing-value"
        ),
        pytest.param(
            "params.model = gbm", 15, r"expected a value, got 'gbm'", id="unquoted-string"
        ),
        pytest.param("status in ()", 11, r"expected a value, got '\)'", id="empty-in-list"),
        pytest.param(
            "params.a in ('x',)", 17, r"expected a value, got '\)'", id="trailing-comma-in-list"
        ),
        pytest.param(
            "params.a in 'x'", 12, r"expected '\(', got \"'x'\"", id="in-without-parentheses"
        ),
        pytest.param(
            "params.a in ('x' 'y')", 17, r"expected '\)', got \"'y'\"", id="in-list-missing-comma"
        ),
        pytest.param(
            "(metrics.a > 1",
            14,
            r"expected '\)', got the end of the filter",
            id="unclosed-parenthesis",
        ),
        pytest.param(
            "metrics.a > 1)",
            13,
            r"expected 'and', 'or' or the end, got '\)'",
            id="unopened-parenthesis",
        ),
        pytest.param("()", 1, r"expected a field such as metrics\.auc, got '\)'", id="empty-group"),
        pytest.param(
            "metrics.a > 1 junk",
            14,
            r"expected 'and', 'or' or the end, got 'junk'",
            id="trailing-junk",
        ),
        pytest.param(
            "metrics.a > 1 and",
            17,
            r"expected a field such as metrics\.auc, got the end of the filter",
            id="dangling-and",
        ),
        pytest.param(
            "not", 3, r"expected a field such as metrics\.auc, got the end", id="lonely-not"
        ),
        pytest.param(
            "params.a > 'x'",
            9,
            r"params\.a does not support '>'; use one of !=, =, ilike, in, like, not in",
            id="greater-than-on-param",
        ),
        pytest.param("tags.t <= 'x'", 7, r"tags\.t does not support '<='", id="less-equal-on-tag"),
        pytest.param(
            "status > 'A'", 7, r"status does not support '>'", id="greater-than-on-status"
        ),
        pytest.param(
            "metrics.a like 'x'",
            10,
            r"metrics\.a does not support 'like'; use one of !=, <, <=, =, >, >=",
            id="like-on-metric",
        ),
        pytest.param(
            "metrics.a ilike '1%'", 10, r"metrics\.a does not support 'ilike'", id="ilike-on-metric"
        ),
        pytest.param(
            "metrics.a in (1, 2)", 10, r"metrics\.a does not support 'in'", id="in-on-metric"
        ),
        pytest.param(
            "start_time like '2024%'",
            11,
            r"start_time does not support 'like'",
            id="like-on-time",
        ),
        pytest.param(
            "metrics.a > 'high'",
            12,
            r"metrics\.a is numeric; got \"'high'\", expected a number",
            id="string-on-metric",
        ),
        pytest.param(
            "metrics.a = nan",
            12,
            r"NaN never compares equal; filter on another value",
            id="nan",
        ),
        pytest.param("metrics.a = NaN", 12, r"NaN never compares equal", id="NaN"),
        pytest.param("metrics.a = -nan", 12, r"NaN never compares equal", id="minus-nan"),
        pytest.param(
            "start_time > 'yesterday'",
            13,
            r"start_time takes epoch milliseconds or an ISO date, got \"'yesterday'\"",
            id="bad-date",
        ),
        pytest.param(
            "start_time < inf", 13, r"start_time takes epoch milliseconds", id="inf-as-date"
        ),
        pytest.param(
            "metrics. > 1",
            0,
            r"'metrics' needs a key after the dot, e\.g\. metrics\.auc",
            id="empty-key",
        ),
        pytest.param(
            "metrics.`` > 1", 0, r"'metrics' needs a key after the dot", id="empty-quoted-key"
        ),
        pytest.param(
            "metrics.a > 1; drop table runs",
            13,
            r"unexpected character ';'",
            id="unexpected-character",
        ),
        pytest.param(
            "params.a = 'unterminated", 11, r"unexpected character \"'\"", id="unclosed-quote"
        ),
        pytest.param("metrics.a > -x", 12, r"unexpected character '-'", id="lonely-minus"),
    ],
)
def test_invalid_filters(text: str, position: int, message: str) -> None:
    with pytest.raises(InvalidFilterError, match=f"at position {position}: {message}") as info:
        parse_filter(text)
    assert_caret(info.value, text, position)


def test_invalid_filter_is_an_invalid_input_and_a_value_error() -> None:
    with pytest.raises(InvalidInputError, match="unknown field"):
        parse_filter("colour = 'red'")
    with pytest.raises(ValueError, match="unknown field"):
        parse_filter("colour = 'red'")
    assert InvalidFilterError.status_code == 400


def test_unknown_attribute_lists_every_attribute() -> None:
    with pytest.raises(InvalidFilterError) as info:
        parse_filter("colour = 'red'")
    assert f"one of: {', '.join(sorted(ATTRIBUTES))}" in str(info.value)


# -- order_by ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("terms", "expected"),
    [
        pytest.param(None, [], id="none"),
        pytest.param([], [], id="empty-list"),
        pytest.param("metrics.auc", [OrderKey(metric("auc"))], id="bare-is-ascending"),
        pytest.param("metrics.auc ASC", [OrderKey(metric("auc"))], id="ASC"),
        pytest.param("metrics.auc asc", [OrderKey(metric("auc"))], id="asc"),
        pytest.param("metrics.auc DESC", [OrderKey(metric("auc"), descending=True)], id="DESC"),
        pytest.param("metrics.auc Desc", [OrderKey(metric("auc"), descending=True)], id="Desc"),
        pytest.param("start_time", [OrderKey(attr("start_time"))], id="attribute"),
        pytest.param("run_name desc", [OrderKey(attr("name"), descending=True)], id="alias"),
        pytest.param(
            "metrics.`val loss` desc",
            [OrderKey(metric("val loss"), descending=True)],
            id="backtick-key",
        ),
        pytest.param('metrics."val loss"', [OrderKey(metric("val loss"))], id="double-quoted-key"),
        pytest.param(
            "tags.shipyard.git.commit",
            [OrderKey(tag("shipyard.git.commit"))],
            id="dotted-tag",
        ),
        pytest.param(
            ["metrics.auc DESC", "params.model", "end_time asc"],
            [
                OrderKey(metric("auc"), descending=True),
                OrderKey(param("model")),
                OrderKey(attr("end_time")),
            ],
            id="list-keeps-order",
        ),
        pytest.param(
            ("metrics.a", "metrics.b desc"),
            [OrderKey(metric("a")), OrderKey(metric("b"), descending=True)],
            id="tuple",
        ),
    ],
)
def test_order_by(terms: str | list[str] | None, expected: list[OrderKey]) -> None:
    assert parse_order_by(terms) == expected


ORDER_BY_SHAPE = r"an order_by term is a field optionally followed by ASC or DESC"


@pytest.mark.parametrize(
    ("term", "position", "message"),
    [
        pytest.param("metrics.auc sideways", 12, ORDER_BY_SHAPE, id="bad-direction"),
        pytest.param("metrics.auc desc nulls", 17, ORDER_BY_SHAPE, id="extra-word"),
        pytest.param("metrics.a, metrics.b", 9, ORDER_BY_SHAPE, id="comma-in-one-term"),
        pytest.param("metrics.a > 1", 10, ORDER_BY_SHAPE, id="comparison"),
        pytest.param("", 0, r"expected a field such as metrics\.auc", id="empty"),
        pytest.param("'auc'", 0, r"expected a field such as metrics\.auc", id="string"),
        pytest.param("colour", 0, r"unknown field 'colour'", id="unknown-attribute"),
        pytest.param("metrics.", 0, r"'metrics' needs a key after the dot", id="empty-key"),
    ],
)
def test_invalid_order_by(term: str, position: int, message: str) -> None:
    with pytest.raises(InvalidFilterError, match=f"at position {position}: {message}") as info:
        parse_order_by(term)
    assert_caret(info.value, term, position)
    with pytest.raises(InvalidFilterError, match=message):
        parse_order_by(["metrics.ok", term])


# -- property: render a random tree as text, parse it back --------------------------------
# too_slow is suppressed below: on a fresh checkout Hypothesis spends its first draw
# building caches (unicode tables, constants from the source tree), which trips it.

_PLAIN_KEY = re.compile(r"[\w.\-/:]+")
_NUMBER_TEXT = re.compile(r"[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)")
_KEY_PREFIXES = {
    "metric": ["metrics", "metric"],
    "param": ["params", "param", "parameters"],
    "tag": ["tags", "tag"],
}
_ATTRIBUTE_SPELLINGS = {
    "run_id": ["run_id", "id"],
    "name": ["name", "run_name"],
    "status": ["status"],
    "experiment_id": ["experiment_id"],
    "start_time": ["start_time", "created"],
    "end_time": ["end_time"],
}

_texts = st.text(st.characters(exclude_categories=["Cs"]), max_size=8)
_keys = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="`"), min_size=1)
_string_values = st.one_of(_texts, st.from_regex(r"-?\d{1,4}(\.\d{1,3})?", fullmatch=True))


@st.composite
def _comparisons(draw: st.DrawFn) -> Comparison:
    kind = draw(st.sampled_from(["metric", "param", "tag", "attribute"]))
    key = draw(st.sampled_from(sorted(ATTRIBUTES)) if kind == "attribute" else _keys)
    field = FieldRef(kind, key)
    if kind == "metric":
        op = draw(st.sampled_from(["=", "!=", "<", "<=", ">", ">="]))
        return Comparison(field, op, draw(st.floats(allow_nan=False)))
    if kind == "attribute" and ATTRIBUTES[key] == "time":
        op = draw(st.sampled_from(["=", "!=", "<", "<=", ">", ">="]))
        return Comparison(field, op, float(draw(st.integers(0, 2**42))))
    op = draw(st.sampled_from(["=", "!=", "like", "ilike", "in", "not in"]))
    if op in ("in", "not in"):
        values = draw(st.lists(_string_values, min_size=1, max_size=4))
        return Comparison(field, op, tuple(values))
    return Comparison(field, op, draw(_string_values))


_trees = st.recursive(
    _comparisons(),
    lambda children: st.one_of(
        children.map(Not),
        st.tuples(st.sampled_from(["and", "or"]), st.lists(children, min_size=2, max_size=3)).map(
            lambda pair: BoolOp(pair[0], tuple(pair[1]))
        ),
    ),
    max_leaves=12,
)


def _keyword(word: str, rng: random.Random) -> str:
    return rng.choice([word, word.upper(), word.capitalize()])


def _quote(text: str, rng: random.Random) -> str:
    quote = rng.choice("'\"")
    return quote + text.replace(quote, quote * 2) + quote


def _render_field(field: FieldRef, rng: random.Random) -> str:
    if field.kind == "attribute":
        name = _keyword(rng.choice(_ATTRIBUTE_SPELLINGS[field.key]), rng)
        prefix = rng.choice(["", "", "attributes.", "attr.", "run."])
        return prefix + (f"`{name}`" if rng.random() < 0.2 else name)
    prefix = _keyword(rng.choice(_KEY_PREFIXES[field.kind]), rng)
    if _PLAIN_KEY.fullmatch(field.key) and rng.random() < 0.5:
        return f"{prefix}.{field.key}"
    if rng.random() < 0.5:
        return f"{prefix}.`{field.key}`"
    return f"{prefix}.{_quote(field.key, rng)}"


def _render_value(value: float | str, rng: random.Random) -> str:
    if isinstance(value, float):
        if value.is_integer() and rng.random() < 0.5:
            return str(int(value))  # 3 as well as 3.0
        return repr(value)  # round-trips exactly, including 1e-05, inf and -inf
    if _NUMBER_TEXT.fullmatch(value) and rng.random() < 0.5:
        return value  # a bare number compares as the text written
    return _quote(value, rng)


def _render(node: FilterNode, rng: random.Random) -> str:
    if isinstance(node, Comparison):
        space = rng.choice(["", " ", "  "])
        field = _render_field(node.field, rng)
        if node.op in ("in", "not in"):
            assert isinstance(node.value, tuple)
            values = ", ".join(_render_value(v, rng) for v in node.value)
            ops = " ".join(_keyword(word, rng) for word in node.op.split())
            return f"{field} {ops} ({values})"
        assert not isinstance(node.value, tuple)
        op = {"=": ["=", "=="], "!=": ["!=", "<>"]}.get(node.op, [node.op])
        written = rng.choice(op)
        if written.isalpha():
            return f"{field} {_keyword(written, rng)} {_render_value(node.value, rng)}"
        return f"{field}{space}{written}{space}{_render_value(node.value, rng)}"
    if isinstance(node, Not):
        inner = _render(node.item, rng)
        if isinstance(node.item, BoolOp):
            inner = f"({inner})"
        return f"{_keyword('not', rng)} {inner}"
    parts = []
    for child in node.items:
        text = _render(child, rng)
        # Parentheses are needed around the same operator (to keep the nesting) and around
        # `or` inside `and` (which binds tighter); elsewhere they are optional.
        needed = isinstance(child, BoolOp) and (child.op == node.op or node.op == "and")
        parts.append(f"({text})" if needed or rng.random() < 0.1 else text)
    return f" {_keyword(node.op, rng)} ".join(parts)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(tree=_trees, rng=st.randoms(use_true_random=False))
def test_rendered_tree_parses_back_to_the_same_tree(tree: FilterNode, rng: random.Random) -> None:
    text = _render(tree, rng)
    assert parse_filter(text) == tree, text


_FRAGMENTS = [
    *("metrics.a", "params.p", "tags.`t t`", "status", "start_time", "bogus", "metrics."),
    *("=", "!=", "<>", "<", ">=", "like", "in", "not", "and", "or", "(", ")", ","),
    *("1", "-2.5e3", "inf", "-inf", "nan", "'x'", '"y"', "'2024-01-01'", "'", "`", ";"),
]


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(), st.lists(st.sampled_from(_FRAGMENTS)).map(" ".join)))
def test_any_text_parses_or_raises_invalid_filter(text: str) -> None:
    # Anything but InvalidFilterError (IndexError, OverflowError, ...) fails the test.
    with contextlib.suppress(InvalidFilterError):
        parse_filter(text)
