"""Learning tasks and how mlharbor tells them apart from the target column."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from mlharbor.data.schema import ColumnSchema, SemanticType
from mlharbor.data.tasks import MAX_INTEGER_CLASSES as MAX_INTEGER_CLASSES
from mlharbor.data.tasks import Task as Task
from mlharbor.data.tasks import parse_task as parse_task
from mlharbor.errors import InvalidInputError
from mlharbor.models.checks import classes_task


def detect_task(
    target: pd.Series,
    column: ColumnSchema | None = None,
    *,
    features: Iterable[ColumnSchema] = (),
) -> tuple[Task, str]:
    """Decide the task from the target's values and schema, saying why.

    Parameters
    ----------
    target : pandas.Series
        The target column (missing values are ignored).
    column : ColumnSchema, optional
        Its schema; a float or integer target with many values is regression, strings,
        booleans and categories are classification.
    features : iterable of ColumnSchema, optional
        The usable feature columns. Classification where at least half of them are free
        text (reviews, tickets, messages) is the ``text`` task; a text column among many
        others (a passenger's name) does not make it one.

    Returns
    -------
    (Task, str)
        The task and a sentence explaining the choice.

    Raises
    ------
    InvalidInputError
        The target is all missing or has a single value.

    Examples
    --------
    >>> import pandas as pd
    >>> detect_task(pd.Series(["a", "b", "a"]))[0]
    <Task.BINARY: 'binary'>
    """
    present = target.dropna()
    name = target.name
    if present.empty:
        raise InvalidInputError(f"target column {name!r} has no values: all are missing")
    n_classes = int(present.nunique())
    if n_classes < 2:
        raise InvalidInputError(
            f"target column {name!r} has a single value ({present.iloc[0]!r}); "
            "there is nothing to learn",
            target=name,
        )
    semantic = column.semantic_type if column is not None else None
    numeric = pd.api.types.is_numeric_dtype(present) and not pd.api.types.is_bool_dtype(present)
    if numeric and semantic not in (SemanticType.BOOLEAN, SemanticType.INTEGER_CATEGORICAL):
        values = present.to_numpy(dtype=float)
        integral = bool(np.all(np.mod(values, 1) == 0))
        if not (integral and n_classes <= MAX_INTEGER_CLASSES) and n_classes > 2:
            return Task.REGRESSION, f"numeric target with {n_classes} distinct values"
    return classes_task(n_classes, features, str(name))
