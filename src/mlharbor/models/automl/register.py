"""Turn a leaderboard entry into a :class:`TrainResult`, for the registry's usual path.

The registered version then has what every trained model has: test metrics, the
cross-validated metrics of its leaderboard entry, a signature, permutation importance and
the evaluation artifacts.
"""

from __future__ import annotations

import time
from typing import Any

import pandas as pd
from sklearn.pipeline import Pipeline

from mlharbor.data.schema import DatasetSchema
from mlharbor.models.automl.ensemble import single_fit_equivalent
from mlharbor.models.automl.leaderboard import Entry
from mlharbor.models.automl.result import ENSEMBLE, AutoMLResult
from mlharbor.models.evaluate import make_artifacts, permutation_feature_importance
from mlharbor.models.metrics import summarize_folds
from mlharbor.models.train import (
    TrainResult,
    _evaluate,
    _jsonable,
    _signature,
    _target_values,
    library_versions,
)


def to_train_result(
    result: AutoMLResult,
    entry: Entry,
    pipeline: Any,
    test_df: pd.DataFrame,
    X_test: pd.DataFrame,
    schema: DatasetSchema,
    *,
    seed: int = 0,
    artifacts: bool = True,
) -> TrainResult:
    """A registrable result for ``entry``, evaluated on the held-out ``test_df``."""
    started = time.perf_counter()
    task, classes = result.task, result.classes
    y_test = _target_values(test_df[result.target], task)
    test = _evaluate(pipeline, X_test, y_test, task, classes)
    importance = permutation_feature_importance(
        pipeline, X_test, y_test, task=task, n_classes=len(classes or ()), seed=seed
    )
    images = {}
    if artifacts:
        # Two folds and two points keep the learning curve's refits of an ensemble cheap.
        images = make_artifacts(
            pipeline,
            task=task,
            classes=classes,
            X_train=result.X,
            y_train=result.y,
            X_test=X_test,
            y_test=y_test,
            importance=importance,
            seed=seed,
            cv_folds=2,
            learning_points=2,
            curve_estimator=single_fit_equivalent(pipeline),
        )
    frame = pd.concat([result.X, X_test], ignore_index=True)
    frame[result.target] = list(result.y) + list(y_test)
    ensemble = entry.candidate.family == ENSEMBLE
    # A single model served bagged is a bag of its fold pipelines: describe the model.
    single = pipeline if ensemble or isinstance(pipeline, Pipeline) else pipeline.estimator
    inner = pipeline if ensemble else single.named_steps["model"]
    estimator = type(inner).__name__
    params = dict(entry.members) if ensemble else entry.candidate.params
    return TrainResult(
        pipeline=pipeline,
        task=task,
        task_reason=result.task_reason,
        model=f"automl:{entry.name}",
        estimator=estimator,
        params=_jsonable(params),
        estimator_params=_jsonable(
            {"members": entry.members} if ensemble else inner.get_params(deep=False)
        ),
        target=result.target,
        metrics={"test": test, "cv": summarize_folds(entry.fold_metrics)},
        signature=_signature(schema, result.features, frame, result.target, task, classes),
        classes=classes,
        feature_importance=importance["features"],
        artifacts=images,
        timings={**result.timings, "evaluate": round(time.perf_counter() - started, 3)},
        versions=library_versions(),
        settings={**result.settings, "n_train": len(result.y), "n_test": len(y_test)},
        dropped=result.dropped,
        notes=list(result.notes),
    )
