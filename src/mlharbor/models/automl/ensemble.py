"""Greedy ensemble selection (Caruana et al., 2004) and the ensemble estimators it yields,
and the bags of fold models AutoML serves on small data.

The estimators are plain scikit-learn estimators over the raw feature frame: each member is
a whole fitted pipeline (its own preprocessing, then its model), and the ensemble averages
their predictions with fixed weights. They hold only lists, floats and numpy arrays, so
skops saves and loads them with the registry's trusted types, and the predictor serves them
like any pipeline (``predict``, ``predict_proba``, ``classes_``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, clone
from sklearn.model_selection import KFold, StratifiedKFold


class _WeightedEnsemble(BaseEstimator):
    def __init__(
        self,
        estimators: Sequence[Any] = (),
        weights: Sequence[float] = (),
        names: Sequence[str] = (),
    ) -> None:
        self.estimators = estimators
        self.weights = weights
        self.names = names

    def fit(self, X: Any, y: Any) -> _WeightedEnsemble:
        """Fit a clone of every member on ``X, y`` (members given fitted are refitted)."""
        self._check()
        self.estimators_ = [clone(e).fit(X, y) for e in self.estimators]
        self._after_fit()
        return self

    def _check(self) -> None:
        if len(self.estimators) == 0 or len(self.estimators) != len(self.weights):
            raise ValueError("an ensemble needs one weight per member and at least one member")

    def _after_fit(self) -> None:
        w = np.asarray(self.weights, dtype=float)
        self.weights_ = w / w.sum()

    @classmethod
    def from_fitted(
        cls, estimators: Sequence[Any], weights: Sequence[float], names: Sequence[str]
    ) -> Any:
        """An ensemble over members that are already fitted (no second fit)."""
        ensemble = cls(list(estimators), [float(w) for w in weights], list(names))
        ensemble._check()
        ensemble.estimators_ = list(estimators)
        ensemble._after_fit()
        return ensemble


class WeightedEnsembleClassifier(ClassifierMixin, _WeightedEnsemble):
    """The weighted average of the members' class probabilities.

    Parameters
    ----------
    estimators : sequence of classifiers
        Members with ``predict_proba``, trained on the same labels.
    weights : sequence of float
        One non-negative weight per member; normalised to sum to one.
    names : sequence of str
        The members' names on the AutoML leaderboard (for people reading the model).
    """

    def _after_fit(self) -> None:
        super()._after_fit()
        self.classes_ = np.asarray(self.estimators_[0].classes_)
        for member in self.estimators_[1:]:
            if not np.array_equal(np.asarray(member.classes_), self.classes_):
                raise ValueError("ensemble members disagree on the classes")

    def predict_proba(self, X: Any) -> np.ndarray:
        """Weighted mean of the members' probabilities, columns in ``classes_`` order."""
        total: np.ndarray | None = None
        for weight, member in zip(self.weights_, self.estimators_, strict=True):
            part = weight * np.asarray(member.predict_proba(X), dtype=float)
            total = part if total is None else total + part
        assert total is not None  # _check() refuses an ensemble without members
        return total

    def predict(self, X: Any) -> np.ndarray:
        """The class with the highest averaged probability."""
        labels: np.ndarray = self.classes_[np.argmax(self.predict_proba(X), axis=1)]
        return labels


class WeightedEnsembleRegressor(RegressorMixin, _WeightedEnsemble):
    """The weighted average of the members' predictions (see the classifier's parameters)."""

    def predict(self, X: Any) -> np.ndarray:
        """Weighted mean of the members' predictions."""
        # asarray: the sum of arrays is one already (typed as possibly the start, 0).
        return np.asarray(
            sum(
                w * np.asarray(m.predict(X), dtype=float)
                for w, m in zip(self.weights_, self.estimators_, strict=True)
            )
        )


class _Bagged(BaseEstimator):
    def __init__(self, estimator: Any = None, n_folds: int = 5, random_state: int = 0) -> None:
        self.estimator = estimator
        self.n_folds = n_folds
        self.random_state = random_state

    def _splitter(self) -> Any:
        raise NotImplementedError

    def fit(self, X: Any, y: Any) -> _Bagged:
        """Fit one clone of ``estimator`` per fold, each on the other folds' rows."""
        if self.estimator is None or int(self.n_folds) < 2:
            raise ValueError("a bag needs an estimator and at least two folds")
        y = np.asarray(y)
        self.estimators_ = []
        for fit_idx, _ in self._splitter().split(np.zeros(len(y)), y):
            rows = X.iloc[fit_idx] if hasattr(X, "iloc") else X[fit_idx]
            self.estimators_.append(clone(self.estimator).fit(rows, y[fit_idx]))
        self._after_fit()
        return self

    def _after_fit(self) -> None:
        pass

    @classmethod
    def from_fitted(
        cls, estimator: Any, fitted: Sequence[Any], *, n_folds: int, random_state: int
    ) -> Any:
        """A bag over fold models fitted already (AutoML's cross-validation models)."""
        bag = cls(estimator, n_folds=n_folds, random_state=random_state)
        bag.estimators_ = list(fitted)
        bag._after_fit()
        return bag


class BaggedClassifier(ClassifierMixin, _Bagged):
    """The mean class probabilities of one model per cross-validation fold.

    Each model was fitted on all rows but one fold's (bagging, as AutoGluon serves its
    models): their average varies less than a single refit on every row.

    Parameters
    ----------
    estimator : classifier
        The unfitted model (usually a preprocessing + model pipeline) to bag.
    n_folds : int, default=5
        Models in the bag; ``fit`` splits the rows into this many stratified folds.
    random_state : int, default=0
        Seed of the folds' shuffle.
    """

    def _splitter(self) -> Any:
        return StratifiedKFold(int(self.n_folds), shuffle=True, random_state=self.random_state)

    def _after_fit(self) -> None:
        self.classes_ = np.asarray(self.estimators_[0].classes_)
        for member in self.estimators_[1:]:
            if not np.array_equal(np.asarray(member.classes_), self.classes_):
                raise ValueError("bagged models disagree on the classes")

    def predict_proba(self, X: Any) -> np.ndarray:
        """Mean of the fold models' probabilities, columns in ``classes_`` order."""
        parts = [np.asarray(m.predict_proba(X), dtype=float) for m in self.estimators_]
        mean: np.ndarray = np.mean(parts, axis=0)
        return mean

    def predict(self, X: Any) -> np.ndarray:
        """The class with the highest mean probability."""
        labels: np.ndarray = self.classes_[np.argmax(self.predict_proba(X), axis=1)]
        return labels


class BaggedRegressor(RegressorMixin, _Bagged):
    """The mean prediction of one model per cross-validation fold (see the classifier)."""

    def _splitter(self) -> Any:
        return KFold(int(self.n_folds), shuffle=True, random_state=self.random_state)

    def predict(self, X: Any) -> np.ndarray:
        """Mean of the fold models' predictions."""
        predictions = [np.asarray(m.predict(X), dtype=float) for m in self.estimators_]
        mean: np.ndarray = np.mean(predictions, axis=0)
        return mean


def single_fit_equivalent(model: Any) -> Any:
    """An unfitted estimator like ``model`` but with one fit per bag instead of one per fold.

    For artifacts that refit a model many times (learning curves): a bag's curve follows its
    members', at a fifth of the cost.
    """
    if isinstance(model, _Bagged):
        return clone(model.estimator)
    if isinstance(model, _WeightedEnsemble):
        members = getattr(model, "estimators_", model.estimators)
        return type(model)(
            [single_fit_equivalent(m) for m in members], list(model.weights), list(model.names)
        )
    return model


def greedy_selection(
    predictions: Sequence[np.ndarray],
    y: np.ndarray,
    score: Callable[[np.ndarray, np.ndarray], float],
    *,
    rounds: int = 40,
) -> tuple[np.ndarray, float]:
    """Caruana's greedy ensemble selection with replacement over out-of-fold predictions.

    Parameters
    ----------
    predictions : sequence of ndarray
        One out-of-fold prediction per candidate (probability matrices or values).
    y : ndarray
        The true class indices or values.
    score : callable
        ``score(y, prediction)``, higher is better.
    rounds : int, default=40
        How many members to add (a member may be added several times).

    Returns
    -------
    (weights, score)
        Normalised weights per candidate and the out-of-fold score of the ensemble.
    """
    counts = np.zeros(len(predictions))
    current = None
    best_score, best_counts = -np.inf, counts.copy()
    for step in range(rounds):
        scores = []
        for pred in predictions:
            trial = pred if current is None else (current * step + pred) / (step + 1)
            scores.append(score(y, trial))
        pick = int(np.argmax(scores))
        counts[pick] += 1
        current = (
            predictions[pick]
            if current is None
            else (current * step + predictions[pick]) / (step + 1)
        )
        if scores[pick] > best_score + 1e-12:
            best_score, best_counts = scores[pick], counts.copy()
    return best_counts / best_counts.sum(), float(best_score)


def nested_selection_oof(
    predictions: Sequence[np.ndarray],
    y: np.ndarray,
    score: Callable[[np.ndarray, np.ndarray], float],
    splits: Sequence[tuple[np.ndarray, np.ndarray]],
    *,
    rounds: int = 40,
) -> np.ndarray:
    """Out-of-fold predictions of greedy ensemble selection itself.

    The weights for the rows of each split's validation part are selected on the other
    rows only, so scoring the result is an honest estimate of the ensemble: scoring the
    ensemble on the rows its weights were chosen on rewards fitting noise, which on small
    data can make a blend look better than the best single model when it is not.

    Parameters
    ----------
    splits : sequence of (fit rows, validation rows)
        Validation parts that cover every row once (one repeat of k-fold).
    """
    first = np.asarray(predictions[0])
    out = np.zeros((len(y), *first.shape[1:]))
    for fit_idx, val_idx in splits:
        part = [p[fit_idx] for p in predictions]
        weights, _ = greedy_selection(part, y[fit_idx], score, rounds=rounds)
        chosen = zip(weights, predictions, strict=True)
        out[val_idx] = sum(w * p[val_idx] for w, p in chosen if w > 0)
    return out
