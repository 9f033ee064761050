"""Mergeable sketches behind profiles: KLL-style quantiles and HyperLogLog distinct counts."""

from __future__ import annotations

import base64
import binascii
import itertools
import math
import zlib
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeAlias

from shipyard.core.errors import InvalidInputError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import pyarrow as pa

    FloatArray: TypeAlias = npt.NDArray[np.float64]

__all__ = [
    "DEFAULT_SKETCH_K",
    "PROFILE_VERSION",
    "_CHUNK",
    "_HLL_M",
    "_MAX_SKETCH_K",
    "_MIN_SKETCH_K",
    "QuantileSketch",
    "_check_int",
    "_dump_float",
    "_hll_estimate",
    "_hll_registers",
    "_load_float",
    "_load_int",
    "_non_negative",
    "_parsing",
]

#: The format `Profile.to_dict` writes and `Profile.from_dict` reads.
PROFILE_VERSION = 1
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
