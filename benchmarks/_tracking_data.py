"""Workload data shared by both halves of ``benchmarks/tracking.py``.

This module imports nothing outside the standard library, so the MLflow worker
(which runs in the peer's virtual environment, without shipyard) and the
shipyard half build exactly the same metric points, runs and query.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = [
    "METRIC_EXPERIMENT",
    "METRIC_KEYS",
    "SEARCH_EXPERIMENT",
    "SEARCH_FILTER",
    "SEARCH_MAX_RESULTS",
    "SEARCH_METRICS",
    "SEARCH_ORDER_BY",
    "RunSpec",
    "metric_points",
    "run_specs",
]

METRIC_EXPERIMENT = "bench-metrics"
SEARCH_EXPERIMENT = "bench"
METRIC_KEYS = 10
SEARCH_METRICS = 20
SEARCH_FILTER = "metrics.m0 > 0.5 and params.model = 'gbm'"
SEARCH_ORDER_BY = ["metrics.m1 DESC"]
SEARCH_MAX_RESULTS = 1000


@dataclass(frozen=True, slots=True)
class RunSpec:
    """One run of the search workload: its params, tags and one value per metric."""

    params: dict[str, str]
    tags: dict[str, str]
    metrics: dict[str, float]


def metric_points(n_points: int, seed: int = 7) -> list[tuple[str, float, int]]:
    """``(key, value, step)`` triples: ``METRIC_KEYS`` keys per step, step-major.

    This is the shape of a training loop that logs a few metrics every step.
    """
    rng = random.Random(seed)
    keys = [f"metric_{k}" for k in range(METRIC_KEYS)]
    steps = max(1, n_points // METRIC_KEYS)
    return [(key, rng.random(), step) for step in range(steps) for key in keys]


def run_specs(n_runs: int, seed: int = 11) -> list[RunSpec]:
    """``n_runs`` runs with metrics ``m0``..``m19`` in [0, 1) and a ``model`` param.

    Each run carries an ``idx`` tag (its position) so that the two tools' answers
    to the same query can be compared row by row.
    """
    rng = random.Random(seed)
    specs: list[RunSpec] = []
    for i in range(n_runs):
        params = {
            "model": "gbm" if rng.random() < 0.5 else "linear",
            "lr": rng.choice(["0.01", "0.03", "0.1", "0.3"]),
            "depth": str(rng.randint(2, 10)),
        }
        metrics = {f"m{j}": rng.random() for j in range(SEARCH_METRICS)}
        specs.append(RunSpec(params=params, tags={"idx": str(i)}, metrics=metrics))
    return specs
