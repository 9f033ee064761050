"""PyTorch: torch.export by default (TorchScript is deprecated), state_dict on request."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import flavor_cases
import numpy as np
import pandas as pd
import pytest
from flavor_fresh import assert_same, require

from shipyard.core.errors import ConfigError, InvalidInputError
from shipyard.flavors import get_flavor


@pytest.fixture(scope="module")
def torch() -> Any:
    return require("torch")


@pytest.fixture
def features() -> np.ndarray:
    return flavor_cases.numeric_matrix(flavor_cases.flights(40)[0])


def _mlp(torch: Any, n_in: int) -> Any:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(n_in, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1))


def _eager(module: Any, batch: np.ndarray) -> np.ndarray:
    import torch

    with torch.inference_mode():
        return np.asarray(module(torch.from_numpy(batch)).numpy())


def test_torchscript_is_deprecated_and_refused(torch: Any, tmp_path: Path) -> None:
    # The finding that made torch.export the default: torch 2.13 deprecates torch.jit.
    with pytest.warns(DeprecationWarning, match=r"torch\.jit\.script.*torch\.export"):
        scripted = torch.jit.script(_mlp(torch, 3))
    with pytest.raises(InvalidInputError, match="TorchScript is deprecated"):
        get_flavor("pytorch").save(scripted, tmp_path)


def test_export_needs_an_input_example(torch: Any, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"pass input_example=.*format='state_dict'"):
        get_flavor("pytorch").save(_mlp(torch, 3), tmp_path)


def test_one_row_example_still_exports_a_dynamic_batch(
    torch: Any, features: np.ndarray, tmp_path: Path
) -> None:
    model = _mlp(torch, features.shape[1]).train()
    config = get_flavor("pytorch").save(model, tmp_path, input_example=features[:1])
    assert model.training, "saving leaves the module in the mode it was in"
    assert config["input_shape"] == [None, features.shape[1]]
    loaded = get_flavor("pytorch").load(tmp_path, config)
    model.eval()
    assert_same(loaded.predict(features), _eager(model, features))
    assert loaded.predict(features[:1]).shape == (1, 1)


def test_numeric_dataframe_and_wrong_width(
    torch: Any, features: np.ndarray, tmp_path: Path
) -> None:
    model = _mlp(torch, features.shape[1]).eval()
    config = get_flavor("pytorch").save(
        model, tmp_path, input_example=pd.DataFrame(features[:4]), input_dtype="float32"
    )
    loaded = get_flavor("pytorch").load(tmp_path, config)
    frame = pd.DataFrame(features.astype(np.float64))  # read-only to_numpy() under pandas 3
    assert_same(loaded.predict(frame), _eager(model, features))
    with pytest.raises(InvalidInputError, match=r"rows of shape \(5,\).*got a batch of shape"):
        loaded.predict(features[:, :3])
    with pytest.raises(InvalidInputError, match="Encode non-numeric columns"):
        loaded.predict(pd.DataFrame({"carrier": ["AA", "B6"]}))


def test_an_exported_program_is_saved_as_is(
    torch: Any, features: np.ndarray, tmp_path: Path
) -> None:
    model = _mlp(torch, features.shape[1]).eval()
    batch = torch.export.Dim.DYNAMIC
    program = torch.export.export(
        model, (torch.from_numpy(features[:4]),), dynamic_shapes=({0: batch},)
    )
    config = get_flavor("pytorch").save(program, tmp_path)
    assert config["format"] == "export"
    loaded = get_flavor("pytorch").load(tmp_path, config)
    assert_same(loaded.predict(features), _eager(model, features))


def test_tuple_outputs_give_their_first_tensor(torch: Any, tmp_path: Path) -> None:
    class TwoHeads(torch.nn.Module):  # type: ignore[name-defined,misc]
        def forward(self, x: Any) -> Any:
            return x * 2, x + 1

    config = get_flavor("pytorch").save(TwoHeads(), tmp_path, input_example=np.ones((2, 2)))
    loaded = get_flavor("pytorch").load(tmp_path, config)
    assert_same(loaded.predict(np.ones((3, 2))), np.full((3, 2), 2, dtype=np.float32))


def test_untraceable_module_says_how_to_fix(torch: Any, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"torch\.export could not capture Sequential"):
        get_flavor("pytorch").save(_mlp(torch, 3), tmp_path, input_example=np.ones((2, 7)))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        pytest.param({"format": "torchscript"}, "must be one of", id="format"),
        pytest.param({"input_dtype": "string"}, "numeric dtype", id="dtype"),
        pytest.param({"device": "cuda"}, "does not take the save options", id="unknown"),
    ],
)
def test_bad_options(torch: Any, options: dict[str, Any], message: str, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match=message):
        get_flavor("pytorch").save(_mlp(torch, 3), tmp_path, **options)


def test_state_dict_needs_an_importable_class(torch: Any, tmp_path: Path) -> None:
    class Local(torch.nn.Module):  # type: ignore[name-defined,misc]
        def forward(self, x: Any) -> Any:
            return x

    with pytest.raises(InvalidInputError, match=r"importable by name.*<locals>.*format='export'"):
        get_flavor("pytorch").save(Local(), tmp_path, format="state_dict")


def test_state_dict_init_kwargs_must_be_json(torch: Any, tmp_path: Path) -> None:
    case = flavor_cases.torch_state_dict(tmp_path / "case")
    folder = tmp_path / "model"
    folder.mkdir()
    try:
        with pytest.raises(InvalidInputError, match="init_kwargs must be JSON-able"):
            get_flavor("pytorch").save(
                case.model, folder, format="state_dict", init_kwargs={"n_in": np.int64(5)}
            )
    finally:
        flavor_cases.forget_user_modules()


def test_state_dict_whose_class_is_gone_or_changed(torch: Any, tmp_path: Path) -> None:
    case = flavor_cases.torch_state_dict(tmp_path / "case")
    folder = tmp_path / "model"
    folder.mkdir()
    try:
        config = get_flavor("pytorch").save(case.model, folder, **case.options)
        changed = {**config, "init_kwargs": {"n_in": 5, "hidden": 3}}
        with pytest.raises(ConfigError, match=r"do not fit .*Net built with"):
            get_flavor("pytorch").load(folder, changed)
    finally:
        flavor_cases.forget_user_modules()
    with pytest.raises(ConfigError, match=r"cannot be imported here.*PYTHONPATH"):
        get_flavor("pytorch").load(folder, config)
