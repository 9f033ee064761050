"""What every flavor checks the same way: folders, options, configs, files, libraries, pins."""

from __future__ import annotations

import importlib.metadata
import sys
from pathlib import Path
from typing import Any

import flavor_cases
import numpy as np
import pytest
from flavor_fresh import require

from shipyard.core.errors import ConfigError, CorruptedArtifactError, InvalidInputError
from shipyard.flavors import FLAVOR_NAMES, get_flavor


class Rule:
    def predict(self, data: Any) -> Any:
        return np.asarray(data) * 2


def test_save_needs_an_existing_folder(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"existing empty folder.*path\.mkdir\(\)"):
        get_flavor("pyfunc").save(Rule(), tmp_path / "missing")


def test_save_needs_an_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "old.pkl").write_bytes(b"")
    with pytest.raises(InvalidInputError, match="already has files in it"):
        get_flavor("pyfunc").save(Rule(), tmp_path)


def test_save_refuses_unknown_options(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"\['compress'\]; it takes: code_paths"):
        get_flavor("pyfunc").save(Rule(), tmp_path, compress=True)


def test_save_refuses_a_model_of_another_flavor(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"'sklearn' cannot save a .*Rule.*detect_flavor"):
        get_flavor("sklearn").save(Rule(), tmp_path)


def test_load_refuses_another_flavors_config(tmp_path: Path) -> None:
    config = get_flavor("pyfunc").save(Rule(), tmp_path)
    with pytest.raises(
        InvalidInputError, match=r"written by flavor 'pyfunc'.*get_flavor\('pyfunc'\)"
    ):
        get_flavor("sklearn").load(tmp_path, config)


def test_load_refuses_a_newer_config_format(tmp_path: Path) -> None:
    config = get_flavor("pyfunc").save(Rule(), tmp_path)
    with pytest.raises(ConfigError, match=r"newer shipyard\. Upgrade shipyard"):
        get_flavor("pyfunc").load(tmp_path, {**config, "format_version": 99})


def test_config_carries_flavor_and_format(tmp_path: Path) -> None:
    config = get_flavor("pyfunc").save(Rule(), tmp_path)
    assert config["flavor"] == "pyfunc"
    assert config["format_version"] == 1
    assert config["file"] == "model.pkl"


#: For each flavor: the library it loads with, and how the error says to install it.
LIBRARIES = {
    "sklearn": ("sklearn", r"pip install scikit-learn \(or pip install \"shipyard\[demo\]\"\)"),
    "lightgbm": ("lightgbm", r'pip install "shipyard\[lightgbm\]"'),
    "xgboost": ("xgboost", r'pip install "shipyard\[xgboost\]"'),
    "pytorch": ("torch", r'pip install "shipyard\[torch\]"'),
    "onnx": ("onnxruntime", r'pip install "shipyard\[onnx\]"'),
}


@pytest.mark.parametrize("flavor", list(LIBRARIES))
def test_missing_library_says_which_extra_to_install(
    flavor: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    module, hint = LIBRARIES[flavor]
    monkeypatch.setitem(sys.modules, module, None)  # import now raises ImportError
    with pytest.raises(ConfigError, match=rf"{flavor} flavor needs '{module}'.*{hint}"):
        get_flavor(flavor).load(tmp_path, {})


#: A file each flavor reads, filled with garbage.
FILES = {
    "sklearn": "model.pkl",
    "lightgbm": "model.txt",
    "xgboost": "model.ubj",
    "pytorch": "model.pt2",
    "onnx": "model.onnx",
    "pyfunc": "model.pkl",
}
NEEDS = {"lightgbm": "lightgbm", "xgboost": "xgboost", "pytorch": "torch", "onnx": "onnxruntime"}


@pytest.mark.parametrize("flavor", FLAVOR_NAMES)
def test_missing_model_file_is_a_corrupted_artifact(flavor: str, tmp_path: Path) -> None:
    require(NEEDS.get(flavor, "sklearn"))
    with pytest.raises(CorruptedArtifactError, match=f"lacks its model file '{FILES[flavor]}'"):
        get_flavor(flavor).load(tmp_path, {})


@pytest.mark.parametrize("flavor", FLAVOR_NAMES)
def test_garbage_model_file_is_a_corrupted_artifact(flavor: str, tmp_path: Path) -> None:
    require(NEEDS.get(flavor, "sklearn"))
    (tmp_path / FILES[flavor]).write_bytes(b"\x00\x01 not a model \xff" * 8)
    with pytest.raises(CorruptedArtifactError, match="save the model again"):
        get_flavor(flavor).load(tmp_path, {})


def _version(dist: str) -> str:
    return importlib.metadata.version(dist).partition("+")[0]


@pytest.mark.parametrize(
    ("flavor", "dists"),
    [
        pytest.param("lightgbm", ["lightgbm", "numpy"], id="lightgbm"),
        pytest.param("pytorch", ["numpy", "torch"], id="pytorch"),
        pytest.param("onnx", ["numpy", "onnxruntime"], id="onnx"),
        pytest.param("pyfunc", ["cloudpickle", "numpy"], id="pyfunc"),
    ],
)
def test_requirements_without_a_record_pin_what_is_installed(flavor: str, dists: list[str]) -> None:
    for dist in dists:
        require({"onnxruntime": "onnxruntime"}.get(dist, dist))
    expected = [f"{dist}=={_version(dist)}" for dist in dists]
    assert get_flavor(flavor).requirements({}) == expected


def test_requirements_of_a_pickle_pin_every_package_it_refers_to(tmp_path: Path) -> None:
    case = flavor_cases.sklearn_pipeline(tmp_path)
    config = get_flavor("sklearn").save(case.model, tmp_path)
    requirements = get_flavor("sklearn").requirements(config)
    assert f"scikit-learn=={_version('scikit-learn')}" in requirements
    assert f"numpy=={_version('numpy')}" in requirements
    assert not any(line.startswith(("shipyard", "pickle", "builtins")) for line in requirements)
    assert requirements == config["requirements"]


def test_requirements_name_the_distribution_not_the_module(tmp_path: Path) -> None:
    xgb = require("xgboost")
    dist = importlib.metadata.packages_distributions()["xgboost"][0]  # xgboost or xgboost-cpu
    model = xgb.XGBRegressor(n_estimators=2).fit(np.eye(4), np.arange(4.0))
    config = get_flavor("xgboost").save(model, tmp_path)
    assert f"{dist}=={_version(dist)}" in get_flavor("xgboost").requirements(config)


def test_torch_pins_drop_the_local_build_label() -> None:
    require("torch")
    (pin,) = [line for line in get_flavor("pytorch").requirements({}) if line.startswith("torch")]
    assert "+" not in pin


def test_missing_test_library_skips_or_fails_as_ci_asks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SHIPYARD_REQUIRE_FLAVORS", raising=False)
    with pytest.raises(pytest.skip.Exception, match="shipyard_no_such_library is not installed"):
        require("shipyard_no_such_library")
    monkeypatch.setenv("SHIPYARD_REQUIRE_FLAVORS", "1")
    with pytest.raises(pytest.fail.Exception, match="SHIPYARD_REQUIRE_FLAVORS=1 but"):
        require("shipyard_no_such_library")


def test_a_failed_save_leaves_the_folder_empty(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="does not exist"):
        get_flavor("pyfunc").save(Rule(), tmp_path, code_paths=[__file__, tmp_path / "gone.py"])
    assert list(tmp_path.iterdir()) == []
