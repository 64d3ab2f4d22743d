from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlharbor.data.schema import ColumnSchema, SemanticType
from mlharbor.errors import InvalidInputError
from mlharbor.models import Task, detect_task, parse_task


@pytest.mark.parametrize(
    ("values", "task"),
    [
        (["yes", "no", "yes"], Task.BINARY),
        ([0, 1, 1, 0], Task.BINARY),
        ([True, False, True], Task.BINARY),
        (["a", "b", "c"], Task.MULTICLASS),
        ([1, 2, 3, 2, 1], Task.MULTICLASS),
        (np.linspace(0, 1, 50), Task.REGRESSION),
        (list(range(40)), Task.REGRESSION),
    ],
)
def test_task_is_detected_from_the_target(values, task) -> None:
    found, reason = detect_task(pd.Series(values, name="y"))
    assert found == task and reason


def test_categorical_target_with_a_text_feature_is_a_text_task() -> None:
    text = ColumnSchema("review", "string", SemanticType.TEXT)
    assert detect_task(pd.Series(["a", "b"], name="y"), features=[text])[0] == Task.TEXT


@pytest.mark.parametrize(
    ("values", "message"),
    [([None, None], "all are missing"), (["x", "x", None], "single value")],
)
def test_unlearnable_targets_are_refused(values, message) -> None:
    with pytest.raises(InvalidInputError, match=message):
        detect_task(pd.Series(values, name="y", dtype=object))


def test_task_names_are_parsed_with_a_helpful_error() -> None:
    assert parse_task("Regression") is Task.REGRESSION
    with pytest.raises(InvalidInputError, match="valid tasks: binary"):
        parse_task("clustering")
