"""Pickle a model and note which packages its pickle refers to, so they can be pinned."""

from __future__ import annotations

import pickle
from typing import IO, Any

__all__ = ["PICKLE_PROTOCOL", "dump_noting_modules"]

#: Protocol 5 (Python 3.8+) writes large numpy buffers without extra copies; it loads fastest.
PICKLE_PROTOCOL = 5


def dump_noting_modules(
    obj: object,
    file: IO[bytes],
    *,
    pickler: type[pickle.Pickler] = pickle.Pickler,
    protocol: int = PICKLE_PROTOCOL,
) -> set[str]:
    """Pickle ``obj`` into ``file`` and return the top-level packages the pickle refers to.

    Every object the pickler meets passes through ``persistent_id``; the modules of their
    types (and of the classes and functions pickled by reference) are what unpickling
    will import.

    Args:
        obj: What to pickle.
        file: A binary file open for writing.
        pickler: The pickler class, e.g. ``cloudpickle.Pickler``.
        protocol: The pickle protocol.

    Returns:
        Top-level module names such as ``{"sklearn", "numpy", "builtins"}``.
    """
    seen: set[str] = set()

    class _Noting(pickler):  # type: ignore[valid-type,misc]
        def persistent_id(self, item: Any) -> None:
            seen.add(type(item).__module__)
            if isinstance(item, type) or callable(item):
                module = getattr(item, "__module__", None)
                if isinstance(module, str):
                    seen.add(module)
            return None

    _Noting(file, protocol=protocol).dump(obj)
    return {module.partition(".")[0] for module in seen}
