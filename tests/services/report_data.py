"""Realistic monitoring report dicts, in the shape the monitoring service returns.

A flight-delay classifier watched month by month: the weather columns drift with the
seasons, a canary takes traffic in the last windows, and labels arrive late.
"""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any

#: A column name that must come out escaped, never as markup.
EVIL = "<script>alert(1)</script>"

_NUMERIC = {"dep_delay": (12.0, 40.0), "distance": (1040.0, 730.0), "hour": (13.0, 4.5),
            "temp": (55.0, 17.0), "wind_speed": (10.5, 5.5), "precip": (0.004, 0.03)}  # fmt: skip
_CATEGORICAL = {
    "carrier": [
        "UA",
        "B6",
        "EV",
        "DL",
        "AA",
        "MQ",
        "US",
        "9E",
        "WN",
        "VX",
        "FL",
        "AS",
        "F9",
        "YV",
        "OO",
        "(other)",
    ],
    "origin": ["EWR", "JFK", "LGA"],
}
# How strongly each column moves away from the reference over the year.
_MOVEMENT = {"temp": 0.9, "wind_speed": 0.45, "dep_delay": 0.5, "carrier": 0.6, "hour": 0.1}


def _month(index: int) -> datetime:
    return datetime(2013 + index // 12, index % 12 + 1, 1, tzinfo=UTC)


def _shift(column: str, window: int, windows: int) -> float:
    strength = _MOVEMENT.get(column, 0.05)
    seasonal = math.sin(math.pi * (window + 1) / max(windows, 2)) ** 2
    return strength * (0.6 * seasonal + 0.5 * ((window + 1) / max(windows, 1)) ** 2)


def _normal_cdf(x: float) -> float:
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


def _numeric(column: str, window: int, windows: int, rng: random.Random) -> dict[str, Any]:
    """20 even bins between the reference's 1st and 99th percentiles, as core.drift makes them."""
    mean, std = _NUMERIC.get(column, (0.0, 1.0))
    shift = _shift(column, window, windows)
    zs = [-2.326 + 4.652 * i / 20 for i in range(21)]
    edges = [mean + std * z for z in zs]

    def fractions(offset: float, noise: float) -> list[float]:
        cdf = [_normal_cdf(z - offset) for z in zs]
        cdf[0], cdf[-1] = 0.0, 1.0  # the end bins take the tails
        raw = [(b - a) * (1 + rng.uniform(-noise, noise)) for a, b in pairwise(cdf)]
        return [r / sum(raw) for r in raw]

    reference, current = fractions(0.0, 0.0), fractions(shift, 0.05)
    distance = sum(abs(a - b) for a, b in zip(reference, current, strict=True)) / 2
    score = round(distance * 1.3, 4)
    return {
        "column": column, "kind": "numeric", "method": "wasserstein", "score": score,
        "threshold": 0.1, "drifted": score >= 0.1,
        "scores": {"ks": distance, "ks_p": math.exp(-200 * distance), "wasserstein": score,
                   "psi": distance * 0.8},
        "reference_rows": 250_000, "current_rows": 26_000 + 150 * window, "new_categories": [],
        "ks_error_bound": 0.004,
        "histogram": {"kind": "numeric", "edges": edges, "labels": [],
                      "reference": reference, "current": current},
    }  # fmt: skip


def _categorical(column: str, labels: list[str], window: int, windows: int) -> dict[str, Any]:
    shift = _shift(column, window, windows)
    reference = [1 / (i + 2) for i in range(len(labels))]
    reference = [r / sum(reference) for r in reference]
    current = [r * (1 + shift * (1 if i % 2 else -0.6)) for i, r in enumerate(reference)]
    current = [c / sum(current) for c in current]
    distance = math.sqrt(sum((a - b) ** 2 for a, b in zip(reference, current, strict=True)) / 2)
    p_value = math.exp(-400 * distance)
    method = "chi2" if column == "origin" else "jensenshannon"
    score = p_value if method == "chi2" else distance
    return {
        "column": column, "kind": "categorical", "method": method, "score": score,
        "threshold": 0.05 if method == "chi2" else 0.1,
        "drifted": score < 0.05 if method == "chi2" else score >= 0.1,
        "scores": {"chi2": 400 * distance, "chi2_p": p_value, "jensenshannon": distance},
        "reference_rows": 250_000, "current_rows": 26_000, "new_categories": [],
        "ks_error_bound": None,
        "histogram": {"kind": "categorical", "edges": [], "labels": list(labels),
                      "reference": reference, "current": current},
    }  # fmt: skip


def report_data(
    windows: int = 12,
    *,
    endpoint: str = "flight-delays",
    performance: bool = True,
    task: str = "classification",
    extra_columns: tuple[str, ...] = (),
    seed: int = 7,
) -> dict[str, Any]:
    """A report with ``windows`` monthly windows (oldest first) and the alerts they fired.

    Args:
        windows: How many windows.
        endpoint: The endpoint's name (not escaped: tests pass markup here).
        performance: Whether windows have labels (else ``performance`` is None everywhere).
        task: ``classification`` or ``regression``.
        extra_columns: More numeric columns (e.g. a name full of markup).
        seed: Seeds the small noise on the histograms.
    """
    rng = random.Random(seed)
    made: list[dict[str, Any]] = []
    every_alert: list[dict[str, Any]] = []
    for i in range(windows):
        start, end = _month(i), _month(i + 1)
        columns: dict[str, Any] = {}
        for column in [*_NUMERIC, *extra_columns]:
            columns[column] = _numeric(column, i, windows, rng)
        for column, labels in _CATEGORICAL.items():
            columns[column] = _categorical(column, labels, i, windows)
        if i == windows - 1:
            columns["carrier"]["new_categories"] = [
                "HA",
                *([EVIL] if EVIL in extra_columns else []),
            ]
        drifted = sum(c["drifted"] for c in columns.values())
        share = drifted / len(columns)
        prediction = _categorical("output.prediction", ["0", "1"], i, windows)
        prediction.update(method="jensenshannon", threshold=0.1)
        prediction["drifted"] = prediction["score"] >= 0.1
        proba = _numeric("output.proba.1", i, windows, rng)
        canary = i >= windows - 3
        requests = 26_000 + 400 * i + rng.randint(-900, 900)
        errors = rng.randint(0, 6) + (40 if i == windows - 2 else 0)
        p99 = 18 + 6 * math.sin(i) + (35 if i == windows - 2 else 0)
        versions = {"3": _ops("primary", requests * (0.9 if canary else 1), errors, 3.1, p99)}
        if canary:
            versions["4"] = _ops("canary", requests * 0.1, 1, 3.4, p99 * 1.1)
        labelled = int(requests * (0.96 if i < windows - 1 else 0.41))
        window: dict[str, Any] = {
            "start": start.isoformat(), "end": end.isoformat(), "rows": requests,
            "labelled": labelled if performance else 0, "versions": [3, 4] if canary else [3],
            "reference": {"model": endpoint, "version": 3},
            "drift": {"share": share, "threshold": 0.5, "drifted": share >= 0.5,
                      "columns": columns,
                      "prediction": {"output.prediction": prediction, "output.proba.1": proba}},
            "quality": {"columns": {name: _quality(name, i, rng) for name in columns},
                        "schema_violations": rng.randint(0, 4)},
            "performance": _performance(task, i, requests, labelled) if performance else None,
            "operations": {"requests": requests, "errors": errors, "error_rate": errors / requests,
                           "p50_ms": 3.1 + 0.1 * math.cos(i), "p95_ms": 8 + math.sin(i),
                           "p99_ms": p99, "versions": versions},
            "alerts": [],
        }  # fmt: skip
        window["alerts"] = _alerts(endpoint, window, len(every_alert))
        every_alert.extend(window["alerts"])
        made.append(window)
    return {
        "endpoint": endpoint,
        "generated_at": "2014-01-02T06:30:00+00:00",
        "windows": made,
        "alerts": every_alert,
    }


def _ops(role: str, requests: float, errors: int, p50: float, p99: float) -> dict[str, Any]:
    count = int(requests)
    return {"role": role, "requests": count, "errors": errors, "error_rate": errors / count,
            "p50_ms": p50, "p95_ms": p50 * 2.6, "p99_ms": p99}  # fmt: skip


def _quality(column: str, window: int, rng: random.Random) -> dict[str, Any]:
    missing = 0.002 + (0.03 if column == "temp" and window % 5 == 4 else rng.uniform(0, 0.004))
    categorical = column in _CATEGORICAL
    return {
        "missing_rate": missing, "reference_missing_rate": 0.002,
        "missing_rate_change": missing - 0.002,
        "out_of_range_rate": None if categorical else rng.choice([0.0, 0.0, 0.0004, 0.013]),
        "new_categories": ["HA"] if column == "carrier" and window % 4 == 3 else [],
        "constant": False,
    }  # fmt: skip


def _performance(task: str, window: int, requests: int, labelled: int) -> dict[str, Any]:
    decay = 0.004 * window
    if task == "regression":
        metrics = {
            "mae": 11.2 + 6 * decay,
            "rmse": 18.5 + 9 * decay,
            "mape": None,
            "r2": 0.41 - decay,
        }
        reference = {"mae": 11.0, "rmse": 18.1, "mape": None, "r2": 0.43}
    else:
        metrics = {"accuracy": 0.84 - decay, "precision": 0.71 - decay, "recall": 0.52 - 2 * decay,
                   "f1": 0.6 - decay * 1.5, "auc": 0.79 - decay * 1.4, "log_loss": 0.38 + decay,
                   "calibration_error": 0.02 + decay / 2}  # fmt: skip
        reference = {"accuracy": 0.845, "precision": 0.715, "recall": 0.53, "f1": 0.605,
                     "auc": 0.792, "log_loss": 0.377, "calibration_error": 0.018}  # fmt: skip
    return {"task": task, "label_coverage": labelled / requests, "labelled": labelled,
            "metrics": metrics, "reference": reference}  # fmt: skip


def _alerts(endpoint: str, window: dict[str, Any], first_id: int) -> list[dict[str, Any]]:
    checks = [
        ("drift_share > 0.3", "drift_share", window["drift"]["share"], 0.3),
        ("p99_ms > 50", "p99_ms", window["operations"]["p99_ms"], 50.0),
        ("error_rate > 0.001", "error_rate", window["operations"]["error_rate"], 0.001),
    ]
    fired = []
    for rule, metric, value, threshold in checks:
        if value > threshold:
            fired.append({
                "id": first_id + len(fired) + 1, "endpoint": endpoint,
                "window_start": window["start"], "window_end": window["end"], "rule": rule,
                "metric": metric, "value": value, "threshold": threshold,
                "message": f"{metric} is {value:.4g}, above {threshold:g} ({endpoint})",
                "created_at": window["end"],
                "delivered": [True, False, None][(first_id + len(fired)) % 3],
            })  # fmt: skip
    return fired
