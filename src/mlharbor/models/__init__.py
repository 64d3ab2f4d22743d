"""Models: the catalog (names, aliases, tasks, parameters), training and evaluation.

Names resolve on first use, so that importing one light module (``models.signature`` for
serving) does not load the training stack (LightGBM, matplotlib, Optuna) with it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlharbor.lazy import lazy_exports

_EXPORTS = {
    "CATALOG": "mlharbor.models.catalog",
    "ModelSpec": "mlharbor.models.catalog",
    "Scaling": "mlharbor.models.catalog",
    "coerce_param": "mlharbor.models.catalog",
    "get_spec": "mlharbor.models.catalog",
    "model_names": "mlharbor.models.catalog",
    "parse_params": "mlharbor.models.catalog",
    "resolve_model": "mlharbor.models.catalog",
    "validate_params": "mlharbor.models.catalog",
    "artifact_names": "mlharbor.models.evaluate",
    "make_artifacts": "mlharbor.models.evaluate",
    "compute_metrics": "mlharbor.models.metrics",
    "Problem": "mlharbor.models.problem",
    "resolve_problem": "mlharbor.models.problem",
    "prepare_input": "mlharbor.models.signature",
    "Task": "mlharbor.models.tasks",
    "detect_task": "mlharbor.models.tasks",
    "parse_task": "mlharbor.models.tasks",
    "TrainConfig": "mlharbor.models.train",
    "TrainResult": "mlharbor.models.train",
    "check_train_request": "mlharbor.models.checks",
    "library_versions": "mlharbor.models.train",
    "train_model": "mlharbor.models.train",
}

__all__ = [
    "CATALOG",
    "ModelSpec",
    "Problem",
    "Scaling",
    "Task",
    "TrainConfig",
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
    "resolve_problem",
    "train_model",
    "validate_params",
]

if TYPE_CHECKING:
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
    from mlharbor.models.checks import check_train_request
    from mlharbor.models.evaluate import artifact_names, make_artifacts
    from mlharbor.models.metrics import compute_metrics
    from mlharbor.models.problem import Problem, resolve_problem
    from mlharbor.models.signature import prepare_input
    from mlharbor.models.tasks import Task, detect_task, parse_task
    from mlharbor.models.train import TrainConfig, TrainResult, library_versions, train_model


__getattr__ = lazy_exports("mlharbor.models", globals(), _EXPORTS)
