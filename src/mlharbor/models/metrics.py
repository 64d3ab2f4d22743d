"""Metrics per task, computed the same way for cross-validation folds and the test split."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn import metrics as skm

from mlharbor.models.tasks import Task

#: scikit-learn scorer names used for permutation importance and learning curves.
SCORER = {
    "binary": "roc_auc",
    "multiclass": "accuracy",
    "regression": "r2",
}


def metric_kind(task: Task, n_classes: int) -> str:
    """``binary``, ``multiclass`` or ``regression``: which metric set applies."""
    if task == Task.REGRESSION:
        return "regression"
    return "binary" if n_classes == 2 else "multiclass"


def prediction_scores(pipeline: Any, X: Any) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The class probabilities and/or decision scores of a fitted classifier.

    Returns ``(proba, decision)``; either may be ``None`` when the model lacks it.
    """
    proba = decision = None
    if hasattr(pipeline, "predict_proba"):
        try:
            proba = np.asarray(pipeline.predict_proba(X), dtype=float)
        except AttributeError:  # e.g. SVC(probability=False) exposes but refuses it
            proba = None
    if proba is None and hasattr(pipeline, "decision_function"):
        decision = np.asarray(pipeline.decision_function(X), dtype=float)
    return proba, decision


def positive_scores(
    proba: np.ndarray | None, decision: np.ndarray | None, class_index: int = 1
) -> np.ndarray:
    """One score per row for one class: its probability, or the decision value."""
    if proba is not None:
        return proba[:, class_index]
    assert decision is not None
    if decision.ndim == 1:
        return decision if class_index == 1 else -decision
    return decision[:, class_index]


def compute_metrics(
    task: Task,
    y_true: np.ndarray,
    y_pred: np.ndarray,
    *,
    classes: Sequence[Any] | None = None,
    proba: np.ndarray | None = None,
    decision: np.ndarray | None = None,
) -> dict[str, float]:
    """The metrics of one set of predictions.

    Parameters
    ----------
    task : Task
    y_true, y_pred : ndarray
        True and predicted labels (or values for regression).
    classes : sequence, optional
        The model's classes, in the order of the probability columns.
    proba, decision : ndarray, optional
        Class probabilities or decision scores, for the ranking metrics.

    Returns
    -------
    dict of str to float
        binary: ``roc_auc, pr_auc, accuracy, balanced_accuracy, f1, precision, recall,
        log_loss, threshold``; multiclass: ``accuracy, balanced_accuracy, f1_macro,
        log_loss, roc_auc_ovr``; regression: ``rmse, mae, r2, mape`` (``mape`` only when no
        true value is zero). A metric that cannot be computed (e.g. log loss without
        probabilities) is left out.
    """
    if task == Task.REGRESSION:
        return _regression(np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float))
    classes = list(classes if classes is not None else np.unique(y_true))
    if len(classes) == 2:
        return _binary(y_true, y_pred, classes, proba, decision)
    return _multiclass(y_true, y_pred, classes, proba)


def summarize_folds(folds: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    """Mean and standard deviation of each metric over cross-validation folds."""
    names = sorted({name for fold in folds for name in fold})
    summary = {}
    for name in names:
        values = [fold[name] for fold in folds if name in fold]
        summary[name] = {
            "mean": float(np.mean(values)),
            "std": float(np.std(values)),
            "n_folds": len(values),
        }
    return summary


def _binary(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    classes: list[Any],
    proba: np.ndarray | None,
    decision: np.ndarray | None,
) -> dict[str, float]:
    positive = classes[1]
    scores = positive_scores(proba, decision)
    is_positive = np.asarray(y_true) == positive
    # One call for the three (f1_score, precision_score and recall_score each make it):
    # AutoML scores every fold of every candidate, and its input checks are most of the cost.
    precision, recall, f1, _ = skm.precision_recall_fscore_support(
        y_true, y_pred, pos_label=positive, average="binary", zero_division=0
    )
    out = {
        "accuracy": skm.accuracy_score(y_true, y_pred),
        "balanced_accuracy": skm.balanced_accuracy_score(y_true, y_pred),
        "f1": f1,
        "precision": precision,
        "recall": recall,
        # predict() decides at probability 0.5 (decision value 0): the threshold behind the
        # label metrics above.
        "threshold": 0.5 if proba is not None else 0.0,
    }
    if 0 < is_positive.sum() < len(is_positive):
        out["roc_auc"] = skm.roc_auc_score(is_positive, scores)
        out["pr_auc"] = skm.average_precision_score(is_positive, scores)
    if proba is not None:
        out["log_loss"] = skm.log_loss(y_true, proba, labels=classes)
    return _finite(out)


def _multiclass(
    y_true: np.ndarray, y_pred: np.ndarray, classes: list[Any], proba: np.ndarray | None
) -> dict[str, float]:
    out = {
        "accuracy": skm.accuracy_score(y_true, y_pred),
        "balanced_accuracy": skm.balanced_accuracy_score(y_true, y_pred),
        "f1_macro": skm.f1_score(y_true, y_pred, average="macro", zero_division=0),
    }
    if proba is not None:
        out["log_loss"] = skm.log_loss(y_true, proba, labels=classes)
        if set(classes) <= set(np.unique(y_true)):
            out["roc_auc_ovr"] = skm.roc_auc_score(y_true, proba, multi_class="ovr", labels=classes)
    return _finite(out)


def _regression(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    out = {
        "rmse": math.sqrt(skm.mean_squared_error(y_true, y_pred)),
        "mae": skm.mean_absolute_error(y_true, y_pred),
        "r2": skm.r2_score(y_true, y_pred) if len(y_true) > 1 else float("nan"),
    }
    # MAPE divides by the true value: meaningless as soon as one is zero.
    if np.all(np.abs(y_true) > np.finfo(float).eps):
        out["mape"] = skm.mean_absolute_percentage_error(y_true, y_pred)
    return _finite(out)


def _finite(values: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in values.items() if v is not None and math.isfinite(v)}
