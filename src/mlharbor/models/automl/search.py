"""The AutoML search: portfolio, cost-aware tuning, ensemble selection, refit — in a budget.

1. A strong, diverse portfolio (:func:`portfolio`) is cross-validated on shared folds,
   cheapest first.
2. The leading families are tuned with Optuna (TPE, one study per family, seeded). A
   trial's cost is predicted from what its family cost so far, scaled by its number of
   trees; trials that would not finish before the search deadline are not started, early
   trials may cost at most a little more than the family's defaults (cheap first), and a
   trial whose first folds trail the leader's same folds is pruned.
   The first candidate is LightGBM with its defaults, so no search ends without it.
3. Greedy ensemble selection over the out-of-fold predictions, kept only when it beats the
   best single model on rows its weights were not chosen on (nested selection).
4. The winner is refitted on all rows or, on small data, served as the average of its fold
   models (bagging). Time for it is reserved from the start (predicted from fold fit
   times), so the whole run ends within the budget. Small data is also cross-validated
   twice over with different shuffles (repeated k-fold), for steadier scores.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from mlharbor.data.schema import DatasetSchema
from mlharbor.errors import InvalidInputError
from mlharbor.limits import check_budget
from mlharbor.models.automl.budget import FinishPlan, finish_seconds
from mlharbor.models.automl.engine import Search, TrialCallback, structure
from mlharbor.models.automl.foldmap import FoldMap, MapFolds
from mlharbor.models.automl.folds import Folds, StorableCheck, refusal
from mlharbor.models.automl.leaderboard import Entry, ranked
from mlharbor.models.automl.portfolio import check_metric, portfolio, restrict
from mlharbor.models.automl.result import AutoMLResult, refit_entry
from mlharbor.models.metrics import metric_kind
from mlharbor.models.problem import resolve_problem
from mlharbor.models.tasks import Task
from mlharbor.models.train import with_options
from mlharbor.prep.factory import native_categorical_columns

#: Above this many rows the search runs on a stratified sample; the winner is refitted on all.
MAX_SEARCH_ROWS = 20_000
#: Up to this many rows, with budget to spare, the folds are repeated with a second shuffle:
#: fits are cheap there and single k-fold scores too noisy to pick a model reliably.
REPEAT_MAX_ROWS = 2_000
REPEAT_MIN_BUDGET = 20.0
#: Up to this many rows, cross-validated with five folds or more, the fold models are served
#: (averaged) instead of a refit: each has seen 80 % of the rows or more.
BAG_MAX_ROWS = 5_000


@dataclass(frozen=True)
class AutoMLConfig:
    """What to search for and how: the user's choices, as one value (see :func:`run_automl`).

    Attributes
    ----------
    target : str
    time_budget : float, default=60
        Wall-clock seconds for the whole search including the final refit.
    metric : str, optional
        What to rank by; default ``roc_auc`` (binary), ``log_loss`` (multiclass), ``r2``.
    task : Task or str, optional
        Force the task instead of detecting it.
    drop : sequence of str
        Columns to leave out.
    seed : int, default=0
        Seeds folds, models and the tuner: with ``max_trials`` set and a budget large
        enough to reach it, the same call gives the same leaderboard.
    cv_folds : int, optional
        Default 5 (3 above 2,000 rows). Up to 2,000 rows and with a budget of 20 s or
        more, the folds are repeated twice with different shuffles if the first
        candidate's cost says the repeated portfolio takes under half the search time
        (so the number of folds can differ between a quiet and a very busy machine).
    max_trials : int, optional
        Stop after this many candidates, whatever time is left.
    max_search_rows : int, default=20000
        Search on a stratified sample of this many rows; the refit uses all rows.
    models : sequence of str, optional
        Search only these model families (catalog names or aliases, e.g.
        ``["logistic-regression", "decision-tree"]``); the winner is then one of them,
        never an ensemble.
    """

    target: str
    time_budget: float = 60.0
    metric: str | None = None
    task: Task | str | None = None
    drop: Sequence[str] = ()
    seed: int = 0
    cv_folds: int | None = None
    max_trials: int | None = None
    max_search_rows: int = MAX_SEARCH_ROWS
    models: Sequence[str] | None = None


def run_automl(
    df: pd.DataFrame,
    schema: DatasetSchema,
    config: AutoMLConfig | None = None,
    *,
    threads: int | None = None,
    on_trial: TrialCallback | None = None,
    map_folds: FoldMap | MapFolds | None = None,
    check_storable: StorableCheck | None = None,
    final_rows: int = 0,
    finish: FinishPlan | None = None,
    workers: int = 1,
    started: float | None = None,
    **options: Any,
) -> AutoMLResult:
    """Search models for ``target`` within ``time_budget`` seconds and refit the winner.

    Parameters
    ----------
    df : pandas.DataFrame
        The training rows (a test split, if any, is the caller's).
    schema : DatasetSchema
    config : AutoMLConfig, optional
        What to search for; ``options`` (the fields of :class:`AutoMLConfig`, such as
        ``target="price", time_budget=30``) build one or replace its fields.
    threads : int, optional
        Threads each model may use (default: all cores).
    on_trial : callable, optional
        Called with a JSON-ready event after every candidate (see :func:`trial_event`).
    map_folds : FoldMap or callable, optional
        Where to fit the folds instead of this process (local processes or Dask): a
        :class:`~mlharbor.models.automl.foldmap.FoldMap` (what a job hands over), or any
        ``map_folds(fn, items)``; early-fold pruning is then off.
    check_storable : callable, optional
        ``check(model, X)`` raises if ``model`` cannot be stored and loaded back to predict
        ``X`` the same (the registry's test; a module-level function, to run where the
        folds are fitted). It is run on the first fold model of each make of model, and a
        make that fails is never chosen nor ensembled (its leaderboard row says why); the
        served model is checked too, and replaced by the best one that passes if it fails.
    final_rows : int, default=0
        Rows the caller will refit the winner on after the run (its test split added); the
        time for that refit is reserved from the search, and predicted in
        :attr:`AutoMLResult.final_refit_seconds`.
    finish : FinishPlan, optional
        The caller's work after the run (evaluating the winner on its test split, the
        artifacts, saving it): priced from the candidates' costs and reserved from the
        search like the refit, predicted in :attr:`AutoMLResult.finish_seconds`.
    workers : int, default=1
        How many folds ``map_folds`` fits at once: candidates are then cross-validated
        several at a time, so that every worker has a fold to fit.
    started : float, optional
        When the budget started (``time.perf_counter()``), if before this call: the
        user's clock starts when they submit, not when the search does.

    Returns
    -------
    AutoMLResult

    Raises
    ------
    InvalidInputError
        Missing target, a single-class target, a metric that does not fit the task, a
        budget below two seconds, too few rows per class for two folds.
    """
    config = with_options(AutoMLConfig, config, options)
    budget = check_budget(config.time_budget)
    started = time.perf_counter() if started is None else started
    deadline = started + budget
    target, seed, models = config.target, config.seed, config.models
    drop = list(config.drop)
    problem = resolve_problem(df, schema, target=target, drop=drop, task=config.task)
    found, reason, plan, notes = problem.task, problem.task_reason, problem.plan, problem.notes
    y_all = problem.y
    class_values = np.unique(y_all) if found.is_classification else None
    classes = class_values.tolist() if class_values is not None else None
    kind = metric_kind(found, len(classes or ()))
    metric = check_metric(config.metric, kind)
    X_all = problem.X
    threads = threads or os.cpu_count() or 1

    search_idx = _search_rows(y_all, found, config.max_search_rows, seed)
    if len(search_idx) < len(y_all):
        notes.append(f"searched on {len(search_idx)} of {len(y_all)} rows; refitted on all")
    n_folds = _n_folds(y_all[search_idx], found, config.cv_folds, len(search_idx))
    y_search = y_all[search_idx]
    n_repeats = 2 if len(search_idx) <= REPEAT_MAX_ROWS and budget >= REPEAT_MIN_BUDGET else 1
    folds = Folds(
        X=X_all.iloc[search_idx].reset_index(drop=True),
        y=y_search,
        y_index=(
            np.searchsorted(class_values, y_search)
            if class_values is not None
            else y_search.astype(float)
        ),
        classes=classes,
        task=found,
        schema=schema,
        target=target,
        drop=drop,
        n_folds=n_folds,
        seed=seed,
        n_repeats=n_repeats,
        bag=n_folds >= 5 and len(search_idx) == len(y_all) and len(y_all) <= BAG_MAX_ROWS,
        # Target encoding of high-cardinality columns learns from the target: it must be
        # fitted inside each fold; everything else may be fitted once.
        shared=not plan.high_cardinality,
    )
    search = Search(
        folds=folds,
        metric=metric,
        kind=kind,
        seed=seed,
        started=started,
        deadline=deadline,
        n_full=len(y_all),
        max_trials=config.max_trials,
        on_trial=on_trial,
        map_folds=map_folds,
        check=check_storable,
        final_rows=final_rows,
        finish=finish,
        workers=workers,
        ensemble=not models,
    )
    # Small data: one thread per model (see portfolio); OpenMP users such as histogram
    # gradient boosting take no n_jobs, so their pools are capped here.
    with threadpool_limits(threads if len(search_idx) > 50_000 else 1):
        n_categorical = len(native_categorical_columns(plan))
        candidates = portfolio(found, kind, len(search_idx), threads, n_categorical)
        if models:
            candidates = restrict(candidates, list(models))
        try:
            search.run_portfolio(candidates)
            search.tune()
        finally:
            search.close_pipeline()  # fits still in flight can no longer count
        winner = search.choose()
    if search.entries[0].status != "ok" or (
        len([e for e in search.entries if e.usable]) == 1 and time.perf_counter() > deadline
    ):
        notes.append(
            f"the budget of {budget:g} s was too small to compare models: only the fastest "
            f"baseline ({search.entries[0].name}) was cross-validated"
        )
    refit_started = time.perf_counter()
    with threadpool_limits(threads if len(search_idx) > 50_000 else 1):
        pipeline, winner = _serve(search, winner, X_all, y_all, deadline=deadline, notes=notes)
    finished = time.perf_counter()
    return AutoMLResult(
        pipeline=pipeline,
        task=found,
        task_reason=reason,
        target=target,
        metric=metric,
        kind=kind,
        classes=classes,
        winner=winner,
        entries=ranked(search.entries),
        folds=folds,
        X=X_all,
        y=y_all,
        features=plan.features,
        dropped=plan.dropped,
        notes=notes,
        timings={
            "search": round(refit_started - started, 3),
            "refit": round(finished - refit_started, 3),
            "total": round(finished - started, 3),
            "budget": budget,
        },
        final_refit_seconds=search.refit_seconds(winner, final_rows) if final_rows else None,
        finish_seconds=finish_seconds(search, [winner], finish) if finish else None,
        worker_pids=sorted(search.pids),
        settings={
            "time_budget": budget,
            "metric": metric,
            "seed": seed,
            "cv_folds": n_folds,
            "cv_repeats": folds.n_repeats,
            "bagged": folds.bag,
            "drop": drop,
            "n_rows": len(y_all),
            "n_search_rows": len(search_idx),
            "max_trials": config.max_trials,
            "workers": workers if map_folds is not None else 1,
            "models": list(models) if models else None,
        },
    )


def _serve(
    search: Search,
    winner: Entry,
    X: pd.DataFrame,
    y: np.ndarray,
    *,
    deadline: float,
    notes: list[str],
) -> tuple[Any, Entry]:
    """The winner fitted for serving, or, if it cannot be stored, the best that can.

    The fold models were checked already; this catches what only the whole served model
    shows (its preprocessing, a bag, an ensemble). Each refusal costs a refit of the next
    best, past the deadline if need be: a run that searched must end with a model.
    """
    while True:
        pipeline, served = refit_entry(winner, search.folds, X, y, deadline=deadline, notes=notes)
        if search.check is None:
            return pipeline, served
        reason = refusal(search.check, pipeline, X, y)
        if reason is None:
            return pipeline, served
        _refuse(search, served, pipeline, reason, X, y)
        refused = served.name
        winner = search.choose()
        notes.append(f"{refused} {reason}; serving {winner.name}, the best model that can be")


def _refuse(
    search: Search, entry: Entry, pipeline: Any, reason: str, X: pd.DataFrame, y: np.ndarray
) -> None:
    """Mark ``entry`` and, of an ensemble, each member that fails alone, as not storable."""
    entry.refuse(reason)
    fitted = list(getattr(pipeline, "estimators_", []))
    names = list(getattr(pipeline, "names", []))
    for member in entry.member_entries:
        if member.name in names:
            assert search.check is not None  # a refusal came from the check
            alone = refusal(search.check, fitted[names.index(member.name)], X, y)
            if alone is not None:
                member.refuse(alone)
                search.refusals[structure(member.candidate)] = alone


def _search_rows(y: np.ndarray, task: Task, limit: int, seed: int) -> np.ndarray:
    if len(y) <= limit:
        return np.arange(len(y))
    from sklearn.model_selection import train_test_split

    idx, _ = train_test_split(
        np.arange(len(y)),
        train_size=limit,
        random_state=seed,
        stratify=y if task.is_classification else None,
    )
    return np.sort(idx)


def _n_folds(y: np.ndarray, task: Task, cv_folds: int | None, n_rows: int) -> int:
    # Five folds where fits are cheap and scores noisy; three on larger data, where a
    # fold costs more and two more folds would halve how many candidates fit the budget.
    wanted = cv_folds or (5 if n_rows <= 2_000 else 3)
    if wanted < 2:
        raise InvalidInputError(f"cv_folds must be at least 2, got {cv_folds}")
    if n_rows < 2 * wanted and n_rows < 10:
        raise InvalidInputError(f"only {n_rows} rows with a target: too few to cross-validate")
    if not task.is_classification:
        return min(wanted, n_rows // 2)
    labels, counts = np.unique(y, return_counts=True)
    smallest = int(counts.min())
    if smallest < 2:
        lonely = [str(lab) for lab, n in zip(labels, counts, strict=True) if n < 2][:20]
        raise InvalidInputError(
            f"some classes have a single row, too few to cross-validate: {', '.join(lonely)}",
            classes=lonely,
        )
    return min(wanted, smallest)
