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
from mlharbor.models.evaluate import artifact_names, make_artifacts
from mlharbor.models.metrics import compute_metrics
from mlharbor.models.signature import prepare_input
from mlharbor.models.tasks import Task, detect_task, parse_task
from mlharbor.models.train import TrainResult, check_train_request, library_versions, train_model

__all__ = [
    "CATALOG",
    "ModelSpec",
    "Scaling",
    "Task",
    "TrainResult",
    "artifact_names",
    "check_train_request",
    "coerce_param",
    "compute_metrics",
    "detect_task",
    "get_spec",
    "library_versions",
    "make_artifacts",
    "model_names",
    "parse_params",
    "parse_task",
    "prepare_input",
    "resolve_model",
    "train_model",
    "validate_params",
]
