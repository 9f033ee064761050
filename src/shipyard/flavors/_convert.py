"""Conversions the flavors share: class labels to and from JSON, input batches to matrices."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shipyard.core.errors import InvalidInputError

if TYPE_CHECKING:
    import numpy as np

__all__ = ["as_matrix", "class_labels", "labels_array"]


def class_labels(classes: Any) -> list[Any] | None:
    """Class labels as plain JSON-able Python values (``classes_.tolist()``), or None."""
    if classes is None or isinstance(classes, str | bytes):
        return None
    tolist = getattr(classes, "tolist", None)
    try:
        labels = tolist() if callable(tolist) else list(classes)
    except TypeError:  # not a sequence of labels (a method called ``classes``, say)
        return None
    return labels if isinstance(labels, list) else None


def labels_array(classes: list[Any], dtype: str | None) -> np.ndarray:
    """The labels ``class_labels`` gave, back as an array of their original dtype."""
    import numpy as np

    return np.asarray(classes, dtype=np.dtype(dtype) if dtype else None)


def as_matrix(data: Any, dtype: Any, *, flavor: str) -> np.ndarray:
    """A numeric batch as a numpy array of ``dtype``, for models that take tensors.

    Args:
        data: A numpy array, a pandas DataFrame of numeric columns, or nested lists.
        dtype: The dtype the model takes, e.g. ``"float32"``.
        flavor: The flavor asking, named in the error.

    Returns:
        The batch as an array of ``dtype`` (no copy when it already is one).

    Raises:
        InvalidInputError: The batch has columns or values that are not numbers.
    """
    import numpy as np

    to_numpy = getattr(data, "to_numpy", None)
    try:
        if callable(to_numpy):
            return np.asarray(to_numpy(dtype=dtype))
        return np.asarray(data, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(
            f"The {flavor} flavor takes a numeric array or a DataFrame of numeric columns, "
            f"converted to {np.dtype(dtype).name}; got a {type(data).__name__} that does not "
            f"convert ({exc}). Encode non-numeric columns before predicting."
        ) from exc
