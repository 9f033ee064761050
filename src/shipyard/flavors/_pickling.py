"""Pickle a model and note which packages its pickle refers to, so they can be pinned."""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from shipyard.core.errors import ConfigError, CorruptedArtifactError

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "PICKLE_PROTOCOL",
    "PickledClassifier",
    "PickledPredictor",
    "dump_noting_modules",
    "load_pickle",
    "pickled_predictor",
]

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


def load_pickle(file: Path, requirements: list[str], missing: str) -> Any:
    """Unpickle a model file, turning what can go wrong into shipyard's errors.

    Args:
        file: The pickle.
        requirements: What the model was saved with, for the messages.
        missing: The message for a module that cannot be imported; ``{module}`` is
            replaced by its name.

    Raises:
        ConfigError: a module is missing, or the installed packages no longer match.
        CorruptedArtifactError: the file is not a readable pickle.
    """
    try:
        with file.open("rb") as handle:
            return pickle.load(handle)
    except ModuleNotFoundError as exc:
        raise ConfigError(missing.replace("{module}", repr(exc.name))) from exc
    except (AttributeError, ImportError, TypeError) as exc:
        raise ConfigError(
            f"{str(file)!r} does not unpickle with the packages installed here ({exc}); "
            f"install what the model was saved with: {requirements}"
        ) from exc
    except (pickle.UnpicklingError, EOFError) as exc:
        raise CorruptedArtifactError(
            f"{str(file)!r} is not a readable pickle ({exc}); save the model again."
        ) from exc


class PickledPredictor:
    """An unpickled model with ``predict``, answering numpy arrays."""

    def __init__(self, model: Any, classes: list[Any] | None) -> None:
        self.model = model
        self.classes = classes

    def predict(self, data: Any) -> np.ndarray:
        import numpy as np

        return np.asarray(self.model.predict(data))


class PickledClassifier(PickledPredictor):
    """An unpickled model that also gives class probabilities."""

    def predict_proba(self, data: Any) -> np.ndarray:
        import numpy as np

        return np.asarray(self.model.predict_proba(data))


def pickled_predictor(model: Any, config: Mapping[str, Any]) -> PickledPredictor:
    """The predictor for an unpickled model: a classifier when it was saved as one."""
    classes = config.get("classes")
    if config.get("predict_proba") and callable(getattr(model, "predict_proba", None)):
        return PickledClassifier(model, classes)
    return PickledPredictor(model, classes)
