"""Evaluation artifacts of a trained model: the data behind each chart, and its PNG.

Every trained model carries: ROC and precision-recall curves, a confusion matrix and a
calibration curve (classification); predicted-vs-actual and residuals (regression); and,
for all tasks, permutation feature importance on the original columns and a learning
curve. Each artifact is ``{"data": <JSON-ready dict>, "png": <bytes>}``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics as skm
from sklearn.base import clone
from sklearn.calibration import calibration_curve
from sklearn.inspection import permutation_importance
from sklearn.metrics import get_scorer
from sklearn.model_selection import KFold, StratifiedKFold, learning_curve

from mlharbor.models.metrics import SCORER, metric_kind, positive_scores, prediction_scores
from mlharbor.models.plots import render_all, render_in_background
from mlharbor.models.tasks import Task
from mlharbor.values import jsonable

CLASSIFICATION_ARTIFACTS = (
    "roc_curve",
    "pr_curve",
    "confusion_matrix",
    "calibration",
    "feature_importance",
    "learning_curve",
)
REGRESSION_ARTIFACTS = (
    "predicted_vs_actual",
    "residuals",
    "feature_importance",
    "learning_curve",
)
#: Curves are thinned to this many points; scatter plots are sampled to MAX_POINTS rows.
MAX_CURVE_POINTS = 200
MAX_POINTS = 2000
#: Per-class curves are drawn for at most this many classes (the most frequent).
MAX_CLASS_CURVES = 10
#: Permutation importance and learning curves run on at most this many rows.
MAX_EVAL_ROWS = 3000

#: Shares of a fold's training rows on the learning curve. The last point is the
#: cross-validation itself; each earlier one costs one fit, on a nested subset of one fold.
CURVE_FRACTIONS = (0.1, 0.325, 0.55, 0.775, 1.0)

Progress = Callable[[float, str], None]


@dataclass
class FoldCurve:
    """What cross-validation already knows for the learning curve.

    Attributes
    ----------
    splits : list of (fit_rows, validation_rows)
        Positional indices of each fold, in the training split.
    train_scores, valid_scores : list of float
        Each fold's score (the learning curve's scoring) on its own fit rows and on its
        validation rows, from the fits cross-validation made.
    """

    splits: list[tuple[np.ndarray, np.ndarray]]
    train_scores: list[float]
    valid_scores: list[float]


def curve_scoring(task: Task, n_classes: int) -> str:
    """The scorer name the learning curve uses for ``task``."""
    return SCORER[metric_kind(task, n_classes)]


def curve_scores(
    pipeline: Any, X_fit: Any, y_fit: Any, X_val: Any, y_val: Any, scoring: str
) -> tuple[float, float]:
    """``(score on the fit rows, score on the validation rows)`` of a fitted pipeline;
    NaN where the scorer cannot score (e.g. ROC AUC on a single class)."""
    scorer = get_scorer(scoring)
    out = []
    for X, y in ((X_fit, y_fit), (X_val, y_val)):
        try:
            out.append(float(scorer(pipeline, X, y)))
        except ValueError:
            out.append(float("nan"))
    return out[0], out[1]


def artifact_names(task: Task) -> tuple[str, ...]:
    """The artifacts every model of ``task`` carries."""
    return REGRESSION_ARTIFACTS if task == Task.REGRESSION else CLASSIFICATION_ARTIFACTS


def permutation_feature_importance(
    pipeline: Any,
    X: pd.DataFrame,
    y: np.ndarray,
    *,
    task: Task,
    n_classes: int,
    seed: int = 0,
    n_repeats: int = 3,
) -> dict[str, Any]:
    """How much the score drops when each original column is shuffled.

    The whole pipeline is scored, so the importance is per input column — a one-hot encoded
    column or a text column counts once, not per generated feature.

    Returns
    -------
    dict
        ``{"scoring": str, "features": [{"feature", "importance_mean", "importance_std"}]}``,
        most important first.
    """
    X, y = _sample(X, y, MAX_EVAL_ROWS, seed)
    scoring = SCORER[metric_kind(task, n_classes)]
    result = permutation_importance(
        pipeline, X, y, scoring=scoring, n_repeats=n_repeats, random_state=seed, n_jobs=1
    )
    rows: list[dict[str, Any]] = [
        {"feature": str(col), "importance_mean": float(m), "importance_std": float(s)}
        for col, m, s in zip(
            X.columns, result.importances_mean, result.importances_std, strict=True
        )
    ]
    rows.sort(key=lambda row: row["importance_mean"], reverse=True)
    return {"scoring": scoring, "features": rows}


def make_artifacts(
    pipeline: Any,
    *,
    task: Task,
    classes: Sequence[Any] | None,
    X_train: pd.DataFrame,
    y_train: np.ndarray,
    X_test: pd.DataFrame,
    y_test: np.ndarray,
    importance: dict[str, Any] | None = None,
    seed: int = 0,
    cv_folds: int = 3,
    learning_points: int = 3,
    progress: Progress | None = None,
    curve_estimator: Any | None = None,
    folds: FoldCurve | None = None,
    background: bool = False,
    learning_curve: Callable[[], dict[str, Any]] | None = None,
) -> dict[str, dict[str, Any]]:
    """Compute and draw every evaluation artifact of a fitted pipeline.

    Parameters
    ----------
    pipeline : sklearn Pipeline
        Fitted on ``X_train, y_train``.
    task : Task
    classes : sequence or None
        The model's classes (classification), in probability-column order.
    X_train, y_train, X_test, y_test
        The training split (for the learning curve) and the held-out test split.
    importance : dict, optional
        Permutation importance already computed (see
        :func:`permutation_feature_importance`); computed here otherwise.
    seed : int, default=0
    cv_folds : int, default=3
        Folds of the learning curve.
    learning_points : int, default=3
        Training sizes on the learning curve.
    progress : callable, optional
        ``progress(fraction, message)`` with ``fraction`` in [0, 1] of this step.
    curve_estimator : estimator, optional
        What the learning curve refits, if not ``pipeline`` (e.g. one model where
        ``pipeline`` bags five of them).
    folds : FoldCurve, optional
        The cross-validation of ``X_train, y_train`` already made: the learning curve then
        takes its last point from it and fits one nested subset per earlier point (see
        :func:`fold_learning_curve`), instead of ``cv_folds × learning_points`` new fits.
    background : bool, default=False
        Draw the charts known before the learning curve in a forked child process while
        the curve's models are fitted (for job processes; see
        :func:`mlharbor.models.plots.render_in_background`).
    learning_curve : callable, optional
        Returns the learning curve's data, computed elsewhere (e.g. waits for fits made
        in other processes meanwhile); used instead of ``folds`` and ``cv_folds``.

    Returns
    -------
    dict
        ``{artifact name: {"data": dict, "png": bytes}}``.
    """
    report = progress or (lambda fraction, message: None)
    n_classes = len(classes) if classes is not None else 0
    data: dict[str, dict[str, Any]] = {}
    if task == Task.REGRESSION:
        predicted = np.asarray(pipeline.predict(X_test), dtype=float)
        actual = np.asarray(y_test, dtype=float)
        data["predicted_vs_actual"] = _predicted_vs_actual(actual, predicted, seed)
        data["residuals"] = _residuals(actual, predicted, seed)
    else:
        assert classes is not None  # a classifier's evaluation is given its classes
        proba, decision = prediction_scores(pipeline, X_test)
        predicted = pipeline.predict(X_test)
        curves = _class_curves(y_test, classes, proba, decision)
        data["roc_curve"] = {"curves": [c["roc"] for c in curves], **_positive(classes)}
        data["pr_curve"] = {"curves": [c["pr"] for c in curves], **_positive(classes)}
        data["confusion_matrix"] = _confusion(y_test, predicted, classes)
        data["calibration"] = _calibration(y_test, classes, proba)
    report(0.2, "curves computed")
    drawn_early = set(data) if background else set()
    early = render_in_background(dict(data)) if background else None
    if importance is None:
        importance = permutation_feature_importance(
            pipeline, X_test, y_test, task=task, n_classes=n_classes, seed=seed
        )
        # Only when computed here: a caller that passed it in has said so already.
        report(0.4, "feature importance computed")
    data["feature_importance"] = importance
    estimator = pipeline if curve_estimator is None else curve_estimator
    images: dict[str, bytes] = {}
    if learning_curve is not None:
        # Its fits may still be running elsewhere: draw what is known while they finish.
        images = render_all({"feature_importance": importance})
        data["learning_curve"] = learning_curve()
    elif folds is not None:
        data["learning_curve"] = fold_learning_curve(
            estimator, X_train, y_train, folds, task=task, n_classes=n_classes, seed=seed
        )
    else:
        data["learning_curve"] = _learning_curve(
            estimator, X_train, y_train, task, n_classes, seed, cv_folds, learning_points
        )
    report(0.9, "learning curve computed")
    images.update(render_all({n: d for n, d in data.items() if n not in drawn_early | set(images)}))
    if early is not None:
        images.update(early())
    report(1.0, "artifacts drawn")
    return {name: {"data": jsonable(d), "png": images[name]} for name, d in data.items()}


def fold_learning_curve(
    estimator: Any,
    X: pd.DataFrame,
    y: np.ndarray,
    folds: FoldCurve,
    *,
    task: Task,
    n_classes: int,
    seed: int = 0,
    fractions: Sequence[float] = CURVE_FRACTIONS,
) -> dict[str, Any]:
    """A learning curve that reuses the cross-validation's folds and fits.

    The last point is the cross-validation: every fold, fitted on all its rows (already
    done). Each earlier point fits ``estimator`` once, on the first rows of a fixed,
    class-balanced shuffle of one fold's fit rows (the folds take turns), so the subsets
    are nested and the curve costs one fit per point (:func:`learning_points`). Fits are
    capped at :data:`MAX_EVAL_ROWS` rows, so on large data the earlier points stay cheap.

    Returns
    -------
    dict
        ``scoring``, ``train_sizes``, ``train_mean``/``std``, ``valid_mean``/``std`` (as
        scikit-learn's ``learning_curve``; the std of a one-fit point is NaN) and
        ``fits_per_point``.
    """
    scoring = curve_scoring(task, n_classes)
    points = learning_points(folds.splits, y, task, seed=seed, fractions=fractions)
    scored = [point_scores((estimator, X, y, rows, scoring)) for rows in points]
    return summarize_learning_curve(points, scored, folds, scoring)


def learning_points(
    splits: Sequence[tuple[np.ndarray, np.ndarray]],
    y: np.ndarray,
    task: Task,
    *,
    seed: int = 0,
    fractions: Sequence[float] = CURVE_FRACTIONS,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The fit and validation rows of each point of :func:`fold_learning_curve` but the
    last (the cross-validation itself), drawn in order from ``seed``: known as soon as the
    folds are, so the points can be fitted beside the folds."""
    y = np.asarray(y)
    rng = np.random.default_rng(seed)
    points = []
    for i, fraction in enumerate(fractions[:-1]):
        fit_idx, val_idx = splits[i % len(splits)]
        order = _balanced_order(fit_idx, y, task, rng)
        n = max(2, round(fraction * min(len(order), MAX_EVAL_ROWS)))
        points.append((order[:n], val_idx))
    return points


def point_scores(item: tuple[Any, ...]) -> tuple[float, float]:
    """Fit one point of the learning curve and score it: ``item`` is ``(estimator, X, y,
    (fit rows, validation rows), scoring)``; NaN scores where the estimator cannot learn
    from so few rows or classes (as scikit-learn's ``error_score=nan``)."""
    estimator, X, y, (subset, val_idx), scoring = item
    y = np.asarray(y)
    try:
        fitted = clone(estimator).fit(X.iloc[subset], y[subset])
        return curve_scores(fitted, X.iloc[subset], y[subset], X.iloc[val_idx], y[val_idx], scoring)
    except Exception:  # too few rows or classes for this estimator: as error_score=nan
        return (float("nan"), float("nan"))


def summarize_learning_curve(
    points: Sequence[tuple[np.ndarray, np.ndarray]],
    scored: Sequence[tuple[float, float]],
    folds: FoldCurve,
    scoring: str,
) -> dict[str, Any]:
    """The learning curve's data from its points' scores and the cross-validation's."""
    sizes = [len(subset) for subset, _ in points]
    fits = [1] * len(points)
    train_rows = [[train] for train, _ in scored]
    valid_rows = [[valid] for _, valid in scored]
    sizes.append(round(float(np.mean([len(fit) for fit, _ in folds.splits]))))
    fits.append(len(folds.splits))
    train_rows.append(folds.train_scores)
    valid_rows.append(folds.valid_scores)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a point whose every score is NaN
        train_mean, train_std = _mean_std(train_rows)
        valid_mean, valid_std = _mean_std(valid_rows)
    return {
        "scoring": scoring,
        "train_sizes": sizes,
        "train_mean": train_mean,
        "train_std": train_std,
        "valid_mean": valid_mean,
        "valid_std": valid_std,
        "fits_per_point": fits,
    }


def _mean_std(rows: list[list[float]]) -> tuple[list[float], list[float]]:
    means = [float(np.nanmean(r)) for r in rows]
    stds = [float(np.nanstd(r)) if len(r) > 1 else float("nan") for r in rows]
    return means, stds


def _balanced_order(rows: np.ndarray, y: np.ndarray, task: Task, rng: Any) -> np.ndarray:
    """``rows`` shuffled so that every prefix holds the classes in their proportions."""
    rows = rng.permutation(rows)
    if task == Task.REGRESSION:
        return rows
    labels = y[rows]
    key = np.empty(len(rows))
    for label in np.unique(labels):
        mine = np.flatnonzero(labels == label)
        key[mine] = (np.arange(len(mine)) + 0.5) / len(mine)
    return rows[np.argsort(key, kind="stable")]


def _positive(classes: Sequence[Any] | None) -> dict[str, Any]:
    if classes is not None and len(classes) == 2:
        return {"positive_class": classes[1]}
    return {}


def _class_curves(
    y_true: np.ndarray,
    classes: Sequence[Any],
    proba: np.ndarray | None,
    decision: np.ndarray | None,
) -> list[dict[str, Any]]:
    y_true = np.asarray(y_true)
    if len(classes) == 2:
        chosen = [1]
    else:
        counts = pd.Series(y_true).value_counts()
        frequent = [c for c in counts.index if c in set(classes)][:MAX_CLASS_CURVES]
        chosen = [list(classes).index(c) for c in frequent]
    curves = []
    for index in chosen:
        label = classes[index]
        truth = y_true == label
        if truth.all() or not truth.any():
            continue
        scores = positive_scores(proba, decision, index)
        fpr, tpr, roc_thresholds = skm.roc_curve(truth, scores)
        precision, recall, pr_thresholds = skm.precision_recall_curve(truth, scores)
        curves.append(
            {
                "roc": {
                    "label": label,
                    "fpr": _thin(fpr),
                    "tpr": _thin(tpr),
                    "thresholds": _thin(roc_thresholds),
                    "auc": skm.auc(fpr, tpr),
                },
                "pr": {
                    "label": label,
                    "precision": _thin(precision),
                    "recall": _thin(recall),
                    "thresholds": _thin(pr_thresholds),
                    "prevalence": float(truth.mean()),
                    "average_precision": skm.average_precision_score(truth, scores),
                },
            }
        )
    return curves


def _confusion(y_true: np.ndarray, y_pred: np.ndarray, classes: Sequence[Any]) -> dict[str, Any]:
    matrix = skm.confusion_matrix(y_true, y_pred, labels=list(classes))
    totals = matrix.sum(axis=1, keepdims=True)
    normalized = np.divide(matrix, totals, out=np.zeros(matrix.shape), where=totals > 0)
    return {
        "labels": list(classes),
        "matrix": matrix.tolist(),
        "normalized": normalized.round(4).tolist(),
    }


def _calibration(
    y_true: np.ndarray, classes: Sequence[Any], proba: np.ndarray | None
) -> dict[str, Any]:
    if proba is None:
        return {"available": False, "reason": "the model gives decision scores, not probabilities"}
    y_true = np.asarray(y_true)
    indices = [1] if len(classes) == 2 else range(min(len(classes), MAX_CLASS_CURVES))
    curves = []
    for index in indices:
        truth = y_true == classes[index]
        if truth.all() or not truth.any():
            continue
        prob_true, prob_pred = calibration_curve(
            truth, proba[:, index], n_bins=10, strategy="quantile"
        )
        curves.append(
            {
                "label": classes[index],
                "prob_true": prob_true.tolist(),
                "prob_pred": prob_pred.tolist(),
                "brier": float(skm.brier_score_loss(truth, proba[:, index])),
            }
        )
    return {"curves": curves}


def _predicted_vs_actual(actual: np.ndarray, predicted: np.ndarray, seed: int) -> dict[str, Any]:
    index = sample_index(len(actual), MAX_POINTS, seed)
    return {
        "actual": actual[index].tolist(),
        "predicted": predicted[index].tolist(),
        "r2": float(skm.r2_score(actual, predicted)) if len(actual) > 1 else None,
    }


def _residuals(actual: np.ndarray, predicted: np.ndarray, seed: int) -> dict[str, Any]:
    residual = actual - predicted
    index = sample_index(len(actual), MAX_POINTS, seed)
    counts, edges = np.histogram(residual, bins=30)
    return {
        "predicted": predicted[index].tolist(),
        "residual": residual[index].tolist(),
        "histogram": {"counts": counts.tolist(), "edges": edges.tolist()},
    }


def _learning_curve(
    pipeline: Any,
    X: pd.DataFrame,
    y: np.ndarray,
    task: Task,
    n_classes: int,
    seed: int,
    cv_folds: int,
    points: int,
) -> dict[str, Any]:
    X, y = _sample(X, y, MAX_EVAL_ROWS, seed)
    splitter = KFold if task == Task.REGRESSION else StratifiedKFold
    scoring = SCORER[metric_kind(task, n_classes)]
    sizes, train, valid = learning_curve(
        clone(pipeline),
        X,
        y,
        train_sizes=np.linspace(0.3, 1.0, max(2, points)),
        cv=splitter(n_splits=max(2, cv_folds), shuffle=True, random_state=seed),
        scoring=scoring,
        shuffle=True,
        random_state=seed,
        error_score=np.nan,
        n_jobs=1,
    )
    return {
        "scoring": scoring,
        "train_sizes": sizes.tolist(),
        "train_mean": np.nanmean(train, axis=1).tolist(),
        "train_std": np.nanstd(train, axis=1).tolist(),
        "valid_mean": np.nanmean(valid, axis=1).tolist(),
        "valid_std": np.nanstd(valid, axis=1).tolist(),
    }


def _sample(
    X: pd.DataFrame, y: np.ndarray, limit: int, seed: int
) -> tuple[pd.DataFrame, np.ndarray]:
    if len(X) <= limit:
        return X, y
    index = sample_index(len(X), limit, seed)
    return X.iloc[index], np.asarray(y)[index]


def sample_index(n: int, limit: int, seed: int) -> np.ndarray:
    """At most ``limit`` of the positions ``0 … n-1``, a seeded sample in order."""
    if n <= limit:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=limit, replace=False))


def _thin(values: np.ndarray) -> list[float]:
    values = np.asarray(values, dtype=float)
    if len(values) > MAX_CURVE_POINTS:
        values = values[
            np.unique(np.linspace(0, len(values) - 1, MAX_CURVE_POINTS).round().astype(int))
        ]
    # Infinite thresholds (sklearn's first ROC point) are not JSON: cap them.
    capped: list[float] = np.nan_to_num(values, posinf=1e308, neginf=-1e308).tolist()
    return capped
