"""The learning problem of a table: its target, the rows that have one, the features, the task.

Training one model, the AutoML search, the checks made before an AutoML job is queued and
the ML-Hub ``pre-processing`` event all start from the same question; :func:`resolve_problem`
answers it once, so they cannot drift apart (which rows count, which columns are features,
which task a target makes).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mlharbor.data.schema import ColumnSchema, DatasetSchema
from mlharbor.errors import InvalidInputError, NotFoundError
from mlharbor.models.tasks import Task, detect_task, parse_task
from mlharbor.prep.plan import FeaturePlan, plan_features


@dataclass
class Problem:
    """What is learnt from a table, resolved by :func:`resolve_problem`.

    Attributes
    ----------
    target : str
        The column to predict.
    rows : pandas.DataFrame
        The rows that have a target (index reset).
    plan : FeaturePlan
        Which columns are features, with which treatment, and why the others are not.
    task, task_reason : Task, str
        The task (detected or forced) and why.
    notes : list of str
        What a user should know (rows without a target left out).
    """

    target: str
    rows: pd.DataFrame
    plan: FeaturePlan
    task: Task
    task_reason: str
    notes: list[str] = field(default_factory=list)

    @property
    def features(self) -> list[str]:
        """The feature columns, in the dataset's order."""
        return self.plan.features

    @property
    def X(self) -> pd.DataFrame:
        """The feature columns of the rows with a target."""
        return self.rows[self.plan.features]

    @property
    def y(self) -> np.ndarray:
        """The target of those rows, as the models learn it (see :func:`target_values`)."""
        return target_values(self.rows[self.target], self.task)

    @property
    def n_classes(self) -> int:
        """Distinct target values of a classification task; 0 for regression."""
        if self.task == Task.REGRESSION:
            return 0
        return int(self.rows[self.target].nunique())


def resolve_problem(
    df: pd.DataFrame,
    schema: DatasetSchema,
    *,
    target: str,
    drop: Iterable[str] = (),
    task: Task | str | None = None,
) -> Problem:
    """Resolve the learning problem of ``df``: the one place it is decided.

    Parameters
    ----------
    df : pandas.DataFrame
        The data; only the target column needs to be present (a check made before a job
        reads the target alone).
    schema : DatasetSchema
        The dataset's schema (the features are planned from it).
    target : str
        The column to predict.
    drop : iterable of str
        Columns to leave out.
    task : Task or str, optional
        Force the task instead of detecting it from the target.

    Returns
    -------
    Problem

    Raises
    ------
    InvalidInputError
        The target is missing from the data or also dropped, has no value or a single one,
        a forced regression on a non-numeric target, a dropped column that does not exist,
        or no usable feature left.

    Examples
    --------
    >>> problem = resolve_problem(df, schema, target="Survived")  # doctest: +SKIP
    >>> problem.task, problem.features  # doctest: +SKIP
    (<Task.BINARY: 'binary'>, ['Pclass', 'Sex', 'Age'])
    """
    drop = list(drop)
    if target not in df.columns:
        raise InvalidInputError(
            f"target column {target!r} is not in the dataset; its columns are: "
            f"{', '.join(map(str, df.columns))}",
            target=target,
        )
    if target in drop:
        raise InvalidInputError(f"the target {target!r} cannot also be dropped")
    notes: list[str] = []
    rows = rows_with_target(df, target, notes)
    forced = parse_task(task)
    plan = plan_features(schema, target=target, drop=drop)
    if forced is None:
        usable = [schema.column(name) for name in plan.features]
        found, reason = detect_task(rows[target], target_column(schema, target), features=usable)
    else:
        found, reason = forced, "set by the user"
        check_forced_task(rows[target], forced)
    return Problem(target, rows, plan, found, reason, notes)


def target_column(schema: DatasetSchema, target: str) -> ColumnSchema:
    """The target's schema, or ``InvalidInputError`` naming the known columns."""
    try:
        return schema.column(target)
    except NotFoundError as exc:
        raise InvalidInputError(f"target: {exc.message}", target=target)


def rows_with_target(df: pd.DataFrame, target: str, notes: list[str]) -> pd.DataFrame:
    """The rows of ``df`` with a target value (index reset); a note says how many went."""
    present = df[target].notna()
    if not present.any():
        raise InvalidInputError(
            f"target column {target!r} has no values: all {len(df)} are missing", target=target
        )
    if not present.all():
        notes.append(f"{int((~present).sum())} rows without a value of {target!r} were left out")
        df = df.loc[present]
    return df.reset_index(drop=True)


def check_forced_task(y: pd.Series, task: Task) -> None:
    """Refuse a task the user forced that the target cannot serve."""
    numeric = pd.api.types.is_numeric_dtype(y) and not pd.api.types.is_bool_dtype(y)
    if task == Task.REGRESSION and not numeric:
        raise InvalidInputError(
            f"regression needs a numeric target, but {y.name!r} holds {y.dtype} values "
            f"such as {y.dropna().iloc[0]!r}; train a classification model instead",
            target=y.name,
        )
    if y.nunique() < 2:
        raise InvalidInputError(
            f"target column {y.name!r} has a single value; there is nothing to learn"
        )


def target_values(y: pd.Series, task: Task) -> np.ndarray:
    """The target as the models learn it: floats for regression, labels otherwise (numbers
    that are whole stay integers, text stays text)."""
    if task == Task.REGRESSION:
        numbers: np.ndarray = y.to_numpy(dtype=float)
        return numbers
    if pd.api.types.is_bool_dtype(y):
        flags: np.ndarray = y.to_numpy(dtype=bool)
        return flags
    if pd.api.types.is_numeric_dtype(y):
        values: np.ndarray = y.to_numpy(dtype=float)
        # 0.0/1.0 read from a file with gaps are the labels 0 and 1.
        return values.astype(np.int64) if np.all(np.mod(values, 1) == 0) else values
    return np.asarray([str(v) for v in y], dtype=object)
