"""scikit-learn estimators and pipelines, pickled: the fastest cold load there is for them."""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from shipyard.core.errors import ConfigError, CorruptedArtifactError
from shipyard.flavors._base import Flavor, Predictor, from_library, saved_file
from shipyard.flavors._convert import class_labels
from shipyard.flavors._deps import import_optional, pins
from shipyard.flavors._pickling import PICKLE_PROTOCOL, dump_noting_modules

if TYPE_CHECKING:
    import numpy as np

__all__ = ["SklearnFlavor"]

_FILE = "model.pkl"


class SklearnFlavor(Flavor):
    """Any scikit-learn estimator with a ``predict`` method, Pipelines included.

    Saved with pickle (protocol 5) to ``model.pkl``; the requirements pin every installed
    package the pickle refers to. Options: none.
    """

    name: ClassVar[str] = "sklearn"
    tabular: ClassVar[bool] = True
    modules: ClassVar[tuple[str, ...]] = ("sklearn", "numpy")

    @classmethod
    def detect(cls, model: object) -> bool:
        """Whether ``model`` is a scikit-learn estimator (by its classes' modules) that predicts."""
        return from_library(model, "sklearn") and callable(getattr(model, "predict", None))

    def _save(self, model: object, path: Path, options: dict[str, Any]) -> dict[str, Any]:
        with (path / _FILE).open("wb") as file:
            referenced = dump_noting_modules(model, file, protocol=PICKLE_PROTOCOL)
        return {
            "file": _FILE,
            "pickle_protocol": PICKLE_PROTOCOL,
            "predict_proba": callable(getattr(model, "predict_proba", None)),
            "classes": class_labels(getattr(model, "classes_", None)),
            "requirements": pins({*self.modules, *referenced}),
        }

    def _load(self, path: Path, config: Mapping[str, Any]) -> Predictor:
        import_optional("sklearn", flavor=self.name)
        file = saved_file(path, config, _FILE, flavor=self.name)
        try:
            with file.open("rb") as handle:
                model = pickle.load(handle)
        except ModuleNotFoundError as exc:
            raise ConfigError(
                f"Loading {str(file)!r} needs the module {exc.name!r}, which is not installed; "
                f"install what the model was saved with: {self.requirements(config)}"
            ) from exc
        except (AttributeError, ImportError, TypeError) as exc:
            raise ConfigError(
                f"{str(file)!r} does not unpickle with the packages installed here ({exc}); "
                f"install what the model was saved with: {self.requirements(config)}"
            ) from exc
        except (pickle.UnpicklingError, EOFError) as exc:
            raise CorruptedArtifactError(
                f"{str(file)!r} is not a readable pickle ({exc}); save the model again."
            ) from exc
        classes = config.get("classes")
        if config.get("predict_proba") and callable(getattr(model, "predict_proba", None)):
            return _SklearnClassifier(model, classes)
        return _SklearnPredictor(model, classes)


class _SklearnPredictor:
    """A loaded estimator that predicts."""

    def __init__(self, model: Any, classes: list[Any] | None) -> None:
        self.model = model
        self.classes = classes

    def predict(self, data: Any) -> np.ndarray:
        import numpy as np

        return np.asarray(self.model.predict(data))


class _SklearnClassifier(_SklearnPredictor):
    """A loaded estimator that also gives class probabilities."""

    def predict_proba(self, data: Any) -> np.ndarray:
        import numpy as np

        return np.asarray(self.model.predict_proba(data))
