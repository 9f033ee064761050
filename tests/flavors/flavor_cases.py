"""Small, deterministic training data and real trained models, one builder per flavor case."""

from __future__ import annotations

import importlib.util
import sys
import textwrap
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
from flavor_fresh import require

N_ROWS = 300
CATEGORICAL = ["carrier", "origin"]
NUMERIC = ["distance", "hour"]


@dataclass
class Case:
    """A trained model, the batch to predict on, and what it predicted in this process."""

    flavor: str
    model: object
    data: Any
    predict: np.ndarray
    proba: np.ndarray | None = None
    classes: list[Any] | None = None
    options: dict[str, Any] = field(default_factory=dict)
    python_path: list[Path] = field(default_factory=list)
    absent: list[str] = field(default_factory=list)
    expect_config: dict[str, Any] = field(default_factory=dict)


@contextmanager
def single_threaded() -> Iterator[None]:
    """Train on one thread: OpenMP's spinning threads crawl on a busy two-core machine.

    (scikit-learn's HistGradientBoosting took 0.1 s alone and over 60 s beside another
    busy process, with two threads on two cores.)
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


def flights(n: int = N_ROWS, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Numeric and string columns, and a score the labels are cut from."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "distance": rng.uniform(100, 3000, n).round(1),
            "hour": rng.integers(0, 24, n),
            "carrier": rng.choice(["AA", "B6", "DL", "UA"], n),
            "origin": rng.choice(["EWR", "JFK", "LGA"], n),
        }
    )
    score = (
        frame["distance"].to_numpy() / 1000
        + (frame["hour"].to_numpy() > 17)
        + (frame["carrier"].to_numpy() == "B6") * 0.8
        - (frame["origin"].to_numpy() == "LGA") * 0.5
        + rng.normal(0, 0.4, n)
    )
    return frame, score


def three_classes(score: np.ndarray) -> np.ndarray:
    """String labels in three classes."""
    cuts = np.quantile(score, [1 / 3, 2 / 3])
    return np.where(score < cuts[0], "early", np.where(score < cuts[1], "on_time", "late"))


def with_categories(frame: pd.DataFrame) -> pd.DataFrame:
    """The string columns as pandas categoricals, as LightGBM and XGBoost take them."""
    return frame.astype(dict.fromkeys(CATEGORICAL, "category"))


def numeric_matrix(frame: pd.DataFrame) -> np.ndarray:
    """float32 features for the tensor models: scaled numbers and one-hot strings."""
    parts = [
        frame["distance"].to_numpy() / 1000,
        frame["hour"].to_numpy() / 24,
        *[(frame["carrier"] == c).to_numpy() for c in ("AA", "B6", "DL")],
    ]
    return np.column_stack(parts).astype(np.float32)


def sklearn_pipeline(tmp_path: Path) -> Case:
    """OneHotEncoder over string columns, numbers passed through, gradient boosting."""
    require("sklearn")
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    frame, score = flights()
    prep = ColumnTransformer(
        [("strings", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL)],
        remainder="passthrough",
    )
    model = Pipeline(
        [("prep", prep), ("gbm", HistGradientBoostingClassifier(max_iter=25, random_state=0))]
    )
    with single_threaded():
        model.fit(frame, three_classes(score))
    return Case(
        "sklearn",
        model,
        frame,
        model.predict(frame),
        model.predict_proba(frame),
        model.classes_.tolist(),
    )


def lightgbm_classifier(tmp_path: Path) -> Case:
    """A binary LGBMClassifier with string labels and pandas categorical columns."""
    lgb = require("lightgbm")
    frame, score = flights()
    data = with_categories(frame)
    labels = np.where(score > np.median(score), "late", "on_time")
    model = lgb.LGBMClassifier(
        n_estimators=30, num_leaves=8, min_child_samples=5, random_state=0, verbose=-1
    )
    with single_threaded():
        model.fit(data, labels)
    return Case(
        "lightgbm",
        model,
        data,
        model.predict(data),
        model.predict_proba(data),
        model.classes_.tolist(),
    )


def xgboost_classifier(tmp_path: Path) -> Case:
    """A three-class XGBClassifier on numeric and categorical columns."""
    xgb = require("xgboost")
    frame, score = flights()
    data = with_categories(frame)
    labels = pd.Series(three_classes(score)).map({"early": 0, "on_time": 1, "late": 2})
    model = xgb.XGBClassifier(
        n_estimators=20, max_depth=3, enable_categorical=True, tree_method="hist", random_state=0
    )
    with single_threaded():
        model.fit(data, labels.to_numpy())
    return Case("xgboost", model, data, model.predict(data), model.predict_proba(data), [0, 1, 2])


def torch_mlp(tmp_path: Path) -> Case:
    """A small MLP regressor with dropout, trained for a few steps."""
    torch = require("torch")
    frame, score = flights()
    features = numeric_matrix(frame)
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(features.shape[1], 16),
        torch.nn.ReLU(),
        torch.nn.Dropout(0.1),
        torch.nn.Linear(16, 1),
    )
    inputs, target = torch.from_numpy(features), torch.from_numpy(score.astype(np.float32))
    for _ in range(50):  # plain gradient descent: creating a torch.optim optimizer costs ~1.5 s
        model.zero_grad()
        torch.nn.functional.mse_loss(model(inputs).squeeze(1), target).backward()
        with torch.no_grad():
            for parameter in model.parameters():
                parameter -= 0.05 * parameter.grad
    model.eval()
    with torch.inference_mode():
        expected = model(inputs).numpy()
    return Case("pytorch", model, features, expected, options={"input_example": features[:5]})


def onnx_logistic(tmp_path: Path) -> Case:
    """A three-class LogisticRegression converted by skl2onnx, with its ZipMap output."""
    require("onnx")
    ort = require("onnxruntime")
    require("sklearn")
    skl2onnx = require("skl2onnx")
    from sklearn.linear_model import LogisticRegression

    frame, score = flights()
    features = numeric_matrix(frame)
    with single_threaded():
        sk_model = LogisticRegression(max_iter=500).fit(features, three_classes(score))
    model = skl2onnx.to_onnx(sk_model, features[:1])
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    labels, zipmap = session.run(None, {session.get_inputs()[0].name: features})
    classes = sk_model.classes_.tolist()
    proba = np.array([[row[c] for c in classes] for row in zipmap], dtype=np.float32)
    # A DataFrame of float64 columns: the flavor casts it to the graph's float32 input.
    data = pd.DataFrame(features.astype(np.float64), columns=[f"f{i}" for i in range(5)])
    return Case("onnx", model, data, labels, proba, classes)


#: Modules the tests write to files and import carry this prefix; fixtures remove them.
USER_MODULE_PREFIX = "shipyard_test_user_"


def import_file(folder: Path, stem: str, source: str) -> ModuleType:
    """Write ``source`` to ``folder/<prefix><stem>_<random>.py`` and import it by that name.

    The module is importable here (it is in sys.modules) but not in a fresh process,
    unless that process gets ``folder`` on its path.
    """
    name = f"{USER_MODULE_PREFIX}{stem}_{uuid.uuid4().hex[:8]}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.py"
    path.write_text(textwrap.dedent(source))
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def forget_user_modules() -> None:
    """Drop the modules ``import_file`` made from sys.modules."""
    for name in [n for n in sys.modules if n.startswith(USER_MODULE_PREFIX)]:
        del sys.modules[name]


TORCH_NET = """
import torch


class Net(torch.nn.Module):
    def __init__(self, n_in, hidden):
        super().__init__()
        self.hidden = torch.nn.Linear(n_in, hidden)
        self.out = torch.nn.Linear(hidden, 2)

    def forward(self, x):
        return self.out(torch.tanh(self.hidden(x)))
"""


def torch_state_dict(tmp_path: Path) -> Case:
    """A module whose class the loading process imports from its own PYTHONPATH."""
    torch = require("torch")
    code = tmp_path / "torchcode"
    module = import_file(code, "net", TORCH_NET)
    features = numeric_matrix(flights()[0])
    torch.manual_seed(1)
    model = module.Net(features.shape[1], 8).eval()
    with torch.inference_mode():
        expected = model(torch.from_numpy(features)).numpy()
    options = {"format": "state_dict", "init_kwargs": {"n_in": features.shape[1], "hidden": 8}}
    return Case(
        "pytorch",
        model,
        features,
        expected,
        options=options,
        python_path=[code],
        expect_config={"format": "state_dict", "class": f"{module.__name__}:Net"},
    )


CODE_MODEL = """
class Tariff:
    def __init__(self, per_km):
        self.per_km = per_km

    def predict(self, data):
        return data["distance"].to_numpy() * self.per_km
"""


def pyfunc_code_paths(tmp_path: Path) -> Case:
    """A class whose file travels as code (code_paths), pickled by reference."""
    module = import_file(tmp_path / "tariffs", "tariff", CODE_MODEL)
    frame, _ = flights()
    model = module.Tariff(0.12)
    return Case(
        "pyfunc",
        model,
        frame,
        model.predict(frame),
        options={"code_paths": [module.__file__]},
        absent=[module.__name__],
        expect_config={"by_value": [], "code_paths": [f"{module.__name__}.py"]},
    )
