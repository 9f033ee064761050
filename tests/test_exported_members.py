"""The public surface: each package's ``__all__`` lists exactly its public names.

Also checks that ``import shipyard`` stays light: heavy libraries load only when used.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
import subprocess
import sys
from types import ModuleType

import pytest

import shipyard

PACKAGES = [
    "shipyard",
    "shipyard.core",
    "shipyard.stores",
    "shipyard.flavors",
    "shipyard.services",
]
#: Dunder names a package may export on purpose.
EXPORTED_DUNDERS = {"__version__"}


def public_names(module: ModuleType) -> set[str]:
    """Names a user sees with ``dir()``: not private, not submodules, not ``annotations``."""
    return {
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and not inspect.ismodule(value) and name != "annotations"
    }


def isort_key(name: str) -> tuple[int, list[int | str]]:
    """ruff's RUF022 order: CONSTANTS, then Classes, then everything else, naturally sorted."""
    if name.isupper():
        group = 0
    elif name[:1].isupper():
        group = 1
    else:
        group = 2
    natural = [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]
    return group, natural


@pytest.mark.parametrize("package", PACKAGES)
def test_all_lists_exactly_the_public_names(package: str) -> None:
    module = importlib.import_module(package)
    exported = set(module.__all__)
    assert exported - EXPORTED_DUNDERS == public_names(module)
    assert exported & EXPORTED_DUNDERS <= set(vars(module))


def all_modules() -> list[str]:
    """shipyard and every module below it, except the alembic migration scripts."""
    names = ["shipyard"]
    for info in pkgutil.walk_packages(shipyard.__path__, prefix="shipyard."):
        if not info.name.startswith("shipyard.stores.migrations"):
            names.append(info.name)
    return sorted(names)


@pytest.mark.parametrize("module_name", all_modules())
def test_every_all_resolves_and_is_sorted(module_name: str) -> None:
    module = importlib.import_module(module_name)
    exported = getattr(module, "__all__", None)
    if exported is None:
        # Only private modules (shipyard._version) may go without one.
        assert any(part.startswith("_") for part in module_name.split(".")), module_name
        return
    assert isinstance(exported, list)
    missing = [name for name in exported if not hasattr(module, name)]
    assert missing == [], f"{module_name}.__all__ names what the module lacks"
    assert len(set(exported)) == len(exported), f"{module_name}.__all__ has duplicates"
    assert exported == sorted(exported, key=isort_key)


def test_top_level_exports_come_from_the_subpackages() -> None:
    # Each name shipyard exports is the very object its subpackage exports.
    sources = [importlib.import_module(name) for name in PACKAGES[1:]]
    for name in shipyard.__all__:
        if name in EXPORTED_DUNDERS:
            continue
        owners = [source for source in sources if name in source.__all__]
        assert owners, f"shipyard.{name} is not exported by any subpackage"
        assert all(getattr(owner, name) is getattr(shipyard, name) for owner in owners)


def test_version_is_a_string() -> None:
    assert isinstance(shipyard.__version__, str)
    assert shipyard.__version__


# -- import-time cost -------------------------------------------------------------------

HEAVY = [
    "alembic",
    "boto3",
    "botocore",
    "duckdb",
    "fsspec",
    "numpy",
    "pandas",
    "pyarrow",
    "ray",
    "rich",
    "s3fs",
    "sklearn",
    "torch",
    "typer",
]


def _importers(importtime: str, target: str) -> str:
    """The chain of modules that imported ``target``, from ``python -X importtime`` output.

    The output lists each module after the modules it imported, indented one level deeper.
    """
    rows = []
    for line in importtime.splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+\d+ \|( +)(\S+)$", line)
        if match:
            rows.append((len(match[1]), match[2]))
    for i, (depth, name) in enumerate(rows):
        if name == target:
            chain = [name]
            for later_depth, later_name in rows[i + 1 :]:
                if later_depth < depth:
                    chain.append(later_name)
                    depth = later_depth
            return " <- ".join(chain)
    return target


@pytest.fixture(scope="module")
def fresh_import() -> tuple[set[str], str]:
    """The modules loaded by ``import shipyard`` in a fresh interpreter, and the import log."""
    code = "import shipyard, sys; print('\\n'.join(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-W", "error", "-X", "importtime", "-c", code],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return set(result.stdout.split()), result.stderr


@pytest.mark.parametrize("heavy", HEAVY)
def test_import_shipyard_does_not_load(heavy: str, fresh_import: tuple[set[str], str]) -> None:
    loaded, importtime = fresh_import
    assert heavy not in loaded, f"import shipyard loads {_importers(importtime, heavy)}"
