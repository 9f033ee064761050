"""PyTorch modules, saved with torch.export (TorchScript is deprecated as of torch 2.13).

``torch.jit.script``, ``trace``, ``save`` and ``load`` all raise DeprecationWarning in
torch 2.13 ("Please switch to torch.compile or torch.export"), so the default format is
an ``ExportedProgram`` written with ``torch.export.save``: the graph and the weights,
loadable without the module's code. The other format is a ``state_dict`` plus the
module's class, imported by name at load and rebuilt with ``init_kwargs``.
"""

from __future__ import annotations

import copy
import importlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from shipyard.core.errors import ConfigError, CorruptedArtifactError, InvalidInputError
from shipyard.flavors._base import Flavor, Predictor, from_library, saved_file
from shipyard.flavors._convert import as_matrix
from shipyard.flavors._deps import import_optional, pins

if TYPE_CHECKING:
    import numpy as np

__all__ = ["PyTorchFlavor"]

_EXPORT_FILE = "model.pt2"
_STATE_FILE = "state_dict.pt"
_FORMATS = ("export", "state_dict")


class PyTorchFlavor(Flavor):
    """A ``torch.nn.Module`` (or a ``torch.export.ExportedProgram``) taking one tensor.

    Options:
        format: ``"export"`` (default): ``torch.export`` the module, with a dynamic batch
            dimension, to ``model.pt2``. ``"state_dict"``: save the weights to
            ``state_dict.pt`` and rebuild the module at load as
            ``module:qualname(**init_kwargs)``; the class must be importable there.
        input_example: A few rows of input (array or numeric DataFrame); ``"export"``
            traces the module on it, so it is required for that format.
        input_dtype: The dtype predict casts inputs to (default ``"float32"``).
        init_kwargs: JSON-able keyword arguments for the class (``"state_dict"`` only).

    The loaded predictor runs on the CPU under ``torch.inference_mode``, takes a numpy
    array or a numeric DataFrame, and returns the output tensor (or the first of a
    tuple of them) as a numpy array.
    """

    name: ClassVar[str] = "pytorch"
    tabular: ClassVar[bool] = False
    modules: ClassVar[tuple[str, ...]] = ("torch", "numpy")
    save_options: ClassVar[tuple[str, ...]] = (
        "format",
        "init_kwargs",
        "input_dtype",
        "input_example",
    )

    @classmethod
    def detect(cls, model: object) -> bool:
        """Whether ``model`` is a ``torch.nn.Module`` or an ``ExportedProgram``."""
        return from_library(model, "torch") and any(
            (klass.__module__, klass.__name__)
            in {
                ("torch.nn.modules.module", "Module"),
                ("torch.export.exported_program", "ExportedProgram"),
            }
            for klass in type(model).__mro__
        )

    def _save(self, model: object, path: Path, options: dict[str, Any]) -> dict[str, Any]:
        torch = import_optional("torch", flavor=self.name)
        import_optional("torch.export", flavor=self.name)
        fmt = options.get("format", "export")
        if fmt not in _FORMATS:
            raise InvalidInputError(
                f"The pytorch flavor's format option must be one of {list(_FORMATS)}; got {fmt!r}."
            )
        input_dtype = _dtype_name(options.get("input_dtype", "float32"))
        if isinstance(model, torch.jit.ScriptModule):
            raise InvalidInputError(
                "Got a TorchScript module; TorchScript is deprecated as of torch 2.13 and "
                "shipyard saves modules with torch.export instead. Pass the original "
                "torch.nn.Module (with input_example=...), or format='state_dict'."
            )
        config: dict[str, Any] = {"format": fmt, "input_dtype": input_dtype}
        if fmt == "state_dict":
            config.update(_save_state_dict(model, path, options))
            config["requirements"] = pins({*self.modules, config["class"].partition(":")[0]})
            return config
        if isinstance(model, torch.export.ExportedProgram):
            program = model
        else:
            program, shape = _export(model, options.get("input_example"), input_dtype)
            config["input_shape"] = shape
        torch.export.save(program, str(path / _EXPORT_FILE))
        config["file"] = _EXPORT_FILE
        return config

    def _load(self, path: Path, config: Mapping[str, Any]) -> Predictor:
        torch = import_optional("torch", flavor=self.name)
        import_optional("torch.export", flavor=self.name)
        input_dtype = _dtype_name(config.get("input_dtype", "float32"))
        if config.get("format") == "state_dict":
            module = _load_state_dict(path, config)
            return _TorchPredictor(module, input_dtype, None)
        file = saved_file(path, config, _EXPORT_FILE, flavor=self.name)
        try:
            program = torch.export.load(str(file))
        except Exception as exc:  # zipfile, pickle, serde and runtime errors alike
            raise CorruptedArtifactError(
                f"{str(file)!r} is not an exported program torch {torch.__version__} can "
                f"read ({exc}); save the model again."
            ) from exc
        return _TorchPredictor(program.module(), input_dtype, config.get("input_shape"))


class _TorchPredictor:
    """A loaded module: numpy in, numpy out, on the CPU, without autograd."""

    classes: list[Any] | None = None

    def __init__(self, module: Any, input_dtype: str, input_shape: list[Any] | None) -> None:
        self.module = module
        self.input_dtype = input_dtype
        self.input_shape = input_shape

    def predict(self, data: Any) -> np.ndarray:
        import torch

        if isinstance(data, torch.Tensor):
            batch = data.to(dtype=getattr(torch, self.input_dtype), device="cpu")
        else:
            array = as_matrix(data, self.input_dtype, flavor="pytorch")
            if not array.flags.writeable:  # torch.from_numpy warns on read-only arrays
                array = array.copy()
            batch = torch.from_numpy(array)
        expected = self.input_shape
        if expected is not None and list(batch.shape[1:]) != expected[1:]:
            raise InvalidInputError(
                f"The model takes rows of shape {tuple(expected[1:])} (a batch of shape "
                f"{tuple(expected)}); got a batch of shape {tuple(batch.shape)}. "
                "Pass the columns the model was trained on."
            )
        with torch.inference_mode():
            output = self.module(batch)
        if isinstance(output, tuple | list):
            output = output[0]
        if not isinstance(output, torch.Tensor):
            raise InvalidInputError(
                "The pytorch flavor expects the module to return a tensor (or a tuple whose "
                f"first item is one); it returned a {type(output).__name__}."
            )
        return output.detach().cpu().numpy()


def _export(model: Any, example: Any, input_dtype: str) -> tuple[Any, list[Any]]:
    """``torch.export`` the module in eval mode on the CPU, with a dynamic batch dimension."""
    import torch

    if example is None:
        raise InvalidInputError(
            "The pytorch flavor exports the module with torch.export, which runs it on an "
            "example: pass input_example= (a few rows, as an array or numeric DataFrame), "
            "or format='state_dict' with an importable module class."
        )
    if isinstance(example, torch.Tensor):
        sample = example.detach().to(dtype=getattr(torch, input_dtype), device="cpu")
    else:
        sample = torch.tensor(as_matrix(example, input_dtype, flavor="pytorch"))
    if sample.ndim == 0 or sample.shape[0] == 0:
        raise InvalidInputError(
            f"input_example must hold at least one row; got shape {tuple(sample.shape)}."
        )
    sample = sample[:8]  # tracing cost grows with the example, not what it captures
    if len(sample) < 2:
        # torch.export specializes sizes 0 and 1, so one row would fix the batch size.
        sample = sample.repeat(2, *[1] * (sample.ndim - 1))
    tensors = [*model.parameters(), *model.buffers()]
    if any(tensor.device.type != "cpu" for tensor in tensors):
        model = copy.deepcopy(model).to("cpu")
    training = model.training
    model.eval()
    batch = torch.export.Dim.DYNAMIC
    try:
        program = torch.export.export(model, (sample,), dynamic_shapes=({0: batch},))
    except Exception as exc:  # torch.export raises many unrelated types
        raise InvalidInputError(
            f"torch.export could not capture {type(model).__name__} on an input of shape "
            f"{tuple(sample.shape)} ({type(exc).__name__}: {exc}). Check that the example "
            "is what forward() takes, or save with format='state_dict'."
        ) from exc
    finally:
        model.train(training)
    return program, [None, *sample.shape[1:]]


def _save_state_dict(model: Any, path: Path, options: Mapping[str, Any]) -> dict[str, Any]:
    """Save the weights and name the class that rebuilds the module."""
    import torch

    klass = type(model)
    spec = f"{klass.__module__}:{klass.__qualname__}"
    if klass.__module__ == "__main__" or "<locals>" in klass.__qualname__:
        raise InvalidInputError(
            f"format='state_dict' rebuilds the module from its class, which must be "
            f"importable by name; {spec} is not. Move the class into a module, or use "
            "format='export'."
        )
    try:
        found = _import_class(spec) is klass
    except ConfigError:
        found = False
    if not found:
        raise InvalidInputError(
            f"format='state_dict' needs the class importable as {spec!r}, and importing it "
            "does not give the model's class. Move the class to module level."
        )
    init_kwargs = dict(options.get("init_kwargs") or {})
    try:
        json.dumps(init_kwargs)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(
            f"init_kwargs must be JSON-able (numbers, strings, lists, dicts); got {exc}."
        ) from exc
    torch.save(model.state_dict(), path / _STATE_FILE)
    return {"file": _STATE_FILE, "class": spec, "init_kwargs": init_kwargs}


def _load_state_dict(path: Path, config: Mapping[str, Any]) -> Any:
    """Rebuild the module from its class and load the saved weights into it, in eval mode."""
    import torch

    file = saved_file(path, config, _STATE_FILE, flavor="pytorch")
    spec = str(config["class"])
    module = _import_class(spec)(**dict(config.get("init_kwargs") or {}))
    try:
        state = torch.load(file, map_location="cpu", weights_only=True)
    except (RuntimeError, OSError, EOFError) as exc:
        raise CorruptedArtifactError(
            f"{str(file)!r} is not a state_dict torch can read ({exc}); save the model again."
        ) from exc
    try:
        module.load_state_dict(state)
    except RuntimeError as exc:
        raise ConfigError(
            f"The saved weights do not fit {spec} built with {config.get('init_kwargs')} "
            f"({exc}). Load with the version of the class the model was saved with."
        ) from exc
    return module.eval()


def _import_class(spec: str) -> Any:
    """The class named ``module:qualname``."""
    module_name, _, qualname = spec.partition(":")
    try:
        found: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(
            f"The pytorch model's class {spec!r} cannot be imported here ({exc}); install "
            "the package that defines it or put its folder on PYTHONPATH."
        ) from exc
    return found


def _dtype_name(dtype: object) -> str:
    """A torch/numpy dtype name such as ``"float32"``, checked."""
    import numpy as np

    try:
        parsed = np.dtype(str(dtype).removeprefix("torch."))
    except TypeError:
        parsed = None
    if parsed is None or parsed.kind not in "biuf":
        raise InvalidInputError(
            f"input_dtype must name a numeric dtype such as 'float32'; got {dtype!r}."
        )
    return parsed.name
