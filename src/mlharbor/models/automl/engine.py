"""The search loop: evaluate candidates on shared folds, tune the leaders, ensemble.

:class:`Search` keeps the clock. Its deadline for starting work is the budget minus the
predicted refit of the current leaders, so that the final refit always fits.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from typing import Any

import numpy as np

from mlharbor.errors import InvalidInputError
from mlharbor.models.automl.budget import FinishPlan, finish_seconds
from mlharbor.models.automl.ensemble import greedy_selection, nested_selection_oof
from mlharbor.models.automl.foldmap import FoldMap, MapFolds, as_fold_map
from mlharbor.models.automl.folds import Folds, StorableCheck, fit_fold, fold_metrics, prep_key
from mlharbor.models.automl.leaderboard import Entry, ranked
from mlharbor.models.automl.pipeline import Pipeline
from mlharbor.models.automl.portfolio import (
    RELATIVE_COST,
    Candidate,
    scorer,
    size_of,
)
from mlharbor.models.automl.result import bag_seconds, bags
from mlharbor.models.automl.tuning import Tuning

TrialCallback = Callable[[dict[str, Any]], None]


class Search(Pipeline, Tuning):
    """The state of one search: the folds, the leaderboard entries and the clock.

    Folds are fitted in this process one after the other (with early pruning) until
    ``map_folds``'s workers are up, then pipelined over them (see :class:`Pipeline`).
    """

    def __init__(
        self,
        *,
        folds: Folds,
        metric: str,
        kind: str,
        seed: int,
        started: float,
        deadline: float,
        n_full: int,
        max_trials: int | None,
        on_trial: TrialCallback | None,
        map_folds: FoldMap | MapFolds | None,
        check: StorableCheck | None = None,
        final_rows: int = 0,
        finish: FinishPlan | None = None,
        workers: int = 1,
        ensemble: bool = True,
    ) -> None:
        self.folds = folds
        #: Whether an ensemble of the candidates may win (not when the user named families).
        self.ensemble = ensemble
        self.metric, self.kind, self.seed = metric, kind, seed
        self.score = scorer(metric, kind)
        self.started, self.deadline = started, deadline
        self.budget = deadline - started
        self.n_full = n_full
        self.max_trials = max_trials
        self.on_trial = on_trial
        self.map_folds = as_fold_map(map_folds, workers)
        self.check = check
        #: Rows of a refit on all the data after the run (the caller's holdout added): its
        #: time is reserved from the search too.
        self.final_rows = final_rows
        #: The caller's work after the run (evaluation, artifacts, saving): reserved too.
        self.finish = finish
        #: How many folds ``map_folds`` fits at once (the cores, or the cluster's threads).
        self._workers = max(1, workers) if map_folds is not None else 1
        #: Seconds of the storability check of a family's miniature: prices saving it.
        self.check_seconds: dict[str, float] = {}
        self.pids: set[int] = set()
        #: Storability per model structure (see :func:`structure`): ``None`` = stores.
        self.refusals: dict[Hashable, str | None] = {}
        self.entries: list[Entry] = []
        self._init_pipeline()

    # ---- time -----------------------------------------------------------------------------

    def _refit_estimate(self, entry: Entry) -> float:
        """Seconds to refit ``entry`` on all rows (or fit its bag), from its fold fit times,
        and to refit it again on the final rows if there is such a refit."""
        if bags(entry, self.folds):
            first = bag_seconds(entry, self.folds)
        else:
            native = bool(entry.candidate.native)
            # The shared preprocessing is reused when the search saw every row: refit_entry.
            reused = self.folds.shares(native) and self.n_full == len(self.folds.y)
            first = self.refit_seconds(entry, self.n_full, prep=not reused)
        return first + (self.refit_seconds(entry, self.final_rows) if self.final_rows else 0.0)

    def refit_seconds(self, entry: Entry, n_rows: int, *, prep: bool = True) -> float:
        """Predicted seconds to fit ``entry``'s served model anew on ``n_rows`` rows.

        From its fold fit times, scaled a little worse than linearly with the rows; a bag
        fits one model per fold, an ensemble each of its members.
        """
        members = entry.models
        n_fit = len(self.folds.splits[0][0])
        total = 0.0
        for member in members:
            if not member.fit_seconds:
                continue
            key = prep_key(member.candidate.spec, bool(member.candidate.native))
            prep_cost = self.folds.prep_seconds.get(key, 0.0) if prep else 0.0
            one = float(np.mean(member.fit_seconds)) + prep_cost
            if bags(member, self.folds):
                share = (self.folds.n_folds - 1) / self.folds.n_folds
                total += one * self.folds.n_folds * (n_rows * share / max(1, n_fit)) ** 1.15
            else:
                total += one * (n_rows / max(1, n_fit)) ** 1.15
        return total

    def search_deadline(self) -> float:
        """When searching must stop so that refitting the likely winners, and the caller's
        finish with them (evaluating, saving), still fit."""
        safety = 0.04 * self.budget + 0.3 + 0.002 * len(self.entries)
        return self.deadline - self._refit_reserve() - self.finish_reserve() - safety

    def _leaders(self) -> list[Entry]:
        """The likely ensemble: the three best scored entries or, before any is scored,
        the first candidate from the folds it has fitted so far (it always runs, and its
        folds are pipelined with the next candidates': they must leave room for it)."""
        leaders = [e for e in ranked(self.entries) if e.usable][:3]
        if leaders:
            return leaders
        return [e for e in self.entries[:1] if e.status == "ok" and e.fit_seconds]

    def _refit_reserve(self) -> float:
        """Seconds to keep for refitting the likely ensemble (the leaders)."""
        return 1.1 * sum(self._refit_estimate(e) for e in self._leaders())

    def finish_reserve(self) -> float:
        """Seconds to keep for the caller's finish (see :class:`FinishPlan`) of the likely
        ensemble: its test predictions, permutation importance, learning curve, file."""
        return 1.1 * finish_seconds(self, self._leaders(), self.finish)

    @property
    def fanning(self) -> bool:
        """Whether folds go to ``map_folds`` now: it is given and its workers are up.

        A local pool's workers take seconds to start and import the model libraries (tens
        on a busy machine); until they are ready (``map_folds.ready()`` false) the search
        fits in this process, with early pruning, rather than wait for them.
        """
        return self.map_folds is not None and self.map_folds.ready()

    @property
    def workers(self) -> int:
        """How many folds are fitted at once now."""
        return self._workers if self.fanning else 1

    def _wall(self, per_fold: float, n_tasks: int) -> float:
        """Wall seconds of ``n_tasks`` folds of ``per_fold`` seconds on the workers."""
        return per_fold * -(-n_tasks // self.workers)

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
        """Predicted seconds per fold of a candidate.

        A family not seen yet is priced from the families seen so far and the families'
        relative costs (:data:`RELATIVE_COST`), and at least twice the median fold seen:
        on wide sparse text matrices a forest's fold can cost ten times a linear model's,
        and a fold, once started, cannot be stopped.
        """
        # A family given up for its cost costs at least what its folds had run.
        overran = self.overran.get(candidate.family, 0.0)
        known = self._family_cost(candidate.family, candidate.params)
        if known is not None:
            return max(known, overran)
        seen = [e for e in self.entries if e.fit_seconds]
        if not seen:
            return overran
        median = float(np.median([e.fold_cost for e in seen]))
        relative = RELATIVE_COST.get(candidate.family, 4.0)
        scaled = np.median([e.fold_cost / RELATIVE_COST.get(e.candidate.family, 4.0) for e in seen])
        return max(2.0 * median, float(scaled) * relative, overran)

    # ---- evaluation -----------------------------------------------------------------------

    def evaluate(self, candidate: Candidate, *, prune: bool) -> Entry:
        return self.evaluate_batch([candidate], prune=prune)[0]

    def evaluate_batch(self, candidates: list[Candidate], *, prune: bool) -> list[Entry]:
        """Cross-validate ``candidates`` in this process, one after the other."""
        entries = []
        for candidate in candidates:
            entry = Entry(candidate, trial=len(self.entries) + 1)
            self.entries.append(entry)
            entries.append(entry)
            if self._refused(entry):
                self._emit(entry)
                continue
            try:
                estimator = candidate.make(self.folds.task, self.seed)
                self._in_process(entry, estimator, prune=prune)
            except Exception as exc:  # a configuration the data or the model refuses
                entry.status, entry.error = "failed", f"{type(exc).__name__}: {exc}"[:500]
            if entry.status == "ok":
                entry.oof = self._oof(entry)
            self._emit(entry)
        return entries

    def _refused(self, entry: Entry) -> bool:
        """Whether a model of ``entry``'s make could not be stored: this one could not
        either (it is then skipped, and says why)."""
        refused = self.refusals.get(structure(entry.candidate))
        if refused:
            entry.status = "skipped"
            entry.refuse(refused)
        return bool(refused)

    def _in_process(self, entry: Entry, estimator: Any, *, prune: bool) -> None:
        spec, native = entry.candidate.spec, bool(entry.candidate.native)
        best = next(iter(e for e in ranked(self.entries) if e.usable), None)
        first = not any(e.fit_seconds for e in self.entries if e is not entry)
        entry.oof_parts = []
        for fold in range(self.folds.n_splits):
            per_fold = entry.fold_cost or self._prior_cost(entry.candidate)
            per_fold += self.folds.pending_prep(spec, fold, native)
            if not first and time.perf_counter() + per_fold > self.search_deadline():
                entry.status = "skipped"
                return
            left = self.search_deadline() - time.perf_counter()
            # The first candidate always runs (the search must end with a model), but its
            # boosting shares out the search time over its folds rather than taking it all.
            limit = 0.8 * left / (self.folds.n_splits - fold) if first else left
            check = self._check_for(entry) if fold == 0 else None
            result = fit_fold(self.folds.fold_task(spec, estimator, fold, limit, native, check))
            self._record(entry, result)
            if prune and best is not None and fold < self.folds.n_splits - 1 and fold >= 1:
                mine = float(np.mean(entry.fold_scores))
                theirs = float(np.mean(best.fold_scores[: fold + 1]))
                margin = 0.5 * float(np.std(best.fold_scores)) + 1e-9
                if mine < theirs - margin:
                    entry.status = "pruned"
                    return

    def _check_for(self, entry: Entry) -> StorableCheck | None:
        """The storability check, for the first fold model of a make not checked yet."""
        if self.check is None or structure(entry.candidate) in self.refusals:
            return None
        return self.check

    def _record(self, entry: Entry, result: Any) -> None:
        if getattr(result, "checked", False):
            self.refusals[structure(entry.candidate)] = result.refused
            family = entry.candidate.family
            self.check_seconds[family] = max(
                self.check_seconds.get(family, 0.0), result.check_seconds
            )
        #: Which processes fitted the folds (several when they fan out over the cores).
        self.pids.add(getattr(result, "pid", 0))
        if result.refused:
            entry.refuse(result.refused)
        _, val_idx = self.folds.splits[result.index]
        y_val = self.folds.y_index[val_idx]
        entry.fold_scores.append(self.score(y_val, result.prediction))
        entry.fit_seconds.append(result.fit_seconds)
        entry.predict_seconds.append(result.predict_seconds)
        metrics = result.metrics  # computed by the worker that fitted it, if it fanned out
        if metrics is None:
            metrics = self._metrics(self.folds.y[val_idx], result.prediction)
        entry.fold_metrics.append(metrics)
        entry.oof_parts.append(result)

    def _metrics(self, y_true: np.ndarray, prediction: np.ndarray) -> dict[str, float]:
        return fold_metrics(self.folds.task, self.folds.classes, y_true, prediction)

    def _oof(self, entry: Entry) -> np.ndarray:
        parts = entry.oof_parts
        first = parts[0].prediction
        oof = np.zeros((len(self.folds.y), *first.shape[1:]))
        seen = np.zeros(len(self.folds.y))
        for part in parts:
            val_idx = self.folds.splits[part.index][1]
            oof[val_idx] += part.prediction
            seen[val_idx] += 1
        entry.oof_parts = []  # joined into oof: the parts go
        # Repeated folds predict every row once per repeat: the mean over the repeats.
        return oof / seen.reshape(-1, *([1] * (oof.ndim - 1)))

    def _emit(self, entry: Entry) -> None:
        if self.on_trial is None:
            return
        leader = next(iter(e for e in ranked(self.entries) if e.usable), None)
        row = entry.to_dict(self.metric, self.kind)
        now = time.perf_counter()
        self.on_trial(
            {
                **{
                    k: row[k]
                    for k in (
                        "name",
                        "family",
                        "phase",
                        "trial",
                        "status",
                        "params",
                        "metric",
                        "score",
                        "score_std",
                        "fit_seconds",
                        "predict_seconds",
                        "error",
                        "note",
                    )
                },
                "elapsed": round(now - self.started, 2),
                "remaining": round(max(0.0, self.deadline - now), 2),
                "budget": round(self.budget, 2),
                "best": leader.name if leader else None,
                "best_score": leader.to_dict(self.metric, self.kind)["score"] if leader else None,
            }
        )

    # ---- phases ---------------------------------------------------------------------------

    def run_portfolio(self, candidates: list[Candidate]) -> None:
        # Repeated folds are decided on the first candidate's cost: it runs one repeat, and
        # the others only if the whole portfolio, repeated, takes under half the search.
        later = self.folds.splits[self.folds.n_folds :]
        self.folds.splits = self.folds.splits[: self.folds.n_folds]
        queue = list(candidates)

        def propose() -> Candidate | None:
            if not queue or not self._trials_left() or (self.entries and self._left() <= 0):
                queue.clear()
                return None
            return queue.pop(0)

        # In this process until the workers are up (the first candidate, on a cold pool).
        while not self.fanning and (candidate := propose()) is not None:
            entry = self.evaluate(candidate, prune=False)
            if later:
                if self._repeats_fit(entry, candidates, later):
                    self._extend(entry)
                later = []
        if queue:

            def on_first(entry: Entry) -> None:
                self._repeats_fit(entry, candidates, later)
                later.clear()

            self.run_pipeline(propose, on_first=on_first if later else None)
        if later:  # not even one candidate ran
            self.folds.n_repeats = 1

    def _repeats_fit(
        self, first: Entry, candidates: list[Candidate], later: list[tuple[Any, Any]]
    ) -> bool:
        """Whether the other repeats of the folds fit, priced from ``first``'s folds: if
        they do, they are added (``first`` has them still to fit)."""
        relative = sum(RELATIVE_COST.get(c.family, 4.0) for c in candidates)
        relative /= RELATIVE_COST.get(first.candidate.family, 4.0)
        per_fold = first.fold_cost
        # The others fit their preprocessing per fold where target encoding is in it, even
        # when the first (native categoricals) shares one: price it from what prep cost.
        if not self.folds.shared:
            per_fold += max(self.folds.prep_seconds.values(), default=0.0)
        repeated = per_fold * (len(self.folds.splits) + len(later)) * relative / self.workers
        half = 0.5 * (self.search_deadline() - self.started)
        if first.status != "ok" or time.perf_counter() + repeated > self.started + half:
            self.folds.n_repeats = 1
            return False
        self.folds.splits = self.folds.splits + later
        return True

    def _extend(self, entry: Entry) -> None:
        """Cross-validate ``entry`` on the folds added since it ran (the other repeats)."""
        done = len(entry.fold_scores)
        estimator = entry.candidate.make(self.folds.task, self.seed)
        spec, native = entry.candidate.spec, bool(entry.candidate.native)
        threads = 1 if self.fanning else None
        tasks = [
            self.folds.fold_task(spec, estimator, f, native=native, threads=threads)
            for f in range(done, self.folds.n_splits)
        ]
        entry.oof_parts = []
        map_folds = self.map_folds if self.fanning else None
        fitted = map_folds.map(fit_fold, tasks) if map_folds is not None else map(fit_fold, tasks)
        for result in fitted:
            self._record(entry, result)
        before, after = done // self.folds.n_folds, len(tasks) // self.folds.n_folds
        oof = entry.oof_predictions
        entry.oof = (oof * before + self._oof(entry) * after) / (before + after)

    def _selection_time(self, now: float) -> float:
        """Seconds ensemble selection may take: what is left before the refit's reserve,
        and at least 2 % of the budget (the search's safety margin is twice that), since
        the last trial may have overrun the search deadline a little."""
        return max(self.deadline - self._refit_reserve() - now, 0.02 * self.budget)

    def _ensemble_beats(
        self,
        pool: list[Entry],
        weights: np.ndarray,
        score: float,
        best: Entry,
        selection_seconds: float,
    ) -> bool:
        """Whether the selected ensemble beats the best single model by more than noise.

        The ensemble's weights were chosen on the very out-of-fold predictions it is scored
        on, so its score flatters it. Where there is time (a few selections, seconds on
        small data), selection is itself cross-validated and the ensemble must win on
        rows its weights never saw; otherwise it must win on the folds by more than one
        standard error of its per-fold gain.
        """
        y = self.folds.y_index
        best_score = self.score(y, best.oof_predictions)
        outer = self.folds.splits[: self.folds.n_folds]  # one repeat: every row once
        needed = selection_seconds * len(outer) * 1.2
        if needed < self._selection_time(time.perf_counter()):
            honest = nested_selection_oof([e.oof_predictions for e in pool], y, self.score, outer)
            return self.score(y, honest) > best_score + 1e-9
        blend = sum(w * e.oof_predictions for e, w in zip(pool, weights, strict=True) if w > 0)
        best_oof = best.oof_predictions
        gains = [self.score(y[v], blend[v]) - self.score(y[v], best_oof[v]) for _, v in outer]
        noise = float(np.std(gains, ddof=1) / np.sqrt(len(gains))) if len(gains) > 1 else 0.0
        return score > best_score + 1e-9 and float(np.mean(gains)) > noise

    def choose(self) -> Entry:
        """The best single candidate, or the ensemble if it beats it out of fold."""
        usable = [e for e in ranked(self.entries) if e.usable]
        if not usable:
            why = "; ".join(
                f"{e.name}: {e.error or e.note}" for e in self.entries if e.error or e.note
            )
            raise InvalidInputError(
                f"no model could be trained and stored on this data ({why[:800]})"
            )
        best = usable[0]
        if not self.ensemble:
            return best
        # Selection scores the pool's blends ``rounds`` times over: on a loaded machine and
        # large data that can take seconds, so the pool shrinks to what the time left allows.
        started = time.perf_counter()
        self.score(self.folds.y_index, best.oof_predictions)
        per_call = time.perf_counter() - started
        left = self._selection_time(started)
        pool = usable[: int(np.clip(0.4 * left / (40 * per_call + 1e-9), 2, 25))]
        started = time.perf_counter()
        weights, score = greedy_selection(
            [e.oof_predictions for e in pool], self.folds.y_index, self.score
        )
        members = {e.name: float(w) for e, w in zip(pool, weights, strict=True) if w > 0}
        if len(members) < 2 or not self._ensemble_beats(
            pool, weights, score, best, time.perf_counter() - started
        ):
            return best
        for e, w in zip(pool, weights, strict=True):
            e.weight = float(w)
        blend = sum(w * e.oof for e, w in zip(pool, weights, strict=True) if w > 0)
        entry = Entry(
            Candidate("ensemble", "ensemble", {}, "ensemble"), trial=len(self.entries) + 1
        )
        entry.members = members
        entry.oof = blend
        for _fold, (_, val_idx) in enumerate(self.folds.splits):
            entry.fold_scores.append(self.score(self.folds.y_index[val_idx], blend[val_idx]))
            entry.fold_metrics.append(self._metrics(self.folds.y[val_idx], blend[val_idx]))
        chosen = [e for e in pool if e.weight > 0]
        entry.fit_seconds = [sum(float(np.mean(e.fit_seconds)) for e in chosen)]
        entry.predict_seconds = [sum(float(np.mean(e.predict_seconds)) for e in chosen)]
        entry.member_entries = chosen
        self.entries.append(entry)
        self._emit(entry)
        return entry


def structure(candidate: Candidate) -> Hashable:
    """What decides which types a candidate's fitted model holds: its family, whether it
    takes categoricals natively, and its options that choose code paths (strings and flags,
    such as a k-NN's metric); numbers only tune it."""
    options = sorted(
        (k, v) for k, v in candidate.params.items() if isinstance(v, str | bool) or v is None
    )
    return (candidate.family, bool(candidate.native), tuple(options))
