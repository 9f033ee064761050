"""Flavors: how each kind of model is saved to a folder, loaded back, and called.

A flavor writes a model's files into an empty folder and returns a JSON-able config;
given the folder and that config, it loads a :class:`Predictor` in any process that has
the libraries :meth:`Flavor.requirements` pins::

    >>> import tempfile
    >>> from pathlib import Path
    >>> import pandas as pd
    >>> from shipyard.flavors import PythonModel, detect_flavor, get_flavor
    >>> class Doubler(PythonModel):
    ...     def predict(self, data):
    ...         return data["x"].to_numpy() * 2
    >>> flavor = detect_flavor(Doubler())
    >>> folder = Path(tempfile.mkdtemp())
    >>> config = flavor.save(Doubler(), folder)
    >>> get_flavor(config["flavor"]).load(folder, config).predict(pd.DataFrame({"x": [1, 2]}))
    array([2, 4])

The flavors (:data:`FLAVOR_NAMES`), in the order :func:`detect_flavor` tries them:

=========  ==========================================  =====================================
flavor     models                                      saved as
=========  ==========================================  =====================================
lightgbm   Booster, LGBMClassifier/Regressor/Ranker    LightGBM text model ``model.txt``
xgboost    Booster, XGBClassifier/Regressor/...        XGBoost UBJSON ``model.ubj``
pytorch    torch.nn.Module, ExportedProgram            ``torch.export`` program, or state_dict
onnx       ModelProto, its bytes, a .onnx path         ``model.onnx`` (run by onnxruntime)
sklearn    any scikit-learn estimator with predict     pickle, protocol 5
pyfunc     any other object with a predict method      cloudpickle, user code by value
=========  ==========================================  =====================================

Tabular flavors (``Flavor.tabular``) predict on a pandas DataFrame whose columns follow
the signature; pytorch and onnx take a numpy array or a numeric DataFrame. Importing
this package imports none of the model libraries: each flavor imports its own when it
saves or loads, and says which extra to install when it is missing.
"""

from shipyard.flavors._base import Flavor, Predictor
from shipyard.flavors._pyfunc import PythonModel
from shipyard.flavors._registry import FLAVOR_NAMES, detect_flavor, get_flavor

__all__ = [
    "FLAVOR_NAMES",
    "Flavor",
    "Predictor",
    "PythonModel",
    "detect_flavor",
    "get_flavor",
]
