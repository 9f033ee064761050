"""Canary against primary: the difference of a live metric, with a confidence interval.

A proportion (accuracy, error rate) is compared with a two-proportion z-test; any other
metric (AUC, mean error) by bootstrapping each group independently::

    >>> result = two_proportion_ztest(850, 1000, 900, 1000)  # accuracy 0.85 -> 0.90
    >>> round(result.difference, 3), round(result.low, 3), round(result.high, 3)
    (0.05, 0.021, 0.079)
    >>> round(result.statistic, 2), round(result.p_value, 4)
    (3.38, 0.0007)

The difference is always canary minus primary, in the metric's own units, and the
interval is two-sided at level ``1 - alpha``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from statistics import NormalDist
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from shipyard.core.errors import InvalidInputError

__all__ = ["Comparison", "bootstrap_difference", "two_proportion_ztest"]

_NORMAL = NormalDist()
Metric = Callable[[np.ndarray, np.ndarray], float]


@dataclass(frozen=True, slots=True)
class Comparison:
    """Canary minus primary on a live metric, with a confidence interval.

    ``low`` and ``high`` bound the ``1 - alpha`` two-sided interval of ``difference``.
    ``p_value`` is two-sided against "no difference": the z-test's, or for the bootstrap
    twice the smaller share of resampled differences on either side of zero.
    ``statistic`` is z for the z-test, None for the bootstrap.
    """

    metric: str
    method: str
    primary: float
    canary: float
    difference: float
    low: float
    high: float
    p_value: float | None
    statistic: float | None
    n_primary: int
    n_canary: int
    alpha: float

    def to_dict(self) -> dict[str, Any]:
        """The comparison as JSON-ready data."""
        return asdict(self)


def _check_alpha(alpha: float) -> None:
    if not 0.0 < alpha < 1.0:
        raise InvalidInputError(f"alpha must be between 0 and 1 (e.g. 0.05); got {alpha}")


def _check_count(name: str, successes: int, n: int) -> None:
    if n <= 0:
        raise InvalidInputError(f"n_{name} must be 1 or more; got {n}: no {name} rows to compare")
    if not 0 <= successes <= n:
        raise InvalidInputError(
            f"successes_{name} must be between 0 and n_{name} ({n}); got {successes}"
        )


def two_proportion_ztest(
    successes_primary: int,
    n_primary: int,
    successes_canary: int,
    n_canary: int,
    *,
    alpha: float = 0.05,
    metric: str = "accuracy",
) -> Comparison:
    """Compare two proportions, e.g. the accuracy of canary and primary on labelled rows.

    The interval uses the unpooled standard error (each group's own variance); the z
    statistic and p-value use the pooled one (the variance under "no difference"). When
    both groups are all successes or all failures there is no evidence of a difference:
    z is 0 and the p-value 1.

    Args:
        successes_primary: Primary rows that count as a success (e.g. correct).
        n_primary: Primary rows.
        successes_canary: Canary rows that count as a success.
        n_canary: Canary rows.
        alpha: One minus the interval's confidence level.
        metric: The proportion's name, for the result.

    Returns:
        The comparison, ``method="z"``.

    Raises:
        InvalidInputError: a count of rows below 1, successes outside ``[0, n]``, or
            alpha outside ``(0, 1)``.
    """
    _check_count("primary", successes_primary, n_primary)
    _check_count("canary", successes_canary, n_canary)
    _check_alpha(alpha)
    p1, p2 = successes_primary / n_primary, successes_canary / n_canary
    difference = p2 - p1
    spread = math.sqrt(p1 * (1 - p1) / n_primary + p2 * (1 - p2) / n_canary)
    margin = _NORMAL.inv_cdf(1 - alpha / 2) * spread
    pooled = (successes_primary + successes_canary) / (n_primary + n_canary)
    pooled_se = math.sqrt(pooled * (1 - pooled) * (1 / n_primary + 1 / n_canary))
    z = difference / pooled_se if pooled_se > 0 else 0.0
    return Comparison(
        metric=metric,
        method="z",
        primary=p1,
        canary=p2,
        difference=difference,
        low=difference - margin,
        high=difference + margin,
        p_value=min(1.0, 2 * _NORMAL.cdf(-abs(z))),
        statistic=z,
        n_primary=n_primary,
        n_canary=n_canary,
        alpha=alpha,
    )


def _evaluate(metric: Metric, y: np.ndarray, score: np.ndarray) -> float | None:
    """The metric on one sample, or None where it is undefined (an error or not finite).

    Warnings are silenced: metrics warn on the samples they cannot score (scikit-learn's
    AUC on one class), and those samples are dropped anyway.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            value = float(metric(y, score))
        except (ValueError, ZeroDivisionError, FloatingPointError):
            return None
    return value if math.isfinite(value) else None


def _pair(name: str, y: ArrayLike, score: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    y_array, score_array = np.asarray(y), np.asarray(score)
    if len(y_array) != len(score_array):
        raise InvalidInputError(
            f"y_{name} and score_{name} must have one value per row; got {len(y_array)} "
            f"and {len(score_array)} values"
        )
    if len(y_array) == 0:
        raise InvalidInputError(f"the {name} group is empty: no {name} rows to compare")
    return y_array, score_array


def bootstrap_difference(
    metric: Metric,
    y_primary: ArrayLike,
    score_primary: ArrayLike,
    y_canary: ArrayLike,
    score_canary: ArrayLike,
    *,
    resamples: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
    metric_name: str = "metric",
) -> Comparison:
    """Compare any metric of canary and primary by bootstrapping each group.

    Each resample draws the primary rows and the canary rows independently, with
    replacement; the interval is the percentile interval of the resampled differences.
    Resamples where the metric is undefined (it raises ValueError, returns NaN, or, like
    an AUC of one class only, warns and returns NaN) are dropped.

    Args:
        metric: ``metric(y, score) -> float``, e.g. ``sklearn.metrics.roc_auc_score``.
        y_primary: The primary's labels.
        score_primary: The primary's predictions or scores, one per label.
        y_canary: The canary's labels.
        score_canary: The canary's predictions or scores, one per label.
        resamples: How many bootstrap resamples to draw.
        alpha: One minus the interval's confidence level.
        seed: Seed of the random generator; the same seed gives the same result.
        metric_name: The metric's name, for the result and messages.

    Returns:
        The comparison, ``method="bootstrap"``.

    Raises:
        InvalidInputError: an empty group, labels and scores of different lengths, the
            metric undefined on a whole group, or too few resamples where it is defined
            (fewer than half, or fewer than ``2 / alpha``).
    """
    _check_alpha(alpha)
    if resamples < 1:
        raise InvalidInputError(f"resamples must be 1 or more (e.g. 1000); got {resamples}")
    y_p, s_p = _pair("primary", y_primary, score_primary)
    y_c, s_c = _pair("canary", y_canary, score_canary)
    primary = _evaluate(metric, y_p, s_p)
    canary = _evaluate(metric, y_c, s_c)
    if primary is None or canary is None:
        name = "primary" if primary is None else "canary"
        raise InvalidInputError(
            f"{metric_name} is undefined on the whole {name} group (the metric raised or "
            "gave NaN, e.g. an AUC of one class only); wait for more labelled rows"
        )
    rng = np.random.default_rng(seed)
    n_p, n_c = len(y_p), len(y_c)
    differences = []
    for _ in range(resamples):
        i_p, i_c = rng.integers(0, n_p, n_p), rng.integers(0, n_c, n_c)
        resampled_p = _evaluate(metric, y_p[i_p], s_p[i_p])
        resampled_c = _evaluate(metric, y_c[i_c], s_c[i_c])
        if resampled_p is not None and resampled_c is not None:
            differences.append(resampled_c - resampled_p)
    needed = max(math.ceil(2 / alpha), math.ceil(resamples / 2))
    if len(differences) < needed:
        raise InvalidInputError(
            f"only {len(differences)} of {resamples} bootstrap resamples gave a defined "
            f"{metric_name} (needed {needed}): the groups ({n_p} primary and {n_c} canary "
            "rows) are too small or too one-sided; wait for more labelled rows or raise "
            "resamples"
        )
    spread = np.asarray(differences)
    low, high = np.quantile(spread, [alpha / 2, 1 - alpha / 2])
    valid = len(spread)
    # Add-one shares: a finite number of resamples never proves p = 0.
    below = (np.count_nonzero(spread <= 0) + 1) / (valid + 1)
    above = (np.count_nonzero(spread >= 0) + 1) / (valid + 1)
    return Comparison(
        metric=metric_name,
        method="bootstrap",
        primary=primary,
        canary=canary,
        difference=canary - primary,
        low=float(low),
        high=float(high),
        p_value=min(1.0, 2 * min(below, above)),
        statistic=None,
        n_primary=n_p,
        n_canary=n_c,
        alpha=alpha,
    )
