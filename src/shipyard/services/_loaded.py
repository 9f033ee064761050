"""A loaded model: the flavor's predictor behind one interface that checks its inputs."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from shipyard.core.entities import ModelVersion
from shipyard.core.signature import Signature

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from shipyard.core.profiles import Profile
    from shipyard.flavors import Predictor

__all__ = ["LoadedModel"]


class LoadedModel:
    """A model ready to predict, whatever its flavor.

    Inputs are checked against the version's signature first (names, types, nulls; every
    problem reported at once) and handed to the model with the dtypes it was trained on.
    Columns the signature does not name are refused, or dropped when ``extra_columns``
    (the setting of the same name) is ``"ignore"``.

    Attributes:
        name: the registered model's name (None when loaded from a run or a folder).
        version: the version number (None when not loaded through the registry).
        flavor: how the model is saved and called (``sklearn``, ``pytorch``...).
        signature: the input and output schema, when one was recorded.
        model_version: the registry entry, when loaded through the registry.
        path: the folder the files were loaded from.
        uri: what it was loaded from.
    """

    def __init__(
        self,
        predictor: Predictor,
        manifest: dict[str, Any],
        path: Path,
        uri: str,
        model_version: ModelVersion | None = None,
        extra_columns: Literal["ignore", "refuse"] = "refuse",
    ) -> None:
        self._predictor = predictor
        self.manifest = manifest
        self.path = path
        self.uri = uri
        self.model_version = model_version
        self.flavor: str = manifest["flavor"]
        raw = manifest.get("signature")
        self.signature: Signature | None = None if raw is None else Signature.from_dict(raw)
        self.name: str | None = model_version.name if model_version else manifest.get("name")
        self.version: int | None = model_version.version if model_version else None
        self.extra_columns = extra_columns

    def __repr__(self) -> str:
        which = f"{self.name} v{self.version}" if self.version is not None else self.uri
        return f"<LoadedModel {which} ({self.flavor})>"

    @property
    def requirements(self) -> list[str]:
        """The pinned packages the flavor needs to load it."""
        return list(self.manifest.get("requirements", []))

    @property
    def classes(self) -> list[Any] | None:
        """The class labels of a classifier, in the order of ``predict_proba``'s columns."""
        found = getattr(self._predictor, "classes", None)
        return None if found is None else list(found)

    def prepare(self, data: Any) -> Any:
        """Check inputs against the signature and convert them to what the model takes.

        Raises:
            SchemaValidationError: listing each column, row, expected type and value.
        """
        from shipyard.core.signature import validate, validate_tensors

        if self.signature is None:
            return data
        schema = self.signature.inputs
        if schema.is_tensor:
            arrays = validate_tensors(schema, data)
            return next(iter(arrays.values())) if len(arrays) == 1 else arrays
        return validate(schema, data, extra=self.extra_columns)

    def predict(self, data: Any, *, validate: bool = True) -> np.ndarray[Any, Any]:
        """Predictions: class labels for a classifier, values for a regressor.

        Args:
            data: a DataFrame, a list of records, a dict of columns (or an array for
                tensor models).
            validate: check ``data`` against the signature first (skip only for data
                that :meth:`prepare` already returned).
        """
        import numpy as np

        ready = self.prepare(data) if validate else data
        return np.asarray(self._predictor.predict(ready))

    @property
    def predict_proba(self) -> Callable[..., np.ndarray[Any, Any]]:
        """Class probabilities, one column per class in ``classes`` order.

        Only classifiers whose flavor gives probabilities have it: ``hasattr(model,
        "predict_proba")`` tells.
        """
        raw = getattr(self._predictor, "predict_proba", None)
        if raw is None:
            raise AttributeError(f"this {self.flavor} model gives no probabilities; use predict()")

        def predict_proba(data: Any, *, validate: bool = True) -> np.ndarray[Any, Any]:
            import numpy as np

            ready = self.prepare(data) if validate else data
            return np.asarray(raw(ready))

        return predict_proba

    def input_example(self) -> pd.DataFrame | np.ndarray[Any, Any] | None:
        """The few training rows stored with the model, or None."""
        name = self.manifest.get("input_example")
        if not name:
            return None
        file = self.path / name
        if name.endswith(".npy"):
            import numpy as np

            array: np.ndarray[Any, Any] = np.load(file, allow_pickle=False)
            return array
        import pandas as pd

        return pd.read_parquet(file)

    def reference_profiles(self) -> dict[str, Profile]:
        """The profiles of the training inputs and of the model's outputs on them.

        Keys are ``"inputs"`` and ``"outputs"``; either may be missing.
        """
        from shipyard.core.profiles import Profile

        name = self.manifest.get("reference_profile")
        if not name:
            return {}
        raw = json.loads((self.path / name).read_text())
        return {key: Profile.from_dict(value) for key, value in raw.items()}
