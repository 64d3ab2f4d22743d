"""The fast path's shortcuts give what the general code gives, on every kind of value."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlharbor.serving.fast import LoadedModel, json_labels
from mlharbor.values import jsonable

LABELS = [
    np.array(["yes", "no", "yes"], dtype=object),
    np.array(["yes", "no"]),  # NumPy strings
    np.array([0, 1, 2]),
    np.array([True, False]),
    np.array([1.5, -2.25, 0.0]),
    np.array([1.5, math.nan, math.inf]),
    np.array(["a", 1, None, 2.5, math.nan], dtype=object),
    np.array([np.str_("x"), np.int64(3), pd.Timestamp("2026-01-01")], dtype=object),
    np.array([], dtype=object),
]


@pytest.mark.parametrize("labels", LABELS, ids=lambda a: str(a.dtype) + str(len(a)))
def test_labels_are_what_jsonable_makes_of_them(labels: np.ndarray) -> None:
    expected = [jsonable(v) for v in labels.tolist()]
    got = json_labels(labels)
    assert got == expected
    assert [type(v) for v in got] == [type(v) for v in expected]


def _unseen_by_value(model: Any, features: dict[str, np.ndarray]) -> dict[str, list[str]]:
    """The check as written before the set difference: every distinct value in Python."""
    from mlharbor.serving.fast import _category, _is_missing

    out = {}
    for column, known in model.categories.items():
        distinct = set(features[column].tolist())
        new = [v for v in distinct if not _is_missing(v) and _category(v) not in known]
        if new:
            out[column] = sorted(map(str, new))[:10]
    return out


@pytest.mark.parametrize(
    "values",
    [
        ["paris", "lyon", "paris"],
        ["paris", "oslo", None, math.nan, "", "Paris"],
        [f"new{i}" for i in range(15)],
        [2.0, 3.0, 2, "2", math.nan],
        [None, None],
    ],
)
def test_unseen_categories_are_found_as_before(values: list[Any]) -> None:
    model = LoadedModel.__new__(LoadedModel)
    model.categories = {"city": frozenset({"paris", "lyon", "2"})}
    features = {"city": np.array(values, dtype=object)}
    assert model.unseen(features) == _unseen_by_value(model, features)
    assert model.unseen({"city": pd.Series(values, dtype=object)}) == _unseen_by_value(
        model, features
    )
