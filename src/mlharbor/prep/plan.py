"""Which columns a model reads, and why the others are left out: the feature plan.

Decided from a dataset's schema alone, without scikit-learn, so a training request is checked
(its target, the columns to drop, a feature left) before anything imports the training
stack; :mod:`mlharbor.prep.factory` builds the preprocessing step from the same plan.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mlharbor.data.schema import DatasetSchema, Role, SemanticType
from mlharbor.errors import InvalidInputError, NotFoundError

#: Categorical columns with more distinct values than this are target-encoded, not one-hot.
MAX_ONE_HOT = 20
_DROPPED_KINDS = {
    SemanticType.IDENTIFIER: "an identifier (unique per row, carries no pattern)",
    SemanticType.CONSTANT: "constant (a single value or all missing)",
}


@dataclass
class FeaturePlan:
    """Which columns go to which treatment, and why the others were dropped."""

    numeric: list[str] = field(default_factory=list)
    categorical: list[str] = field(default_factory=list)
    high_cardinality: list[str] = field(default_factory=list)
    boolean: list[str] = field(default_factory=list)
    datetime: dict[str, str | None] = field(default_factory=dict)
    text: list[str] = field(default_factory=list)
    dropped: dict[str, str] = field(default_factory=dict)
    #: The categorical columns (of both lists above) whose values are integers.
    integer_categorical: list[str] = field(default_factory=list)

    order: list[str] = field(default_factory=list)

    @property
    def features(self) -> list[str]:
        """Every input column the preprocessor reads, in the dataset's column order."""
        used = {
            *self.numeric,
            *self.categorical,
            *self.high_cardinality,
            *self.boolean,
            *self.datetime,
            *self.text,
        }
        return [name for name in self.order if name in used]


def apply_overrides(schema: DatasetSchema, overrides: Mapping[str, Any] | None) -> DatasetSchema:
    """A copy of ``schema`` with a user's column type and role overrides applied.

    Parameters
    ----------
    schema : DatasetSchema
    overrides : mapping of column name to override, optional
        Each value is a semantic type (``"categorical"``), a role (``"ignore"``) or a mapping
        with ``semantic_type`` and/or ``role``.

    Returns
    -------
    DatasetSchema
        A new schema; ``schema`` is left untouched.

    Raises
    ------
    InvalidInputError
        An unknown column, semantic type or role.
    """
    schema = copy.deepcopy(schema)
    for name, value in (overrides or {}).items():
        if isinstance(value, Mapping):
            semantic, role = value.get("semantic_type"), value.get("role")
        elif str(value) in {r.value for r in Role}:
            semantic, role = None, str(value)
        else:
            semantic, role = str(value), None
        try:
            schema.override(name, semantic_type=semantic, role=role)
        except NotFoundError as exc:
            raise InvalidInputError(f"cannot override: {exc.message}", column=name)
    return schema


def plan_features(
    schema: DatasetSchema, *, target: str | None, drop: Iterable[str] = ()
) -> FeaturePlan:
    """Sort the columns of ``schema`` into treatments, recording why each dropped one went.

    Raises
    ------
    InvalidInputError
        A column in ``drop`` that is not in the schema, or no usable feature left.
    """
    drop = list(drop)
    unknown = [name for name in drop if name not in schema.names]
    if unknown:
        raise InvalidInputError(
            f"cannot drop {', '.join(map(repr, unknown))}: not in the dataset; "
            f"its columns are: {', '.join(schema.names)}",
            columns=unknown,
        )
    plan = FeaturePlan(order=schema.names)
    for col in schema.columns:
        kind = col.semantic_type
        if col.name == target:
            plan.dropped[col.name] = "the target"
        elif col.name in drop:
            plan.dropped[col.name] = "dropped on request"
        elif col.role == Role.IGNORE:
            plan.dropped[col.name] = "role set to ignore"
        elif kind in _DROPPED_KINDS:
            plan.dropped[col.name] = _DROPPED_KINDS[kind]
        elif kind == SemanticType.NUMERIC:
            plan.numeric.append(col.name)
        elif kind in (SemanticType.CATEGORICAL, SemanticType.INTEGER_CATEGORICAL):
            many = col.n_distinct > MAX_ONE_HOT
            (plan.high_cardinality if many else plan.categorical).append(col.name)
            if kind == SemanticType.INTEGER_CATEGORICAL:
                plan.integer_categorical.append(col.name)
        elif kind == SemanticType.BOOLEAN:
            plan.boolean.append(col.name)
        elif kind == SemanticType.DATETIME:
            plan.datetime[col.name] = col.datetime_format
        elif kind == SemanticType.TEXT:
            plan.text.append(col.name)
    if not plan.features:
        why = "; ".join(f"{name!r}: {reason}" for name, reason in plan.dropped.items())
        raise InvalidInputError(
            f"no usable feature is left to train on. Dropped columns — {why}",
            dropped=plan.dropped,
        )
    return plan
