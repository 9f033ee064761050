"""The store that module-level functions use when none is passed."""

from __future__ import annotations

import threading

from shipyard.core.settings import Settings
from shipyard.stores import Store

__all__ = ["get_default_store", "set_default_store"]

_lock = threading.Lock()
_default: Store | None = None


def get_default_store() -> Store:
    """The store named by shipyard.toml and ``SHIPYARD_*`` variables, read once per process."""
    global _default
    with _lock:
        if _default is None:
            _default = Store.from_settings(Settings.load())
        return _default


def set_default_store(store: Store | None) -> Store | None:
    """Replace the default store (None: read settings again on next use); returns the old one."""
    global _default
    with _lock:
        previous, _default = _default, store
        return previous
