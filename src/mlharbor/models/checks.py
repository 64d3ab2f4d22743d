"""A training request checked against a dataset's schema, before any data is read.

Light on purpose: the catalog's names, tasks and parameters and the feature plan, no
scikit-learn unless the request sets model parameters (their values are checked by the
estimator's own rules). A server or a command checks a request here and queues it; the
training stack loads in the job that trains.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from mlharbor.data.schema import DatasetSchema
from mlharbor.data.tasks import Task, parse_task
from mlharbor.errors import InvalidInputError
from mlharbor.models.catalog import get_spec, parse_params, validate_params
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
    name, its parameters, the columns to drop, overrides, and that a feature is left.

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
    return {
        "model": spec.name,
        "params": jsonable(typed),
        "task": forced.value if forced else None,
        "features": plan.features,
    }
