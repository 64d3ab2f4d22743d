"""Tuning the leading families with Optuna: one seeded TPE study per family, cheap first.

A mixin of :class:`~mlharbor.models.automl.engine.Search`, which keeps the clock, the
leaderboard and the folds. When folds fan out over several workers (local processes or a
Dask cluster), trials are asked and cross-validated several at a time, as many as there are
workers, so that every worker has a fold to fit: one trial's three folds would leave the
rest of a cluster idle. The studies then sample with a constant liar, so that trials asked
together do not all land on the same point.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from mlharbor.models.automl.leaderboard import Entry, ranked
from mlharbor.models.automl.portfolio import TUNABLE, Candidate

if TYPE_CHECKING:
    from mlharbor.models.automl.folds import Folds

#: Which of the (up to three) leading families takes each turn: the leader every other one.
SCHEDULE = [0, 1, 0, 2, 0, 1]


class Tuning:
    """Phase 2 of the search: Optuna studies of the leading families."""

    if TYPE_CHECKING:
        entries: list[Entry]
        folds: Folds
        seed: int

        def _left(self) -> float: ...
        def _trials_left(self) -> bool: ...
        def search_deadline(self) -> float: ...
        def _wall(self, per_fold: float, n_tasks: int) -> float: ...
        def _family_cost(self, family: str, params: dict[str, Any]) -> float | None: ...
        def evaluate(self, candidate: Candidate, *, prune: bool) -> Entry: ...
        def evaluate_batch(self, candidates: list[Candidate], *, prune: bool) -> list[Entry]: ...

        @property
        def workers(self) -> int: ...

        _workers: int
        max_trials: int | None

    def tune(self) -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        leaders: list[Entry] = []
        for entry in ranked(self.entries):
            if (
                entry.usable
                and entry.candidate.family in TUNABLE
                and all(entry.candidate.family != e.candidate.family for e in leaders)
            ):
                leaders.append(entry)
        leaders = leaders[:3]
        if not leaders:
            return
        # Several trials at once when the folds fan out (see the module's docstring).
        liar = self._workers > 1
        studies = {
            e.candidate.family: optuna.create_study(
                direction="maximize",
                sampler=optuna.samplers.TPESampler(
                    seed=self.seed + i, n_startup_trials=4, constant_liar=liar
                ),
            )
            for i, e in enumerate(leaders)
        }
        base = {e.candidate.family: e for e in leaders}
        for family, study in studies.items():
            self._warm_start(study, base[family])
        tried = {family: 0 for family in studies}
        turn = 0
        while self._trials_left() and studies and self._left() > 0:
            if self.workers > 1:
                turn = self._tune_batch(leaders, studies, base, tried, turn)
                if turn < 0:
                    return
                continue
            order = [f for f in (e.candidate.family for e in leaders) if f in studies]
            family = order[SCHEDULE[turn % len(SCHEDULE)] % len(order)]
            turn += 1
            if not self._tune_once(family, studies[family], base[family], tried):
                del studies[family]

    def _tune_batch(
        self,
        leaders: list[Entry],
        studies: dict[str, Any],
        base: dict[str, Entry],
        tried: dict[str, int],
        turn: int,
    ) -> int:
        """Ask up to one trial per worker (the families taking turns as one at a time
        would), cross-validate them together and tell the studies; the next turn, or -1
        when no trial could be started."""

        size = self.workers
        if self.max_trials is not None:
            size = min(size, self.max_trials - len(self.entries))
        # (study, trial, candidate): a family dropped later in the batch still closes its trial.
        asked: list[tuple[Any, Any, Candidate]] = []
        planned = 0.0  # seconds per fold of the trials asked so far, summed
        while len(asked) < size and studies:
            order = [f for f in (e.candidate.family for e in leaders) if f in studies]
            family = order[SCHEDULE[turn % len(SCHEDULE)] % len(order)]
            turn += 1
            got = self._ask(family, studies[family], base[family], tried, planned)
            if got is None:
                del studies[family]
                continue
            trial, candidate = got
            asked.append((studies[family], trial, candidate))
            planned += self._family_cost(family, candidate.params) or base[family].fold_cost
        if not asked:
            return -1
        entries = self.evaluate_batch([candidate for _, _, candidate in asked], prune=False)
        for (study, trial, _), entry in zip(asked, entries, strict=True):
            _tell(study, trial, entry)
        return -1 if all(e.status == "skipped" for e in entries) else turn

    def _ask(
        self,
        family: str,
        study: Any,
        base: Entry,
        tried: dict[str, int],
        planned: float | None = None,
    ) -> tuple[Any, Candidate] | None:
        """A trial of ``family`` that is cheap enough and would end before the search
        deadline (alone, or beside a batch's folds planned so far: ``planned`` seconds per
        fold); ``None`` if six asks found none."""
        import optuna

        spec = base.candidate.spec
        n_splits = self.folds.n_splits
        base_cost = self._wall(base.fold_cost, n_splits)
        for _ in range(6):
            trial = study.ask()
            params = {**base.candidate.params, **spec.search_space(trial, self.folds.task)}
            per_fold = self._family_cost(family, params) or base.fold_cost
            cost = self._wall(per_fold, n_splits)
            cheap_cap = base_cost * (1.5 + tried[family] / 2)
            if planned is None:
                wall = cost
            else:  # its folds and the batch's share the workers, as _fan_out plans them
                wall = (planned + per_fold) * n_splits / self.workers + 0.5 * per_fold
            if cost > cheap_cap or time.perf_counter() + wall > self.search_deadline():
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                continue
            tried[family] += 1
            native = "-native" if base.candidate.native else ""
            name = f"{family}{native}-t{tried[family]}"
            # Trials keep the preprocessing of the family's best configuration.
            return trial, Candidate(name, family, params, "tuning", native=base.candidate.native)
        return None

    def _warm_start(self, study: Any, entry: Entry) -> None:
        """Tell the study what the portfolio's configuration scored, so TPE starts there."""
        import optuna

        spec = entry.candidate.spec
        known = {
            **entry.candidate.make(self.folds.task, self.seed).get_params(deep=False),
            **entry.candidate.params,
        }
        try:
            fixed = optuna.trial.FixedTrial(known)
            spec.search_space(fixed, self.folds.task)
            params = {k: known[k] for k in fixed.distributions}
            study.add_trial(
                optuna.trial.create_trial(
                    params=params, distributions=fixed.distributions, value=entry.signed_score
                )
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            # A default outside the search space (e.g. no L2 penalty on a log scale):
            # the study then starts cold, which is merely slower.
            return

    def _tune_once(self, family: str, study: Any, base: Entry, tried: dict[str, int]) -> bool:
        """Run one trial of ``family``; ``False`` when the family has no affordable trial."""
        got = self._ask(family, study, base, tried)
        if got is None:
            return False
        trial, candidate = got
        entry = self.evaluate(candidate, prune=True)
        _tell(study, trial, entry)
        return entry.status != "skipped"


def _tell(study: Any, trial: Any, entry: Entry) -> None:
    """Tell ``study`` how ``trial`` went: its score, or that it was pruned or failed."""
    import optuna

    if entry.status == "ok":
        study.tell(trial, entry.signed_score)
    elif entry.status == "pruned":
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
    else:
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
