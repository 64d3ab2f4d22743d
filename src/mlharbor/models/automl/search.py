"""The AutoML search: portfolio, cost-aware tuning, ensemble selection, refit — in a budget.

1. A strong, diverse portfolio (:func:`portfolio`) is cross-validated on shared folds,
   cheapest first.
2. The leading families are tuned with Optuna (TPE, one study per family, seeded). A
   trial's cost is predicted from what its family cost so far, scaled by its number of
   trees; trials that would not finish before the search deadline are not started, early
   trials may cost at most a little more than the family's defaults (cheap first), and a
   trial whose first folds trail the leader's same folds is pruned.
3. Greedy ensemble selection over the out-of-fold predictions, kept only when it beats the
   best single model out of fold.
4. The winner is refitted on all rows. Time for it is reserved from the start (predicted
   from fold fit times), so the whole run ends within the budget.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from mlharbor.data.schema import DatasetSchema
from mlharbor.errors import InvalidInputError
from mlharbor.models.automl.ensemble import greedy_selection
from mlharbor.models.automl.folds import Folds, fit_fold, prep_key
from mlharbor.models.automl.leaderboard import Entry, ranked
from mlharbor.models.automl.portfolio import (
    TUNABLE,
    Candidate,
    check_metric,
    metric_kind,
    portfolio,
    scorer,
    size_of,
)
from mlharbor.models.automl.result import AutoMLResult, refit_entry
from mlharbor.models.metrics import compute_metrics
from mlharbor.models.tasks import Task, detect_task, parse_task
from mlharbor.models.train import (
    _check_forced_task,
    _rows_with_target,
    _schema_column,
    _target_values,
)
from mlharbor.prep.factory import plan_features

#: Below this, no model can be cross-validated: refused up front.
MIN_BUDGET = 2.0
MAX_BUDGET = 24 * 3600.0
#: Above this many rows the search runs on a stratified sample; the winner is refitted on all.
MAX_SEARCH_ROWS = 20_000
TrialCallback = Callable[[dict[str, Any]], None]
MapFolds = Callable[[Callable[[Any], Any], list[Any]], list[Any]]


def run_automl(
    df: pd.DataFrame,
    schema: DatasetSchema,
    *,
    target: str,
    time_budget: float = 60.0,
    metric: str | None = None,
    task: Task | str | None = None,
    drop: Iterable[str] = (),
    seed: int = 0,
    cv_folds: int | None = None,
    max_trials: int | None = None,
    max_search_rows: int = MAX_SEARCH_ROWS,
    threads: int | None = None,
    on_trial: TrialCallback | None = None,
    map_folds: MapFolds | None = None,
) -> AutoMLResult:
    """Search models for ``target`` within ``time_budget`` seconds and refit the winner.

    Parameters
    ----------
    df : pandas.DataFrame
        The training rows (a test split, if any, is the caller's).
    schema : DatasetSchema
    target : str
    time_budget : float, default=60
        Wall-clock seconds for the whole search including the final refit.
    metric : str, optional
        What to rank by; default ``roc_auc`` (binary), ``log_loss`` (multiclass), ``r2``.
    task : Task or str, optional
        Force the task instead of detecting it.
    drop : iterable of str
        Columns to leave out.
    seed : int, default=0
        Seeds folds, models and the tuner: with ``max_trials`` set and a budget large
        enough to reach it, the same call gives the same leaderboard.
    cv_folds : int, optional
        Default 5 (3 above 2,000 rows).
    max_trials : int, optional
        Stop after this many candidates, whatever time is left.
    max_search_rows : int, default=20000
        Search on a stratified sample of this many rows; the refit uses all rows.
    threads : int, optional
        Threads each model may use (default: all cores).
    on_trial : callable, optional
        Called with a JSON-ready event after every candidate (see :func:`trial_event`).
    map_folds : callable, optional
        ``map_folds(fn, items)``: fit a candidate's folds on an executor (local processes or
        Dask) instead of in this process; early-fold pruning is then off.

    Returns
    -------
    AutoMLResult

    Raises
    ------
    InvalidInputError
        Missing target, a single-class target, a metric that does not fit the task, a
        budget below two seconds, too few rows per class for two folds.
    """
    started = time.perf_counter()
    budget = _check_budget(time_budget)
    deadline = started + budget
    drop = list(drop)
    if target not in df.columns:
        raise InvalidInputError(
            f"target column {target!r} is not in the dataset; its columns are: "
            f"{', '.join(map(str, df.columns))}",
            target=target,
        )
    if target in drop:
        raise InvalidInputError(f"the target {target!r} cannot also be dropped")
    notes: list[str] = []
    df = _rows_with_target(df, target, notes)
    forced = parse_task(task)
    plan = plan_features(schema, target=target, drop=drop)
    if forced is None:
        usable = [schema.column(name) for name in plan.features]
        found, reason = detect_task(df[target], _schema_column(schema, target), features=usable)
    else:
        found, reason = forced, "set by the user"
        _check_forced_task(df[target], forced)
    y_all = _target_values(df[target], found)
    class_values = np.unique(y_all) if found.is_classification else None
    classes = class_values.tolist() if class_values is not None else None
    kind = metric_kind(found, len(classes or ()))
    metric = check_metric(metric, kind)
    X_all = df[plan.features]
    threads = threads or os.cpu_count() or 1

    search_idx = _search_rows(y_all, found, max_search_rows, seed)
    if len(search_idx) < len(y_all):
        notes.append(f"searched on {len(search_idx)} of {len(y_all)} rows; refitted on all")
    n_folds = _n_folds(y_all[search_idx], found, cv_folds, len(search_idx))
    y_search = y_all[search_idx]
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
    )
    search = _Search(
        folds=folds,
        metric=metric,
        kind=kind,
        seed=seed,
        started=started,
        deadline=deadline,
        n_full=len(y_all),
        max_trials=max_trials,
        on_trial=on_trial,
        map_folds=map_folds,
    )
    # Small data: one thread per model (see portfolio); OpenMP users such as histogram
    # gradient boosting take no n_jobs, so their pools are capped here.
    with threadpool_limits(threads if len(search_idx) > 50_000 else 1):
        search.run_portfolio(portfolio(found, kind, len(search_idx), threads))
        search.tune()
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
        pipeline, winner = refit_entry(winner, folds, X_all, y_all, deadline=deadline, notes=notes)
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
        settings={
            "time_budget": budget,
            "metric": metric,
            "seed": seed,
            "cv_folds": n_folds,
            "drop": drop,
            "n_rows": len(y_all),
            "n_search_rows": len(search_idx),
            "max_trials": max_trials,
        },
    )


class _Search:
    def __init__(self, *, folds: Folds, metric: str, kind: str, seed: int, started: float,
                 deadline: float, n_full: int, max_trials: int | None,
                 on_trial: TrialCallback | None, map_folds: MapFolds | None) -> None:
        self.folds = folds
        self.metric, self.kind, self.seed = metric, kind, seed
        self.score = scorer(metric, kind)
        self.started, self.deadline = started, deadline
        self.budget = deadline - started
        self.n_full = n_full
        self.max_trials = max_trials
        self.on_trial = on_trial
        self.map_folds = map_folds
        self.entries: list[Entry] = []

    # ---- time -----------------------------------------------------------------------------

    def _refit_estimate(self, entry: Entry) -> float:
        """Seconds to refit ``entry`` on all rows, from its fold fit times."""
        n_fit = len(self.folds.splits[0][0])
        ratio = self.n_full / max(1, n_fit)
        prep = self.folds.prep_seconds.get(prep_key(entry.candidate.spec), 0.0)
        return (float(np.mean(entry.fit_seconds)) + prep) * ratio**1.15

    def search_deadline(self) -> float:
        """When searching must stop so that refitting the likely winners still fits."""
        leaders = [e for e in ranked(self.entries) if e.usable][:3]
        # The winner's refit is certain; ensemble partners are refitted only if time is
        # left (see refit_entry), so only part of theirs is reserved.
        estimates = [self._refit_estimate(e) for e in leaders]
        reserve = 1.3 * estimates[0] + 0.3 * sum(estimates[1:]) if estimates else 0.0
        safety = 0.04 * self.budget + 0.3
        return self.deadline - reserve - safety

    def _left(self) -> float:
        return self.search_deadline() - time.perf_counter()

    def _trials_left(self) -> bool:
        return self.max_trials is None or len(self.entries) < self.max_trials

    def _family_cost(self, family: str, params: dict[str, Any]) -> float | None:
        """Predicted seconds per fold of a configuration of ``family``, if it was seen."""
        seen = [e for e in self.entries if e.candidate.family == family and e.fit_seconds]
        if not seen:
            return None
        per_size = np.median([e.fold_cost / size_of(e.candidate.params) for e in seen])
        return float(per_size * size_of(params))

    def _prior_cost(self, candidate: Candidate) -> float:
        """Predicted seconds per fold; a family not seen yet is assumed twice the median."""
        known = self._family_cost(candidate.family, candidate.params)
        if known is not None:
            return known
        seen = [e.fold_cost for e in self.entries if e.fit_seconds]
        return 2.0 * float(np.median(seen)) if seen else 0.0

    # ---- evaluation -----------------------------------------------------------------------

    def evaluate(self, candidate: Candidate, *, prune: bool) -> Entry:
        entry = Entry(candidate, trial=len(self.entries) + 1)
        self.entries.append(entry)
        try:
            estimator = candidate.make(self.folds.task, self.seed)
            if self.map_folds is not None:
                self._fan_out(entry, estimator)
            else:
                self._in_process(entry, estimator, prune=prune)
        except Exception as exc:  # a configuration the data or the model refuses
            entry.status, entry.error = "failed", f"{type(exc).__name__}: {exc}"[:500]
        if entry.status == "ok":
            entry.oof = self._oof(entry)
        self._emit(entry)
        return entry

    def _in_process(self, entry: Entry, estimator: Any, *, prune: bool) -> None:
        spec = entry.candidate.spec
        best = next(iter(e for e in ranked(self.entries) if e.usable), None)
        first = not any(e.fit_seconds for e in self.entries if e is not entry)
        entry.oof_parts = []  # type: ignore[attr-defined]
        for fold in range(self.folds.n_folds):
            per_fold = entry.fold_cost or self._prior_cost(entry.candidate)
            if not first and time.perf_counter() + per_fold > self.search_deadline():
                entry.status = "skipped"
                return
            result = fit_fold(self.folds.fold_task(spec, estimator, fold))
            self._record(entry, result)
            if prune and best is not None and fold < self.folds.n_folds - 1 and fold >= 1:
                mine = float(np.mean(entry.fold_scores))
                theirs = float(np.mean(best.fold_scores[: fold + 1]))
                margin = 0.5 * float(np.std(best.fold_scores)) + 1e-9
                if mine < theirs - margin:
                    entry.status = "pruned"
                    return

    def _fan_out(self, entry: Entry, estimator: Any) -> None:
        spec = entry.candidate.spec
        per_fold = self._prior_cost(entry.candidate)
        if self.entries[0] is not entry and time.perf_counter() + per_fold * 2 > self.search_deadline():
            entry.status = "skipped"
            return
        tasks = [self.folds.fold_task(spec, estimator, f) for f in range(self.folds.n_folds)]
        entry.oof_parts = []  # type: ignore[attr-defined]
        for result in self.map_folds(fit_fold, tasks):  # type: ignore[misc]
            self._record(entry, result)

    def _record(self, entry: Entry, result: Any) -> None:
        _, val_idx = self.folds.splits[result.index]
        y_val = self.folds.y_index[val_idx]
        entry.fold_scores.append(self.score(y_val, result.prediction))
        entry.fit_seconds.append(result.fit_seconds)
        entry.predict_seconds.append(result.predict_seconds)
        entry.fold_metrics.append(self._metrics(self.folds.y[val_idx], result.prediction))
        entry.oof_parts.append(result)  # type: ignore[attr-defined]

    def _metrics(self, y_true: np.ndarray, prediction: np.ndarray) -> dict[str, float]:
        task, classes = self.folds.task, self.folds.classes
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if task == Task.REGRESSION:
                return compute_metrics(task, y_true, prediction)
            labels = np.asarray(classes, dtype=object)[prediction.argmax(axis=1)]
            if self.folds.y.dtype != object:
                labels = labels.astype(self.folds.y.dtype)
            return compute_metrics(task, y_true, labels, classes=classes, proba=prediction)

    def _oof(self, entry: Entry) -> np.ndarray:
        parts = entry.oof_parts  # type: ignore[attr-defined]
        first = parts[0].prediction
        oof = np.zeros((len(self.folds.y),) + first.shape[1:])
        for part in parts:
            oof[self.folds.splits[part.index][1]] = part.prediction
        del entry.oof_parts  # type: ignore[attr-defined]
        return oof

    def _emit(self, entry: Entry) -> None:
        if self.on_trial is None:
            return
        leader = next(iter(e for e in ranked(self.entries) if e.usable), None)
        row = entry.to_dict(self.metric, self.kind)
        now = time.perf_counter()
        self.on_trial(
            {
                **{k: row[k] for k in ("name", "family", "phase", "trial", "status", "params",
                                       "metric", "score", "score_std", "fit_seconds",
                                       "predict_seconds", "error")},
                "elapsed": round(now - self.started, 2),
                "remaining": round(max(0.0, self.deadline - now), 2),
                "budget": round(self.budget, 2),
                "best": leader.name if leader else None,
                "best_score": leader.to_dict(self.metric, self.kind)["score"] if leader else None,
            }
        )

    # ---- phases ---------------------------------------------------------------------------

    def run_portfolio(self, candidates: list[Candidate]) -> None:
        for candidate in candidates:
            if not self._trials_left():
                return
            if self.entries and self._left() <= 0:
                return
            self.evaluate(candidate, prune=False)

    def tune(self) -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        leaders: list[Entry] = []
        for entry in ranked(self.entries):
            if entry.usable and entry.candidate.family in TUNABLE and all(
                entry.candidate.family != e.candidate.family for e in leaders
            ):
                leaders.append(entry)
        leaders = leaders[:3]
        if not leaders:
            return
        studies = {
            e.candidate.family: optuna.create_study(
                direction="maximize",
                sampler=optuna.samplers.TPESampler(seed=self.seed + i, n_startup_trials=4),
            )
            for i, e in enumerate(leaders)
        }
        base = {e.candidate.family: e for e in leaders}
        tried = {family: 0 for family in studies}
        schedule = [0, 1, 0, 2, 0, 1]
        turn = 0
        while self._trials_left() and studies and self._left() > 0:
            order = [f for f in (e.candidate.family for e in leaders) if f in studies]
            family = order[schedule[turn % len(schedule)] % len(order)]
            turn += 1
            if not self._tune_once(family, studies[family], base[family], tried):
                del studies[family]

    def _tune_once(self, family: str, study: Any, base: Entry, tried: dict[str, int]) -> bool:
        """Run one trial of ``family``; ``False`` when the family has no affordable trial."""
        import optuna

        spec = base.candidate.spec
        base_cost = base.fold_cost * self.folds.n_folds
        for _ in range(6):
            trial = study.ask()
            params = {**base.candidate.params, **spec.search_space(trial, self.folds.task)}
            per_fold = self._family_cost(family, params) or base.fold_cost
            cost = per_fold * self.folds.n_folds
            cheap_cap = base_cost * (1.5 + tried[family] / 2)
            if cost > cheap_cap or time.perf_counter() + cost > self.search_deadline():
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                continue
            tried[family] += 1
            name = f"{family}-t{tried[family]}"
            entry = self.evaluate(Candidate(name, family, params, "tuning"), prune=True)
            if entry.status == "ok":
                study.tell(trial, entry.signed_score)
            elif entry.status == "pruned":
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            else:
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
            return entry.status != "skipped"
        return False

    def choose(self) -> Entry:
        """The best single candidate, or the ensemble if it beats it out of fold."""
        usable = [e for e in ranked(self.entries) if e.usable]
        if not usable:
            errors = "; ".join(f"{e.name}: {e.error}" for e in self.entries if e.error)[:800]
            raise InvalidInputError(f"no model could be trained on this data ({errors})")
        best = usable[0]
        pool = usable[:25]
        weights, score = greedy_selection([e.oof for e in pool], self.folds.y_index, self.score)
        members = {e.name: float(w) for e, w in zip(pool, weights, strict=True) if w > 0}
        if len(members) < 2 or score <= self.score(self.folds.y_index, best.oof) + 1e-9:
            return best
        for e, w in zip(pool, weights, strict=True):
            e.weight = float(w)
        blend = sum(w * e.oof for e, w in zip(pool, weights, strict=True) if w > 0)
        entry = Entry(Candidate("ensemble", "ensemble", {}, "ensemble"), trial=len(self.entries) + 1)
        entry.members = members
        entry.oof = blend
        for fold, (_, val_idx) in enumerate(self.folds.splits):
            entry.fold_scores.append(self.score(self.folds.y_index[val_idx], blend[val_idx]))
            entry.fold_metrics.append(self._metrics(self.folds.y[val_idx], blend[val_idx]))
        chosen = [e for e in pool if e.weight > 0]
        entry.fit_seconds = [sum(float(np.mean(e.fit_seconds)) for e in chosen)]
        entry.predict_seconds = [sum(float(np.mean(e.predict_seconds)) for e in chosen)]
        entry.member_entries = chosen  # type: ignore[attr-defined]
        self.entries.append(entry)
        self._emit(entry)
        return entry


def _check_budget(time_budget: Any) -> float:
    try:
        budget = float(time_budget)
    except (TypeError, ValueError):
        raise InvalidInputError(f"time_budget must be a number of seconds, got {time_budget!r}")
    if not np.isfinite(budget) or budget < MIN_BUDGET:
        raise InvalidInputError(
            f"a time budget of {time_budget} s is too small to fit even one model: "
            f"give at least {MIN_BUDGET:g} seconds",
            time_budget=time_budget,
        )
    if budget > MAX_BUDGET:
        raise InvalidInputError(f"time_budget must be at most {MAX_BUDGET:g} seconds")
    return budget


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
