"""pyfunc: any object with predict, pickled with its code; load_context and code_paths."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cloudpickle
import flavor_cases
import numpy as np
import pandas as pd
import pytest

from shipyard.core.errors import ConfigError, InvalidInputError
from shipyard.flavors import PythonModel, get_flavor


@pytest.fixture(autouse=True)
def _restore_imports(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Loading with code_paths puts code/ on sys.path; undo that and the test's modules."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    yield
    flavor_cases.forget_user_modules()


class Lookup(PythonModel):
    """Reads a table written next to the model when it is loaded."""

    def __init__(self) -> None:
        self.table: dict[str, float] | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {"table": None}  # the table is not pickled: load_context reads it

    def load_context(self, path: Path) -> None:
        rows = (path / "code" / "table.csv").read_text().split()
        self.table = {key: float(value) for key, value in (row.split(",") for row in rows)}

    def predict(self, data: pd.DataFrame) -> np.ndarray:
        assert self.table is not None, "load_context was not called"
        return data["carrier"].map(self.table).to_numpy()


def test_load_context_gets_the_model_folder(tmp_path: Path) -> None:
    table = tmp_path / "table.csv"
    table.write_text("AA,1.5\nB6,2.5\n")
    folder = tmp_path / "model"
    folder.mkdir()
    config = get_flavor("pyfunc").save(Lookup(), folder, code_paths=[table])
    loaded = get_flavor("pyfunc").load(folder, config)
    frame = pd.DataFrame({"carrier": ["B6", "AA"]})
    np.testing.assert_array_equal(loaded.predict(frame), [2.5, 1.5])
    assert loaded.classes is None
    assert not hasattr(loaded, "predict_proba")


def test_python_model_requires_predict() -> None:
    class Nothing(PythonModel):
        pass

    with pytest.raises(TypeError, match=r"abstract method '?predict"):
        Nothing()  # type: ignore[abstract]


def test_saving_leaves_cloudpickle_registry_as_it_was(tmp_path: Path) -> None:
    module = flavor_cases.import_file(tmp_path / "code", "plain", flavor_cases.CODE_MODEL)
    before = set(cloudpickle.list_registry_pickle_by_value())
    folder = tmp_path / "model"
    folder.mkdir()
    config = get_flavor("pyfunc").save(module.Tariff(2.0), folder)
    assert config["by_value"] == [module.__name__]
    assert set(cloudpickle.list_registry_pickle_by_value()) == before


def test_a_class_whose_module_is_gone_says_how_to_fix(tmp_path: Path) -> None:
    source = tmp_path / "code"
    module = flavor_cases.import_file(source, "gone", flavor_cases.CODE_MODEL)
    folder = tmp_path / "model"
    folder.mkdir()
    # In code_paths, so pickled by reference: loading without code/ cannot find it.
    config = get_flavor("pyfunc").save(module.Tariff(2.0), folder, code_paths=[module.__file__])
    flavor_cases.forget_user_modules()
    without_code = {**config, "code_paths": []}
    with pytest.raises(ConfigError, match=r"needs the module 'shipyard_test_user_gone.*code_paths"):
        get_flavor("pyfunc").load(folder, without_code)


def test_code_saved_by_value_needs_the_same_python(tmp_path: Path) -> None:
    module = flavor_cases.import_file(tmp_path / "code", "py", flavor_cases.CODE_MODEL)
    folder = tmp_path / "model"
    folder.mkdir()
    config = get_flavor("pyfunc").save(module.Tariff(2.0), folder)
    older = {**config, "python_version": "3.9"}
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    with pytest.raises(ConfigError, match=rf"Python 3\.9 bytecode; this is Python {running}"):
        get_flavor("pyfunc").load(folder, older)


def test_code_paths_copy_folders_without_caches(tmp_path: Path) -> None:
    package = tmp_path / "src" / "tariffs"
    (package / "__pycache__").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"")
    folder = tmp_path / "model"
    folder.mkdir()
    config = get_flavor("pyfunc").save(Lookup(), folder, code_paths=[package])
    assert config["code_paths"] == ["tariffs"]
    assert sorted(p.name for p in (folder / "code" / "tariffs").iterdir()) == ["__init__.py"]


@pytest.mark.parametrize(
    ("make_paths", "message"),
    [
        pytest.param(lambda tmp: [tmp / "missing.py"], "does not exist", id="missing"),
        pytest.param(lambda tmp: [tmp / "a" / "m.py", tmp / "b" / "m.py"], "two entries", id="dup"),
    ],
)
def test_bad_code_paths(make_paths: Any, message: str, tmp_path: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "m.py").write_text("")
    folder = tmp_path / "model"
    folder.mkdir()
    with pytest.raises(InvalidInputError, match=message):
        get_flavor("pyfunc").save(Lookup(), folder, code_paths=make_paths(tmp_path))


def test_models_whose_code_shares_a_module_name_each_get_their_own(tmp_path: Path) -> None:
    import importlib

    flavor = get_flavor("pyfunc")
    loaded = []
    for answer in (1, 2):
        source = tmp_path / f"src{answer}"
        source.mkdir()
        (source / "helper_rule.py").write_text(
            f"class Rule:\n    def predict(self, data):\n        return [{answer}] * len(data)\n"
        )
        sys.path.insert(0, str(source))
        try:
            module = importlib.import_module("helper_rule")
            model = module.Rule()
            folder = tmp_path / f"model{answer}"
            folder.mkdir()
            config = flavor.save(model, folder, code_paths=[str(source / "helper_rule.py")])
        finally:
            sys.path.remove(str(source))
            sys.modules.pop("helper_rule", None)
        loaded.append((folder, json.loads(json.dumps(config))))
    first, second = (flavor.load(folder, config) for folder, config in loaded)
    frame = pd.DataFrame({"x": [0, 0]})
    assert list(first.predict(frame)) == [1, 1]
    assert list(second.predict(frame)) == [2, 2]
    assert "helper_rule" not in sys.modules
