"""XGBoost boosters and their scikit-learn wrappers, saved as XGBoost's UBJSON model."""

from __future__ import annotations

import importlib
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from shipyard.core.errors import CorruptedArtifactError, InvalidInputError
from shipyard.flavors._base import Flavor, Predictor, from_library, saved_file
from shipyard.flavors._deps import import_optional

if TYPE_CHECKING:
    import numpy as np

__all__ = ["XGBoostFlavor"]

_FILE = "model.ubj"


class XGBoostFlavor(Flavor):
    """``xgboost.Booster`` and the scikit-learn API (``XGBClassifier``, ``XGBRegressor``, ...).

    The booster is saved with ``Booster.save_model`` to ``model.ubj`` (feature names and
    types included). Loading rebuilds an ``xgboost.Booster`` and predicts as the original
    did: in-place prediction over the best iteration (when early stopping found one) with
    the model's ``missing`` value; classifiers give ``XGBClassifier``'s labels (class
    indices) and ``predict_proba``. Options: none.
    """

    name: ClassVar[str] = "xgboost"
    tabular: ClassVar[bool] = True
    modules: ClassVar[tuple[str, ...]] = ("xgboost", "numpy")

    @classmethod
    def detect(cls, model: object) -> bool:
        """Whether ``model`` comes from xgboost (checked before scikit-learn's flavor)."""
        return from_library(model, "xgboost")

    def _save(self, model: object, path: Path, options: dict[str, Any]) -> dict[str, Any]:
        xgb = import_optional("xgboost", flavor=self.name)
        config: dict[str, Any] = {"file": _FILE, "kind": "booster", "missing": None}
        iteration_range = (0, 0)
        if isinstance(model, xgb.Booster):
            booster = model
        elif isinstance(model, xgb.XGBModel):
            try:
                booster = model.get_booster()
            except (ValueError, AttributeError) as exc:  # NotFittedError, XGBoostError
                raise InvalidInputError(
                    f"Got an unfitted {type(model).__name__}; call fit() before saving it."
                ) from exc
            best = getattr(model, "best_iteration", None)
            if isinstance(best, int):  # set by early stopping; XGBModel.predict uses it
                iteration_range = (0, best + 1)
            missing = float(model.missing)
            config["missing"] = None if math.isnan(missing) else missing
            if isinstance(model, xgb.XGBClassifier):
                config.update(kind="classifier", n_classes=int(model.n_classes_))
                config["classes"] = list(range(config["n_classes"]))
            else:
                config["kind"] = "regressor"
        else:
            raise InvalidInputError(
                f"The xgboost flavor saves an xgboost.Booster or an XGBModel; got a "
                f"{type(model).__module__}.{type(model).__qualname__}."
            )
        learner = json.loads(booster.save_config())["learner"]
        booster_type = learner["gradient_booster"]["name"]
        booster.save_model(str(path / _FILE))
        config.update(
            objective=learner["objective"]["name"],
            booster=booster_type,
            iteration_range=[0, 0] if booster_type == "gblinear" else list(iteration_range),
            feature_names=booster.feature_names,
            feature_types=booster.feature_types,
        )
        return config

    def _load(self, path: Path, config: Mapping[str, Any]) -> Predictor:
        xgb = import_optional("xgboost", flavor=self.name)
        file = saved_file(path, config, _FILE, flavor=self.name)
        booster = xgb.Booster()
        try:
            booster.load_model(str(file))
        except xgb.core.XGBoostError as exc:
            raise CorruptedArtifactError(
                f"{str(file)!r} is not an XGBoost model XGBoost {xgb.__version__} can read "
                f"({exc}); save the model again."
            ) from exc
        if config.get("kind") == "classifier":
            return _XGBoostClassifier(booster, config)
        return _XGBoostPredictor(booster, config)


class _XGBoostPredictor:
    """A loaded booster: ``predict`` is what ``XGBModel.predict`` (or the booster) gives."""

    classes: list[Any] | None = None

    def __init__(self, booster: Any, config: Mapping[str, Any]) -> None:
        missing = config.get("missing")
        self.booster = booster
        self.objective = config.get("objective")
        self.missing = math.nan if missing is None else float(missing)
        self.iteration_range = tuple(config.get("iteration_range") or (0, 0))
        self.inplace = config.get("booster") != "gblinear"

    def _values(self, data: Any, *, margin: bool = False) -> np.ndarray:
        import numpy as np

        if self.inplace:
            try:
                return np.asarray(
                    self.booster.inplace_predict(
                        data,
                        iteration_range=self.iteration_range,
                        predict_type="margin" if margin else "value",
                        missing=self.missing,
                        validate_features=True,
                    )
                )
            except TypeError:  # sparse and other inputs in-place prediction refuses
                pass
        import xgboost as xgb

        matrix = xgb.DMatrix(
            data,
            missing=self.missing,
            feature_types=self.booster.feature_types,
            enable_categorical=True,
        )
        return np.asarray(
            self.booster.predict(matrix, iteration_range=self.iteration_range, output_margin=margin)
        )

    def predict(self, data: Any) -> np.ndarray:
        return self._values(data)


class _XGBoostClassifier(_XGBoostPredictor):
    """A loaded classifier: labels and probabilities as ``XGBClassifier`` computes them."""

    def __init__(self, booster: Any, config: Mapping[str, Any]) -> None:
        super().__init__(booster, config)
        self.n_classes = int(config["n_classes"])
        self.classes = list(range(self.n_classes))

    def predict(self, data: Any) -> np.ndarray:
        import numpy as np

        probs = self._values(data)
        if probs.ndim > 1 and self.n_classes != 2:
            return np.asarray(np.argmax(probs, axis=1))
        if probs.ndim > 1 and probs.shape[1] != 1:  # multi-label
            labels = np.zeros(probs.shape)
            labels[probs > 0.5] = 1
            return labels
        if self.objective == "multi:softmax":
            return probs.astype(np.int32)
        indexes = np.repeat(0, probs.shape[0])
        indexes[probs > 0.5] = 1
        return indexes

    def predict_proba(self, data: Any) -> np.ndarray:
        import numpy as np

        if self.objective == "multi:softmax":
            # XGBClassifier uses scipy's softmax here; scipy ships no type stubs.
            special = importlib.import_module("scipy.special")
            return np.asarray(special.softmax(self._values(data, margin=True), axis=1))
        probs = self._values(data)
        if probs.ndim == 2 and probs.shape[1] == self.n_classes:  # multi-class
            return probs
        if probs.ndim == 2 and self.n_classes == 2 and probs.shape[1] >= 2:  # multi-label
            return probs
        # Binary models give P(class 1); XGBClassifier stacks 1 - p beside it.
        return np.vstack((1.0 - probs, probs)).transpose()
