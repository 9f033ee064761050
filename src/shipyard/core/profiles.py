"""Profiles: mergeable per-column summaries of a table, the reference that monitoring compares to.

A profile is computed column by column on Arrow data with vectorised pyarrow/numpy
operations, and two profiles merge into the profile of the concatenated tables, so the
registry keeps a summary of the training data instead of the data, and monitoring profiles
windows of the prediction log out of core and merges them::

    >>> import pyarrow as pa
    >>> p = profile(pa.table({"x": [1.0, 2.0, None, 4.0], "c": ["a", "b", "a", None]}))
    >>> p.columns["x"].count, p.columns["x"].missing, p.columns["x"].quantile(0.5)
    (3, 1, 2.0)
    >>> merge(p, p).columns["c"].top
    (('a', 4), ('b', 2))
    >>> Profile.from_dict(p.to_dict()) == p
    True

How each Arrow type is summarised (``dtype`` is the name merges compare):

- ``bool``, integers (``int``), floats and decimals (``float``) are numeric; so are
  timestamps, dates, times and durations, as integers of their own unit since the epoch
  (``dtype`` is the Arrow type, e.g. ``timestamp[us, tz=UTC]``, so units never mix).
  Numeric columns keep count, nulls, NaNs (both are ``missing``), exact min and max,
  mean and population variance (merged with Chan's formulas) and a `QuantileSketch`.
  Values go through float64 for the mean, variance and sketch (integers beyond 2**53
  round); infinities are values, which makes the mean and variance non-finite.
- Strings and dictionaries of strings are categorical (``string``): count, nulls, the
  ``top_k`` most frequent values with exact counts (ties broken by value), an ``other``
  count for the rest, and the number of distinct values, exact while every value is in
  ``top`` (``other == 0``) and otherwise a HyperLogLog estimate (4096 registers, standard
  error 1.6%). Dictionaries of other types are profiled as their decoded values.
- The ``null`` type (all values missing, e.g. an all-None pandas column) and types with no
  summary here (lists, structs, binary) keep count and nulls only (`OtherProfile`).

Merging adds counts, takes min/max, and merges sketches, top-k tables and HyperLogLog
registers. ``merge(profile(a), profile(b))`` equals ``profile(concat(a, b))`` exactly in
counts, nulls, NaNs, min, max and distinct-value registers, to rounding in mean and
variance, within the reported rank error in quantiles, and exactly in top-k while the
union of values fits in k. Beyond k, a merged count is a lower bound, short by at most the
``other`` counts of the inputs that did not list the value. Merging is commutative. Types
must agree column by column; ``int`` merges with ``float`` into ``float`` (pandas turns an
integer column with a missing value into float64), and ``null`` merges with any type.

Quantile error. The sketch is a KLL-style compactor hierarchy: a level-h item stands for
2**h values, and a full level is sorted and halved by keeping every other item from a
random offset. One such compaction moves any rank by at most 2**h, zero on average, so the
sketch certifies its own error from its history: `QuantileSketch.rank_error` bounds
``|estimated rank - true rank| / n`` for one query, either for sure (the sum of the moves)
or at a confidence level (Azuma-Hoeffding on the same moves), whichever is smaller.
With the default ``k=256`` a sketch keeps at most about 3 * 256 items (6 KiB) and is
exact up to 256 values; at 99% confidence its bound is at most 0.6% for any table
profiled in one call (0.54% was the worst over sizes from 257 to 20 million rows) and
at most 1.1% after merging up to 10,000 windows (1.01% measured for 10,000 x 1,000
rows). Quantile queries return data values (the inverted-CDF definition); on an empty
column they return NaN. Compaction coins come from a generator seeded by the data, so a
profile is reproducible and ``merge`` commutative; the confidence bound treats the coins
as fair ones.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import math
import sys
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, ClassVar, TypeAlias

from shipyard.core.errors import InvalidInputError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import pandas as pd
    import pyarrow as pa

    FloatArray: TypeAlias = npt.NDArray[np.float64]

__all__ = [
    "DEFAULT_SKETCH_K",
    "DEFAULT_TOP_K",
    "PROFILE_VERSION",
    "CategoricalProfile",
    "ColumnProfile",
    "NumericProfile",
    "OtherProfile",
    "Profile",
    "QuantileSketch",
    "merge",
    "profile",
]

#: The format `Profile.to_dict` writes and `Profile.from_dict` reads.
PROFILE_VERSION = 1
#: How many of the most frequent values a categorical column keeps with exact counts.
DEFAULT_TOP_K = 100
#: The quantile sketch's size parameter: the top level holds up to k items.
DEFAULT_SKETCH_K = 256

_MIN_SKETCH_K = 8
_MAX_SKETCH_K = 1 << 16
# Bulk loading: inputs above _BULK_MIN items are first halved in sorted rows of _ROW
# items, chunk by chunk in a reusable buffer of at least _CHUNK items (see _build).
_BULK_MIN = 1 << 15
_ROW = 256
_CHUNK = 1 << 16
_MASK64 = (1 << 64) - 1
_HLL_P = 12
_HLL_M = 1 << _HLL_P
_LOW_BITS = (1 << (64 - _HLL_P)) - 1
_STRING_CHUNK_BYTES = 1 << 22
_READER_BATCH_ROWS = 1 << 20


def _check_int(name: str, value: object, low: int, high: int, default: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInputError(
            f"{name} must be an integer from {low} to {high}, got {value!r}; "
            f"leave it out for the default, {default}"
        )
    return value


@contextmanager
def _parsing(what: str) -> Iterator[None]:
    """Turn the errors of reading a malformed ``to_dict`` output into InvalidInputError."""
    try:
        yield
    except InvalidInputError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, binascii.Error, zlib.error) as exc:
        detail = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
        raise InvalidInputError(
            f"not a valid {what} dict (version {PROFILE_VERSION}): {detail}; pass what "
            f"{what}.to_dict() wrote, unchanged"
        ) from exc


# -- quantile sketch -----------------------------------------------------------------------


def _capacity(k: int, level: int, height: int) -> int:
    # KLL: the top level holds k items, each level below two thirds of the one above.
    return max(_MIN_SKETCH_K, int(k * (2.0 / 3.0) ** (height - 1 - level)))


def _seed(items: FloatArray, salt: int) -> int:
    """A 64-bit seed from the data, so profiles are reproducible and merges commutative."""
    z = (zlib.crc32(items[:512].tobytes()) << 32 | zlib.crc32(items[-512:].tobytes())) & _MASK64
    z ^= (len(items) + salt * 0x9E3779B97F4A7C15) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


def _merge_sorted(a: FloatArray, b: FloatArray) -> FloatArray:
    import numpy as np

    if not len(a):
        return b
    if not len(b):
        return a
    slots = np.searchsorted(a, b, side="right") + np.arange(len(b))
    out = np.empty(len(a) + len(b))
    from_b = np.zeros(len(out), dtype=bool)
    from_b[slots] = True
    out[from_b] = b
    out[~from_b] = a
    return out


class QuantileSketch:
    """A mergeable KLL-style quantile sketch over float64 values that certifies its error.

    Build one with `from_values` and combine with `merge`; both return new sketches.
    Queries: `quantile`, `quantiles`, `rank`, `cdf`, `bin_counts` and `weighted_items`
    (the retained values with their weights, for weighted KS or Wasserstein distances).
    """

    __slots__ = ("_err", "_err_sq", "_k", "_levels", "_max", "_min", "_n", "_view")

    def __init__(self, k: int = DEFAULT_SKETCH_K) -> None:
        self._k = _check_int("k", k, _MIN_SKETCH_K, _MAX_SKETCH_K, DEFAULT_SKETCH_K)
        self._n = 0
        self._levels: list[FloatArray] = []
        # Sum of 2**h and of 4**h over compactions: the deterministic and Azuma bounds.
        self._err = 0
        self._err_sq = 0
        self._min = math.nan
        self._max = math.nan
        self._view: tuple[FloatArray, npt.NDArray[np.int64]] | None = None

    @classmethod
    def from_values(cls, values: Iterable[float], k: int = DEFAULT_SKETCH_K) -> QuantileSketch:
        """Sketch a one-dimensional sequence or array of numbers.

        Raises:
            InvalidInputError: ``values`` is not one-dimensional, holds NaN, or ``k`` is
                not an integer from 8 to 65536.
        """
        import numpy as np

        x = np.asarray(values if hasattr(values, "__len__") else list(values), dtype=np.float64)
        if x.ndim != 1:
            raise InvalidInputError(
                f"QuantileSketch.from_values expects a one-dimensional array, got shape "
                f"{x.shape}; flatten it with .ravel() first"
            )
        if np.isnan(x).any():
            raise InvalidInputError(
                "QuantileSketch.from_values got NaN; NaN has no rank, so drop it first "
                "(x[~numpy.isnan(x)]); profile() counts NaN as missing"
            )
        return cls._build(x, k)

    @classmethod
    def _build(
        cls, x: npt.NDArray[Any], k: int, bounds: tuple[float, float] | None = None
    ) -> QuantileSketch:
        """Sketch a NaN-free 1-d array of any real dtype (converted chunk by chunk)."""
        import numpy as np

        sketch = cls(k)
        if not len(x):
            return sketch
        sketch._n = len(x)
        low, high = bounds or (float(x.min()), float(x.max()))
        sketch._min, sketch._max = low + 0.0, high + 0.0  # -0.0 is 0.0, as in _compress
        depth = 0
        while len(x) >> depth > max(_BULK_MIN, 8 * k):
            depth += 1
        parts: list[list[FloatArray]] = [[] for _ in range(depth + 1)]
        if depth:
            # Halving a sorted row is a compaction (it moves any rank by at most the row's
            # weight), so big inputs shrink with short-row sorts instead of one full sort,
            # each chunk all the way down while it is in cache.
            rng = np.random.default_rng(_seed(x, depth))
            buffer = np.empty(max(_CHUNK, _ROW << depth))
            for start in range(0, len(x), len(buffer)):
                kept = buffer[: len(x[start : start + len(buffer)])]
                kept[:] = x[start : start + len(buffer)]
                coins = rng.integers(0, 2, size=2 * len(kept) // _ROW, dtype=np.int8)
                for h in range(depth):
                    rows = len(kept) // _ROW
                    parts[h].append(kept[rows * _ROW :].copy())
                    block = kept[: rows * _ROW].reshape(rows, _ROW)
                    block.sort(axis=1)
                    flips, coins = coins[:rows, None], coins[rows:]
                    kept = np.where(flips == 1, block[:, 1::2], block[:, 0::2]).ravel()
                    sketch._err += rows << h
                    sketch._err_sq += rows << (2 * h)
                parts[depth].append(kept)
        else:
            parts[0].append(x.astype(np.float64))
        sketch._levels = [np.sort(np.concatenate(level)) for level in parts]
        sketch._compress()
        return sketch

    def _compress(self) -> None:
        levels = self._levels
        while True:
            height = len(levels)
            capacities = [_capacity(self._k, h, height) for h in range(height)]
            if sum(len(level) for level in levels) <= sum(capacities):
                break
            h = next(h for h in range(height) if len(levels[h]) > capacities[h])
            level, odd = levels[h], len(levels[h]) % 2
            coin = _seed(level, self._n + h) & 1
            promoted = level[odd + coin :: 2]
            levels[h] = level[:odd]
            if h + 1 == height:
                levels.append(promoted)
            else:
                levels[h + 1] = _merge_sorted(levels[h + 1], promoted)
            self._err += 1 << h
            self._err_sq += 1 << (2 * h)
        # Copies drop views of large inputs; + 0.0 turns -0.0 into 0.0 so merges are symmetric.
        self._levels = [level + 0.0 for level in levels]
        self._view = None

    def merge(self, other: QuantileSketch) -> QuantileSketch:
        """The sketch of both inputs together (k is the smaller of the two); commutative."""
        if not isinstance(other, QuantileSketch):
            raise InvalidInputError(
                f"QuantileSketch.merge expects a QuantileSketch, got {type(other).__name__}"
            )
        out = QuantileSketch(min(self._k, other._k))
        out._n = self._n + other._n
        if self._n and other._n:
            out._min, out._max = min(self._min, other._min), max(self._max, other._max)
        else:
            present = self if self._n else other
            out._min, out._max = present._min, present._max
        out._err = self._err + other._err
        out._err_sq = self._err_sq + other._err_sq
        height = max(len(self._levels), len(other._levels))
        pad: list[FloatArray] = [_empty()] * height
        ours, theirs = self._levels + pad, other._levels + pad
        out._levels = [_merge_sorted(ours[h], theirs[h]) for h in range(height)]
        out._compress()
        return out

    @property
    def k(self) -> int:
        """The size parameter: the top level holds up to k items."""
        return self._k

    @property
    def n(self) -> int:
        """How many values the sketch summarises."""
        return self._n

    @property
    def num_retained(self) -> int:
        """How many items the sketch keeps."""
        return sum(len(level) for level in self._levels)

    @property
    def is_exact(self) -> bool:
        """True while no compaction happened: every value is kept and queries are exact."""
        return self._err == 0

    def rank_error(self, confidence: float | None = 0.99) -> float:
        """A bound on the normalised rank error of one query, from this sketch's history.

        Args:
            confidence: probability that the bound holds for a given query; ``None`` gives
                the deterministic bound, which always holds (and is larger for big inputs).

        Returns:
            ε such that ``|estimated rank - true rank| <= ε * n``; 0.0 while exact or empty.
        """
        if not self._n or not self._err:
            return 0.0
        bound = float(self._err)
        if confidence is not None:
            if not 0.0 < confidence < 1.0:
                raise InvalidInputError(
                    f"confidence must be between 0 and 1 (exclusive) or None, got {confidence!r}"
                )
            azuma = math.sqrt(2.0 * self._err_sq * math.log(2.0 / (1.0 - confidence)))
            bound = min(bound, azuma)
        return bound / self._n

    def weighted_items(self) -> tuple[FloatArray, npt.NDArray[np.int64]]:
        """The retained values in ascending order and their weights (which sum to n)."""
        import numpy as np

        if self._view is None:
            values = np.concatenate([_empty(), *self._levels])
            weights = np.concatenate(
                [np.zeros(0, np.int64)]
                + [np.full(len(level), 1 << h, np.int64) for h, level in enumerate(self._levels)]
            )
            order = np.argsort(values, kind="stable")
            values, weights = values[order], weights[order]
            values.flags.writeable = weights.flags.writeable = False  # cached: keep it intact
            self._view = values, weights
        return self._view

    def rank(self, x: float, *, inclusive: bool = True) -> float:
        """Estimated fraction of values ``<= x`` (``< x`` when not inclusive); NaN if empty."""
        return float(self.cdf([x], inclusive=inclusive)[0])

    def cdf(self, xs: Iterable[float], *, inclusive: bool = True) -> FloatArray:
        """Estimated fractions of values ``<= x`` (or ``< x``) for each x; NaN if empty."""
        import numpy as np

        points = np.asarray(list(xs) if not hasattr(xs, "__len__") else xs, dtype=np.float64)
        if not self._n:
            return np.full(points.shape, math.nan)
        return np.where(np.isnan(points), math.nan, self._below(points, inclusive) / self._n)

    def _below(self, points: FloatArray, inclusive: bool) -> npt.NDArray[np.int64]:
        import numpy as np

        values, weights = self.weighted_items()
        cumulative = np.concatenate([np.zeros(1, np.int64), np.cumsum(weights)])
        if inclusive:
            return cumulative[np.searchsorted(values, points, side="right")]
        return cumulative[np.searchsorted(values, points, side="left")]

    def quantile(self, q: float) -> float:
        """The value whose rank is q (0 gives the min, 1 the max); NaN if empty."""
        return float(self.quantiles([q])[0])

    def quantiles(self, qs: Iterable[float]) -> FloatArray:
        """Values at each rank in ``qs``: the smallest value whose estimated rank reaches q.

        Raises:
            InvalidInputError: a q is outside [0, 1] or NaN.
        """
        import numpy as np

        ranks = np.asarray(list(qs) if not hasattr(qs, "__len__") else qs, dtype=np.float64)
        inside = (ranks >= 0.0) & (ranks <= 1.0)
        if not inside.all():
            raise InvalidInputError(
                f"quantile ranks must be between 0 and 1, got {float(ranks[~inside][0])!r}; "
                "pass 0.5 for the median, not 50"
            )
        if not self._n:
            return np.full(ranks.shape, math.nan)
        values, weights = self.weighted_items()
        idx = np.searchsorted(np.cumsum(weights), ranks * self._n, side="left")
        out = values[np.minimum(idx, len(values) - 1)]
        return np.where(ranks <= 0.0, self._min, np.where(ranks >= 1.0, self._max, out))

    def bin_counts(self, edges: Iterable[float]) -> npt.NDArray[np.int64]:
        """Estimated counts in the bins that ``edges`` cut, open at both ends (for PSI).

        With edges e0 < e1 < ... < em the bins are (-inf, e0), [e0, e1), ..., [em, +inf),
        so the m + 1 counts add up to n. Each count is off by at most twice the rank error.

        Raises:
            InvalidInputError: edges are empty, NaN, or not increasing.
        """
        import numpy as np

        cuts = np.asarray(list(edges) if not hasattr(edges, "__len__") else edges, np.float64)
        if cuts.ndim != 1 or not cuts.size or np.isnan(cuts).any() or (np.diff(cuts) <= 0).any():
            raise InvalidInputError(
                f"bin edges must be a non-empty, strictly increasing list of numbers, got "
                f"{cuts.tolist()!r}; take them from the reference, e.g. "
                "reference.quantiles([0.1, 0.2, ..., 0.9]) with duplicates removed"
            )
        below = np.concatenate([[0], self._below(cuts, False), [self._n]]).astype(np.int64)
        return np.diff(below)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; the items are little-endian float64, base64-encoded."""
        import numpy as np

        items = np.concatenate([_empty(), *self._levels]).astype("<f8")
        return {
            "k": self._k,
            "n": self._n,
            "min": _dump_float(self._min) if self._n else None,
            "max": _dump_float(self._max) if self._n else None,
            "error": self._err,
            "error_sq": self._err_sq,
            "levels": [len(level) for level in self._levels],
            "items": base64.b64encode(items.tobytes()).decode("ascii"),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> QuantileSketch:
        """Rebuild a sketch from `to_dict` output.

        Raises:
            InvalidInputError: ``data`` is not what `to_dict` writes.
        """
        import numpy as np

        with _parsing("QuantileSketch"):
            sketch = cls(data["k"])
            sketch._n = _non_negative(data["n"], "n")
            sketch._err = _non_negative(data["error"], "error")
            sketch._err_sq = _non_negative(data["error_sq"], "error_sq")
            if sketch._n:
                sketch._min, sketch._max = _load_float(data["min"]), _load_float(data["max"])
            items = np.frombuffer(base64.b64decode(data["items"], validate=True), dtype="<f8")
            sizes = [_non_negative(size, "levels") for size in data["levels"]]
            weight = sum(size << h for h, size in enumerate(sizes))
            if sum(sizes) != len(items) or weight != sketch._n:
                raise ValueError(f"levels {sizes} do not match its {len(items)} items and n")
            bounds = np.cumsum([0, *sizes])
            levels = [items[a:b].astype(np.float64) for a, b in itertools.pairwise(bounds)]
            if any(np.isnan(level).any() or (np.diff(level) < 0).any() for level in levels):
                raise ValueError("its levels must be sorted and free of NaN")
            sketch._levels = levels
        return sketch

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, QuantileSketch):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"QuantileSketch(k={self._k}, n={self._n}, retained={self.num_retained})"


def _empty() -> FloatArray:
    import numpy as np

    return np.zeros(0, np.float64)


# -- distinct values (HyperLogLog) --------------------------------------------------------


def _hash_strings(values: pa.Array) -> npt.NDArray[np.uint64]:
    """64-bit hashes of non-null strings: a polynomial over the bytes, then splitmix64."""
    import numpy as np
    import pyarrow as pa

    if not len(values):
        return np.zeros(0, np.uint64)
    arr = values.cast(pa.large_string())
    offsets = np.frombuffer(arr.buffers()[1], np.int64, len(arr) + 1, arr.offset * 8)
    data = arr.buffers()[2]
    raw = np.frombuffer(data, np.uint8) if data is not None else np.zeros(0, np.uint8)
    lo = int(offsets[0])
    local = offsets - lo
    lengths = np.diff(local)
    size = int(local[-1])
    longest = int(lengths.max()) if len(lengths) else 0
    powers = np.ones(longest + 1, np.uint64)
    powers[1:] = np.cumprod(np.full(longest, 0x100000001B3, np.uint64))
    from_end = np.repeat(local[1:], lengths) - 1 - np.arange(size)
    terms = (raw[lo : lo + size].astype(np.uint64) + 1) * powers[from_end]
    sums = np.concatenate([np.zeros(1, np.uint64), np.cumsum(terms, dtype=np.uint64)])
    h = (sums[local[1:]] - sums[local[:-1]]) ^ (lengths.astype(np.uint64) * 0x9E3779B97F4A7C15)
    h ^= h >> 30
    h *= 0xBF58476D1CE4E5B9
    h ^= h >> 27
    h *= 0x94D049BB133111EB
    h ^= h >> 31
    hashes: npt.NDArray[np.uint64] = h
    return hashes


def _hll_registers(values: pa.Array) -> bytes:
    import numpy as np

    registers = np.zeros(_HLL_M, np.uint8)
    total = max(1, values.nbytes)
    step = max(1, int(len(values) * _STRING_CHUNK_BYTES // total))
    for start in range(0, len(values), step):
        h = _hash_strings(values.slice(start, step))
        low = (h & _LOW_BITS).astype(np.float64)
        _, exponent = np.frexp(low)
        rank = np.where(low == 0, 65 - _HLL_P, 65 - _HLL_P - exponent).astype(np.uint8)
        np.maximum.at(registers, (h >> (64 - _HLL_P)).astype(np.intp), rank)
    return registers.tobytes()


def _hll_estimate(registers: bytes) -> float:
    import numpy as np

    reg = np.frombuffer(registers, np.uint8)
    m = float(_HLL_M)
    estimate = 0.7213 / (1 + 1.079 / m) * m * m / float(np.sum(np.exp2(-reg.astype(float))))
    zeros = int(np.count_nonzero(reg == 0))
    if estimate <= 2.5 * m and zeros:
        estimate = m * math.log(m / zeros)
    return estimate


# -- column profiles -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NumericProfile:
    """Summary of a numeric, boolean or temporal column.

    ``count`` is the number of present values; ``nulls`` and ``nans`` are missing ones.
    ``min``/``max`` keep the column's own kind of number (int for ints, bools and temporal
    types); they, ``mean`` and ``variance`` are None while ``count`` is 0. Quantile
    queries answer in float64 from ``sketch`` (see `QuantileSketch`).
    """

    kind: ClassVar[str] = "numeric"

    dtype: str
    count: int
    nulls: int
    nans: int
    min: int | float | None
    max: int | float | None
    mean: float | None
    m2: float
    sketch: QuantileSketch

    @property
    def missing(self) -> int:
        """Nulls plus NaNs."""
        return self.nulls + self.nans

    @property
    def rows(self) -> int:
        """Rows seen: present plus missing values."""
        return self.count + self.missing

    @property
    def variance(self) -> float | None:
        """Population variance (ddof=0, as numpy's ``var``)."""
        return self.m2 / self.count if self.count else None

    @property
    def std(self) -> float | None:
        """Population standard deviation."""
        return math.sqrt(self.m2 / self.count) if self.count else None

    def quantile(self, q: float) -> float:
        """See `QuantileSketch.quantile`."""
        return self.sketch.quantile(q)

    def quantiles(self, qs: Iterable[float]) -> FloatArray:
        """See `QuantileSketch.quantiles`."""
        return self.sketch.quantiles(qs)

    def cdf(self, xs: Iterable[float], *, inclusive: bool = True) -> FloatArray:
        """See `QuantileSketch.cdf`."""
        return self.sketch.cdf(xs, inclusive=inclusive)

    def bin_counts(self, edges: Iterable[float]) -> npt.NDArray[np.int64]:
        """See `QuantileSketch.bin_counts`."""
        return self.sketch.bin_counts(edges)

    def rank_error(self, confidence: float | None = 0.99) -> float:
        """See `QuantileSketch.rank_error`."""
        return self.sketch.rank_error(confidence)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "kind": self.kind,
            "dtype": self.dtype,
            "count": self.count,
            "nulls": self.nulls,
            "nans": self.nans,
            "min": _dump_float(self.min) if isinstance(self.min, float) else self.min,
            "max": _dump_float(self.max) if isinstance(self.max, float) else self.max,
            "mean": None if self.mean is None else _dump_float(self.mean),
            "m2": _dump_float(self.m2),
            "sketch": self.sketch.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NumericProfile:
        """Rebuild from `to_dict` output; InvalidInputError if it is not one."""
        with _parsing("NumericProfile"):
            is_float = data["dtype"] == "float"

            def bound(value: Any) -> int | float | None:
                if value is None:
                    return None
                return _load_float(value) if is_float else _load_int(value)

            return cls(
                dtype=str(data["dtype"]),
                count=_non_negative(data["count"], "count"),
                nulls=_non_negative(data["nulls"], "nulls"),
                nans=_non_negative(data["nans"], "nans"),
                min=bound(data["min"]),
                max=bound(data["max"]),
                mean=None if data["mean"] is None else _load_float(data["mean"]),
                m2=_load_float(data["m2"]),
                sketch=QuantileSketch.from_dict(data["sketch"]),
            )


@dataclass(frozen=True, slots=True)
class CategoricalProfile:
    """Summary of a string column: the k most frequent values, the rest, distinct values.

    ``top`` lists ``(value, count)`` by count descending then value; ``other`` counts the
    present values not in ``top``; ``count`` is every present value.
    """

    kind: ClassVar[str] = "categorical"

    dtype: str
    count: int
    nulls: int
    top: tuple[tuple[str, int], ...]
    other: int
    k: int
    registers: bytes

    @property
    def missing(self) -> int:
        """Nulls (an empty string is a value)."""
        return self.nulls

    @property
    def rows(self) -> int:
        """Rows seen: present plus missing values."""
        return self.count + self.nulls

    @property
    def distinct_is_exact(self) -> bool:
        """True when every value seen is in ``top``, so ``distinct`` is exact."""
        return self.other == 0

    @property
    def distinct(self) -> int:
        """Distinct present values: exact when `distinct_is_exact`, else HyperLogLog."""
        if self.other == 0:
            return len(self.top)
        return max(round(_hll_estimate(self.registers)), len(self.top) + 1)

    def frequencies(self) -> dict[str, int]:
        """``top`` as a dict, value to count."""
        return dict(self.top)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; the HyperLogLog registers are zlib-compressed, base64."""
        return {
            "kind": self.kind,
            "dtype": self.dtype,
            "count": self.count,
            "nulls": self.nulls,
            "top": [[value, count] for value, count in self.top],
            "other": self.other,
            "k": self.k,
            "hll": base64.b64encode(zlib.compress(self.registers)).decode("ascii"),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CategoricalProfile:
        """Rebuild from `to_dict` output; InvalidInputError if it is not one."""
        with _parsing("CategoricalProfile"):
            registers = zlib.decompress(base64.b64decode(data["hll"], validate=True))
            if len(registers) != _HLL_M:
                raise ValueError(f"hll has {len(registers)} registers, expected {_HLL_M}")
            top = tuple((str(value), _non_negative(n, "top")) for value, n in data["top"])
            return cls(
                dtype=str(data["dtype"]),
                count=_non_negative(data["count"], "count"),
                nulls=_non_negative(data["nulls"], "nulls"),
                top=top,
                other=_non_negative(data["other"], "other"),
                k=_non_negative(data["k"], "k") or 1,
                registers=registers,
            )


@dataclass(frozen=True, slots=True)
class OtherProfile:
    """Counts only: the ``null`` type, or a type with no summary here (lists, binary...)."""

    kind: ClassVar[str] = "other"

    dtype: str
    count: int
    nulls: int

    @property
    def missing(self) -> int:
        """Nulls."""
        return self.nulls

    @property
    def rows(self) -> int:
        """Rows seen: present plus missing values."""
        return self.count + self.nulls

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"kind": self.kind, "dtype": self.dtype, "count": self.count, "nulls": self.nulls}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OtherProfile:
        """Rebuild from `to_dict` output; InvalidInputError if it is not one."""
        with _parsing("OtherProfile"):
            return cls(
                dtype=str(data["dtype"]),
                count=_non_negative(data["count"], "count"),
                nulls=_non_negative(data["nulls"], "nulls"),
            )


ColumnProfile: TypeAlias = NumericProfile | CategoricalProfile | OtherProfile
_KINDS: dict[str, type[NumericProfile] | type[CategoricalProfile] | type[OtherProfile]] = {
    "numeric": NumericProfile,
    "categorical": CategoricalProfile,
    "other": OtherProfile,
}


# -- the table profile ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Profile:
    """Per-column summaries of a table, in the table's column order."""

    num_rows: int
    columns: Mapping[str, ColumnProfile]

    def merge(self, other: Profile) -> Profile:
        """The profile of both tables together; see `merge`."""
        return merge(self, other)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict with ``"version": 1``; floats that JSON lacks become strings."""
        return {
            "version": PROFILE_VERSION,
            "num_rows": self.num_rows,
            "columns": {name: column.to_dict() for name, column in self.columns.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Profile:
        """Rebuild a profile from `to_dict` output (for example after ``json.loads``).

        Raises:
            InvalidInputError: the version is not 1, or the dict is not a profile.
        """
        version = data.get("version") if isinstance(data, Mapping) else None
        if type(version) is not int or version != PROFILE_VERSION:
            raise InvalidInputError(
                f"profile version {version!r} is not supported: this shipyard reads version "
                f"{PROFILE_VERSION}; a newer profile needs a newer shipyard, and a dict "
                "without a version is not a profile"
            )
        with _parsing("Profile"):
            columns: dict[str, ColumnProfile] = {}
            for name, column in data["columns"].items():
                kind = _KINDS.get(column["kind"])
                if kind is None:
                    raise ValueError(f"column {name!r} has unknown kind {column['kind']!r}")
                columns[str(name)] = kind.from_dict(column)
            return cls(num_rows=_non_negative(data["num_rows"], "num_rows"), columns=columns)


def merge(*profiles: Profile) -> Profile:
    """Merge profiles of tables with the same columns into the profile of their union.

    Commutative; see the module docstring for what is exact and what is bounded.

    Args:
        *profiles: one or more profiles with the same column names.

    Returns:
        A new profile; the inputs are unchanged.

    Raises:
        InvalidInputError: no profile given, the column names differ, or a column's types
            disagree (schema drift).
    """
    if not profiles or not all(isinstance(p, Profile) for p in profiles):
        raise InvalidInputError(
            f"merge() takes one or more Profile objects, got "
            f"{[type(p).__name__ for p in profiles]}; build them with profile(table)"
        )
    result = profiles[0]
    for other in profiles[1:]:
        only_ours = [name for name in result.columns if name not in other.columns]
        only_theirs = [name for name in other.columns if name not in result.columns]
        if only_ours or only_theirs:
            raise InvalidInputError(
                f"cannot merge profiles with different columns: {only_ours} only in the first, "
                f"{only_theirs} only in the second; profile the same columns "
                "(profile(table, columns=[...])) on both sides"
            )
        merged = {
            name: _merge_column(name, col, other.columns[name])
            for name, col in result.columns.items()
        }
        result = Profile(result.num_rows + other.num_rows, merged)
    return result


def _merge_column(name: str, a: ColumnProfile, b: ColumnProfile) -> ColumnProfile:
    if a.dtype == "null" and isinstance(a, OtherProfile):
        return replace(b, nulls=b.nulls + a.nulls)
    if b.dtype == "null" and isinstance(b, OtherProfile):
        return replace(a, nulls=a.nulls + b.nulls)
    dtype = a.dtype if a.dtype == b.dtype else None
    if {a.dtype, b.dtype} == {"int", "float"}:
        dtype = "float"
    if dtype is None or a.kind != b.kind:
        raise InvalidInputError(
            f"column {name!r} is {a.dtype} in one profile and {b.dtype} in the other; profiles "
            "merge only when each column keeps its type: cast it to one type before profiling, "
            "or treat the change as schema drift"
        )
    if isinstance(a, NumericProfile) and isinstance(b, NumericProfile):
        return _merge_numeric(a, b, dtype)
    if isinstance(a, CategoricalProfile) and isinstance(b, CategoricalProfile):
        return _merge_categorical(a, b)
    return OtherProfile(dtype, a.count + b.count, a.nulls + b.nulls)


def _merge_numeric(a: NumericProfile, b: NumericProfile, dtype: str) -> NumericProfile:
    count = a.count + b.count
    lo, hi, mean, m2 = a.min, a.max, a.mean, a.m2
    if b.min is None or b.max is None or b.mean is None:
        pass
    elif a.min is None or a.max is None or a.mean is None:
        lo, hi, mean, m2 = b.min, b.max, b.mean, b.m2
    else:
        lo, hi = min(a.min, b.min), max(a.max, b.max)
        # Symmetric forms (Chan et al.), so merge(a, b) and merge(b, a) agree bit for bit.
        mean = (a.count * a.mean + b.count * b.mean) / count
        delta = b.mean - a.mean
        m2 = (a.m2 + b.m2) + delta * delta * float(a.count * b.count) / count
    if dtype == "float":
        lo, hi = (None if lo is None else float(lo)), (None if hi is None else float(hi))
    return NumericProfile(
        dtype=dtype,
        count=count,
        nulls=a.nulls + b.nulls,
        nans=a.nans + b.nans,
        min=lo,
        max=hi,
        mean=mean,
        m2=m2,
        sketch=a.sketch.merge(b.sketch),
    )


def _merge_categorical(a: CategoricalProfile, b: CategoricalProfile) -> CategoricalProfile:
    import numpy as np

    counts = dict(a.top)
    for value, n in b.top:
        counts[value] = counts.get(value, 0) + n
    k = min(a.k, b.k)
    top = tuple(sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:k])
    count = a.count + b.count
    registers = np.maximum(
        np.frombuffer(a.registers, np.uint8), np.frombuffer(b.registers, np.uint8)
    )
    return CategoricalProfile(
        dtype=a.dtype,
        count=count,
        nulls=a.nulls + b.nulls,
        top=top,
        other=count - sum(n for _, n in top),
        k=k,
        registers=registers.tobytes(),
    )


# -- profiling Arrow data ------------------------------------------------------------------


def profile(
    data: pa.Table | pa.RecordBatch | pa.RecordBatchReader | pd.DataFrame,
    *,
    columns: Sequence[str] | None = None,
    top_k: int = DEFAULT_TOP_K,
    sketch_k: int = DEFAULT_SKETCH_K,
) -> Profile:
    """Profile a table column by column.

    Args:
        data: a ``pyarrow.Table``, ``RecordBatch`` or ``RecordBatchReader`` (read about a
            million rows at a time and merged, so it may be larger than memory), or a
            pandas DataFrame (converted with pyarrow, without its index).
        columns: the columns to profile, in this order; all of them by default.
        top_k: how many most frequent values a categorical column keeps.
        sketch_k: the quantile sketch's size parameter (see the module docstring).

    Returns:
        The profile.

    Raises:
        InvalidInputError: ``data`` is of another type or pyarrow cannot convert it, a
            column is named twice or does not exist, or a parameter is out of range.

    Example:
        >>> import pyarrow as pa
        >>> profile(pa.table({"x": [3, 1, 2]})).columns["x"].max
        3
    """
    import pyarrow as pa

    _check_int("top_k", top_k, 1, 1 << 20, DEFAULT_TOP_K)
    _check_int("sketch_k", sketch_k, _MIN_SKETCH_K, _MAX_SKETCH_K, DEFAULT_SKETCH_K)
    options = (columns, top_k, sketch_k)
    if not isinstance(data, pa.RecordBatchReader):
        return _profile_table(_as_table(data), *options)
    parts: list[Profile] = []
    pending: list[pa.RecordBatch] = []
    rows = 0
    for batch in data:
        pending.append(batch)
        rows += batch.num_rows
        if rows >= _READER_BATCH_ROWS:
            parts.append(_profile_table(pa.Table.from_batches(pending), *options))
            pending, rows = [], 0
    if pending or not parts:
        parts.append(_profile_table(pa.Table.from_batches(pending, data.schema), *options))
    return merge(*parts)


def _as_table(data: Any) -> pa.Table:
    import pyarrow as pa

    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    pandas = sys.modules.get("pandas")
    if pandas is not None and isinstance(data, pandas.DataFrame):
        try:
            return pa.Table.from_pandas(data, preserve_index=False)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
            raise InvalidInputError(
                f"pyarrow cannot convert this DataFrame: {exc}; give each column one type "
                "(e.g. df[col].astype('string')) before profiling"
            ) from exc
    raise InvalidInputError(
        f"profile() takes a pyarrow Table, RecordBatch or RecordBatchReader, or a pandas "
        f"DataFrame; got {type(data).__name__}. Wrap plain data with pyarrow.table({{...}})"
    )


def _profile_table(
    table: pa.Table, columns: Sequence[str] | None, top_k: int, sketch_k: int
) -> Profile:
    names = list(table.column_names) if columns is None else list(columns)
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise InvalidInputError(
            f"column names must be unique, but {repeated} appear more than once; rename them "
            "(table.rename_columns([...])) or pick distinct columns=[...]"
        )
    unknown = [name for name in names if name not in table.column_names]
    if unknown:
        raise InvalidInputError(
            f"columns {unknown} are not in the table, which has {table.column_names}"
        )
    # One column at a time, one thread: a thread per column gained nothing on two cores
    # (0.230 s against 0.233 s in benchmarks/profile.py) and lost under load.
    profiles = {name: _profile_column(table.column(name), top_k, sketch_k) for name in names}
    return Profile(num_rows=table.num_rows, columns=profiles)


def _is_string(t: pa.DataType) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t))


def _numeric_dtype(t: pa.DataType) -> str | None:
    import pyarrow as pa

    if pa.types.is_boolean(t):
        return "bool"
    if pa.types.is_integer(t):
        return "int"
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "float"
    if pa.types.is_temporal(t) and not pa.types.is_interval(t):
        return str(t)
    return None


def _profile_column(col: pa.ChunkedArray, top_k: int, sketch_k: int) -> ColumnProfile:
    import pyarrow as pa

    t = col.type
    if pa.types.is_dictionary(t):
        if _is_string(t.value_type):
            return _profile_categorical(col, top_k)
        col, t = col.cast(t.value_type), t.value_type
    if _is_string(t):
        return _profile_categorical(col, top_k)
    if pa.types.is_null(t):
        return OtherProfile("null", 0, len(col))
    dtype = _numeric_dtype(t)
    if dtype is None:
        return OtherProfile(str(t), len(col) - col.null_count, col.null_count)
    return _profile_numeric(col, dtype, sketch_k)


def _profile_numeric(col: pa.ChunkedArray, dtype: str, sketch_k: int) -> NumericProfile:
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    nulls = col.null_count
    if nulls:
        col = pc.drop_null(col)
    if pa.types.is_decimal(col.type):
        col = col.cast(pa.float64())
    elif pa.types.is_temporal(col.type):
        col = col.cast(pa.int32() if col.type.bit_width == 32 else pa.int64())
    chunks = [chunk.to_numpy(zero_copy_only=False) for chunk in col.chunks] or [
        pa.array([], col.type).to_numpy(zero_copy_only=False)
    ]
    values = np.concatenate(chunks) if len(chunks) != 1 else chunks[0]
    nans = 0
    if dtype == "float":
        values = values.astype(np.float64, copy=False)
        nan = np.isnan(values)
        nans = int(np.count_nonzero(nan))
        if nans:
            values = values[~nan]
    if not len(values):
        return NumericProfile(
            dtype, 0, nulls, nans, None, None, None, 0.0, QuantileSketch(sketch_k)
        )
    low, high = values.min(), values.max()
    # Integers and bools become float64 a chunk at a time: no n-sized temporary.
    with np.errstate(invalid="ignore", over="ignore"):  # infinities make these inf or NaN
        mean = float(values.mean(dtype=np.float64))
        m2 = 0.0
        for start in range(0, len(values), _CHUNK):
            deviations = values[start : start + _CHUNK] - mean
            # einsum, not a BLAS dot: OpenBLAS threads would spin on every other core.
            m2 += float(np.einsum("i,i->", deviations, deviations))
    return NumericProfile(
        dtype=dtype,
        count=len(values),
        nulls=nulls,
        nans=nans,
        min=float(low) + 0.0 if dtype == "float" else int(low),  # + 0.0: no -0.0, so merges
        max=float(high) + 0.0 if dtype == "float" else int(high),  # are commutative bit for bit
        mean=mean,
        m2=m2,
        sketch=QuantileSketch._build(values, sketch_k, (float(low), float(high))),
    )


def _profile_categorical(col: pa.ChunkedArray, top_k: int) -> CategoricalProfile:
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_string_view(col.type):  # value_counts reports its nulls as ""
        col = col.cast(pa.large_string())
    counted = pc.value_counts(col)
    values, counts = counted.field("values"), counted.field("counts")
    if values.null_count:
        present = values.is_valid()
        values, counts = values.filter(present), counts.filter(present)
    values = values.cast(pa.large_string())
    order = pc.sort_indices(
        pa.table({"v": values, "c": counts}), sort_keys=[("c", "descending"), ("v", "ascending")]
    )
    head = order[:top_k]
    top = tuple(zip(values.take(head).to_pylist(), counts.take(head).to_pylist(), strict=True))
    count = len(col) - col.null_count
    return CategoricalProfile(
        dtype="string",
        count=count,
        nulls=col.null_count,
        top=top,
        other=count - sum(n for _, n in top),
        k=top_k,
        registers=_hll_registers(values),
    )


# -- JSON helpers --------------------------------------------------------------------------


def _dump_float(value: float) -> float | str:
    # JSON has no NaN or infinity; write them as the strings float() reads back.
    return value if math.isfinite(value) else str(value)


def _load_float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise TypeError(f"expected a number, got {value!r}")
    if isinstance(value, str) and value not in {"nan", "inf", "-inf"}:
        raise ValueError(f"expected a number or 'nan'/'inf'/'-inf', got {value!r}")
    return float(value)


def _load_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer, got {value!r}")
    return value


def _non_negative(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{field} must be a non-negative integer, got {value!r}")
    return value
