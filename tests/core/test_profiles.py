"""Profiles: real tables in, numbers checked against numpy on the concatenated data."""

from __future__ import annotations

import base64
import itertools
import json
import math
import subprocess
import sys
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shipyard.core.errors import InvalidInputError
from shipyard.core.profiles import (
    DEFAULT_SKETCH_K,
    CategoricalProfile,
    NumericProfile,
    OtherProfile,
    Profile,
    QuantileSketch,
    merge,
    profile,
)

QS = np.linspace(0.0, 1.0, 41)


def numeric(p: Profile, name: str) -> NumericProfile:
    column = p.columns[name]
    assert isinstance(column, NumericProfile)
    return column


def categorical(p: Profile, name: str) -> CategoricalProfile:
    column = p.columns[name]
    assert isinstance(column, CategoricalProfile)
    return column


def assert_sketch_within_bound(sketch: QuantileSketch, data: np.ndarray, bound: float) -> None:
    """Ranks and quantiles of ``sketch`` are within ``bound * n`` of the exact ones."""
    exact = np.sort(data)
    n = len(exact)
    slack = bound * n + 1e-9
    points = np.unique(np.concatenate([exact, (exact[1:] + exact[:-1]) / 2]))
    for inclusive, side in ((True, "right"), (False, "left")):
        estimated = sketch.cdf(points, inclusive=inclusive) * n
        true = np.searchsorted(exact, points, side=side)
        assert np.abs(estimated - true).max(initial=0) <= slack
    for q, value in zip(QS, sketch.quantiles(QS), strict=True):
        assert np.searchsorted(exact, value, side="right") >= q * n - slack
        assert np.searchsorted(exact, value, side="left") <= q * n + slack


# -- single tables ------------------------------------------------------------------------


def test_numeric_column_matches_numpy() -> None:
    rng = np.random.default_rng(1)
    values = rng.normal(10.0, 3.0, 5000)
    values[::50] = np.nan
    table = pa.table({"x": pa.array(values, mask=np.arange(5000) % 70 == 0)})
    x = numeric(profile(table), "x")
    present = values[(np.arange(5000) % 70 != 0) & ~np.isnan(values)]
    assert (x.dtype, x.count, x.rows) == ("float", len(present), 5000)
    assert x.nulls == 72
    assert x.nans == int(np.isnan(values[np.arange(5000) % 70 != 0]).sum())
    assert x.missing == x.nulls + x.nans == 5000 - len(present)
    assert (x.min, x.max) == (present.min(), present.max())
    assert x.mean == pytest.approx(present.mean(), rel=1e-12)
    assert x.variance == pytest.approx(present.var(), rel=1e-12)
    assert x.std == pytest.approx(present.std(), rel=1e-12)
    assert_sketch_within_bound(x.sketch, present, x.rank_error(None))


def test_quantiles_are_exact_inverted_cdf_while_the_sketch_has_not_compacted() -> None:
    values = np.random.default_rng(2).integers(0, 40, DEFAULT_SKETCH_K)
    x = numeric(profile(pa.table({"x": values})), "x")
    assert x.sketch.is_exact
    assert x.rank_error() == 0.0
    expected = np.quantile(values, QS, method="inverted_cdf")
    np.testing.assert_array_equal(x.quantiles(QS), expected)
    assert x.quantile(0.5) == np.quantile(values, 0.5, method="inverted_cdf")
    assert x.sketch.rank(20) == np.mean(values <= 20)
    assert x.sketch.rank(20, inclusive=False) == np.mean(values < 20)


def test_nan_is_a_missing_float_and_null_is_a_missing_value() -> None:
    table = pa.table(
        {"x": pa.array([1.0, math.nan, None, 3.0, math.nan]), "s": ["a", None, "", "a", None]}
    )
    p = profile(table)
    x = numeric(p, "x")
    assert (x.count, x.nulls, x.nans, x.missing, x.mean) == (2, 1, 2, 3, 2.0)
    s = categorical(p, "s")
    assert (s.count, s.nulls, s.missing, s.top) == (3, 2, 2, (("a", 2), ("", 1)))


def test_ints_bools_and_temporal_types_are_numeric_in_their_own_units() -> None:
    stamps = pa.array([0, 1_500_000, None, 3_000_000], type=pa.timestamp("us", tz="UTC"))
    table = pa.table(
        {
            "i": pa.array([5, -2, 7, 2**40], type=pa.int64()),
            "u8": pa.array([1, 2, 3, 250], type=pa.uint8()),
            "b": [True, False, True, None],
            "t": stamps,
            "d": pa.array([19000, 19001, None, 19010], type=pa.date32()),
            "h": pa.array([1.5, 2.5, None, 3.5], type=pa.float16()),
            "dec": pa.array([1, 2, 3, 4], type=pa.decimal128(5, 1)),
        }
    )
    p = profile(table)
    i = numeric(p, "i")
    assert (i.dtype, i.min, i.max) == ("int", -2, 2**40)
    assert isinstance(i.min, int)
    assert numeric(p, "u8").max == 250
    b = numeric(p, "b")
    assert (b.dtype, b.count, b.nulls, b.mean) == ("bool", 3, 1, pytest.approx(2 / 3))
    t = numeric(p, "t")
    assert (t.dtype, t.min, t.max, t.nulls) == ("timestamp[us, tz=UTC]", 0, 3_000_000, 1)
    assert t.quantile(0.5) == 1_500_000.0
    assert (numeric(p, "d").dtype, numeric(p, "d").max) == ("date32[day]", 19010)
    assert (numeric(p, "h").dtype, numeric(p, "h").max) == ("float", 3.5)
    assert (numeric(p, "dec").dtype, numeric(p, "dec").mean) == ("float", 2.5)


def test_categorical_keeps_top_k_exact_with_an_other_count() -> None:
    rng = np.random.default_rng(3)
    labels = np.array([f"v{j:03d}" for j in range(300)])
    values = labels[np.minimum(rng.geometric(0.02, 20_000) - 1, 299)]
    c = categorical(profile(pa.table({"c": values}), top_k=10), "c")
    uniques, counts = np.unique(values, return_counts=True)
    order = sorted(
        zip(uniques.tolist(), counts.tolist(), strict=True), key=lambda vc: (-vc[1], vc[0])
    )
    assert c.top == tuple(order[:10])
    assert c.other == 20_000 - sum(n for _, n in order[:10])
    assert c.count == 20_000
    assert c.k == 10
    assert not c.distinct_is_exact
    assert c.distinct == pytest.approx(len(uniques), rel=0.05)
    assert c.frequencies()[order[0][0]] == order[0][1]


def test_distinct_is_exact_within_k_and_an_estimate_beyond() -> None:
    few = categorical(profile(pa.table({"c": ["a", "b", "a", "c"]})), "c")
    assert (few.distinct, few.distinct_is_exact, few.other) == (3, True, 0)
    many = [f"user-{i}" for i in range(20_000)] * 2
    c = categorical(profile(pa.table({"c": many})), "c")
    assert not c.distinct_is_exact
    assert c.distinct == pytest.approx(20_000, rel=0.05)  # HyperLogLog, 1.6% standard error


def test_dictionary_and_pandas_string_columns_profile_like_plain_strings() -> None:
    values = ["x", "y", None, "x", "z", "x"]
    plain = profile(pa.table({"c": pa.array(values)}))
    encoded = profile(pa.table({"c": pa.array(values).dictionary_encode()}))
    frame = profile(pd.DataFrame({"c": pd.Categorical(values)}))
    assert plain == encoded == frame
    view = profile(pa.table({"c": pa.array(values, type=pa.string_view())}))
    assert view == plain


def test_pandas_dataframe_matches_the_arrow_table() -> None:
    frame = pd.DataFrame({"x": [1.5, None, 3.0], "n": [1, 2, 3], "s": ["a", "b", None]})
    from_frame = profile(frame)
    from_table = profile(pa.table({"x": [1.5, None, 3.0], "n": [1, 2, 3], "s": ["a", "b", None]}))
    assert from_frame == from_table
    assert numeric(from_frame, "x").nulls == 1  # pandas' NaN for missing becomes an Arrow null


def test_empty_tables_and_all_null_columns() -> None:
    schema = pa.schema([("x", pa.float64()), ("s", pa.string()), ("n", pa.null())])
    empty = profile(schema.empty_table())
    x = numeric(empty, "x")
    assert (empty.num_rows, x.count, x.missing, x.min, x.mean, x.variance) == (
        0,
        0,
        0,
        None,
        None,
        None,
    )
    assert math.isnan(x.quantile(0.5))
    assert math.isnan(x.sketch.rank(1.0))
    assert x.bin_counts([0.0]).tolist() == [0, 0]
    assert categorical(empty, "s").top == ()
    nulls = profile(
        pa.table(
            {
                "x": pa.array([None] * 4, pa.float64()),
                "s": pa.array([None] * 4, pa.string()),
                "n": pa.nulls(4),
            }
        )
    )
    assert (numeric(nulls, "x").count, numeric(nulls, "x").missing) == (0, 4)
    assert (categorical(nulls, "s").count, categorical(nulls, "s").missing) == (0, 4)
    assert nulls.columns["n"] == OtherProfile("null", 0, 4)
    assert merge(empty, nulls) == merge(nulls, empty)
    assert merge(empty, nulls).to_dict() == nulls.to_dict()


def test_null_type_merges_with_any_type() -> None:
    typed = profile(pa.table({"x": [1.0, 2.0]}))
    untyped = profile(pd.DataFrame({"x": [None, None, None]}))
    assert untyped.columns["x"] == OtherProfile("null", 0, 3)
    merged = merge(typed, untyped)
    x = numeric(merged, "x")
    assert (x.count, x.nulls, merged.num_rows, x.mean) == (2, 3, 5, 1.5)
    assert merge(untyped, typed) == merged


def test_types_without_a_summary_keep_counts() -> None:
    table = pa.table({"v": pa.array([[1.0], None, [2.0, 3.0]]), "b": pa.array([b"a", b"b", None])})
    p = profile(table)
    assert p.columns["v"] == OtherProfile("list<item: double>", 2, 1)
    assert p.columns["b"] == OtherProfile("binary", 2, 1)
    assert merge(p, p).columns["v"] == OtherProfile("list<item: double>", 4, 2)


def test_record_batch_and_reader_inputs() -> None:
    table = pa.table({"x": np.arange(1000.0), "s": [str(i % 7) for i in range(1000)]})
    whole = profile(table)
    assert profile(table.to_batches()[0]) == whole
    reader = pa.RecordBatchReader.from_batches(table.schema, table.to_batches(max_chunksize=64))
    assert profile(reader) == whole
    empty = pa.RecordBatchReader.from_batches(table.schema, [])
    assert profile(empty).num_rows == 0


def test_columns_selects_and_orders() -> None:
    table = pa.table({"a": [1], "b": ["x"], "c": [2.0]})
    assert list(profile(table, columns=["c", "a"]).columns) == ["c", "a"]


def test_profiles_are_reproducible() -> None:
    rng = np.random.default_rng(4)
    table = pa.table({"x": rng.normal(size=200_000), "s": rng.integers(0, 9, 200_000).astype(str)})
    assert profile(table) == profile(table)


def test_chunked_columns_profile_like_contiguous_ones() -> None:
    values = np.random.default_rng(5).normal(size=3000)
    chunked = pa.table({"x": pa.chunked_array([values[:1000], values[1000:]])})
    assert profile(chunked) == profile(pa.table({"x": values}))


# -- merging --------------------------------------------------------------------------------

floats = st.one_of(
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
    st.sampled_from([math.nan, None, 0.0, -0.0, 1.0]),
)


@settings(max_examples=60, deadline=None)
@given(
    data=st.lists(floats, max_size=400),
    cuts=st.lists(st.integers(0, 400), max_size=3),
    sketch_k=st.sampled_from([8, 16, DEFAULT_SKETCH_K]),
)
def test_merge_of_parts_equals_the_whole(
    data: list[float | None], cuts: list[int], sketch_k: int
) -> None:
    bounds = [0, *sorted(min(c, len(data)) for c in cuts), len(data)]
    ints = [None if v is None or math.isnan(v) else int(v) for v in data]
    labels = [None if v is None else f"k{int(v) % 5 if math.isfinite(v) else 'nan'}" for v in data]
    table = pa.table(
        {"x": pa.array(data, pa.float64()), "i": pa.array(ints, pa.int64()), "s": labels}
    )
    parts = [
        profile(table.slice(a, b - a), sketch_k=sketch_k) for a, b in itertools.pairwise(bounds)
    ]
    merged, whole = merge(*parts), profile(table, sketch_k=sketch_k)
    assert merge(*reversed(parts)).to_dict() == merged.to_dict() or len(parts) > 2
    assert merged.num_rows == whole.num_rows == len(data)
    for name in ("x", "i"):
        m, w = numeric(merged, name), numeric(whole, name)
        assert (m.count, m.nulls, m.nans, m.min, m.max) == (w.count, w.nulls, w.nans, w.min, w.max)
        present = np.array(
            [v for v in (data if name == "x" else ints) if v is not None and not math.isnan(v)]
        )
        if not len(present):
            assert m.mean is None
            assert m.variance is None
            assert math.isnan(m.quantile(0.5))
            continue
        scale = max(1.0, float(np.abs(present).max()))
        assert m.mean == pytest.approx(present.mean(), rel=1e-9, abs=1e-12 * scale)
        assert m.variance == pytest.approx(present.var(), rel=1e-9, abs=1e-9 * scale**2)
        assert_sketch_within_bound(m.sketch, present, m.rank_error(None))
        assert_sketch_within_bound(w.sketch, present, w.rank_error(None))
    # Five labels fit in k: the merged top-k is exactly the whole's.
    assert merged.columns["s"] == whole.columns["s"]


@settings(max_examples=40, deadline=None)
@given(a=st.lists(st.integers(0, 30), max_size=200), b=st.lists(st.integers(0, 30), max_size=200))
def test_merge_is_commutative(a: list[int], b: list[int]) -> None:
    pa_, pb = (
        profile(pa.table({"x": v, "s": [f"s{x}" for x in v]}), top_k=5, sketch_k=8) for v in (a, b)
    )
    assert merge(pa_, pb) == merge(pb, pa_)
    assert pa_.merge(pb).to_dict() == pb.merge(pa_).to_dict()


@settings(max_examples=40, deadline=None)
@given(a=st.lists(st.integers(0, 40), max_size=300), b=st.lists(st.integers(0, 40), max_size=300))
def test_top_k_beyond_k_undercounts_by_at_most_the_others(a: list[int], b: list[int]) -> None:
    pa_, pb = (
        profile(pa.table({"s": pa.array([f"s{x}" for x in v], pa.string())}), top_k=4)
        for v in (a, b)
    )
    merged = categorical(merge(pa_, pb), "s")
    ca, cb = categorical(pa_, "s"), categorical(pb, "s")
    truth = dict(zip(*np.unique([f"s{x}" for x in a + b], return_counts=True), strict=True))
    assert merged.count == len(a) + len(b)
    assert merged.other == merged.count - sum(n for _, n in merged.top)
    for value, count in merged.top:
        assert count <= truth[value] <= count + ca.other + cb.other
    assert merged.distinct_is_exact == (len(truth) <= 4 and ca.other == cb.other == 0)
    if merged.distinct_is_exact:
        assert merged.distinct == len(truth)
    # HyperLogLog registers merge exactly, so the estimate is the whole's.
    whole = categorical(
        profile(pa.table({"s": pa.array([f"s{x}" for x in a + b], pa.string())}), top_k=4), "s"
    )
    assert merged.registers == whole.registers


def test_signed_zeros_merge_the_same_both_ways() -> None:
    a, b = profile(pa.table({"x": [-0.0, 1.0]})), profile(pa.table({"x": [0.0, 2.0]}))
    assert merge(a, b).to_dict() == merge(b, a).to_dict()
    assert numeric(merge(a, b), "x").min == 0.0


def test_int_merges_with_float_into_float() -> None:
    merged = merge(profile(pa.table({"x": [1, 5]})), profile(pa.table({"x": [2.5]})))
    x = numeric(merged, "x")
    assert (x.dtype, x.min, x.max, x.count) == ("float", 1.0, 5.0, 3)
    assert isinstance(x.min, float)


@pytest.mark.parametrize(
    ("left", "right", "types"),
    [
        pytest.param([1.0], ["a"], "float in one profile and string", id="float-vs-string"),
        pytest.param([True], [1], "bool in one profile and int", id="bool-vs-int"),
        pytest.param(
            ["a"], [[1]], "string in one profile and list<item: int64>", id="string-vs-list"
        ),
    ],
)
def test_merging_disagreeing_types_names_the_column(
    left: list[Any], right: list[Any], types: str
) -> None:
    with pytest.raises(InvalidInputError, match=f"column 'x' is {types}"):
        merge(profile(pa.table({"x": left})), profile(pa.table({"x": right})))


def test_merging_different_timestamp_units_is_schema_drift() -> None:
    us = profile(pa.table({"t": pa.array([1], pa.timestamp("us"))}))
    ns = profile(pa.table({"t": pa.array([1], pa.timestamp("ns"))}))
    with pytest.raises(
        InvalidInputError, match=r"'t' is timestamp\[us\] in one profile and timestamp\[ns\]"
    ):
        merge(us, ns)


def test_merging_different_columns_names_them() -> None:
    with pytest.raises(
        InvalidInputError, match=r"\['a'\] only in the first, \['b'\] only in the second"
    ):
        merge(profile(pa.table({"a": [1]})), profile(pa.table({"b": [1]})))


def test_merge_needs_profiles() -> None:
    with pytest.raises(InvalidInputError, match="one or more Profile objects"):
        merge()
    with pytest.raises(InvalidInputError, match=r"got \['dict'\]"):
        merge({"x": 1})  # type: ignore[arg-type]


def test_merge_keeps_the_smaller_k() -> None:
    a = profile(pa.table({"s": ["a", "b", "c"]}), top_k=3, sketch_k=64)
    b = profile(pa.table({"s": ["a"]}), top_k=2, sketch_k=32)
    merged = categorical(merge(a, b), "s")
    assert (merged.k, merged.top, merged.other) == (2, (("a", 2), ("b", 1)), 1)


# -- the quantile sketch --------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(st.floats(-1e9, 1e9, allow_nan=False), min_size=1, max_size=3000),
    k=st.sampled_from([8, 12, 32, 200]),
)
def test_the_deterministic_rank_bound_always_holds(values: list[float], k: int) -> None:
    data = np.array(values)
    sketch = QuantileSketch.from_values(data, k)
    assert sketch.n == len(data)
    assert sketch.num_retained <= len(data)
    assert_sketch_within_bound(sketch, data, sketch.rank_error(None))
    assert sketch.quantile(0.0) == data.min()
    assert sketch.quantile(1.0) == data.max()


@pytest.mark.parametrize(
    ("n", "documented"), [(10_000, 0.006), (200_000, 0.006), (735_865, 0.006), (1_000_000, 0.006)]
)
def test_one_call_stays_within_the_documented_bound(n: int, documented: float) -> None:
    data = np.random.default_rng(n).lognormal(size=n)
    sketch = QuantileSketch.from_values(data)
    assert sketch.num_retained <= 3 * DEFAULT_SKETCH_K
    assert sketch.rank_error(0.99) <= documented
    points = np.quantile(data, np.linspace(0.001, 0.999, 999))
    exact = np.searchsorted(np.sort(data), points, side="right") / n
    assert np.abs(sketch.cdf(points) - exact).max() <= sketch.rank_error(0.99)


def test_many_merged_windows_stay_within_the_documented_bound() -> None:
    data = np.random.default_rng(6).normal(size=1_000_000)
    windows = [QuantileSketch.from_values(part) for part in np.split(data, 1000)]
    sketch = windows[0]
    for window in windows[1:]:
        sketch = sketch.merge(window)
    assert sketch.n == len(data)
    assert sketch.rank_error(0.99) <= 0.011
    points = np.quantile(data, np.linspace(0.001, 0.999, 999))
    exact = np.searchsorted(np.sort(data), points, side="right") / len(data)
    assert np.abs(sketch.cdf(points) - exact).max() <= sketch.rank_error(0.99)


def test_bin_counts_cover_every_value() -> None:
    data = np.random.default_rng(7).normal(size=50_000)
    reference = QuantileSketch.from_values(data)
    edges = np.unique(reference.quantiles(np.linspace(0.1, 0.9, 9)))
    counts = QuantileSketch.from_values(data[:200]).bin_counts(edges)
    exact = np.bincount(np.searchsorted(edges, data[:200], side="right"), minlength=len(edges) + 1)
    np.testing.assert_array_equal(counts, exact)  # 200 values: the sketch is exact
    big = reference.bin_counts(edges)
    assert big.sum() == len(data)
    assert len(big) == len(edges) + 1
    truth = np.bincount(np.searchsorted(edges, data, side="right"), minlength=len(edges) + 1)
    assert np.abs(big - truth).max() <= 2 * reference.rank_error(0.99) * len(data)


@pytest.mark.parametrize(
    "edges",
    [
        pytest.param([], id="empty"),
        pytest.param([1.0, 1.0], id="repeated"),
        pytest.param([2.0, 1.0], id="decreasing"),
        pytest.param([math.nan], id="nan"),
    ],
)
def test_bad_bin_edges_are_refused(edges: list[float]) -> None:
    with pytest.raises(InvalidInputError, match="strictly increasing"):
        QuantileSketch.from_values([1.0, 2.0]).bin_counts(edges)


def test_sketch_inputs_are_checked() -> None:
    with pytest.raises(InvalidInputError, match="got NaN"):
        QuantileSketch.from_values([1.0, math.nan])
    with pytest.raises(InvalidInputError, match=r"one-dimensional array, got shape \(2, 2\)"):
        QuantileSketch.from_values(np.zeros((2, 2)))  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="k must be an integer from 8 to 65536, got 4"):
        QuantileSketch(4)
    sketch = QuantileSketch.from_values([1.0, 2.0])
    with pytest.raises(InvalidInputError, match=r"between 0 and 1, got 50\.0; pass 0\.5"):
        sketch.quantile(50)
    with pytest.raises(InvalidInputError, match="confidence must be between 0 and 1"):
        QuantileSketch.from_values(np.arange(1000.0), 8).rank_error(1.5)


def test_weighted_items_sum_to_n() -> None:
    sketch = QuantileSketch.from_values(np.random.default_rng(8).normal(size=100_000))
    values, weights = sketch.weighted_items()
    assert weights.sum() == sketch.n
    assert np.all(np.diff(values) >= 0)
    assert not sketch.is_exact
    assert "n=100000" in repr(sketch)


# -- JSON -----------------------------------------------------------------------------------


def sample_profile() -> Profile:
    rng = np.random.default_rng(9)
    values = rng.normal(size=10_000)
    values[:3] = [math.inf, -math.inf, math.nan]
    return profile(
        pa.table(
            {
                "x": values,
                "i": rng.integers(0, 100, 10_000),
                "t": pa.array(rng.integers(0, 10**12, 10_000), pa.timestamp("ms")),
                "s": [f"c{v}" for v in rng.integers(0, 500, 10_000)],
                "e": pa.array([None] * 10_000, pa.float64()),
                "n": pa.nulls(10_000),
                "l": pa.array([[1]] * 10_000),
            }
        ),
        top_k=20,
    )


def test_json_round_trip() -> None:
    original = sample_profile()
    text = json.dumps(original.to_dict(), allow_nan=False)
    restored = Profile.from_dict(json.loads(text))
    assert restored.to_dict() == original.to_dict()
    # Infinities make x's mean NaN, which equals nothing; every other column compares equal.
    assert {n: c for n, c in restored.columns.items() if n != "x"} == {
        n: c for n, c in original.columns.items() if n != "x"
    }
    assert numeric(restored, "x").sketch == numeric(original, "x").sketch
    x = numeric(restored, "x")
    assert (x.min, x.max) == (-math.inf, math.inf)
    assert json.loads(text)["version"] == 1
    np.testing.assert_array_equal(x.quantiles(QS), numeric(original, "x").quantiles(QS))


def test_from_dict_refuses_other_versions() -> None:
    data = sample_profile().to_dict()
    for version in (2, "1", None, True):
        data["version"] = version
        with pytest.raises(
            InvalidInputError, match=f"profile version {version!r} is not supported"
        ):
            Profile.from_dict(data)
    with pytest.raises(InvalidInputError, match="profile version None"):
        Profile.from_dict([])  # type: ignore[arg-type]


def _set(path: str, value: Any) -> Any:
    """A mutation of a profile dict: set the field at a slash-separated path."""

    def mutate(data: dict[str, Any]) -> None:
        *parents, last = path.split("/")
        for key in parents:
            data = data[key]
        data[last] = value

    return mutate


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        pytest.param(
            lambda d: d.pop("num_rows"), r"Profile dict .*missing field 'num_rows'", id="no-rows"
        ),
        pytest.param(
            _set("columns/x/kind", "tensor"), "Profile dict .*unknown kind 'tensor'", id="kind"
        ),
        pytest.param(
            _set("columns/x/count", -1), "NumericProfile dict .*count must be a non-neg", id="count"
        ),
        pytest.param(
            _set("columns/i/min", 1.5), "NumericProfile dict .*expected an integer", id="int"
        ),
        pytest.param(
            _set("columns/x/mean", "big"), "NumericProfile dict .*expected a number", id="mean"
        ),
        pytest.param(
            _set("columns/x/sketch/n", 1), "QuantileSketch dict .*do not match", id="sketch-n"
        ),
        pytest.param(
            _set("columns/x/sketch/items", "***"), "QuantileSketch dict .*base64", id="b64"
        ),
        pytest.param(_set("columns/x/sketch/k", 2), "k must be an integer from 8", id="sketch-k"),
        pytest.param(_set("columns/s/hll", "AAAA"), "CategoricalProfile dict .*Error -3", id="hll"),
        pytest.param(
            _set("columns/l/nulls", None), "OtherProfile dict .*nulls must be", id="other"
        ),
    ],
)
def test_from_dict_refuses_malformed_profiles(mutate: Any, message: str) -> None:
    data = json.loads(json.dumps(sample_profile().to_dict()))
    mutate(data)
    with pytest.raises(InvalidInputError, match=message):
        Profile.from_dict(data)


def test_from_dict_refuses_unsorted_sketch_levels() -> None:
    data = QuantileSketch.from_values([3.0, 1.0, 2.0]).to_dict()
    data["items"] = base64.b64encode(np.array([3.0, 1.0, 2.0]).tobytes()).decode()
    with pytest.raises(InvalidInputError, match=r"QuantileSketch dict \(version 1\): .*sorted"):
        QuantileSketch.from_dict(data)


# -- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "message"),
    [
        pytest.param(lambda: profile([1, 2, 3]), "got list. Wrap plain data", id="list"),
        pytest.param(
            lambda: profile(pa.table({"a": [1]}), columns=["b"]),
            r"columns \['b'\] are not in the table",
            id="unknown",
        ),
        pytest.param(
            lambda: profile(pa.table({"a": [1]}), columns=["a", "a"]),
            r"\['a'\] appear more than once",
            id="twice",
        ),
        pytest.param(
            lambda: profile(pa.table({"a": [1]}), top_k=0),
            "top_k must be an integer from 1",
            id="top-k",
        ),
        pytest.param(
            lambda: profile(pa.table({"a": [1]}), sketch_k=4),
            "sketch_k must be an integer from 8",
            id="sketch-k",
        ),
        pytest.param(lambda: profile(pa.table({"a": [1]}), top_k=True), "got True", id="bool-k"),
        pytest.param(
            lambda: profile(pd.DataFrame({"a": [1, "x"]})),
            "pyarrow cannot convert this DataFrame",
            id="mixed",
        ),
    ],
)
def test_bad_input_is_refused_with_a_hint(call: Any, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        call()


def test_duplicate_column_names_are_refused() -> None:
    table = pa.Table.from_arrays([pa.array([1]), pa.array([2])], names=["a", "a"])
    with pytest.raises(InvalidInputError, match=r"\['a'\] appear more than once"):
        profile(table)


def test_importing_the_module_loads_neither_numpy_nor_pyarrow() -> None:
    code = (
        "import shipyard.core.profiles, sys; print(sorted({'numpy', 'pyarrow'} & set(sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
