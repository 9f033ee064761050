"""Step caching: a key from the step's code and input values; outputs pickled in the store.

A key is the sha256 of the step's code digest, its wiring and one digest per input
value. Outputs live in the artifact store at ``pipelines/cache/<key>/outputs.pkl``
beside ``outputs.pkl.sha256``, which is written last, so an entry without its sidecar
is one whose write did not finish. An entry that is missing, corrupted or does not
unpickle is a miss: the step runs again and overwrites it.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import logging
import pickle
import re
import sys
import types
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from shipyard.services._pipeline_steps import Step
from shipyard.stores import ArtifactStore

__all__ = ["CACHE_PREFIX", "StepCache", "code_digest", "step_key", "value_digest"]

log = logging.getLogger("shipyard.pipelines")

#: Where cached outputs live in the artifact store.
CACHE_PREFIX = "pipelines/cache"
# Bump when the key or the stored layout changes, so old entries are never misread.
_FORMAT = "1"
_SHA256 = re.compile(r"[0-9a-f]{64}")
_PICKLE_PROTOCOL = 4  # fixed, so a digest does not change with the Python version's default


def code_digest(func: Callable[..., Any]) -> str:
    """A digest of what a step runs: its source, or its bytecode when the source is gone."""
    digest = hashlib.sha256()
    _feed_callable(digest, func)
    return digest.hexdigest()


def _feed_callable(digest: Any, func: Any) -> None:
    if isinstance(func, functools.partial):
        digest.update(b"partial")
        _feed_callable(digest, func.func)
        digest.update(value_digest(func.args).encode())
        digest.update(value_digest(func.keywords).encode())
        return
    if inspect.ismethod(func):  # a bound method: its object's state is an input too
        digest.update(value_digest(func.__self__).encode())
        func = func.__func__
    elif not (inspect.isfunction(func) or inspect.isbuiltin(func) or isinstance(func, type)):
        digest.update(value_digest(func).encode())  # a callable object: its state
        func = type(func).__call__
    name = f"{getattr(func, '__module__', '')}:{getattr(func, '__qualname__', '')}"
    digest.update(name.encode())
    # The bytecode is what runs: the source file may have been edited since the module
    # was imported, and its text alone would then key the old code's outputs as the new.
    code = getattr(func, "__code__", None)
    if code is not None:
        _feed_code(digest, code)
    try:
        digest.update(inspect.getsource(func).encode())
    except (OSError, TypeError):  # defined in a REPL or compiled: the bytecode is enough
        if code is None:
            digest.update(repr(func).encode())
    for defaults in (getattr(func, "__defaults__", None), getattr(func, "__kwdefaults__", None)):
        digest.update(value_digest(defaults).encode())


def _feed_code(digest: Any, code: types.CodeType) -> None:
    digest.update(code.co_code)
    digest.update(repr(code.co_names).encode())
    for const in code.co_consts:
        if isinstance(const, types.CodeType):  # a nested function; its repr has an address
            _feed_code(digest, const)
        else:
            digest.update(repr(const).encode())


def value_digest(value: Any) -> str:
    """A content digest of one input value (hex sha256).

    DataFrames and Series hash their values with ``pandas.util.hash_pandas_object``
    plus their columns, dtypes and index; Arrow tables their IPC bytes; NumPy arrays
    their bytes, dtype and shape; containers their items; anything else its pickle, or
    its ``repr`` when it does not pickle (a repr that shows an address only makes the
    step run again).
    """
    digest = hashlib.sha256()
    _feed_value(digest, value)
    return digest.hexdigest()


def _feed_value(digest: Any, value: Any) -> None:
    kind = type(value)
    digest.update(f"<{kind.__module__}.{kind.__qualname__}>".encode())
    if value is None or isinstance(value, bool | int | float | complex | str | bytes):
        digest.update(repr(value).encode())
        return
    if isinstance(value, list | tuple):
        digest.update(f"{len(value)}".encode())
        for item in value:
            digest.update(value_digest(item).encode())
        return
    if isinstance(value, set | frozenset):  # iteration order varies between processes
        digest.update("".join(sorted(value_digest(item) for item in value)).encode())
        return
    if isinstance(value, Mapping):
        items = sorted(value_digest(k) + value_digest(v) for k, v in value.items())
        digest.update("".join(items).encode())
        return
    if _feed_table(digest, value):
        return
    try:
        digest.update(pickle.dumps(value, protocol=_PICKLE_PROTOCOL))
    except Exception:  # pickling can raise almost anything; the repr still identifies it
        digest.update(repr(value).encode())


def _feed_table(digest: Any, value: Any) -> bool:
    """Digest pandas, Arrow and NumPy data by content; False for anything else."""
    # A value can only be one of these if its library is loaded already: no imports here.
    pd, pa, np = (sys.modules.get(name) for name in ("pandas", "pyarrow", "numpy"))
    if pd is not None and isinstance(value, pd.DataFrame | pd.Series):
        columns = [value[c] for c in value.columns] if value.ndim == 2 else [value]
        shape = {
            "columns": [repr(c) for c in value.columns] if value.ndim == 2 else [repr(value.name)],
            # repr: a categorical's dtype names its categories and whether they are ordered.
            "dtypes": [repr(c.dtype) for c in columns],
            # hash_pandas_object hashes objects as text, so 1 and "1" would match: add types.
            "types": [
                sorted({type(v).__qualname__ for v in c.to_numpy()}) if c.dtype == object else []
                for c in columns
            ],
            "index": [str(value.index.dtype), [repr(n) for n in value.index.names]],
        }
        try:
            hashed = pd.util.hash_pandas_object(value, index=True).to_numpy()
        except TypeError:  # unhashable cells (lists, dicts): fall back on the pickle
            return False
        digest.update(json.dumps(shape).encode())
        digest.update(hashed.tobytes())
        return True
    if pa is not None and isinstance(value, pa.Table):
        from shipyard.services.datasets import dataset_digest

        digest.update(dataset_digest(value).encode())
        return True
    if np is not None and isinstance(value, np.ndarray) and value.dtype != object:
        digest.update(f"{value.dtype.str}{value.shape}".encode())
        digest.update(np.ascontiguousarray(value).tobytes())
        return True
    return False


def step_key(made: Step, code: str, inputs: Sequence[str]) -> str:
    """The cache key of one call: code digest, wiring and the digests of the input values."""
    payload = {
        "format": _FORMAT,
        "code": code,
        "args": len(made.args),
        "kwargs": [key for key, _ in made.kwargs],
        "outputs": len(made.outputs),
        "unpack": made.unpack,
        "inputs": list(inputs),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


class StepCache:
    """Cached step outputs in an artifact store; every failure to read is a miss."""

    def __init__(self, artifacts: ArtifactStore) -> None:
        self.artifacts = artifacts

    @staticmethod
    def key_of(key: str) -> str:
        """Where the pickled outputs of a cache key are stored."""
        return f"{CACHE_PREFIX}/{key}/outputs.pkl"

    def load(self, key: str, count: int) -> tuple[Any, ...] | None:
        """The ``count`` outputs stored under ``key``, or None when there is no usable entry."""
        data_key = self.key_of(key)
        try:
            sidecar = self._read_unverified(f"{data_key}.sha256")
            if sidecar is None:
                return None
            sha = sidecar.decode("ascii", "replace").strip()
            if _SHA256.fullmatch(sha) is None:
                raise ValueError(f"its sidecar holds {sha[:80]!r}, not a sha256")
            values = pickle.loads(self.artifacts.get_bytes(data_key, sha))
        except Exception as exc:  # corrupted, missing or unreadable: compute again
            log.warning("cache entry %s is unusable (%s); the step runs again", data_key, exc)
            return None
        if not isinstance(values, tuple) or len(values) != count:
            log.warning("cache entry %s holds something else; the step runs again", data_key)
            return None
        return values

    def save(self, key: str, values: tuple[Any, ...]) -> bool:
        """Store outputs under ``key``; False (and nothing stored) when they do not pickle."""
        try:
            data = pickle.dumps(values, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # a lock, a generator, a live connection...
            log.warning("outputs for cache key %s do not pickle (%s); not cached", key, exc)
            return False
        data_key = self.key_of(key)
        info = self.artifacts.put_bytes(data, data_key)
        self.artifacts.put_bytes(f"{info.sha256}\n".encode(), f"{data_key}.sha256")
        return True

    def _read_unverified(self, key: str) -> bytes | None:
        """A sidecar's bytes: it holds the checksum, so nothing can verify it but its shape."""
        if not self.artifacts.exists(key):
            return None
        data: bytes = self.artifacts.fs.cat_file(self.artifacts.uri(key))
        return data
