"""A training request checked against a dataset's schema, before any data is read.

Light on purpose: the catalog's names, tasks and parameters and the feature plan, no
scikit-learn unless the request sets model parameters (their values are checked by the
estimator's own rules). A server or a command checks a request here and queues it; the
training stack loads in the job that trains.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from mlharbor.data.schema import ColumnSchema, DatasetSchema, Role, SemanticType
from mlharbor.data.tasks import MAX_INTEGER_CLASSES, Task, parse_task
from mlharbor.errors import InvalidInputError
from mlharbor.models.catalog import ModelSpec, get_spec, model_names, parse_params, validate_params
from mlharbor.prep.plan import apply_overrides, plan_features
from mlharbor.values import jsonable


def check_train_request(
    schema: DatasetSchema,
    *,
    target: str,
    model: str = "random-forest",
    params: Mapping[str, Any] | Iterable[str] | str | None = None,
    drop: Iterable[str] = (),
    task: Task | str | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Check a training request against the dataset's schema alone, before queueing a job.

    Everything that can be known without reading the data is checked here, so an API can
    answer 422 at once rather than fail a job minutes later: the target column, the model
    name, its parameters, the columns to drop, overrides, that a feature is left, and that
    the model serves the task where the schema settles it (:func:`schema_task`).

    Returns
    -------
    dict
        ``{"model": canonical name, "params": typed params, "task": str or None,
        "features": [column names]}``.

    Raises
    ------
    InvalidInputError
        The first problem found, named.
    """
    schema = apply_overrides(schema, overrides)
    if target not in schema.names:
        raise InvalidInputError(
            f"target column {target!r} is not in the dataset; its columns are: "
            f"{', '.join(schema.names)}",
            target=target,
        )
    spec = get_spec(model)
    forced = parse_task(task)
    typed = validate_params(spec, parse_params(params), forced)
    if forced is not None:
        spec.estimator_path(forced)  # raises if the model does not serve the task
    plan = plan_features(schema, target=target, drop=drop)
    found = schema_task(schema, target, plan.features) if forced is None else None
    if found is not None and found[0] not in spec.tasks:
        raise task_refused(spec, target, *found)
    return {
        "model": spec.name,
        "params": jsonable(typed),
        "task": forced.value if forced else None,
        "features": plan.features,
    }


#: Arrow storage types read as numbers by pandas (``bool`` is not one).
_NUMERIC_STORAGE = ("int", "uint", "float", "double", "halffloat", "decimal")


def schema_task(
    schema: DatasetSchema, target: str, features: Iterable[str]
) -> tuple[Task, str] | None:
    """The task and reason :func:`mlharbor.models.tasks.detect_task` will find for
    ``target`` with ``features``, where the schema alone settles it; None where the values
    decide (a few numeric values: whole numbers are classes), the column's type was
    overridden, or it has fewer than two values (the job says why)."""
    column = schema.column(target)
    n = column.n_distinct
    if n < 2 or column.overridden:
        return None
    numeric = column.storage_type.startswith(_NUMERIC_STORAGE)
    if numeric and column.semantic_type not in (
        SemanticType.BOOLEAN,
        SemanticType.INTEGER_CATEGORICAL,
    ):
        if n > MAX_INTEGER_CLASSES + 1:  # one more: a NaN may be counted as a value
            return Task.REGRESSION, f"numeric target with {n} distinct values"
        return None
    return classes_task(n, [schema.column(name) for name in features], target)


def classes_task(n_classes: int, features: Iterable[ColumnSchema], target: str) -> tuple[Task, str]:
    """The task and reason of a classification with ``n_classes`` classes: ``text`` where at
    least half the usable features are free text (reviews, tickets; a passenger's name among
    many other columns does not make one), else binary or multiclass."""
    usable = [c for c in features if c.role == Role.FEATURE and c.name != target]
    n_text = sum(c.semantic_type == SemanticType.TEXT for c in usable)
    if n_text and 2 * n_text >= len(usable):
        return Task.TEXT, f"{n_classes} classes predicted mostly from free text"
    if n_classes == 2:
        return Task.BINARY, "the target has two distinct values"
    return Task.MULTICLASS, f"the target has {n_classes} distinct values"


def task_refused(spec: ModelSpec, target: str, task: Task, reason: str) -> InvalidInputError:
    """The error for a model that does not serve the task ``target`` makes (and why)."""
    return InvalidInputError(
        f"model {spec.name!r} serves {', '.join(sorted(t.value for t in spec.tasks))} "
        f"only, but target {target!r} makes this a {task.value} task ({reason}); "
        f"models for {task.value}: {', '.join(model_names(task))}",
        model=spec.name,
        task=task.value,
    )
