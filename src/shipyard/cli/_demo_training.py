"""The demo model's training pipeline: the loop retrains the champion with it.

``shipyard demo`` declares it as ``[models.flight-delays] pipeline =
"shipyard.cli._demo_training:pipeline"``; the steps are plain functions wired by name,
so a step whose inputs did not change is not run again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shipyard.services.pipelines import Pipeline, step
from shipyard.services.pipelines import pipeline as make_pipeline

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["gbm", "pipeline", "split"]


def split(data: pd.DataFrame, target: str) -> tuple[pd.DataFrame, pd.Series]:
    """The features and the label column."""
    return data.drop(columns=[target]), data[target]


def gbm(
    features: pd.DataFrame, labels: pd.Series, learning_rate: float, max_iter: int, seed: int
) -> Any:
    """Gradient-boosted trees with native categorical splits."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    model = HistGradientBoostingClassifier(
        learning_rate=learning_rate,
        max_iter=max_iter,
        max_leaf_nodes=31,
        categorical_features="from_dtype",
        early_stopping=False,
        random_state=seed,
    )
    return model.fit(features, labels)


def pipeline() -> Pipeline:
    """Split the labelled data, then fit the booster."""
    return make_pipeline(
        [
            step(split, inputs=["data", "params:target"], outputs=["features", "labels"]),
            step(
                gbm,
                inputs=[
                    "features",
                    "labels",
                    "params:learning_rate",
                    "params:max_iter",
                    "params:seed",
                ],
                outputs="model",
            ),
        ],
        name="flight-delays-training",
    )
