"""The figures of one monitoring window: data quality and performance from late labels.

Data quality compares the window's profile with the reference profile column by column.
Performance scores the window's labelled predictions with scikit-learn's metrics; labels
arrive as text (feedback is stored as strings), so they are matched to the model's
classes by value: as numbers when every label and class reads as a number, else as text.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from shipyard.core.profiles import CategoricalProfile, ColumnProfile, NumericProfile

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import pyarrow as pa

__all__ = ["PROBA_PREFIX", "column_quality", "performance"]

PROBA_PREFIX = "output.proba."
PREDICTION = "output.prediction"
_CALIBRATION_BINS = 10
CLASSIFICATION_METRICS = (
    "accuracy",
    "precision",
    "recall",
    "f1",
    "auc",
    "log_loss",
    "calibration_error",
)
REGRESSION_METRICS = ("mae", "rmse", "mape", "r2")


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def column_quality(reference: ColumnProfile | None, current: ColumnProfile) -> dict[str, Any]:
    """Missing rate and its change, share outside the reference range, constancy."""
    missing = _rate(current.missing, current.rows)
    ref_missing = None if reference is None else _rate(reference.missing, reference.rows)
    out: dict[str, Any] = {
        "missing_rate": missing,
        "reference_missing_rate": ref_missing,
        "missing_rate_change": (
            None if missing is None or ref_missing is None else missing - ref_missing
        ),
        "out_of_range_rate": None,
        "new_categories": [],
        "constant": False,
    }
    if isinstance(current, NumericProfile):
        out["constant"] = current.count > 1 and current.min == current.max
        if isinstance(reference, NumericProfile) and reference.count and current.count:
            out["out_of_range_rate"] = _out_of_range(reference, current)
    elif isinstance(current, CategoricalProfile):
        out["constant"] = current.count > 1 and current.distinct == 1
        if isinstance(reference, CategoricalProfile) and reference.other == 0:
            known = {value for value, _ in reference.top}
            out["new_categories"] = sorted(v for v, _ in current.top if v not in known)
    return out


def _out_of_range(reference: NumericProfile, current: NumericProfile) -> float:
    """The share of the window's values below the reference minimum or above its maximum.

    Exact (zero) when the window's own range lies inside; otherwise read off the window's
    quantile sketch, within its rank error.
    """
    lo, hi = reference.min, reference.max
    if lo is None or hi is None or current.min is None or current.max is None:
        return 0.0
    if current.min >= lo and current.max <= hi:
        return 0.0
    below = float(current.cdf([lo], inclusive=False)[0])
    above = 1.0 - float(current.cdf([hi], inclusive=True)[0])
    return min(1.0, max(0.0, below + above))


# -- performance ----------------------------------------------------------------------------


def _as_number(text: Any) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _key(value: Any) -> str:
    """A label, prediction or class as one comparable text: 1, "1" and "1.0" match."""
    number = _as_number(value)
    return repr(number) if number is not None else str(value)


def performance(
    table: pa.Table,
    served_rows: int,
    reference: Mapping[str, float],
) -> dict[str, Any] | None:
    """Scores of the labelled rows of a window, overall and per version; None without labels.

    Args:
        table: the window's labelled rows: ``label``, ``version``, ``output.prediction``
            and the ``output.proba.<class>`` columns the log has.
        served_rows: the window's served rows, for the label coverage.
        reference: the reference version's recorded metrics, reported beside the live ones.
    """
    if table.num_rows == 0:
        return None
    proba_columns = [c for c in table.column_names if c.startswith(PROBA_PREFIX)]
    task = "classification" if proba_columns or _is_categorical(table) else "regression"
    overall = _scores(table, proba_columns, task)
    versions: dict[str, Any] = {}
    if "version" in table.column_names and len(set(table.column("version").to_pylist())) > 1:
        import pyarrow.compute as pc

        for version in sorted(set(table.column("version").to_pylist())):
            part = table.filter(pc.equal(table.column("version"), version))
            versions[str(version)] = {
                "labelled": part.num_rows,
                **_scores(part, proba_columns, task),
            }
    names = CLASSIFICATION_METRICS if task == "classification" else REGRESSION_METRICS
    return {
        "task": task,
        "labelled": table.num_rows,
        "label_coverage": _rate(table.num_rows, served_rows),
        "metrics": overall,
        "reference": {k: float(reference[k]) for k in names if k in reference},
        "versions": versions,
    }


def _is_categorical(table: pa.Table) -> bool:
    import pyarrow as pa

    if PREDICTION not in table.column_names:
        return True
    kind = table.schema.field(PREDICTION).type
    return not (pa.types.is_floating(kind) or pa.types.is_decimal(kind))


def _scores(table: pa.Table, proba_columns: list[str], task: str) -> dict[str, float | None]:
    labels = table.column("label").to_pylist()
    if task == "regression":
        return _regression(labels, table.column(PREDICTION).to_numpy(zero_copy_only=False))
    return _classification(table, labels, proba_columns)


def _regression(labels: list[Any], predicted: npt.NDArray[Any]) -> dict[str, float | None]:
    import numpy as np

    truth = np.array([_as_number(v) for v in labels], dtype=float)
    pred = np.asarray(predicted, dtype=float)
    keep = np.isfinite(truth) & np.isfinite(pred)
    truth, pred = truth[keep], pred[keep]
    if truth.size == 0:
        return dict.fromkeys(REGRESSION_METRICS)
    error = pred - truth
    nonzero = truth != 0
    r2 = None
    if truth.size > 1 and float(np.var(truth)) > 0:
        r2 = 1.0 - float(np.sum(error**2)) / float(np.sum((truth - truth.mean()) ** 2))
    return {
        "mae": float(np.mean(np.abs(error))),
        "rmse": float(np.sqrt(np.mean(error**2))),
        "mape": float(np.mean(np.abs(error[nonzero] / truth[nonzero]))) if nonzero.any() else None,
        "r2": r2,
    }


def _classification(
    table: pa.Table, labels: list[Any], proba_columns: list[str]
) -> dict[str, float | None]:
    import numpy as np
    from sklearn import metrics

    classes = [_key(c[len(PROBA_PREFIX) :]) for c in proba_columns]
    y = np.array([_key(v) for v in labels], dtype=object)
    out: dict[str, float | None] = dict.fromkeys(CLASSIFICATION_METRICS)
    if PREDICTION in table.column_names:
        p = np.array([_key(v) for v in table.column(PREDICTION).to_pylist()], dtype=object)
        out["accuracy"] = float(np.mean(y == p))
        if len(classes) == 2:  # the positive class is the last, as scikit-learn orders them
            options: dict[str, Any] = {"average": "binary", "pos_label": classes[1]}
        else:
            options = {"average": "macro", "labels": sorted(set(y) | set(p))}
        precision, recall, f1, _ = metrics.precision_recall_fscore_support(
            y.astype(str), p.astype(str), zero_division=0, **options
        )
        out["precision"], out["recall"], out["f1"] = float(precision), float(recall), float(f1)
    if classes:
        proba = np.column_stack(
            [table.column(c).to_numpy(zero_copy_only=False).astype(float) for c in proba_columns]
        )
        out.update(_probabilistic(y, classes, proba))
    return out


def _probabilistic(
    y: npt.NDArray[Any], classes: list[str], proba: npt.NDArray[np.float64]
) -> dict[str, float | None]:
    import numpy as np
    from sklearn import metrics

    index = {c: i for i, c in enumerate(classes)}
    known = np.array([v in index for v in y])
    if not known.any():
        return {}
    y_idx = np.array([index[v] for v in y[known]])
    proba = np.clip(proba[known], 0.0, 1.0)
    out: dict[str, float | None] = {}
    try:
        out["log_loss"] = float(metrics.log_loss(y_idx, proba, labels=list(range(len(classes)))))
    except ValueError:
        out["log_loss"] = None
    if len(set(y_idx.tolist())) < 2:
        out["auc"] = None  # undefined with one class
    elif len(classes) == 2:
        out["auc"] = float(metrics.roc_auc_score(y_idx == 1, proba[:, 1]))
    else:
        try:
            out["auc"] = float(
                metrics.roc_auc_score(
                    y_idx, proba, multi_class="ovr", labels=list(range(len(classes)))
                )
            )
        except ValueError:
            out["auc"] = None
    out["calibration_error"] = _calibration_error(y_idx, proba)
    return out


def _calibration_error(y_idx: npt.NDArray[Any], proba: npt.NDArray[np.float64]) -> float:
    """Expected calibration error over 10 equal-width bins.

    Binary: of the positive class's probability against the positive rate; more classes:
    of the top probability against the top class's accuracy.
    """
    import numpy as np

    if proba.shape[1] == 2:
        confidence, hit = proba[:, 1], (y_idx == 1).astype(float)
    else:
        top = proba.argmax(axis=1)
        confidence, hit = proba[np.arange(len(top)), top], (top == y_idx).astype(float)
    bins = np.minimum((confidence * _CALIBRATION_BINS).astype(int), _CALIBRATION_BINS - 1)
    counts = np.bincount(bins, minlength=_CALIBRATION_BINS)
    gap = np.abs(
        np.bincount(bins, weights=hit, minlength=_CALIBRATION_BINS)
        - np.bincount(bins, weights=confidence, minlength=_CALIBRATION_BINS)
    )
    return float(gap.sum() / counts.sum())
