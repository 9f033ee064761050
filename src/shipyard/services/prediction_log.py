"""The prediction log, read back: what each endpoint answered, joined with late labels.

The server appends every prediction to Parquet under the artifact store (through the
prediction log writer in ``shipyard.stores``); ground truth that arrives later is logged
as feedback, by the server's feedback route or by :func:`log_feedback` from a batch
job, and joined to the predictions by prediction id.

Example:
    >>> import shipyard
    >>> shipyard.log_feedback("flights", [{"prediction_id": "p1", "label": 1}])  # doctest: +SKIP
    1
    >>> frame = shipyard.prediction_log("flights", since="2024-05-01")  # doctest: +SKIP
    >>> frame[["prediction_id", "version", "output.prediction", "label"]]  # doctest: +SKIP
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from shipyard.core.errors import InvalidInputError
from shipyard.services._common import check_name, to_moment
from shipyard.services._context import get_default_store
from shipyard.stores import Store
from shipyard.stores._prediction_log import write_feedback
from shipyard.stores._prediction_log_read import read_predictions
from shipyard.stores._prediction_log_tables import ROLES

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["log_feedback", "prediction_log"]

_ITEM_KEYS = frozenset({"prediction_id", "label"})


def _roles(roles: str | Iterable[str] | None) -> list[str] | None:
    if roles is None:
        return None
    chosen = [roles] if isinstance(roles, str) else list(roles)
    unknown = [role for role in chosen if role not in ROLES]
    if unknown:
        raise InvalidInputError(
            f"roles must be among {', '.join(ROLES)}; got {', '.join(map(repr, unknown))}"
        )
    return chosen


def prediction_log(
    endpoint: str,
    since: datetime | date | str | None = None,
    until: datetime | date | str | None = None,
    *,
    roles: str | Iterable[str] | None = None,
    store: Store | None = None,
) -> pd.DataFrame:
    """The predictions an endpoint logged in ``[since, until)``, with their latest labels.

    Columns: ``prediction_id``, ``endpoint``, ``model``, ``version``, ``role``, ``ts``
    (UTC, when the request arrived), ``latency_ms``, ``status``, ``error``, one
    ``input.<column>`` per input (``input.tensor`` for tensor models),
    ``output.prediction``, ``output.proba.<class>`` for classifiers, then ``label`` and
    ``label_ts`` from the latest feedback for the prediction id (null when none came).
    Versions with different inputs share one table; a column a version lacks is null.

    Args:
        endpoint: the endpoint's name.
        since: the first moment to include (a datetime, naive meaning UTC, a date, or
            an ISO 8601 string); None: from the start.
        until: the first moment to leave out; None: up to now.
        roles: only these roles (``primary``, ``canary``, ``shadow``); None: all.
        store: where the log is (default: the default store).

    Returns:
        One row per prediction, oldest first; empty (with the fixed columns) when
        nothing was logged.

    Raises:
        InvalidInputError: a bad endpoint name, time, or role, or ``since`` after ``until``.
        StoreError: the log cannot be read.

    Example:
        >>> shipyard.prediction_log("flights", since="2024-05-01", roles="canary")  # doctest: +SKIP
    """
    check_name("endpoint", endpoint)
    start, end = to_moment("since", since), to_moment("until", until)
    if start is not None and end is not None and start > end:
        raise InvalidInputError(
            f"since ({start.isoformat()}) is after until ({end.isoformat()}); "
            "swap them, or leave one out"
        )
    chosen = _roles(roles)
    store = store if store is not None else get_default_store()
    return read_predictions(store.artifacts, endpoint, start, end, chosen, with_feedback=True)


def _label(index: int, value: object) -> object:
    if value is None:
        raise InvalidInputError(f"feedback item {index}: label is null; give the true value")
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()  # a NumPy scalar
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidInputError(f"feedback item {index}: label must be finite, got {value!r}")
    if isinstance(value, str | numbers.Real):
        return value
    raise InvalidInputError(
        f"feedback item {index}: label must be a string, number or boolean; "
        f"got {type(value).__name__}"
    )


def log_feedback(
    endpoint: str, items: Iterable[Mapping[str, Any]], *, store: Store | None = None
) -> int:
    """Record ground truth for earlier predictions now, without a server (for batch jobs).

    The labels are written as one feedback file at once; :func:`prediction_log` joins
    the latest label per prediction id.

    Args:
        endpoint: the endpoint that made the predictions.
        items: ``{"prediction_id": ..., "label": ...}`` dicts; a label is a string,
            number or boolean.
        store: where the log is (default: the default store).

    Returns:
        The number of labels written.

    Raises:
        InvalidInputError: a bad endpoint name, or an item that is not such a dict.
        StoreError: the artifact store refused the write.

    Example:
        >>> items = [{"prediction_id": "p1", "label": 0}]
        >>> shipyard.log_feedback("flights", items)  # doctest: +SKIP
        1
    """
    check_name("endpoint", endpoint)
    if isinstance(items, str | bytes | Mapping) or not isinstance(items, Iterable):
        raise InvalidInputError(
            "feedback items must be a list of {'prediction_id': ..., 'label': ...} dicts; "
            f"got {type(items).__name__}"
        )
    ids: list[str] = []
    labels: list[object] = []
    for index, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise InvalidInputError(
                f"feedback item {index} must be a dict with 'prediction_id' and 'label'; "
                f"got {type(item).__name__}"
            )
        keys = set(item)
        if keys != _ITEM_KEYS:
            missing, extra = sorted(_ITEM_KEYS - keys), sorted(map(str, keys - _ITEM_KEYS))
            raise InvalidInputError(
                f"feedback item {index} must have exactly 'prediction_id' and 'label'"
                + (f"; missing {', '.join(missing)}" if missing else "")
                + (f"; unexpected {', '.join(extra)}" if extra else "")
            )
        prediction_id = item["prediction_id"]
        if not isinstance(prediction_id, str) or not prediction_id.strip():
            raise InvalidInputError(
                f"feedback item {index}: prediction_id must be a non-empty string (the id a "
                f"prediction response returned); got {prediction_id!r}"
            )
        ids.append(prediction_id)
        labels.append(_label(index, item["label"]))
    store = store if store is not None else get_default_store()
    return write_feedback(store.artifacts, endpoint, ids, labels)
