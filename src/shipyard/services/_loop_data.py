"""The loop's data: labelled traffic from the prediction log, and models scored on it.

Retraining, the gate and the canary verdict all read the same thing: the rows an
endpoint answered (primary or canary, status 200) whose label has come back, with the
inputs as the model saw them.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from shipyard.services._monitor_figures import PROBA_PREFIX, score_table
from shipyard.services.prediction_log import prediction_log
from shipyard.stores import Store

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

__all__ = ["LabelledFrame", "labelled_traffic", "model_table", "scores"]

_INPUT = "input."


class LabelledFrame:
    """Inputs and labels of answered, labelled predictions, plus the log's own columns."""

    def __init__(self, log: pd.DataFrame) -> None:
        self.log = log.reset_index(drop=True)

    def __len__(self) -> int:
        return len(self.log)

    def features(self, columns: list[str] | None = None) -> pd.DataFrame:
        """The inputs, named as the model's signature names them."""
        names = [c for c in self.log.columns if c.startswith(_INPUT)]
        frame = self.log[names].rename(columns=lambda c: c[len(_INPUT) :])
        if columns is not None:
            present = [c for c in columns if c in frame.columns]
            frame = frame[present]
        return frame

    @property
    def labels(self) -> pd.Series:
        """The labels, in the rows' order."""
        return self.log["label"]

    def served_table(self) -> pa.Table:
        """``label``, ``output.prediction`` and ``output.proba.*``: what was answered."""
        import pyarrow as pa

        keep = ["label", "output.prediction"] + [
            c for c in self.log.columns if c.startswith(PROBA_PREFIX)
        ]
        present = [c for c in keep if c in self.log.columns]
        return pa.Table.from_pandas(self.log[present], preserve_index=False)


def labelled_traffic(
    store: Store,
    endpoint: str,
    since: datetime | None,
    until: datetime | None,
    *,
    roles: tuple[str, ...] = ("primary", "canary"),
    labelled: bool = True,
) -> LabelledFrame:
    """The answered predictions of ``[since, until)`` (with labels only, by default)."""
    log = prediction_log(endpoint, since, until, roles=list(roles), store=store)
    keep = log["status"] == 200
    if labelled:
        keep &= log["label"].notna()
    return LabelledFrame(log[keep])


def model_table(model: Any, ready: pd.DataFrame, labels: pd.Series) -> pa.Table:
    """A model's answers on prepared inputs, in the log's shape, beside the true labels.

    ``model`` is a :class:`LoadedModel` or the trained object itself (a scikit-learn
    style estimator with ``predict`` and, for a classifier, ``predict_proba`` and
    ``classes_``); ``ready`` has already been checked against the signature.
    """
    import numpy as np
    import pyarrow as pa

    from shipyard.services._loaded import LoadedModel

    loaded = isinstance(model, LoadedModel)
    options: dict[str, Any] = {"validate": False} if loaded else {}
    classes = model.classes if loaded else getattr(model, "classes_", None)
    columns: dict[str, Any] = {"label": pa.array(list(labels))}
    if classes is not None and hasattr(model, "predict_proba"):
        proba = np.asarray(model.predict_proba(ready, **options), dtype=float)
        picked = np.asarray(list(classes), dtype=object)[proba.argmax(axis=1)]
        columns["output.prediction"] = pa.array([_plain(v) for v in picked])
        for i, label in enumerate(classes):
            columns[f"{PROBA_PREFIX}{_plain(label)}"] = pa.array(proba[:, i])
    else:
        predicted = np.asarray(model.predict(ready, **options))
        columns["output.prediction"] = pa.array(predicted.tolist())
    return pa.table(columns)


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def scores(table: pa.Table) -> dict[str, float]:
    """The defined scores of labelled rows (undefined ones, such as a one-class AUC, left out)."""
    return {k: float(v) for k, v in score_table(table).items() if v is not None}
