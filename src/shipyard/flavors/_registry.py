"""The known flavors, by name and in the order detection tries them."""

from __future__ import annotations

from shipyard.core.errors import InvalidInputError
from shipyard.flavors._base import Flavor
from shipyard.flavors._lightgbm import LightGBMFlavor
from shipyard.flavors._onnx import OnnxFlavor
from shipyard.flavors._pyfunc import PyfuncFlavor
from shipyard.flavors._pytorch import PyTorchFlavor
from shipyard.flavors._sklearn import SklearnFlavor
from shipyard.flavors._xgboost import XGBoostFlavor

__all__ = ["FLAVOR_NAMES", "detect_flavor", "get_flavor"]

_FLAVORS: dict[str, type[Flavor]] = {
    flavor.name: flavor
    for flavor in (
        SklearnFlavor,
        LightGBMFlavor,
        XGBoostFlavor,
        PyTorchFlavor,
        OnnxFlavor,
        PyfuncFlavor,
    )
}
#: Every flavor's name, as ``get_flavor`` takes it.
FLAVOR_NAMES: tuple[str, ...] = tuple(_FLAVORS)

# LightGBM's and XGBoost's scikit-learn wrappers are scikit-learn estimators too, and
# almost anything has a predict method: the specific flavors go first, pyfunc last.
_DETECTION_ORDER: tuple[type[Flavor], ...] = (
    LightGBMFlavor,
    XGBoostFlavor,
    PyTorchFlavor,
    OnnxFlavor,
    SklearnFlavor,
    PyfuncFlavor,
)


def get_flavor(name: str) -> Flavor:
    """The flavor called ``name``.

    Args:
        name: One of :data:`FLAVOR_NAMES`, e.g. ``"sklearn"``.

    Returns:
        The flavor.

    Raises:
        InvalidInputError: No flavor has that name.
    """
    flavor = _FLAVORS.get(name)
    if flavor is None:
        raise InvalidInputError(
            f"Unknown model flavor {name!r}; expected one of {', '.join(FLAVOR_NAMES)}."
        )
    return flavor()


def detect_flavor(model: object) -> Flavor:
    """The flavor that saves ``model``, found from its type without importing libraries.

    Args:
        model: A trained model.

    Returns:
        The first flavor in detection order (lightgbm, xgboost, pytorch, onnx, sklearn,
        pyfunc) that claims the model.

    Raises:
        InvalidInputError: No flavor can save the model.

    Example:
        >>> class Constant:
        ...     def predict(self, data):
        ...         return [0] * len(data)
        >>> detect_flavor(Constant()).name
        'pyfunc'
    """
    for flavor in _DETECTION_ORDER:
        if flavor.detect(model):
            return flavor()
    klass = type(model)
    raise InvalidInputError(
        f"Cannot tell how to save a {klass.__module__}.{klass.__qualname__}: it is not a "
        "scikit-learn estimator, a LightGBM or XGBoost model (Booster or scikit-learn API), "
        "a torch.nn.Module, or an ONNX model (ModelProto, bytes or a .onnx path), and it "
        "has no predict method. Wrap it in a class with predict(self, data) (for example "
        "a subclass of shipyard.flavors.PythonModel); the pyfunc flavor saves that."
    )
