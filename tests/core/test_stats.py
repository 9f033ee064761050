"""Canary comparisons: the z-test against a hand computation, coverage, and the bootstrap."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
import scipy.stats
from sklearn.metrics import roc_auc_score

from shipyard import InvalidInputError
from shipyard.core.stats import Comparison, bootstrap_difference, two_proportion_ztest


def _accuracy(y: np.ndarray, predicted: np.ndarray) -> float:
    return float(np.mean(y == predicted))


def _mean(_y: np.ndarray, score: np.ndarray) -> float:
    return float(np.mean(score))


# -- two proportions ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("s1", "n1", "s2", "n2", "alpha"),
    [(850, 1000, 900, 1000, 0.05), (40, 50, 300, 420, 0.1), (7, 30, 2, 25, 0.01)],
    ids=["better-canary", "unequal-sizes", "worse-canary"],
)
def test_ztest_matches_a_hand_computation(s1: int, n1: int, s2: int, n2: int, alpha: float) -> None:
    p1, p2 = s1 / n1, s2 / n2
    pooled = (s1 + s2) / (n1 + n2)
    z = (p2 - p1) / math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    p_value = 2 * scipy.stats.norm.sf(abs(z))
    margin = scipy.stats.norm.ppf(1 - alpha / 2) * math.sqrt(
        p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2
    )

    result = two_proportion_ztest(s1, n1, s2, n2, alpha=alpha, metric="accuracy")

    assert result.method == "z"
    assert (result.metric, result.n_primary, result.n_canary, result.alpha) == (
        "accuracy",
        n1,
        n2,
        alpha,
    )
    assert result.primary == pytest.approx(p1)
    assert result.canary == pytest.approx(p2)
    assert result.difference == pytest.approx(p2 - p1)
    assert result.statistic == pytest.approx(z, rel=1e-12)
    assert result.p_value == pytest.approx(p_value, rel=1e-9)
    assert result.low == pytest.approx(p2 - p1 - margin, rel=1e-9)
    assert result.high == pytest.approx(p2 - p1 + margin, rel=1e-9)


def test_ztest_agrees_with_scipy_chi_square() -> None:
    # A two-sided two-proportion z-test is the 2x2 chi-square test without correction.
    table = np.array([[850, 150], [900, 100]])
    chi2 = scipy.stats.chi2_contingency(table, correction=False)
    result = two_proportion_ztest(850, 1000, 900, 1000)
    assert result.statistic is not None
    assert result.statistic**2 == pytest.approx(chi2.statistic)
    assert result.p_value == pytest.approx(chi2.pvalue)


@pytest.mark.parametrize(("s1", "s2"), [(0, 0), (20, 30)], ids=["all-failures", "all-successes"])
def test_ztest_of_identical_extremes_sees_no_difference(s1: int, s2: int) -> None:
    result = two_proportion_ztest(s1, 20 if s1 else 1, s2, 30 if s2 else 1)
    assert (result.difference, result.statistic, result.p_value) == (0.0, 0.0, 1.0)
    assert (result.low, result.high) == (0.0, 0.0)


def test_ztest_interval_covers_the_true_difference_about_95_percent() -> None:
    rng = np.random.default_rng(20240301)
    true_primary, true_canary, n_primary, n_canary = 0.80, 0.83, 800, 600
    covered = 0
    simulations = 400
    for _ in range(simulations):
        result = two_proportion_ztest(
            int(rng.binomial(n_primary, true_primary)),
            n_primary,
            int(rng.binomial(n_canary, true_canary)),
            n_canary,
        )
        covered += result.low <= true_canary - true_primary <= result.high
    assert 0.92 <= covered / simulations <= 0.98


def test_ztest_rejects_about_alpha_of_the_time_without_a_difference() -> None:
    rng = np.random.default_rng(7)
    rejected = 0
    for _ in range(400):
        primary, canary = (int(rng.binomial(500, 0.7)) for _ in range(2))
        p_value = two_proportion_ztest(primary, 500, canary, 500).p_value
        assert p_value is not None
        rejected += p_value < 0.05
    assert 0.02 <= rejected / 400 <= 0.08


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((5, 0, 5, 10), r"n_primary must be 1 or more; got 0"),
        ((5, 10, 5, -1), r"n_canary must be 1 or more; got -1"),
        ((11, 10, 5, 10), r"successes_primary must be between 0 and n_primary \(10\); got 11"),
        ((5, 10, -1, 10), r"successes_canary must be between 0 and n_canary \(10\); got -1"),
    ],
    ids=["no-primary", "negative-canary", "too-many-successes", "negative-successes"],
)
def test_ztest_refuses_bad_counts(args: tuple[int, int, int, int], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        two_proportion_ztest(*args)


@pytest.mark.parametrize("alpha", [0.0, 1.0, -0.1, 5.0])
def test_alpha_must_be_a_probability(alpha: float) -> None:
    with pytest.raises(InvalidInputError, match=r"alpha must be between 0 and 1"):
        two_proportion_ztest(5, 10, 5, 10, alpha=alpha)
    with pytest.raises(InvalidInputError, match=r"alpha must be between 0 and 1"):
        bootstrap_difference(_mean, [1, 0], [1, 0], [1, 0], [1, 0], alpha=alpha)


def test_to_dict_is_json_data() -> None:
    result = two_proportion_ztest(85, 100, 90, 100, metric="accuracy")
    data = result.to_dict()
    assert set(data) == {
        "metric",
        "method",
        "primary",
        "canary",
        "difference",
        "low",
        "high",
        "p_value",
        "statistic",
        "n_primary",
        "n_canary",
        "alpha",
    }
    assert json.loads(json.dumps(data, allow_nan=False)) == data
    assert Comparison(**data) == result


# -- bootstrap ----------------------------------------------------------------------------


def test_bootstrap_of_a_proportion_agrees_with_the_z_interval() -> None:
    rng = np.random.default_rng(3)
    n_primary, n_canary = 4000, 3000
    y_primary, y_canary = np.ones(n_primary), np.ones(n_canary)
    right_primary = rng.random(n_primary) < 0.80
    right_canary = rng.random(n_canary) < 0.83

    boot = bootstrap_difference(
        _accuracy,
        y_primary,
        right_primary.astype(float),
        y_canary,
        right_canary.astype(float),
        resamples=2000,
        metric_name="accuracy",
    )
    z = two_proportion_ztest(int(right_primary.sum()), n_primary, int(right_canary.sum()), n_canary)

    assert boot.method == "bootstrap"
    assert (boot.metric, boot.n_primary, boot.n_canary, boot.statistic) == (
        "accuracy",
        n_primary,
        n_canary,
        None,
    )
    assert boot.primary == pytest.approx(z.primary)
    assert boot.canary == pytest.approx(z.canary)
    assert boot.difference == pytest.approx(z.difference)
    width = z.high - z.low
    assert boot.low == pytest.approx(z.low, abs=0.05 * width)
    assert boot.high == pytest.approx(z.high, abs=0.05 * width)
    assert boot.p_value is not None
    assert z.p_value is not None
    assert boot.p_value == pytest.approx(z.p_value, abs=0.01)


def test_bootstrap_of_a_mean_difference_matches_the_normal_interval() -> None:
    rng = np.random.default_rng(11)
    primary, canary = rng.normal(10.0, 2.0, 3000), rng.normal(10.3, 3.0, 2000)
    result = bootstrap_difference(
        _mean, primary, primary, canary, canary, resamples=4000, metric_name="latency"
    )
    se = math.sqrt(primary.var(ddof=1) / len(primary) + canary.var(ddof=1) / len(canary))
    difference = canary.mean() - primary.mean()
    assert result.difference == pytest.approx(difference)
    assert result.low == pytest.approx(difference - 1.959964 * se, abs=0.2 * se)
    assert result.high == pytest.approx(difference + 1.959964 * se, abs=0.2 * se)
    assert result.p_value is not None
    assert result.p_value < 0.01


def test_bootstrap_is_reproducible_by_seed() -> None:
    rng = np.random.default_rng(5)
    data = [rng.random(200) for _ in range(4)]
    first = bootstrap_difference(_mean, *data, resamples=200, seed=1)
    assert bootstrap_difference(_mean, *data, resamples=200, seed=1) == first
    assert bootstrap_difference(_mean, *data, resamples=200, seed=2) != first


def test_bootstrap_without_a_difference_has_a_large_p_value() -> None:
    same = np.linspace(0, 1, 500)
    result = bootstrap_difference(_mean, same, same, same, same, resamples=500)
    assert result.difference == 0.0
    assert result.low < 0 < result.high
    assert result.p_value is not None
    assert result.p_value > 0.5


def _auc_data(n: int, positives: int, seed: int, signal: float) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.zeros(n, dtype=int)
    y[:positives] = 1
    return y, y * signal + rng.normal(0, 1, n)


def test_bootstrap_drops_resamples_where_auc_is_undefined() -> None:
    # 3 positives in 30 rows: about 4% of resamples draw none; sklearn warns, gives NaN.
    undefined: list[float] = []

    def auc(y: np.ndarray, score: np.ndarray) -> float:
        value = float(roc_auc_score(y, score))
        if math.isnan(value):
            undefined.append(value)
        return value

    y_p, s_p = _auc_data(30, 3, 1, 1.0)
    y_c, s_c = _auc_data(30, 3, 2, 2.0)
    result = bootstrap_difference(auc, y_p, s_p, y_c, s_c, resamples=300, metric_name="auc")
    assert undefined
    assert result.primary == pytest.approx(roc_auc_score(y_p, s_p))
    assert result.canary == pytest.approx(roc_auc_score(y_c, s_c))
    assert math.isfinite(result.low)
    assert math.isfinite(result.high)
    assert result.low <= result.high


def test_bootstrap_refuses_when_too_few_resamples_are_defined() -> None:
    # One positive in 10 rows on each side: a resample draws a positive on both sides
    # only (1 - 0.9**10) ** 2, about 42% of the time; fewer than half remain.
    y_p, s_p = _auc_data(10, 1, 1, 1.0)
    y_c, s_c = _auc_data(10, 1, 2, 1.0)
    with pytest.raises(
        InvalidInputError,
        match=r"only \d+ of 300 bootstrap resamples gave a defined auc \(needed 150\): the "
        r"groups \(10 primary and 10 canary rows\) are too small or too one-sided",
    ):
        bootstrap_difference(roc_auc_score, y_p, s_p, y_c, s_c, resamples=300, metric_name="auc")


def test_bootstrap_refuses_a_metric_undefined_on_a_whole_group() -> None:
    y_c, s_c = _auc_data(50, 25, 2, 1.0)
    with pytest.raises(InvalidInputError, match=r"auc is undefined on the whole primary group"):
        bootstrap_difference(roc_auc_score, [1, 1, 1], [0.2, 0.4, 0.9], y_c, s_c, metric_name="auc")


def test_bootstrap_drops_a_metric_that_raises() -> None:
    refused: list[int] = []

    def gap(y: np.ndarray, score: np.ndarray) -> float:
        if len(set(y.tolist())) < 2:
            refused.append(len(y))
            raise ValueError("needs both classes")
        return float(np.mean(score[y == 1]) - np.mean(score[y == 0]))

    # 2 positives in 40 rows: about 13% of primary resamples draw none.
    y_p, s_p = _auc_data(40, 2, 1, 1.0)
    y_c, s_c = _auc_data(40, 20, 2, 1.0)
    result = bootstrap_difference(gap, y_p, s_p, y_c, s_c, resamples=300)
    assert refused
    assert result.primary == pytest.approx(gap(y_p, s_p))
    assert math.isfinite(result.low)
    assert result.low <= result.high


@pytest.mark.parametrize(
    ("arrays", "kwargs", "message"),
    [
        (([1, 0], [1], [1, 0], [1, 0]), {}, r"y_primary and score_primary must have one value"),
        (([1, 0], [1, 0], [], []), {}, r"the canary group is empty"),
        (([1, 0], [1, 0], [1, 0], [1, 0]), {"resamples": 0}, r"resamples must be 1 or more"),
    ],
    ids=["lengths", "empty", "no-resamples"],
)
def test_bootstrap_refuses_bad_input(
    arrays: tuple[Any, ...], kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidInputError, match=message):
        bootstrap_difference(_mean, *arrays, **kwargs)
