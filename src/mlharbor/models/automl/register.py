"""Turn a leaderboard entry into a :class:`TrainResult`, for the registry's usual path.

The registered version then has what every trained model has: test metrics, the
cross-validated metrics of its leaderboard entry, a signature, permutation importance and
the evaluation artifacts.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.metrics import get_scorer
from sklearn.pipeline import Pipeline

from mlharbor.data.schema import DatasetSchema
from mlharbor.models.automl.budget import FinishPlan
from mlharbor.models.automl.ensemble import single_fit_equivalent
from mlharbor.models.automl.leaderboard import Entry
from mlharbor.models.automl.result import ENSEMBLE, AutoMLResult
from mlharbor.models.evaluate import make_artifacts, permutation_feature_importance, sample_index
from mlharbor.models.metrics import SCORER, metric_kind, summarize_folds
from mlharbor.models.problem import target_values
from mlharbor.models.tasks import Task
from mlharbor.models.train import (
    TrainResult,
    evaluate_pipeline,
    library_versions,
    make_signature,
)
from mlharbor.values import jsonable


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
    plan: FinishPlan | None = None,
    deadline: float | None = None,
) -> TrainResult:
    """A registrable result for ``entry``, evaluated on the held-out ``test_df``.

    With a ``plan`` (see :class:`FinishPlan`), permutation importance and the learning
    curve run on its samples of rows, shrunk further if the run is behind its prediction
    (:attr:`AutoMLResult.finish_seconds` would pass ``deadline``).
    """
    started = time.perf_counter()
    task, classes = result.task, result.classes
    y_test = target_values(test_df[result.target], task)
    test = evaluate_pipeline(pipeline, X_test, y_test, task, classes)
    X_curve, y_curve = result.X, result.y
    if plan is None:
        importance = permutation_feature_importance(
            pipeline, X_test, y_test, task=task, n_classes=len(classes or ()), seed=seed
        )
    else:
        share = 1.0
        if deadline is not None and result.finish_seconds:
            # The search's prediction of this finish, against the time there is left.
            share = float(np.clip((deadline - started) / result.finish_seconds, 0.05, 1.0))
        rows = max(20, int(plan.importance_rows * share))
        importance = permutation_importance_stacked(
            pipeline,
            X_test,
            y_test,
            task=task,
            n_classes=len(classes or ()),
            rows=rows,
            repeats=plan.importance_repeats,
            seed=seed,
        )
        curve = sample_index(len(result.y), max(40, int(plan.curve_rows * share)), seed)
        X_curve, y_curve = result.X.iloc[curve], result.y[curve]
    images = {}
    if artifacts:
        # Two folds and two points keep the learning curve's refits of an ensemble cheap.
        images = make_artifacts(
            pipeline,
            task=task,
            classes=classes,
            X_train=X_curve,
            y_train=y_curve,
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
        params=jsonable(params),
        estimator_params=jsonable(
            {"members": entry.members} if ensemble else inner.get_params(deep=False)
        ),
        target=result.target,
        metrics={"test": test, "cv": summarize_folds(entry.fold_metrics)},
        signature=make_signature(schema, result.features, frame, result.target, task, classes),
        classes=classes,
        feature_importance=importance["features"],
        artifacts=images,
        timings={**result.timings, "evaluate": round(time.perf_counter() - started, 3)},
        versions=library_versions(),
        settings={**result.settings, "n_train": len(result.y), "n_test": len(y_test)},
        dropped=result.dropped,
        notes=list(result.notes),
    )


def permutation_importance_stacked(
    pipeline: Any,
    X: pd.DataFrame,
    y: np.ndarray,
    *,
    task: Task,
    n_classes: int,
    rows: int,
    repeats: int,
    seed: int = 0,
) -> dict[str, Any]:
    """Permutation importance of every column, the permuted copies predicted together.

    The same measure as :func:`permutation_feature_importance` (the score's drop when a
    column is shuffled, with the same scoring), on a sample of ``rows`` rows; but each
    repeat predicts the copies of all columns in one call: on a wide table a pipeline's
    call costs far more than its rows (each column's preprocessing runs once per call),
    and one call per column and repeat made the evaluation take longer than the search.
    """
    rng = np.random.default_rng(seed)
    index = sample_index(len(X), rows, seed)
    X, y = X.iloc[index].reset_index(drop=True), np.asarray(y)[index]
    scoring = SCORER[metric_kind(task, n_classes)]
    scorer = get_scorer(scoring)
    proba = task != Task.REGRESSION
    replay = _Replay(getattr(pipeline, "classes_", None)) if proba else _ReplayRegressor()
    baseline = scorer(replay.using(pipeline, X), X, y)
    drops = np.zeros((len(X.columns), max(1, repeats)))
    n = len(X)
    for r in range(max(1, repeats)):
        copies = []
        for column in X.columns:
            shuffled = X.copy()
            shuffled[column] = X[column].to_numpy()[rng.permutation(n)]
            copies.append(shuffled)
        stacked = pd.concat(copies, ignore_index=True)
        replay.using(pipeline, stacked)
        for i in range(len(X.columns)):
            drops[i, r] = baseline - scorer(replay.part(i * n, (i + 1) * n), X, y)
    features: list[dict[str, Any]] = [
        {"feature": str(col), "importance_mean": float(d.mean()), "importance_std": float(d.std())}
        for col, d in zip(X.columns, drops, strict=True)
    ]
    features.sort(key=lambda row: row["importance_mean"], reverse=True)
    return {"scoring": scoring, "features": features}


class _Replay(ClassifierMixin, BaseEstimator):
    """A classifier that answers with predictions made beforehand, for a scorer."""

    def __init__(self, classes: Any = None) -> None:
        self.classes = classes

    def using(self, pipeline: Any, X: pd.DataFrame) -> _Replay:
        self.classes_ = np.asarray(pipeline.classes_)
        self._proba = np.asarray(pipeline.predict_proba(X))
        self._slice = slice(0, len(X))
        return self

    def part(self, start: int, stop: int) -> _Replay:
        self._slice = slice(start, stop)
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        return self._proba[self._slice]

    def predict(self, X: Any) -> np.ndarray:
        labels: np.ndarray = self.classes_[self._proba[self._slice].argmax(axis=1)]
        return labels


class _ReplayRegressor(RegressorMixin, BaseEstimator):
    """A regressor that answers with predictions made beforehand, for a scorer."""

    def using(self, pipeline: Any, X: pd.DataFrame) -> _ReplayRegressor:
        self._pred = np.asarray(pipeline.predict(X), dtype=float)
        self._slice = slice(0, len(X))
        return self

    def part(self, start: int, stop: int) -> _ReplayRegressor:
        self._slice = slice(start, stop)
        return self

    def predict(self, X: Any) -> np.ndarray:
        return self._pred[self._slice]
