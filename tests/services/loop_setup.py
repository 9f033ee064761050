"""A small closed loop to test: a champion, its endpoint, labelled traffic and a pipeline.

The champion is a logistic regression that learned concept ``a`` (late when
``x1 + x2 > 0``); traffic follows concept ``a`` (the champion stays good) or ``b``
(``x1 - x2 > 0``: the champion is no better than a coin, a retrained model is). Traffic
goes through the real log writer and labels through ``log_feedback``, as a server and
its clients would write them. The training pipeline is a module written into the
project folder and referenced as ``module:pipeline``, as in shipyard.toml; its params
choose how it trains (well, on shuffled labels, failing, crashing, or a model that
breaks once served).
"""

from __future__ import annotations

import sys
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

import shipyard
from monitor_log import log_labels, log_predictions
from shipyard.core.policy import (
    GatePolicy,
    LoopPolicy,
    RetrainPolicy,
    RolloutPolicy,
    TrainingSpec,
    TriggerPolicy,
)

__all__ = [
    "DAY",
    "ENDPOINT",
    "FEATURES",
    "MODEL",
    "NOW",
    "TARGET",
    "Loop",
    "features",
    "loop_policy",
    "make_loop",
    "truth",
]

NOW = datetime(2024, 6, 1, tzinfo=UTC)
DAY = timedelta(days=1)
ENDPOINT = "scores"
MODEL = "scores"
FEATURES = ["x1", "x2", "x3"]
TARGET = "label"

#: The policy the tests start from: every threshold small enough for a few thousand rows.
TRIGGER: dict[str, Any] = {
    "drift_share": 0.5,
    "metric": "auc",
    "drop": 0.1,
    "min_labels": 50,
    "label_delay": "0s",
}
RETRAIN: dict[str, Any] = {"window": "23d", "min_rows": 200}
GATE: dict[str, Any] = {
    "metric": "auc",
    "margin": 0.0,
    "holdout": "7d",
    "guards": {"log_loss": 0.01},
    "min_rows": 100,
}
ROLLOUT: dict[str, Any] = {
    "percent": 50,
    "min_predictions": 200,
    "min_labels": 150,
    "test": "bootstrap",
    "metric": "auc",
    "max_duration": "7d",
}

PIPELINE_SOURCE = '''
"""Retrains the loop tests' model; ``mode`` says how."""

import numpy as np
from sklearn.linear_model import LogisticRegression

import shipyard


class Crash(BaseException):
    """The controller's process dies in the middle of a retrain."""


class BreaksWhenServed(shipyard.PythonModel):
    """A good classifier until it is loaded, which then raises on rows it did not train on.

    So the gate (the object in memory), registration and the server's warm-up (which
    run training rows through the loaded model) pass, and live requests fail.
    """

    def __init__(self, model, features):
        self.model = model
        self.classes_ = [int(c) for c in model.classes_]
        self.seen = {tuple(float(v) for v in row) for row in features.to_numpy()}
        self.loaded = False

    def load_context(self, path):
        self.loaded = True

    def _check(self, data):
        rows = {tuple(float(v) for v in row) for row in data.to_numpy()}
        if self.loaded and not rows <= self.seen:
            raise RuntimeError("the model broke once served")

    def predict(self, data):
        self._check(data)
        return self.model.predict(data)

    def predict_proba(self, data):
        self._check(data)
        return self.model.predict_proba(data)


def fit(data, target, mode):
    features = data.drop(columns=[target])
    labels = data[target].astype(int).to_numpy()
    if mode == "fail":
        raise ValueError("the training data has no usable rows")
    if mode == "crash":
        raise Crash("the controller was killed")
    if mode == "shuffled":
        labels = np.random.default_rng(7).permutation(labels)
    model = LogisticRegression().fit(features, labels)
    if mode == "breaks":
        return BreaksWhenServed(model, features)
    return model


def pipeline():
    return shipyard.pipeline(
        [shipyard.step(fit, inputs=["data", "params:target", "params:mode"], outputs="model")],
        name="scores-training",
    )
'''


def loop_policy(
    *,
    trigger: dict[str, Any] | None = None,
    retrain: dict[str, Any] | None = None,
    gate: dict[str, Any] | None = None,
    rollout: dict[str, Any] | None = None,
    **top: Any,
) -> LoopPolicy:
    """The tests' policy, with some fields of its parts changed."""
    return LoopPolicy(
        **{"every": "1d", "cooldown": "7d", "lease": "1h", **top},
        trigger=TriggerPolicy(**{**TRIGGER, **(trigger or {})}),
        retrain=RetrainPolicy(**{**RETRAIN, **(retrain or {})}),
        gate=GatePolicy(**{**GATE, **(gate or {})}),
        rollout=RolloutPolicy(**{**ROLLOUT, **(rollout or {})}),
    )


def features(n: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    """``n`` rows of three standard normal inputs, moved by ``shift``."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({name: rng.normal(shift, 1.0, n) for name in FEATURES})


def truth(frame: pd.DataFrame, concept: str, seed: int) -> np.ndarray[Any, Any]:
    """0/1 labels of concept ``a`` (``x1 + x2``) or ``b`` (``x1 - x2``), with some noise."""
    noise = np.random.default_rng(seed + 1_000).normal(0.0, 0.4, len(frame))
    sign = 1.0 if concept == "a" else -1.0
    score = frame["x1"] + sign * frame["x2"] + noise
    return (score > 0).astype(int).to_numpy()


@dataclass
class Loop:
    """A store with champion v1 of ``scores`` serving endpoint ``scores``, and a pipeline."""

    store: shipyard.Store
    champion: LogisticRegression
    module: str
    root: Path

    def training(self, mode: str = "good") -> TrainingSpec:
        """How the loop retrains ``scores``: the pipeline module, trained in ``mode``."""
        return TrainingSpec(
            pipeline=f"{self.module}:pipeline",
            target=TARGET,
            params={"target": TARGET, "mode": mode},
        )

    def log(
        self,
        start: datetime,
        days: float,
        per_day: int,
        *,
        seed: int,
        concept: str = "a",
        shift: float = 0.0,
        model: Any = None,
        version: int = 1,
        role: str = "primary",
        invert: bool = False,
        labelled: bool = True,
    ) -> list[str]:
        """Log ``per_day`` answers a day, evenly spread from ``start``, with their labels.

        ``model`` (default: the champion) answers; ``invert`` logs the opposite of its
        answers, as a broken version would have served them.
        """
        model = self.champion if model is None else model
        n = round(days * per_day)
        frame = features(n, seed, shift)
        step = days * 86_400 / n
        times = [start + timedelta(seconds=(i + 0.5) * step) for i in range(n)]
        proba = model.predict_proba(frame)
        if invert:
            proba = proba[:, ::-1]
        found = model.classes_ if hasattr(model, "classes_") else model.classes
        classes = [int(c) for c in found]
        predicted = np.asarray(classes)[proba.argmax(axis=1)]
        ids = log_predictions(
            self.store,
            ENDPOINT,
            MODEL,
            version,
            frame,
            times,
            predicted,
            proba,
            classes,
            role=role,
        )
        if labelled:
            log_labels(self.store, ENDPOINT, ids, truth(frame, concept, seed).tolist())
        return ids

    def close(self) -> None:
        """Forget the pipeline module, and the project folder load_pipeline put on the path."""
        sys.modules.pop(self.module, None)
        root = str(self.root.resolve())
        while root in sys.path:
            sys.path.remove(root)


def make_loop(store: shipyard.Store, target: str = f"{MODEL}/1") -> Loop:
    """Register champion v1 (concept ``a``) with its metrics, serve it, write the pipeline.

    ``target`` is what the endpoint serves: version 1, or ``scores@champion`` to follow
    an alias set on version 1.
    """
    frame = features(2_000, seed=0)
    labels = truth(frame, "a", seed=0)
    champion = LogisticRegression().fit(frame, labels)
    auc = float(roc_auc_score(labels, champion.predict_proba(frame)[:, 1]))
    shipyard.register_model(champion, MODEL, training_data=frame, metrics={"auc": auc}, store=store)
    shipyard.set_alias(MODEL, "champion", 1, store=store)
    shipyard.create_endpoint(ENDPOINT, target, store=store)
    root = Path(store.settings.project_dir)
    module = f"loop_training_{uuid.uuid4().hex[:10]}"
    (root / f"{module}.py").write_text(PIPELINE_SOURCE, encoding="utf-8")
    return Loop(store, champion, module, root)
