"""Optional libraries: import them when a flavor needs them, and pin what loading needs."""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import sys
from collections.abc import Iterable
from types import ModuleType

from shipyard.core.errors import ConfigError

__all__ = ["import_optional", "installed_packages", "pins"]

#: How to install each optional library: the shipyard extra that brings it.
_INSTALL = {
    "cloudpickle": 'pip install "cloudpickle>=3.0"',
    "lightgbm": 'pip install "shipyard[lightgbm]"',
    "onnx": 'pip install "shipyard[onnx]"',
    "onnxruntime": 'pip install "shipyard[onnx]"',
    "sklearn": 'pip install scikit-learn (or pip install "shipyard[demo]")',
    "torch": 'pip install "shipyard[torch]"',
    "xgboost": 'pip install "shipyard[xgboost]"',
}


def import_optional(module: str, *, flavor: str) -> ModuleType:
    """Import ``module``, which ``flavor`` needs, or say how to install it.

    Args:
        module: An import name, e.g. ``"lightgbm"`` or ``"torch.export"``.
        flavor: The flavor that needs it, named in the error.

    Returns:
        The imported module.

    Raises:
        ConfigError: The module cannot be imported.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.partition(".")[0]
        how = _INSTALL.get(top, f"pip install {top}")
        raise ConfigError(
            f"The {flavor} flavor needs {top!r}, which cannot be imported here "
            f"({type(exc).__name__}: {exc}). Install it with: {how}"
        ) from exc


def pins(modules: Iterable[str]) -> list[str]:
    """Pinned requirements (``dist==version``) of the distributions that provide ``modules``.

    Standard-library modules and modules no installed distribution provides (user code,
    editable checkouts) are left out. Local version labels (``2.13.0+cpu``) are dropped:
    they name a build on one package index, and pip resolves the public release.

    Args:
        modules: Module names; only the top-level package of each counts.

    Returns:
        Sorted, deduplicated requirement strings.
    """
    found: set[str] = set()
    for module in modules:
        top = module.partition(".")[0]
        if not top or top in sys.stdlib_module_names or top in sys.builtin_module_names:
            continue
        for dist in _distributions().get(top, ()):
            try:
                version = importlib.metadata.version(dist)
            except importlib.metadata.PackageNotFoundError:
                continue
            found.add(f"{dist}=={version.partition('+')[0]}")
    return sorted(found, key=str.lower)


def installed_packages() -> frozenset[str]:
    """Top-level import names that some installed distribution provides."""
    return frozenset(_distributions())


@functools.lru_cache(maxsize=1)
def _distributions() -> dict[str, list[str]]:
    # Scanning every installed distribution takes a few hundred milliseconds: once.
    return {
        top: sorted(set(dists))
        for top, dists in importlib.metadata.packages_distributions().items()
    }
