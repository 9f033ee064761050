"""LightGBM boosters and their scikit-learn wrappers, saved as LightGBM's portable text model."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from shipyard.core.errors import CorruptedArtifactError, InvalidInputError
from shipyard.flavors._base import Flavor, Predictor, from_library, saved_file
from shipyard.flavors._convert import class_labels, labels_array
from shipyard.flavors._deps import import_optional

if TYPE_CHECKING:
    import numpy as np

__all__ = ["LightGBMFlavor"]

_FILE = "model.txt"
#: Parameters of the scikit-learn wrapper that change what Booster.predict computes.
_PREDICT_PARAMS = ("pred_early_stop", "pred_early_stop_freq", "pred_early_stop_margin")


class LightGBMFlavor(Flavor):
    """``lightgbm.Booster``, ``LGBMClassifier``, ``LGBMRegressor`` and ``LGBMRanker``.

    The booster is saved with ``Booster.save_model`` to ``model.txt`` (the best iteration
    when early stopping found one; pandas categories included). Loading rebuilds
    ``lightgbm.Booster(model_file=...)`` and answers as the original did: classifiers
    give labels from ``classes[argmax(proba)]`` and ``predict_proba`` exactly as
    ``LGBMClassifier`` computes them; boosters and regressors give ``Booster.predict``.
    Options: none.
    """

    name: ClassVar[str] = "lightgbm"
    tabular: ClassVar[bool] = True
    modules: ClassVar[tuple[str, ...]] = ("lightgbm", "numpy")

    @classmethod
    def detect(cls, model: object) -> bool:
        """Whether ``model`` comes from lightgbm (checked before scikit-learn's flavor)."""
        return from_library(model, "lightgbm")

    def _save(self, model: object, path: Path, options: dict[str, Any]) -> dict[str, Any]:
        lgb = import_optional("lightgbm", flavor=self.name)
        config: dict[str, Any] = {"file": _FILE, "kind": "booster", "predict_params": {}}
        if isinstance(model, lgb.Booster):
            booster = model
        elif isinstance(model, lgb.LGBMModel):
            try:
                booster = model.booster_
            except (ValueError, AttributeError) as exc:  # LGBMNotFittedError is both
                raise InvalidInputError(
                    f"Got an unfitted {type(model).__name__}; call fit() before saving it."
                ) from exc
            params = model.get_params()
            config["predict_params"] = {k: params[k] for k in _PREDICT_PARAMS if k in params}
            if isinstance(model, lgb.LGBMClassifier) and not callable(model.objective):
                classes = model.classes_
                config.update(
                    kind="classifier",
                    classes=class_labels(classes),
                    classes_dtype=str(classes.dtype),
                )
            elif not isinstance(model, lgb.LGBMClassifier):
                config["kind"] = "regressor"
        else:
            raise InvalidInputError(
                f"The lightgbm flavor saves a lightgbm.Booster or an LGBMModel; got a "
                f"{type(model).__module__}.{type(model).__qualname__}."
            )
        booster.save_model(str(path / _FILE))
        config["objective"] = _objective(path / _FILE)
        config["feature_names"] = list(booster.feature_name())
        config["pandas_categorical"] = booster.pandas_categorical is not None
        return config

    def _load(self, path: Path, config: Mapping[str, Any]) -> Predictor:
        lgb = import_optional("lightgbm", flavor=self.name)
        file = saved_file(path, config, _FILE, flavor=self.name)
        try:
            booster = lgb.Booster(model_file=str(file))
        except lgb.basic.LightGBMError as exc:
            raise CorruptedArtifactError(
                f"{str(file)!r} is not a LightGBM model LightGBM {lgb.__version__} can read "
                f"({exc}); save the model again."
            ) from exc
        params = dict(config.get("predict_params") or {})
        if config.get("kind") == "classifier":
            classes = list(config["classes"])
            return _LightGBMClassifier(booster, params, classes, config.get("classes_dtype"))
        return _LightGBMPredictor(booster, params)


class _LightGBMPredictor:
    """A loaded booster: ``predict`` is ``Booster.predict``."""

    classes: list[Any] | None = None

    def __init__(self, booster: Any, params: dict[str, Any]) -> None:
        self.booster = booster
        self.params = params

    def predict(self, data: Any) -> np.ndarray:
        import numpy as np

        return np.asarray(self.booster.predict(data, **self.params))


class _LightGBMClassifier(_LightGBMPredictor):
    """A loaded classifier: labels and probabilities as ``LGBMClassifier`` computes them."""

    def __init__(
        self, booster: Any, params: dict[str, Any], classes: list[Any], dtype: str | None
    ) -> None:
        super().__init__(booster, params)
        self.classes = classes
        self._labels = labels_array(classes, dtype)

    def predict(self, data: Any) -> np.ndarray:
        import numpy as np

        # LGBMClassifier.predict: the label of the most probable class, ties to the first.
        return np.asarray(self._labels[np.argmax(self.predict_proba(data), axis=1)])

    def predict_proba(self, data: Any) -> np.ndarray:
        import numpy as np

        result = np.asarray(self.booster.predict(data, **self.params))
        if len(self._labels) > 2:
            return result
        # Binary models give P(class 1); LGBMClassifier stacks 1 - p beside it.
        return np.vstack((1.0 - result, result)).transpose()


def _objective(file: Path) -> str | None:
    """The ``objective=`` line of a LightGBM text model's header."""
    with file.open(encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("objective="):
                return line.removeprefix("objective=").strip()
            if line.startswith("Tree="):
                break
    return None
