"""A small table like the flight-delay features, and the pipeline the tests fit on it.

Shared by the registry and server tests (importable by name: ``tests/`` holds the root
conftest, so pytest puts it on the path).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder


def flights(n: int = 120, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    """``n`` rows of carrier, distance and temperature, and a learnable late/on-time label."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "carrier": rng.choice(["AA", "B6", "UA", "DL"], n),
            "distance": rng.integers(100, 2500, n),
            "temp": rng.normal(50, 15, n).round(1),
        }
    )
    late = (frame["temp"] < 45) | (frame["carrier"] == "B6")
    return frame, pd.Series(np.where(late, "late", "on_time"), name="status")


def delay_pipeline() -> Pipeline:
    """One-hot on the carrier, the numbers passed through, a logistic regression."""
    encode = ColumnTransformer(
        [("carrier", OneHotEncoder(handle_unknown="ignore"), ["carrier"])],
        remainder="passthrough",
    )
    return Pipeline([("encode", encode), ("model", LogisticRegression(max_iter=500))])
