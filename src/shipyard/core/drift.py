"""Drift statistics: how far a column of new data has moved from its reference profile.

Both sides are profiles (`shipyard.core.profiles`), so a check needs no raw data: the
registry keeps the training profile, monitoring profiles each window, and every statistic
below is computed from the two summaries::

    >>> import pyarrow as pa
    >>> from shipyard.core.profiles import profile
    >>> ref = profile(pa.table({"x": [float(i) for i in range(100)]})).columns["x"]
    >>> cur = profile(pa.table({"x": [float(i) + 50 for i in range(100)]})).columns["x"]
    >>> result = column_drift("x", ref, cur)
    >>> result.method, round(result.scores["ks"], 2), result.drifted
    ('ks', 0.5, True)

Method selection (Evidently's defaults). A numeric column (int, float, bool, temporal) is
compared with a numeric one, a categorical column with a categorical one; numeric columns
with few distinct values stay numeric (KS and Wasserstein work on discrete data). With at
most `SMALL_SAMPLE` (1000) non-missing reference values the deciding test is a p-value,
and the column drifts when ``p < threshold``:

- numeric: two-sample Kolmogorov-Smirnov (``"ks"``), threshold 0.05;
- categorical: chi-square goodness of fit (``"chi2"``), threshold 0.05.

With more reference values tests reject on negligible shifts, so the deciding score is a
distance, and the column drifts when ``distance >= threshold``:

- numeric: Wasserstein-1 distance divided by the reference's standard deviation
  (``"wasserstein"``), threshold 0.1;
- categorical: Jensen-Shannon distance, natural log (``"jensenshannon"``), threshold 0.1.

Population stability index (``"psi"``, numeric, drifts at ``>= 0.2``) is computed for
every numeric column and decides when asked for. `DEFAULT_THRESHOLDS` holds the defaults;
a NaN score never counts as drift. `dataset_drift` calls a dataset drifted when at least
half (``share``) of its compared columns drifted.

How the numeric statistics use the profiles. A profile's quantile sketch gives its
retained values ``v`` with weights ``w`` (every value with weight 1 up to 256 values), so
``F(x) = sum(w[v <= x]) / n`` is the sketch's CDF, evaluated with ``np.searchsorted``:

- KS: ``D = max |F_ref(x) - F_cur(x)|`` over every retained value x of both sketches (the
  CDFs are step functions that only move there), and the p-value of SciPy's asymptotic
  method: ``kstwo.sf(D, en)`` with ``en = round(n * m / (n + m))`` (``np.round``: half
  to even) of the true counts n and m, clipped to [0, 1]; NaN when en is 0 (one value
  each). SciPy's ``kstwo.sf`` takes time linear in en, so above en = 2000 the p-value
  comes from closed forms instead: ``2 exp(-(6 en D + 1)**2 / (18 en))`` where
  ``en D**2 >= 2.2`` (the tail, p below about 0.025) and Stephens' corrected Kolmogorov
  limit ``kolmogorov((sqrt(en) + 0.12 + 0.11 / sqrt(en)) D)`` elsewhere; they are within
  1% of SciPy's p-value (relative, wherever p > 1e-6; 0.1% from en = 20,000).
- Wasserstein-1: ``sum |F_ref(x_i) - F_cur(x_i)| * (x_{i+1} - x_i)`` over the merged
  sorted values x of both sketches, the integral of ``|F_ref - F_cur|``; ``normed``
  divides by the reference's population standard deviation (the exact one the profile
  keeps), or by 1 when that is 0 or not finite (a constant reference: the distance in
  the column's units).
- PSI: bins cut at the reference's deciles (``bins=10``), duplicates removed, open at both
  ends; ``sum((c - r) * ln(c / r))`` over the bins' fractions r and c, a fraction of 0
  replaced by 0.0001 (Evidently's smoothing) so empty bins stay finite.

While both sketches are exact (at most 256 values each) these equal SciPy's
``ks_2samp(method="asymp")`` and ``wasserstein_distance`` on the raw values. Beyond that
a sketch answers each CDF query within its rank error ``eps = rank_error(0.99)``, so
``|D_est - D| <= eps_ref + eps_cur`` (`ColumnDrift.ks_error_bound`) and, as the CDF
errors vanish outside each side's [min, max], ``|W_est - W| <= eps_ref * (max_ref -
min_ref) + eps_cur * (max_cur - min_cur)`` before normalising
(`wasserstein_error_bound`). ``rank_error(0.99)`` holds for one query at 99% confidence;
``rank_error(None)`` is the bound that holds for every query at once. Measured on 15
pairs of 200,000 normal rows a side (shifts 0 to 0.5 std): KS errors up to 0.0041 against
a bound of 0.0099, Wasserstein errors up to 0.018 std against a bound of 0.09 std.

Categorical columns use the exact counts of the profiles' top-k values. Categories are
the reference's listed values; when the reference is complete (``other == 0``) the
current data's listed values that it lacks are added (and reported as
``new_categories``); everything else (the reference's ``other``, and the current values
outside that list) goes into one ``"(other)"`` bucket. Values outside a current top-k
that the reference lists also count as ``"(other)"`` in the current data.

- chi-square: ``scipy.stats.chisquare(f_obs, f_exp)`` with f_obs the current counts and
  ``f_exp = r / sum(r) * n_current``, where r is the reference count of each category
  and 0.5 (a pseudo-count) for a category the reference does not have, so the statistic
  stays finite; one category only gives ``(0.0, 1.0)``.
- Jensen-Shannon: ``scipy.spatial.distance.jensenshannon(p, q)`` of the two sides'
  proportions, no smoothing (it is finite with zeros), between 0 and sqrt(ln 2).

Only the p-values need SciPy (``kstwo`` and ``chdtrc``); it is imported on first use.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from types import MappingProxyType, ModuleType
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, TypeAlias, cast, get_args

from shipyard.core._sketches import _check_int
from shipyard.core.errors import ConfigError, InvalidInputError
from shipyard.core.profiles import CategoricalProfile, ColumnProfile, NumericProfile

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    FloatArray: TypeAlias = npt.NDArray[np.float64]

__all__ = [
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
]

DriftMethod: TypeAlias = Literal["ks", "wasserstein", "psi", "chi2", "jensenshannon"]

#: Default threshold of each method: a p-value for ks and chi2, a distance otherwise.
DEFAULT_THRESHOLDS: Mapping[str, float] = MappingProxyType(
    {"ks": 0.05, "chi2": 0.05, "wasserstein": 0.1, "psi": 0.2, "jensenshannon": 0.1}
)
#: Reference sizes (non-missing values) up to this use tests (KS, chi-square); above, distances.
SMALL_SAMPLE = 1000

_METHODS: tuple[str, ...] = get_args(DriftMethod)
_NUMERIC_METHODS = ("ks", "wasserstein", "psi")
_CATEGORICAL_METHODS = ("chi2", "jensenshannon")
_P_VALUES = ("ks", "chi2")
_OTHER = "(other)"
_HIST_BINS = 20
_HIST_CATEGORIES = 15
_PSI_FLOOR = 1e-4
_PSEUDO_COUNT = 0.5
_KS_SCIPY_MAX = 2000


# -- results -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Histogram:
    """Reference and current fractions on the same bins, for plots.

    Numeric: ``edges`` cut ``len(edges) - 1`` bins; values below the first edge count in
    the first bin and values above the last in the last. They are 20 even bins between the
    reference's 1st and 99th percentiles (its min and max if those coincide), or one bin
    per integer for integer and bool columns spanning at most 20 values. Categorical:
    ``labels`` are the 15 categories with the largest reference plus current share, then
    ``"(other)"`` for the rest when there is any. Each side's fractions add up to 1.
    """

    kind: str
    edges: tuple[float, ...]
    labels: tuple[str, ...]
    reference: tuple[float, ...]
    current: tuple[float, ...]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (NaN and infinities become None)."""
        return {
            "kind": self.kind,
            "edges": [_dump(x) for x in self.edges],
            "labels": list(self.labels),
            "reference": [_dump(x) for x in self.reference],
            "current": [_dump(x) for x in self.current],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Histogram:
        """Rebuild from `to_dict` output; InvalidInputError if it is not one."""
        with _parsing("Histogram"):
            kind = data["kind"]
            if kind not in ("numeric", "categorical"):
                raise ValueError(f"kind must be 'numeric' or 'categorical', got {kind!r}")
            return cls(
                kind=kind,
                edges=tuple(_load(x) for x in data["edges"]),
                labels=tuple(str(x) for x in data["labels"]),
                reference=tuple(_load(x) for x in data["reference"]),
                current=tuple(_load(x) for x in data["current"]),
            )


@dataclass(frozen=True, slots=True)
class ColumnDrift:
    """The drift check of one column: the deciding score, every score computed, a histogram.

    ``score`` is ``scores[method]`` for distances and the p-value (``scores["ks_p"]`` or
    ``scores["chi2_p"]``) for tests. Numeric ``scores``: ``ks`` (D), ``ks_p``,
    ``wasserstein`` (normed), ``psi``; categorical: ``chi2``, ``chi2_p``,
    ``jensenshannon``. ``ks_error_bound`` bounds how far D may be from the exact D given
    the sketches (0.0 while both are exact; None for categorical columns).
    """

    column: str
    kind: str
    method: DriftMethod
    score: float
    threshold: float
    drifted: bool
    scores: dict[str, float]
    reference_rows: int
    current_rows: int
    new_categories: tuple[str, ...]
    ks_error_bound: float | None
    histogram: Histogram

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (NaN and infinities become None)."""
        return {
            "column": self.column,
            "kind": self.kind,
            "method": self.method,
            "score": _dump(self.score),
            "threshold": _dump(self.threshold),
            "drifted": self.drifted,
            "scores": {name: _dump(value) for name, value in self.scores.items()},
            "reference_rows": self.reference_rows,
            "current_rows": self.current_rows,
            "new_categories": list(self.new_categories),
            "ks_error_bound": _dump(self.ks_error_bound),
            "histogram": self.histogram.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ColumnDrift:
        """Rebuild from `to_dict` output (None reads back as NaN); InvalidInputError if not one."""
        with _parsing("ColumnDrift"):
            method = data["method"]
            if method not in _METHODS:
                raise ValueError(f"method must be one of {list(_METHODS)}, got {method!r}")
            kind = data["kind"]
            if kind not in ("numeric", "categorical"):
                raise ValueError(f"kind must be 'numeric' or 'categorical', got {kind!r}")
            bound = data["ks_error_bound"]
            return cls(
                column=str(data["column"]),
                kind=kind,
                method=method,
                score=_load(data["score"]),
                threshold=_load(data["threshold"]),
                drifted=_load_bool(data["drifted"]),
                scores={str(k): _load(v) for k, v in data["scores"].items()},
                reference_rows=_load_count(data["reference_rows"]),
                current_rows=_load_count(data["current_rows"]),
                new_categories=tuple(str(v) for v in data["new_categories"]),
                ks_error_bound=None if bound is None else _load(bound),
                histogram=Histogram.from_dict(data["histogram"]),
            )


# -- choosing and deciding -----------------------------------------------------------------


def choose_method(reference: ColumnProfile, current: ColumnProfile) -> DriftMethod | None:
    """The default deciding method for two column profiles (see the module docstring).

    Args:
        reference: the reference column profile.
        current: the current column profile.

    Returns:
        ``"ks"`` or ``"wasserstein"`` for numeric columns, ``"chi2"`` or
        ``"jensenshannon"`` for categorical ones, by the reference's size; None when
        there is nothing to compare (a side with no present values, or a column of
        another type: lists, binary, all-null).

    Raises:
        InvalidInputError: one side is numeric and the other categorical.
    """
    _check_kinds(None, reference, current)
    if not isinstance(reference, NumericProfile | CategoricalProfile):
        return None
    if not isinstance(current, NumericProfile | CategoricalProfile):
        return None
    if not reference.count or not current.count:
        return None
    small = reference.count <= SMALL_SAMPLE
    if isinstance(reference, NumericProfile):
        return "ks" if small else "wasserstein"
    return "chi2" if small else "jensenshannon"


def column_drift(
    name: str,
    reference: ColumnProfile,
    current: ColumnProfile,
    *,
    method: DriftMethod | None = None,
    threshold: float | None = None,
) -> ColumnDrift | None:
    """Compare one column's current profile with its reference profile.

    Args:
        name: the column name, recorded in the result and named in errors.
        reference: the reference column profile (e.g. of the training data).
        current: the current column profile (e.g. of a window of the prediction log).
        method: the deciding method; by default `choose_method`'s.
        threshold: the deciding threshold; by default the method's `DEFAULT_THRESHOLDS`.

    Returns:
        The result, or None when there is nothing to compare (see `choose_method`).

    Raises:
        InvalidInputError: one side is numeric and the other categorical, the method is
            unknown or does not apply to the column's kind, or the threshold is out of range.
    """
    _check_kinds(name, reference, current)
    if method is not None:
        _check_method(method)
        if isinstance(reference, NumericProfile) and method not in _NUMERIC_METHODS:
            raise _wrong_kind(name, method, "numeric", _NUMERIC_METHODS)
        if isinstance(reference, CategoricalProfile) and method not in _CATEGORICAL_METHODS:
            raise _wrong_kind(name, method, "categorical", _CATEGORICAL_METHODS)
    chosen = choose_method(reference, current)
    if chosen is None:
        return None
    decider: DriftMethod = method or chosen
    limit = _check_threshold(
        decider, DEFAULT_THRESHOLDS[decider] if threshold is None else threshold
    )
    new: tuple[str, ...] = ()
    bound: float | None = None
    if isinstance(reference, NumericProfile) and isinstance(current, NumericProfile):
        cdfs = _cdfs(reference, current)
        d, p = _ks(cdfs, reference.count, current.count)
        scores = {
            "ks": d,
            "ks_p": p,
            "wasserstein": _w1(cdfs) / _scale(reference),
            "psi": psi(reference, current),
        }
        kind, bound = "numeric", _ks_bound(reference, current)
        histogram = _numeric_histogram(reference, current)
    else:
        table = _categories(cast(CategoricalProfile, reference), cast(CategoricalProfile, current))
        stat, p = _chi_square(table)
        scores = {"chi2": stat, "chi2_p": p, "jensenshannon": _jensen_shannon(table)}
        kind, new = "categorical", table.new
        histogram = _categorical_histogram(table)
    score = scores[f"{decider}_p" if decider in _P_VALUES else decider]
    drifted = score < limit if decider in _P_VALUES else score >= limit
    return ColumnDrift(
        column=name,
        kind=kind,
        method=decider,
        score=score,
        threshold=limit,
        drifted=bool(drifted),
        scores=scores,
        reference_rows=reference.count,
        current_rows=current.count,
        new_categories=new,
        ks_error_bound=bound,
        histogram=histogram,
    )


def dataset_drift(results: Iterable[ColumnDrift], share: float = 0.5) -> tuple[float, bool]:
    """The share of drifted columns, and whether it reaches ``share``.

    Args:
        results: the column results (e.g. `column_drift` of every compared column).
        share: the share of drifted columns at which the dataset counts as drifted.

    Returns:
        ``(drifted columns / columns, that >= share)``; ``(0.0, False)`` for no columns.

    Raises:
        InvalidInputError: ``share`` is not in (0, 1].
    """
    if isinstance(share, bool) or not isinstance(share, int | float) or not 0 < share <= 1:
        raise InvalidInputError(
            f"share must be a number in (0, 1], got {share!r}; 0.5 means at least half the "
            "columns must drift"
        )
    flags = [result.drifted for result in results]
    if not flags:
        return 0.0, False
    fraction = sum(flags) / len(flags)
    return fraction, fraction >= share


# -- numeric statistics --------------------------------------------------------------------


class _Cdfs(NamedTuple):
    points: FloatArray  # the sorted distinct retained values of both sketches
    reference: FloatArray  # F_ref at each point
    current: FloatArray


def _cdfs(reference: NumericProfile, current: NumericProfile) -> _Cdfs:
    import numpy as np

    ref_values, ref_weights = reference.sketch.weighted_items()
    cur_values, cur_weights = current.sketch.weighted_items()
    points = np.union1d(ref_values, cur_values)
    out = []
    for values, weights, n in (
        (ref_values, ref_weights, reference.sketch.n),
        (cur_values, cur_weights, current.sketch.n),
    ):
        below = np.concatenate([np.zeros(1, np.int64), np.cumsum(weights)])
        out.append(below[np.searchsorted(values, points, side="right")] / n)
    return _Cdfs(points, out[0], out[1])


def _check_pair(
    reference: object,
    current: object,
    kind: type[NumericProfile] | type[CategoricalProfile],
    what: str,
) -> None:
    """Both sides are ``kind`` profiles with values, or an error naming what to call instead."""
    if not isinstance(reference, kind) or not isinstance(current, kind):
        other = (
            "categorical columns take chi_square or jensen_shannon"
            if kind is NumericProfile
            else "numeric columns take ks_2samp, wasserstein or psi"
        )
        raise InvalidInputError(
            f"{what} compares two {kind.__name__} objects, got {type(reference).__name__} "
            f"and {type(current).__name__}; {other}"
        )
    if not reference.count or not current.count:
        raise InvalidInputError(
            f"{what} needs values on both sides, got {reference.count} reference and "
            f"{current.count} current values; column_drift returns None for empty columns"
        )


def ks_2samp(reference: NumericProfile, current: NumericProfile) -> tuple[float, float]:
    """Two-sided two-sample Kolmogorov-Smirnov statistic and asymptotic p-value.

    Args:
        reference: the reference numeric profile.
        current: the current numeric profile.

    Returns:
        ``(D, p)`` as ``scipy.stats.ks_2samp(ref, cur, method="asymp")`` on the raw
        values, exactly while both sketches are exact (see the module docstring).

    Raises:
        InvalidInputError: a side is not numeric or has no values.
    """

    _check_pair(reference, current, NumericProfile, "ks_2samp")
    return _ks(_cdfs(reference, current), reference.count, current.count)


def _ks(cdfs: _Cdfs, n1: int, n2: int) -> tuple[float, float]:
    import numpy as np

    d = float(np.max(np.abs(cdfs.reference - cdfs.current)))
    # As SciPy: the larger size first, n * m / (n + m) rounded half to even.
    m, n = sorted([float(n1), float(n2)], reverse=True)
    en = float(np.round(m * n / (m + n)))
    if en < 1:
        return d, math.nan
    if en <= _KS_SCIPY_MAX:
        p = float(_scipy("scipy.stats").kstwo.sf(d, en))
    elif en * d * d >= 2.2:
        # SciPy's kstwo.sf costs O(n) here (2 * smirnov(n, d)); this tail form is close to it.
        p = 2.0 * math.exp(-((6.0 * en * d + 1.0) ** 2) / (18.0 * en))
    else:
        root = math.sqrt(en)
        p = float(_scipy("scipy.special").kolmogorov((root + 0.12 + 0.11 / root) * d))
    return d, min(max(p, 0.0), 1.0)


def wasserstein(
    reference: NumericProfile, current: NumericProfile, *, normed: bool = True
) -> float:
    """Wasserstein-1 distance between the two sketch CDFs.

    Args:
        reference: the reference numeric profile.
        current: the current numeric profile.
        normed: divide by the reference's standard deviation (by 1 when it is 0).

    Returns:
        The distance; ``scipy.stats.wasserstein_distance`` of the raw values (over the
        reference std when normed) while both sketches are exact.

    Raises:
        InvalidInputError: a side is not numeric or has no values.
    """

    _check_pair(reference, current, NumericProfile, "wasserstein")
    return _w1(_cdfs(reference, current)) / (_scale(reference) if normed else 1.0)


def _w1(cdfs: _Cdfs) -> float:
    import numpy as np

    gaps = np.abs(cdfs.reference[:-1] - cdfs.current[:-1])
    with np.errstate(invalid="ignore"):
        # An infinite value makes an infinite step; it only counts where the CDFs differ.
        terms = np.where(gaps > 0, gaps * np.diff(cdfs.points), 0.0)
    return float(np.sum(terms))


def wasserstein_error_bound(
    reference: NumericProfile, current: NumericProfile, *, normed: bool = True
) -> float:
    """A bound on how far `wasserstein` may be from the exact distance, given the sketches.

    Args:
        reference: the reference numeric profile.
        current: the current numeric profile.
        normed: bound the normed distance (as `wasserstein`'s ``normed``).

    Returns:
        ``eps_ref * (max_ref - min_ref) + eps_cur * (max_cur - min_cur)`` with
        ``eps = rank_error(0.99)`` (see the module docstring); 0.0 while both are exact.

    Raises:
        InvalidInputError: a side is not numeric or has no values.
    """
    _check_pair(reference, current, NumericProfile, "wasserstein_error_bound")
    total = 0.0
    for side in (reference, current):
        eps = side.rank_error(0.99)
        if eps:
            total += eps * (float(cast(float, side.max)) - float(cast(float, side.min)))
    return total / (_scale(reference) if normed else 1.0)


def psi(reference: NumericProfile, current: NumericProfile, bins: int = 10) -> float:
    """Population stability index on bins cut at the reference's quantiles.

    Args:
        reference: the reference numeric profile.
        current: the current numeric profile.
        bins: how many quantile bins to aim for (duplicate edges merge bins).

    Returns:
        ``sum((c - r) * ln(c / r))`` over the bins' fractions, zeros replaced by 0.0001.

    Raises:
        InvalidInputError: a side is not numeric or has no values, or ``bins`` is not an
            integer from 2 to 1000.
    """
    import numpy as np

    _check_pair(reference, current, NumericProfile, "psi")
    bins = _check_int("bins", bins, 2, 1000, 10)
    edges = np.unique(reference.quantiles(np.arange(1, bins) / bins))
    edges = edges[np.isfinite(edges)]
    if not edges.size:
        return 0.0
    r = reference.bin_counts(edges) / reference.sketch.n
    c = current.bin_counts(edges) / current.sketch.n
    r = np.where(r == 0, _PSI_FLOOR, r)
    c = np.where(c == 0, _PSI_FLOOR, c)
    return float(np.sum((c - r) * np.log(c / r)))


def _scale(reference: NumericProfile) -> float:
    std = reference.std
    return std if std is not None and math.isfinite(std) and std > 0 else 1.0


def _ks_bound(reference: NumericProfile, current: NumericProfile) -> float:
    return reference.rank_error(0.99) + current.rank_error(0.99)


def _numeric_histogram(reference: NumericProfile, current: NumericProfile) -> Histogram:
    import numpy as np

    low, high = (float(x) for x in reference.quantiles([0.01, 0.99]))
    lo, hi = float(cast(float, reference.min)), float(cast(float, reference.max))
    if reference.dtype in ("int", "bool") and hi - lo < _HIST_BINS:
        edges = np.arange(lo - 0.5, hi + 1.0, 1.0)
    else:
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            low, high = lo, hi
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            values = reference.sketch.weighted_items()[0]
            finite = values[np.isfinite(values)]
            middle = float(np.median(finite)) if finite.size else 0.0
            low, high = middle - 0.5, middle + 0.5
        edges = np.linspace(low, high, _HIST_BINS + 1)
        if (np.diff(edges) <= 0).any():  # a range too narrow for 20 float steps
            edges = np.array([low, high])
    fractions = []
    for side in (reference, current):
        counts = side.bin_counts(edges).astype(np.float64)
        inner = counts[1:-1]
        inner[0] += counts[0]
        inner[-1] += counts[-1]
        fractions.append(tuple((inner / side.sketch.n).tolist()))
    return Histogram("numeric", tuple(edges.tolist()), (), fractions[0], fractions[1])


# -- categorical statistics ----------------------------------------------------------------


class _Table(NamedTuple):
    labels: list[str]
    reference: FloatArray  # counts per label
    current: FloatArray
    new: tuple[str, ...]


def _categories(reference: CategoricalProfile, current: CategoricalProfile) -> _Table:
    import numpy as np

    ref_counts = dict(reference.top)
    cur_counts = dict(current.top)
    labels = list(ref_counts)
    ref = [float(n) for n in ref_counts.values()]
    cur = [float(cur_counts.get(value, 0)) for value in labels]
    new: tuple[str, ...] = ()
    if not reference.other:
        new = tuple(value for value in cur_counts if value not in ref_counts)
        labels.extend(new)
        ref.extend([0.0] * len(new))
        cur.extend(float(cur_counts[value]) for value in new)
    ref_other = float(reference.other)
    cur_other = float(current.count) - sum(cur)
    if ref_other or cur_other:
        labels.append(_OTHER)
        ref.append(ref_other)
        cur.append(cur_other)
    return _Table(labels, np.array(ref), np.array(cur), new)


def chi_square(reference: CategoricalProfile, current: CategoricalProfile) -> tuple[float, float]:
    """Chi-square goodness of fit of the current counts to the reference proportions.

    Args:
        reference: the reference categorical profile.
        current: the current categorical profile.

    Returns:
        ``(statistic, p)`` as ``scipy.stats.chisquare(f_obs, f_exp)`` on the categories
        of the module docstring (a reference count of 0 taken as 0.5).

    Raises:
        InvalidInputError: a side is not categorical or has no values.
    """
    _check_pair(reference, current, CategoricalProfile, "chi_square")
    return _chi_square(_categories(reference, current))


def jensen_shannon(reference: CategoricalProfile, current: CategoricalProfile) -> float:
    """Jensen-Shannon distance (natural log) between the two sides' category proportions.

    Args:
        reference: the reference categorical profile.
        current: the current categorical profile.

    Returns:
        ``scipy.spatial.distance.jensenshannon(p, q)``: 0 for equal proportions, at most
        sqrt(ln 2) for disjoint ones.

    Raises:
        InvalidInputError: a side is not categorical or has no values.
    """
    _check_pair(reference, current, CategoricalProfile, "jensen_shannon")
    return _jensen_shannon(_categories(reference, current))


def _chi_square(table: _Table) -> tuple[float, float]:
    import numpy as np

    if len(table.labels) < 2:
        return 0.0, 1.0
    ref = np.where(table.reference > 0, table.reference, _PSEUDO_COUNT)
    expected = ref / ref.sum() * table.current.sum()
    stat = float(np.sum((table.current - expected) ** 2 / expected))
    p = float(_scipy("scipy.special").chdtrc(len(table.labels) - 1, stat))
    return stat, p


def _jensen_shannon(table: _Table) -> float:
    import numpy as np

    p = table.reference / table.reference.sum()
    q = table.current / table.current.sum()
    m = (p + q) / 2.0
    total = 0.0
    for side in (p, q):
        present = side > 0
        total += float(np.sum(side[present] * np.log(side[present] / m[present])))
    return math.sqrt(max(total, 0.0) / 2.0)


def _categorical_histogram(table: _Table) -> Histogram:
    import numpy as np

    has_other = bool(table.labels) and table.labels[-1] == _OTHER
    named = len(table.labels) - has_other
    ref = table.reference / table.reference.sum()
    cur = table.current / table.current.sum()
    keep = np.argsort(-(ref[:named] + cur[:named]), kind="stable")[:_HIST_CATEGORIES]
    labels = [table.labels[i] for i in keep]
    ref_out, cur_out = ref[keep].tolist(), cur[keep].tolist()
    if named > len(keep) or has_other:
        labels.append(_OTHER)
        ref_out.append(max(1.0 - float(ref[keep].sum()), 0.0))
        cur_out.append(max(1.0 - float(cur[keep].sum()), 0.0))
    return Histogram("categorical", (), tuple(labels), tuple(ref_out), tuple(cur_out))


# -- helpers -------------------------------------------------------------------------------


def _check_kinds(name: str | None, reference: ColumnProfile, current: ColumnProfile) -> None:
    kinds = {type(reference), type(current)}
    if kinds == {NumericProfile, CategoricalProfile}:
        column = "the column" if name is None else f"column {name!r}"
        raise InvalidInputError(
            f"{column} is {reference.kind} ({reference.dtype}) in the reference and "
            f"{current.kind} ({current.dtype}) in the current data; drift compares numeric "
            "with numeric and categorical with categorical columns: cast the column back to "
            "its reference type, or treat the change as schema drift"
        )


def _check_method(method: object) -> None:
    if method not in _METHODS:
        raise InvalidInputError(
            f"unknown drift method {method!r}; valid methods are {', '.join(_METHODS)} "
            "(ks, wasserstein, psi for numeric columns; chi2, jensenshannon for categorical)"
        )


def _wrong_kind(name: str, method: str, kind: str, valid: tuple[str, ...]) -> InvalidInputError:
    return InvalidInputError(
        f"drift method {method!r} does not apply to column {name!r}, which is {kind}; "
        f"use one of {', '.join(valid)}, or leave method out to choose by size"
    )


def _check_threshold(method: DriftMethod, threshold: object) -> float:
    value = math.nan
    if not isinstance(threshold, bool) and isinstance(threshold, int | float):
        value = float(threshold)
    if method in _P_VALUES:
        ok, valid = 0.0 < value < 1.0, "a p-value in (0, 1)"
    elif method == "jensenshannon":
        ok, valid = 0.0 < value <= 1.0, "a distance in (0, 1]"
    else:
        ok, valid = 0.0 < value < math.inf, "a positive finite distance"
    if not ok:
        raise InvalidInputError(
            f"the {method} threshold must be {valid}, got {threshold!r}; the default is "
            f"{DEFAULT_THRESHOLDS[method]}"
        )
    return value


def _scipy(module: str) -> ModuleType:
    # SciPy ships no type stubs, hence the import by name.
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ConfigError(
            f"drift p-values need SciPy, which cannot be imported here ({exc}); install it "
            "with: pip install scipy"
        ) from exc


@contextmanager
def _parsing(what: str) -> Iterator[None]:
    try:
        yield
    except InvalidInputError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        detail = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
        raise InvalidInputError(
            f"not a valid {what} dict: {detail}; pass what {what}.to_dict() wrote, unchanged"
        ) from exc


def _dump(value: float | None) -> float | None:
    # JSON has no NaN or infinity: they (and "not computed") are null.
    return value if value is not None and math.isfinite(value) else None


def _load(value: Any) -> float:
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected a number or null, got {value!r}")
    return float(value)


def _load_bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"expected true or false, got {value!r}")
    return value


def _load_count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"row counts must be non-negative integers, got {value!r}")
    return value
