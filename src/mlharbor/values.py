"""Plain, JSON-ready Python values from what NumPy, pandas and estimators hand back.

One conversion for every layer that stores or sends such values (model parameters and
metrics in the registry, evaluation artifacts, prediction logs, WebSocket replies), so they
agree on what a NumPy scalar, a NaN or an unknown object becomes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np


def plain(value: Any) -> Any:
    """A NumPy scalar as the Python value it holds (``np.int64(3)`` → ``3``); anything else
    unchanged."""
    return value.item() if isinstance(value, np.generic) else value


def jsonable(value: Any) -> Any:
    """``value`` as JSON-ready Python: mappings (string keys) and lists of plain values.

    NumPy scalars and arrays become Python numbers and lists; a float that is not finite
    (NaN, infinity) becomes ``None``, which JSON can hold; any other object its text.

    Examples
    --------
    >>> jsonable({"alpha": np.float64(0.5), 1: (np.int64(2), float("nan"), len)})
    {'alpha': 0.5, '1': [2, None, '<built-in function len>']}
    """
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [jsonable(v) for v in value]
    value = plain(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)
