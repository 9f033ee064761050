"""Drift statistics: profiles in, numbers checked against SciPy and numpy on the raw values."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import jensenshannon

from shipyard.core import drift
from shipyard.core.drift import (
    DEFAULT_THRESHOLDS,
    SMALL_SAMPLE,
    ColumnDrift,
    Histogram,
    chi_square,
    choose_method,
    column_drift,
    dataset_drift,
    jensen_shannon,
    ks_2samp,
    psi,
    wasserstein,
    wasserstein_error_bound,
)
from shipyard.core.errors import InvalidInputError
from shipyard.core.profiles import (
    CategoricalProfile,
    NumericProfile,
    OtherProfile,
    merge,
    profile,
)

RNG = np.random.default_rng(20261123)


def num(values: Any) -> NumericProfile:
    column = profile(pa.table({"x": pa.array(values)})).columns["x"]
    assert isinstance(column, NumericProfile)
    return column


def cat(values: Any, top_k: int = 100) -> CategoricalProfile:
    column = profile(pa.table({"c": pa.array(values, pa.string())}), top_k=top_k).columns["c"]
    assert isinstance(column, CategoricalProfile)
    return column


def drifted(name: str, reference: Any, current: Any, **kwargs: Any) -> ColumnDrift:
    result = column_drift(name, reference, current, **kwargs)
    assert result is not None
    return result


# -- numeric: agreement with SciPy on exact sketches ----------------------------------------

SMALL_PAIRS = {
    "normal-shifted": (RNG.normal(size=200), RNG.normal(0.3, 1.0, size=150)),
    "same-distribution": (RNG.normal(size=256), RNG.normal(size=256)),
    "ties-integers": (RNG.integers(0, 5, size=120), RNG.integers(1, 6, size=90)),
    "bools": (RNG.random(100) < 0.3, RNG.random(40) < 0.6),
    "identical": (np.arange(50.0), np.arange(50.0)),
    "disjoint": (np.arange(10.0), np.arange(10.0) + 100),
    "one-vs-three": (np.array([1.0]), np.array([0.0, 1.0, 2.0])),
    "half-even-rounding": (np.array([1.0, 2, 3, 4, 5]), np.array([2.5, 3.5, 4.5, 5.5, 6.5])),
    "heavy-tail": (RNG.standard_cauchy(size=180), RNG.standard_cauchy(size=220) * 2),
}


@pytest.mark.parametrize("pair", SMALL_PAIRS.values(), ids=SMALL_PAIRS.keys())
def test_ks_equals_scipy_asymptotic(pair: tuple[np.ndarray, np.ndarray]) -> None:
    a, b = pair
    d, p = ks_2samp(num(a), num(b))
    expected = scipy.stats.ks_2samp(a.astype(float), b.astype(float), method="asymp")
    assert d == float(expected.statistic)
    assert p == pytest.approx(float(expected.pvalue), rel=1e-12, abs=1e-300)


def test_ks_statistic_equals_scipy_exact_method() -> None:
    a, b = SMALL_PAIRS["ties-integers"]
    exact = scipy.stats.ks_2samp(a, b, method="exact")  # D snapped to a multiple of 1/lcm
    assert ks_2samp(num(a), num(b))[0] == pytest.approx(float(exact.statistic), rel=1e-12)


def test_ks_p_is_nan_with_one_value_a_side_as_scipy() -> None:
    d, p = ks_2samp(num([1.0]), num([2.0]))
    assert d == 1.0
    assert math.isnan(p)


@pytest.mark.parametrize("pair", SMALL_PAIRS.values(), ids=SMALL_PAIRS.keys())
def test_wasserstein_equals_scipy(pair: tuple[np.ndarray, np.ndarray]) -> None:
    a, b = (x.astype(float) for x in pair)
    expected = scipy.stats.wasserstein_distance(a, b)
    assert wasserstein(num(a), num(b), normed=False) == pytest.approx(expected, rel=1e-12)
    scale = a.std() if a.std() > 0 else 1.0
    assert wasserstein(num(a), num(b)) == pytest.approx(expected / scale, rel=1e-12)


def test_wasserstein_of_a_constant_reference_is_in_column_units() -> None:
    assert wasserstein(num([3.0] * 10), num([5.0] * 4)) == 2.0


samples = st.lists(
    st.one_of(st.integers(-5, 5).map(float), st.floats(-1e6, 1e6, allow_nan=False)),
    min_size=1,
    max_size=256,
)


@settings(max_examples=60, deadline=None)
@given(samples, samples)
def test_ks_and_wasserstein_match_scipy_on_any_small_sample(a: list[float], b: list[float]) -> None:
    ref, cur = num(a), num(b)
    d, _ = ks_2samp(ref, cur)
    with np.errstate(divide="ignore"):  # SciPy's p-value for one value a side divides by 0
        expected_d = scipy.stats.ks_2samp(a, b, method="asymp").statistic
    assert d == float(expected_d)
    expected = scipy.stats.wasserstein_distance(a, b)
    assert wasserstein(ref, cur, normed=False) == pytest.approx(expected, rel=1e-9, abs=1e-9)


# -- numeric: bounds on sketches ----------------------------------------------------------


@pytest.mark.parametrize("shift", [0.0, 0.05, 0.5], ids=["same", "small-shift", "large-shift"])
def test_sketch_estimates_stay_within_their_documented_bounds(shift: float) -> None:
    n = 200_000
    a, b = RNG.normal(size=n), RNG.normal(shift, 1.0, size=n)
    ref, cur = num(a), num(b)
    result = drifted("x", ref, cur)
    assert result.ks_error_bound is not None
    assert result.ks_error_bound > 0
    assert result.ks_error_bound == ref.rank_error(0.99) + cur.rank_error(0.99)
    exact_d = float(scipy.stats.ks_2samp(a, b, method="asymp").statistic)
    assert abs(result.scores["ks"] - exact_d) <= result.ks_error_bound
    exact_w = scipy.stats.wasserstein_distance(a, b)
    w_bound = wasserstein_error_bound(ref, cur, normed=False)
    assert abs(wasserstein(ref, cur, normed=False) - exact_w) <= w_bound
    assert abs(result.scores["wasserstein"] - exact_w / a.std()) <= wasserstein_error_bound(
        ref, cur
    )


def test_bounds_hold_after_merging_windows() -> None:
    reference = RNG.gamma(2.0, size=100_000)
    chunks = [RNG.gamma(2.2, size=10_000) for _ in range(20)]
    cur = merge(*(profile(pa.table({"x": chunk})) for chunk in chunks)).columns["x"]
    assert isinstance(cur, NumericProfile)
    ref, current = num(reference), np.concatenate(chunks)
    result = drifted("x", ref, cur)
    exact = scipy.stats.ks_2samp(reference, current, method="asymp").statistic
    assert result.ks_error_bound is not None
    assert abs(result.scores["ks"] - exact) <= result.ks_error_bound
    exact_w = scipy.stats.wasserstein_distance(reference, current)
    bound = wasserstein_error_bound(ref, cur, normed=False)
    assert abs(wasserstein(ref, cur, normed=False) - exact_w) <= bound


def test_exact_sketches_have_zero_bounds() -> None:
    ref, cur = num(np.arange(100.0)), num(np.arange(100.0) + 1)
    assert drifted("x", ref, cur).ks_error_bound == 0.0
    assert wasserstein_error_bound(ref, cur) == 0.0


@pytest.mark.parametrize("shift", [0.0, 0.01, 0.03, 0.06, 0.2])
def test_large_sample_p_value_is_within_one_percent_of_scipy(shift: float) -> None:
    a, b = RNG.normal(size=6000), RNG.normal(shift, 1.0, size=5000)
    d, p = ks_2samp(num(a), num(b))
    en = np.round(6000.0 * 5000.0 / 11000.0)
    expected = float(scipy.stats.kstwo.sf(d, en))
    assert p == pytest.approx(expected, rel=0.01, abs=1e-12)


# -- numeric: PSI -------------------------------------------------------------------------


def psi_by_hand(a: np.ndarray, b: np.ndarray, bins: int = 10) -> float:
    edges = np.unique(np.quantile(a, np.arange(1, bins) / bins, method="inverted_cdf"))
    r = np.bincount(np.searchsorted(edges, a, side="right"), minlength=len(edges) + 1) / len(a)
    c = np.bincount(np.searchsorted(edges, b, side="right"), minlength=len(edges) + 1) / len(b)
    r, c = np.where(r == 0, 1e-4, r), np.where(c == 0, 1e-4, c)
    return float(np.sum((c - r) * np.log(c / r)))


@pytest.mark.parametrize("pair", SMALL_PAIRS.values(), ids=SMALL_PAIRS.keys())
def test_psi_equals_a_direct_numpy_computation(pair: tuple[np.ndarray, np.ndarray]) -> None:
    a, b = (x.astype(float) for x in pair)
    assert psi(num(a), num(b)) == pytest.approx(psi_by_hand(a, b), rel=1e-12, abs=1e-15)
    assert psi(num(a), num(b), bins=4) == pytest.approx(psi_by_hand(a, b, 4), rel=1e-12)


def test_psi_of_equal_samples_is_zero() -> None:
    a = RNG.normal(size=200)
    assert psi(num(a), num(a)) == 0.0


# -- categorical --------------------------------------------------------------------------


def test_chi_square_and_js_equal_scipy_on_the_same_categories() -> None:
    a = ["a"] * 50 + ["b"] * 30 + ["c"] * 20
    b = ["a"] * 20 + ["b"] * 25 + ["c"] * 15
    stat, p = chi_square(cat(a), cat(b))
    f_obs = np.array([20.0, 25, 15])
    f_exp = np.array([0.5, 0.3, 0.2]) * 60
    expected = scipy.stats.chisquare(f_obs, f_exp)
    assert stat == pytest.approx(float(expected.statistic), rel=1e-12)
    assert p == pytest.approx(float(expected.pvalue), rel=1e-12)
    js = jensen_shannon(cat(a), cat(b))
    assert js == pytest.approx(float(jensenshannon([50, 30, 20], [20, 25, 15])), rel=1e-12)


def test_a_category_new_to_a_complete_reference_gets_a_pseudo_count() -> None:
    a = ["a"] * 70 + ["b"] * 30
    b = ["a"] * 40 + ["b"] * 40 + ["z"] * 20
    result = drifted("c", cat(a), cat(b))
    assert result.new_categories == ("z",)
    assert result.method == "chi2"
    ref = np.array([70.0, 30.0, 0.5])
    expected = scipy.stats.chisquare([40.0, 40.0, 20.0], ref / ref.sum() * 100)
    assert result.scores["chi2"] == pytest.approx(float(expected.statistic), rel=1e-12)
    assert result.scores["chi2_p"] == pytest.approx(float(expected.pvalue), rel=1e-12)
    assert math.isfinite(result.scores["chi2"])
    assert result.drifted
    js = float(jensenshannon([70, 30, 0], [40, 40, 20]))
    assert result.scores["jensenshannon"] == pytest.approx(js, rel=1e-12)


def test_an_incomplete_reference_compares_its_top_values_and_the_rest() -> None:
    a = ["a"] * 50 + ["b"] * 30 + ["c"] * 15 + ["d"] * 5
    b = ["a"] * 10 + ["b"] * 10 + ["e"] * 30 + ["c"] * 5
    ref = cat(a, top_k=2)
    assert ref.other == 20
    result = drifted("c", ref, cat(b))
    assert result.new_categories == ()  # "e" may be among the reference's other values
    assert result.histogram.labels == ("a", "b", "(other)")
    expected = scipy.stats.chisquare([10.0, 10, 35], np.array([50, 30, 20]) / 100 * 55)
    assert result.scores["chi2"] == pytest.approx(float(expected.statistic), rel=1e-12)
    js = float(jensenshannon([50, 30, 20], [10, 10, 35]))
    assert result.scores["jensenshannon"] == pytest.approx(js, rel=1e-12)


def test_one_category_on_both_sides_is_no_drift() -> None:
    assert chi_square(cat(["a"] * 5), cat(["a"] * 9)) == (0.0, 1.0)
    assert jensen_shannon(cat(["a"] * 5), cat(["a"] * 9)) == 0.0


def test_disjoint_categories_reach_the_js_maximum() -> None:
    assert jensen_shannon(cat(["a", "b"]), cat(["c", "d"])) == pytest.approx(math.sqrt(math.log(2)))


# -- method choice, thresholds and direction ------------------------------------------------


def test_defaults_are_evidentlys() -> None:
    assert dict(DEFAULT_THRESHOLDS) == {
        "ks": 0.05,
        "chi2": 0.05,
        "wasserstein": 0.1,
        "psi": 0.2,
        "jensenshannon": 0.1,
    }
    assert SMALL_SAMPLE == 1000


@pytest.mark.parametrize(
    ("make", "size", "method"),
    [
        (lambda n: num(np.arange(float(n))), SMALL_SAMPLE, "ks"),
        (lambda n: num(np.arange(float(n))), SMALL_SAMPLE + 1, "wasserstein"),
        (lambda n: cat([str(i % 7) for i in range(n)]), SMALL_SAMPLE, "chi2"),
        (lambda n: cat([str(i % 7) for i in range(n)]), SMALL_SAMPLE + 1, "jensenshannon"),
    ],
    ids=["numeric-small", "numeric-large", "categorical-small", "categorical-large"],
)
def test_choose_method_by_reference_size(make: Any, size: int, method: str) -> None:
    assert choose_method(make(size), make(10)) == method
    assert drifted("x", make(size), make(10)).method == method


def test_nothing_to_compare_is_none() -> None:
    empty = profile(pa.table({"x": pa.array([None, None], pa.float64())})).columns["x"]
    other = OtherProfile("null", 0, 3)
    full = num([1.0, 2.0])
    assert choose_method(empty, full) is None
    assert choose_method(full, other) is None
    assert column_drift("x", empty, full) is None
    assert column_drift("x", full, other) is None
    assert column_drift("x", other, other) is None


def test_p_value_methods_drift_below_the_threshold() -> None:
    ref, cur = num(np.arange(100.0)), num(np.arange(100.0) + 20)
    result = drifted("x", ref, cur)
    assert result.method == "ks"
    assert result.score == result.scores["ks_p"]
    assert result.threshold == 0.05
    assert result.drifted == (result.score < 0.05)
    lenient = drifted("x", ref, cur, threshold=result.score / 2)
    assert not lenient.drifted
    assert drifted("x", ref, num(np.arange(100.0))).drifted is False


def test_distance_methods_drift_at_or_above_the_threshold() -> None:
    a, b = RNG.normal(size=5000), RNG.normal(0.3, 1.0, size=3000)
    result = drifted("x", num(a), num(b))
    assert result.method == "wasserstein"
    assert result.score == result.scores["wasserstein"]
    assert result.drifted
    assert drifted("x", num(a), num(b), threshold=result.score).drifted
    assert not drifted("x", num(a), num(b), threshold=result.score * 1.01).drifted
    forced = drifted("x", num(a), num(b), method="psi")
    assert (forced.method, forced.score, forced.threshold) == ("psi", forced.scores["psi"], 0.2)
    assert set(forced.scores) == {"ks", "ks_p", "wasserstein", "psi"}
    assert (forced.reference_rows, forced.current_rows) == (5000, 3000)


def test_js_decides_large_categorical_columns() -> None:
    a = RNG.choice(list("abcde"), size=5000).tolist()
    b = RNG.choice(list("abcde"), size=2000, p=[0.6, 0.1, 0.1, 0.1, 0.1]).tolist()
    result = drifted("c", cat(a), cat(b))
    assert (result.method, result.kind, result.ks_error_bound) == (
        "jensenshannon",
        "categorical",
        None,
    )
    assert set(result.scores) == {"chi2", "chi2_p", "jensenshannon"}
    assert result.drifted == (result.score >= 0.1)
    assert not drifted("c", cat(a), cat(a[:2000])).drifted


def test_dataset_drift_counts_the_share() -> None:
    ref, moved = num(np.arange(100.0)), num(np.arange(100.0) + 50)
    results = [drifted("a", ref, moved), drifted("b", ref, ref), drifted("c", ref, ref)]
    assert dataset_drift(results) == (1 / 3, False)
    assert dataset_drift(results, share=0.3) == (1 / 3, True)
    assert dataset_drift(results[:2]) == (0.5, True)
    assert dataset_drift([]) == (0.0, False)


# -- histograms -----------------------------------------------------------------------------


def test_numeric_histogram_clamps_current_values_into_the_end_bins() -> None:
    a, b = RNG.normal(size=5000), RNG.normal(3.0, 1.0, size=5000)
    hist = drifted("x", num(a), num(b)).histogram
    assert hist.kind == "numeric"
    assert len(hist.edges) == 21
    assert len(hist.reference) == len(hist.current) == 20
    assert sum(hist.reference) == pytest.approx(1.0)
    assert sum(hist.current) == pytest.approx(1.0)
    assert hist.edges[0] == pytest.approx(np.quantile(a, 0.01), abs=0.05)
    assert hist.current[-1] > 0.5  # most of the shifted data is above the reference's range


def test_small_integer_columns_get_one_bin_per_value() -> None:
    hist = drifted("x", num(RNG.integers(0, 4, size=300)), num([5, 6, 0])).histogram
    assert hist.edges == (-0.5, 0.5, 1.5, 2.5, 3.5)
    assert hist.current == pytest.approx((1 / 3, 0, 0, 2 / 3))
    bools = drifted("b", num([True, False, True]), num([False])).histogram
    assert bools.edges == (-0.5, 0.5, 1.5)
    assert bools.reference == pytest.approx((1 / 3, 2 / 3))


def test_categorical_histogram_keeps_the_top_15_then_other() -> None:
    values = [f"v{i:02d}" for i in range(30)]
    a = RNG.choice(values, size=3000).tolist()
    b = RNG.choice(values, size=3000).tolist()
    hist = drifted("c", cat(a), cat(b)).histogram
    assert hist.kind == "categorical"
    assert len(hist.labels) == 16
    assert hist.labels[-1] == "(other)"
    assert sum(hist.reference) == pytest.approx(1.0)
    assert sum(hist.current) == pytest.approx(1.0)
    shares = [r + c for r, c in zip(hist.reference[:-1], hist.current[:-1], strict=True)]
    assert shares == sorted(shares, reverse=True)
    few = drifted("c", cat(["a", "b"]), cat(["b"])).histogram
    assert few.labels == ("b", "a")  # by share, and no "(other)" when nothing is left


# -- serialisation ----------------------------------------------------------------------------


def test_round_trip_through_json() -> None:
    for result in (
        drifted("x", num(RNG.normal(size=300)), num(RNG.normal(size=200))),
        drifted("c", cat(["a", "b", "b"]), cat(["b", "z"])),
    ):
        text = json.dumps(result.to_dict(), allow_nan=False)
        assert ColumnDrift.from_dict(json.loads(text)) == result
        assert Histogram.from_dict(result.histogram.to_dict()) == result.histogram


def test_nan_becomes_null_and_back() -> None:
    result = drifted("x", num([1.0]), num([2.0]))
    data = result.to_dict()
    assert data["scores"]["ks_p"] is None
    assert data["score"] is None
    json.dumps(data, allow_nan=False)
    back = ColumnDrift.from_dict(data)
    assert math.isnan(back.score)
    assert not back.drifted


@pytest.mark.parametrize(
    "change",
    [{"method": "median"}, {"scores": [1]}, {"drifted": "yes"}, {"kind": "text"}, {"score": "1"}],
    ids=["method", "scores", "drifted", "kind", "score"],
)
def test_from_dict_rejects_what_to_dict_does_not_write(change: dict[str, Any]) -> None:
    data = drifted("x", num([1.0, 2.0]), num([2.0, 3.0])).to_dict()
    with pytest.raises(InvalidInputError, match="not a valid ColumnDrift dict"):
        ColumnDrift.from_dict({**data, **change})
    missing = dict(data)
    del missing["histogram"]
    with pytest.raises(InvalidInputError, match="missing field 'histogram'"):
        ColumnDrift.from_dict(missing)


# -- errors ---------------------------------------------------------------------------------


def test_numeric_against_categorical_names_the_column_and_both_types() -> None:
    with pytest.raises(InvalidInputError, match=r"column 'age' is numeric \(float\).*categorical"):
        column_drift("age", num([1.0]), cat(["1"]))
    with pytest.raises(InvalidInputError, match="categorical"):
        choose_method(cat(["1"]), num([1.0]))


def test_unknown_method_lists_the_valid_ones() -> None:
    with pytest.raises(InvalidInputError, match="ks, wasserstein, psi, chi2, jensenshannon"):
        column_drift("x", num([1.0]), num([2.0]), method="median")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("reference", "method"),
    [(num([1.0]), "chi2"), (cat(["a"]), "ks")],
    ids=["numeric-chi2", "categorical-ks"],
)
def test_a_method_of_the_other_kind_is_refused(reference: Any, method: Any) -> None:
    with pytest.raises(InvalidInputError, match="does not apply to column 'x'"):
        column_drift("x", reference, reference, method=method)


@pytest.mark.parametrize(
    ("method", "threshold"),
    [
        ("ks", 0.0),
        ("ks", 1.0),
        ("chi2", 1.5),
        ("wasserstein", -0.1),
        ("wasserstein", math.inf),
        ("psi", math.nan),
        ("jensenshannon", 1.2),
        ("ks", True),
        ("psi", "0.2"),
    ],
)
def test_thresholds_out_of_range_are_refused(method: Any, threshold: Any) -> None:
    reference = cat(["a", "b"]) if method in ("chi2", "jensenshannon") else num([1.0, 2.0])
    with pytest.raises(InvalidInputError, match=f"the {method} threshold must be"):
        column_drift("x", reference, reference, method=method, threshold=threshold)


def test_statistics_refuse_the_wrong_profiles() -> None:
    with pytest.raises(InvalidInputError, match="two NumericProfile"):
        ks_2samp(cat(["a"]), num([1.0]))  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="two CategoricalProfile"):
        chi_square(num([1.0]), cat(["a"]))  # type: ignore[arg-type]
    empty = profile(pa.table({"x": pa.array([None], pa.float64())})).columns["x"]
    assert isinstance(empty, NumericProfile)
    with pytest.raises(InvalidInputError, match="values on both sides"):
        wasserstein(empty, num([1.0]))
    with pytest.raises(InvalidInputError, match="bins must be an integer from 2 to 1000"):
        psi(num([1.0]), num([1.0]), bins=1)
    for share in (0, 1.5, math.nan):
        with pytest.raises(InvalidInputError, match=r"share must be a number in \(0, 1\]"):
            dataset_drift([], share=share)


# -- cost -------------------------------------------------------------------------------------


def test_importing_the_module_loads_neither_numpy_nor_scipy() -> None:
    code = "import shipyard.core.drift, sys; print(sorted({'numpy', 'scipy'} & set(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_a_column_check_takes_milliseconds() -> None:
    ref, cur = num(RNG.normal(size=1_000_000)), num(RNG.normal(0.1, 1.0, size=1_000_000))
    column_drift("x", ref, cur)
    start = time.perf_counter()
    for _ in range(50):
        column_drift("x", ref, cur)
    assert (time.perf_counter() - start) / 50 < 0.02  # about 0.3 ms; generous for slow CI


def test_all_lists_the_public_api() -> None:
    assert set(drift.__all__) == {
        "DEFAULT_THRESHOLDS",
        "SMALL_SAMPLE",
        "ColumnDrift",
        "DriftMethod",
        "Histogram",
        "chi_square",
        "choose_method",
        "column_drift",
        "dataset_drift",
        "jensen_shannon",
        "ks_2samp",
        "psi",
        "wasserstein",
        "wasserstein_error_bound",
    }
