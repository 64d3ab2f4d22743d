"""Models: the catalog (names, aliases, tasks, parameters), training and evaluation."""

from __future__ import annotations

from mlharbor.models.catalog import (
    CATALOG,
    ModelSpec,
    Scaling,
    coerce_param,
    get_spec,
    model_names,
    parse_params,
    resolve_model,
    validate_params,
)
from mlharbor.models.tasks import Task, detect_task, parse_task

__all__ = [
    "CATALOG",
    "ModelSpec",
    "Scaling",
    "Task",
    "coerce_param",
    "detect_task",
    "get_spec",
    "model_names",
    "parse_params",
    "parse_task",
    "resolve_model",
    "validate_params",
]
