"""scikit-learn estimators and pipelines, pickled: the fastest cold load there is for them."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from shipyard.flavors._base import Flavor, Predictor, from_library, saved_file
from shipyard.flavors._convert import class_labels
from shipyard.flavors._deps import import_optional, pins
from shipyard.flavors._pickling import (
    PICKLE_PROTOCOL,
    dump_noting_modules,
    load_pickle,
    pickled_predictor,
)

if TYPE_CHECKING:
    pass

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
        missing = (
            f"Loading {str(file)!r} needs the module {{module}}, which is not installed; "
            f"install what the model was saved with: {self.requirements(config)}"
        )
        return pickled_predictor(load_pickle(file, self.requirements(config), missing), config)
