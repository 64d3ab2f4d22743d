"""What an AutoML run returns, the final refit, and the bridge to the model registry."""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from mlharbor.models.automl.ensemble import (
    BaggedClassifier,
    BaggedRegressor,
    WeightedEnsembleClassifier,
    WeightedEnsembleRegressor,
)
from mlharbor.models.automl.folds import Folds, prep_key
from mlharbor.models.automl.leaderboard import Entry
from mlharbor.models.tasks import Task

ENSEMBLE = "ensemble"


@dataclass
class AutoMLResult:
    """The leaderboard of an AutoML run and its refitted winner.

    Attributes
    ----------
    pipeline : estimator
        The winner refitted on all rows: a preprocessing + model ``Pipeline``, or a
        ``WeightedEnsembleClassifier``/``Regressor`` of such pipelines; on small data a
        ``BaggedClassifier``/``Regressor`` of its fold pipelines (or an ensemble of bags).
    winner : Entry
        Its leaderboard entry.
    entries : list of Entry
        Every candidate, best first.
    timings : dict
        Seconds in ``search``, ``refit`` and ``total``, and the ``budget``.
    final_refit_seconds : float or None
        Predicted seconds to refit the winner on the caller's ``final_rows`` (if given).
    """

    pipeline: Any
    task: Task
    task_reason: str
    target: str
    metric: str
    kind: str
    classes: list[Any] | None
    winner: Entry
    entries: list[Entry]
    folds: Folds
    X: pd.DataFrame
    y: np.ndarray
    features: list[str]
    dropped: dict[str, str]
    notes: list[str]
    timings: dict[str, float]
    settings: dict[str, Any] = field(default_factory=dict)
    final_refit_seconds: float | None = None
    #: Predicted seconds of the caller's finish (see :class:`FinishPlan`) for the winner.
    finish_seconds: float | None = None
    #: The processes that fitted the folds: this one, or the workers of ``map_folds``.
    worker_pids: list[int] = field(default_factory=list)

    @property
    def best_name(self) -> str:
        return self.winner.name

    @property
    def leaderboard(self) -> list[dict[str, Any]]:
        """JSON-ready rows, best first, each with a ``rank``."""
        rows = []
        for rank, entry in enumerate(self.entries, start=1):
            row = entry.to_dict(self.metric, self.kind)
            row["rank"] = rank
            row["winner"] = entry is self.winner
            rows.append(row)
        return rows

    def top(self, k: int) -> list[Entry]:
        """The winner, then the next best scored entries that can be stored, ``k`` in all."""
        others = [e for e in self.entries if e.usable and e is not self.winner]
        return [self.winner, *others[: max(0, k - 1)]]

    def refit(self, entry: Entry) -> Any:
        """``entry`` refitted on all rows (for registering more than the winner)."""
        if entry is self.winner:
            return self.pipeline
        return refit_entry(entry, self.folds, self.X, self.y, deadline=None, notes=[])[0]

    def summary(self) -> dict[str, Any]:
        """Everything but the models, JSON-ready (the job result)."""
        return {
            "task": self.task.value,
            "task_reason": self.task_reason,
            "target": self.target,
            "metric": self.metric,
            "classes": self.classes,
            "best": self.best_name,
            "leaderboard": self.leaderboard,
            "timings": self.timings,
            "settings": self.settings,
            "dropped": self.dropped,
            "notes": self.notes,
        }


def make_pipeline(entry: Entry, folds: Folds) -> Pipeline:
    """An unfitted preprocessing + model pipeline for a single candidate."""
    spec, native = entry.candidate.spec, bool(entry.candidate.native)
    model = entry.candidate.make(folds.task, folds.seed)
    return Pipeline([("preprocess", folds.preprocessor(spec, native)), ("model", model)])


def _refit_one(entry: Entry, folds: Folds, X: pd.DataFrame, y: np.ndarray) -> Pipeline:
    native = bool(entry.candidate.native)
    shared = folds.fitted_on_all(entry.candidate.spec, native) if len(X) == len(folds.X) else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if shared is None:
            return make_pipeline(entry, folds).fit(X, y)
        # The search rows are all the rows and the preprocessing was fitted on them once:
        # reuse it (text vectorisers are the slowest part of a refit) and fit the model.
        prep, matrix = shared
        model = entry.candidate.make(folds.task, folds.seed).fit(matrix, y)
        return Pipeline([("preprocess", prep), ("model", model)])


def _bag_one(entry: Entry, folds: Folds) -> Any:
    """``entry``'s models of one repeat of the folds, as one bagged estimator.

    The same fits as in the search (same rows, seed and preprocessing), so they are the
    models whose out-of-fold predictions the leaderboard scored.
    """
    spec, native = entry.candidate.spec, bool(entry.candidate.native)
    shared = folds.fitted_on_all(spec, native)
    fitted = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for fold in range(folds.n_folds):
            fit_idx, _ = folds.splits[fold]
            if shared is None:
                pipeline = make_pipeline(entry, folds).fit(folds.X.iloc[fit_idx], folds.y[fit_idx])
            else:
                fit_matrix, _ = folds.matrices(spec, fold, native)
                model = entry.candidate.make(folds.task, folds.seed).fit(
                    fit_matrix, folds.y[fit_idx]
                )
                pipeline = Pipeline([("preprocess", shared[0]), ("model", model)])
            fitted.append(pipeline)
    cls = BaggedRegressor if folds.task == Task.REGRESSION else BaggedClassifier
    return cls.from_fitted(
        make_pipeline(entry, folds), fitted, n_folds=folds.n_folds, random_state=folds.seed
    )


#: Families served as a bag of their fold models on small data: boosting, whose single fit
#: varies most with the rows it sees. Forests are bags already (five of them would be five
#: times the size for nothing), and linear models and k-NN barely vary.
BAGGED_FAMILIES = frozenset({"lightgbm", "hist-gradient-boosting"})


def bags(entry: Entry, folds: Folds) -> bool:
    """Whether ``entry`` (a single candidate) is served as its fold models."""
    return folds.bag and entry.candidate.family in BAGGED_FAMILIES


def bag_seconds(entry: Entry, folds: Folds) -> float:
    """Predicted seconds to fit ``entry``'s bag (or, for an ensemble, its members' bags)."""
    members = entry.models
    total = 0.0
    for member in members:
        if not bags(member, folds):
            continue
        native = bool(member.candidate.native)
        key = prep_key(member.candidate.spec, native)
        prep = 0.0 if folds.shares(native) else folds.prep_seconds.get(key, 0)
        total += (float(np.mean(member.fit_seconds)) + prep) * folds.n_folds
    return total


def refit_entry(
    entry: Entry,
    folds: Folds,
    X: pd.DataFrame,
    y: np.ndarray,
    *,
    deadline: float | None,
    notes: list[str],
) -> tuple[Any, Entry]:
    """Fit ``entry`` (a candidate or the ensemble) for serving.

    On small data (``folds.bag``) a boosting model is served as the average of its fold
    models, one per fold of the cross-validation (bagging, as AutoGluon does), when that
    fits the deadline: it is the model the out-of-fold score measured, and the average of
    several models varies less than one refit. Otherwise each model is refitted on all
    rows. An ensemble's members are fitted by weight, heaviest first; if the deadline
    would pass, the rest are left out (and said so in ``notes``), the weights renormalised.
    """
    bag = folds.bag and len(X) == len(folds.X)
    cost = bag_seconds(entry, folds)
    if bag and cost > 0 and deadline is not None and time.perf_counter() + cost > deadline:
        bag = False
        notes.append("no time left to serve the fold models: refitted on all rows instead")
    members = sorted(entry.models, key=lambda e: -e.weight)
    fitted: list[Any] = []
    kept: list[Entry] = []
    for member in members:
        if fitted and deadline is not None:
            bagged = bag and bags(member, folds)
            share = float(np.mean(member.fit_seconds)) * (folds.n_folds if bagged else 1.4)
            if time.perf_counter() + share > deadline:
                notes.append(
                    f"ensemble members left out to stay within the budget: "
                    f"{', '.join(m.name for m in members[len(fitted) :])}"
                )
                break
        bagged = bag and bags(member, folds)
        fitted.append(_bag_one(member, folds) if bagged else _refit_one(member, folds, X, y))
        kept.append(member)
    if entry.candidate.family != ENSEMBLE:
        return fitted[0], entry
    if len(fitted) == 1:
        return fitted[0], kept[0]
    cls = WeightedEnsembleRegressor if folds.task == Task.REGRESSION else WeightedEnsembleClassifier
    ensemble = cls.from_fitted(fitted, [m.weight for m in kept], [m.name for m in kept])
    return ensemble, entry
