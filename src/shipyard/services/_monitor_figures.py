"""The figures of one monitoring window: data quality and performance from late labels.

Data quality compares the window's profile with the reference profile column by column.
Performance scores the window's labelled predictions with scikit-learn's metrics; labels
arrive as text (feedback is stored as strings), so they are matched to the model's
classes by value: as numbers when every label and class reads as a number, else as text.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from shipyard.core.profiles import CategoricalProfile, ColumnProfile, NumericProfile

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import pyarrow as pa

__all__ = ["PROBA_PREFIX", "column_quality", "label_key", "performance", "score_table"]

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


def label_key(value: Any) -> str:
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
    import pyarrow.compute as pc

    served: list[Any] = []
    if "version" in table.column_names:
        served = [v for v in pc.unique(table.column("version")).to_pylist() if v is not None]
    if len(served) > 1:
        for version in sorted(served):
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
        "reference": _reference(reference, names),
        "versions": versions,
    }


#: Names a version's metrics may use for the same figure.
_ALIASES = {"roc_auc": "auc"}


def _reference(recorded: Mapping[str, float], names: Sequence[str]) -> dict[str, float]:
    """The version's recorded metrics that monitoring also computes, by monitoring's names."""
    found = {_ALIASES.get(k, k): float(v) for k, v in recorded.items() if k in _ALIASES}
    found.update({k: float(recorded[k]) for k in names if k in recorded})
    return {k: v for k, v in found.items() if k in names}


def _is_categorical(table: pa.Table) -> bool:
    import pyarrow as pa

    if PREDICTION not in table.column_names:
        return True
    kind = table.schema.field(PREDICTION).type
    return not (pa.types.is_floating(kind) or pa.types.is_decimal(kind))


def _codes(column: pa.ChunkedArray, index: dict[str, int]) -> npt.NDArray[np.int64]:
    """Each value's code in ``index`` (new keys are added), computed once per distinct value."""
    import numpy as np
    import pyarrow as pa

    encoded = column.combine_chunks()
    if not pa.types.is_dictionary(encoded.type):
        encoded = encoded.dictionary_encode()
    keys = [label_key(v) for v in encoded.dictionary.to_pylist()]
    lookup = np.array([index.setdefault(k, len(index)) for k in keys] + [-1], dtype=np.int64)
    positions = encoded.indices.fill_null(len(keys)).to_numpy(zero_copy_only=False)
    codes: npt.NDArray[np.int64] = lookup[positions]
    return codes


def score_table(table: pa.Table) -> dict[str, float | None]:
    """The scores of labelled rows (``label``, ``output.prediction``, ``output.proba.*``).

    The same figures monitoring computes, so the loop's gate and canary compare models
    in the units a window reports.
    """
    proba_columns = [c for c in table.column_names if c.startswith(PROBA_PREFIX)]
    task = "classification" if proba_columns or _is_categorical(table) else "regression"
    return _scores(table, proba_columns, task)


def _scores(table: pa.Table, proba_columns: list[str], task: str) -> dict[str, float | None]:
    if task == "regression":
        labels = table.column("label").to_pylist()
        return _regression(labels, table.column(PREDICTION).to_numpy(zero_copy_only=False))
    return _classification(table, proba_columns)


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


def _classification(table: pa.Table, proba_columns: list[str]) -> dict[str, float | None]:
    """Scores on integer codes: the model's classes first, then any other value seen.

    A binary classifier's precision, recall and F1 are those of its positive class (the
    second, as scikit-learn orders classes), also when a label outside both classes
    came back; with more classes they are macro averages over the values seen.
    """
    import numpy as np
    from sklearn import metrics

    index: dict[str, int] = {}
    for column in proba_columns:
        index.setdefault(label_key(column[len(PROBA_PREFIX) :]), len(index))
    classes = len(index)
    y = _codes(table.column("label"), index)
    out: dict[str, float | None] = dict.fromkeys(CLASSIFICATION_METRICS)
    if PREDICTION in table.column_names:
        p = _codes(table.column(PREDICTION), index)
        out["accuracy"] = float(np.mean(y == p))
        if classes == 2:
            chosen = [1]
        else:
            chosen = sorted(set(np.unique(y).tolist()) | set(np.unique(p).tolist()))
        precision, recall, f1, _ = metrics.precision_recall_fscore_support(
            y, p, labels=chosen, average="macro", zero_division=0
        )
        out["precision"], out["recall"], out["f1"] = float(precision), float(recall), float(f1)
    if classes:
        proba = np.column_stack(
            [table.column(c).to_numpy(zero_copy_only=False).astype(float) for c in proba_columns]
        )
        out.update(_probabilistic(y, classes, proba))
    return out


def _probabilistic(
    y: npt.NDArray[np.int64], classes: int, proba: npt.NDArray[np.float64]
) -> dict[str, float | None]:
    """Log loss, ROC AUC and calibration on the rows with a known label and probabilities.

    Rows whose label is none of the model's classes, or that were logged without
    probabilities (a version without them, sharing the window), are left out.
    """
    import numpy as np
    from sklearn import metrics

    keep = (y < classes) & np.isfinite(proba).all(axis=1)
    if not keep.any():
        return {}
    y_idx, proba = y[keep], np.clip(proba[keep], 0.0, 1.0)
    out: dict[str, float | None] = {"auc": None}
    try:
        out["log_loss"] = float(metrics.log_loss(y_idx, proba, labels=list(range(classes))))
    except ValueError:
        out["log_loss"] = None
    if len(np.unique(y_idx)) >= 2:  # undefined with one class
        try:
            if classes == 2:
                out["auc"] = float(metrics.roc_auc_score(y_idx == 1, proba[:, 1]))
            else:
                out["auc"] = float(
                    metrics.roc_auc_score(
                        y_idx, proba, multi_class="ovr", labels=list(range(classes))
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
