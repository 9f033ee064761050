"""Schema-free looks at raw values: their type, whether null, how a message shows them."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

__all__: list[str] = []


def _type_name(value: object) -> str:
    kind = type(value)
    module = kind.__module__.split(".")[0]
    return kind.__name__ if module == "builtins" else f"{module}.{kind.__name__}"


def _describe(value: object) -> str:
    """A short, safe rendering of a request value: ``'abc' (str)``, ``null``."""
    if _is_null(value):
        return "null"
    text = repr(value)
    if len(text) > 40:
        text = text[:37] + "..."
    return f"{text} ({type(value).__name__})"


def _is_null(value: object) -> bool:
    import pandas as pd

    try:
        result = pd.isna(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return False
    return isinstance(result, bool) and result


def _is_number(value: object) -> bool:
    import numpy as np

    return isinstance(value, int | float | Decimal | np.integer | np.floating) and not isinstance(
        value, bool | np.bool_
    )


def _is_bool(value: object) -> bool:
    import numpy as np

    return isinstance(value, bool | np.bool_)


def _is_arrow(data: object) -> bool:
    return type(data).__module__.startswith("pyarrow") and hasattr(data, "schema")


def _object_array(values: Sequence[Any]) -> Any:
    """A 1-D object array of exactly these values, even when values are lists."""
    import numpy as np

    array = np.empty(len(values), dtype=object)
    try:
        array[:] = values
    except (ValueError, TypeError):
        for i, value in enumerate(values):
            array[i] = value
    return array
