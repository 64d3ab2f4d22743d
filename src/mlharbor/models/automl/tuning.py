"""Tuning the leading families with Optuna: one seeded TPE study per family, cheap first.

A mixin of :class:`~mlharbor.models.automl.engine.Search`, which keeps the clock, the
leaderboard and the folds. When folds fan out over workers (local processes or a Dask
cluster), trials are pipelined (see :mod:`~mlharbor.models.automl.pipeline`): the next
trial is asked while the last ones' folds still run, so that every worker has a fold to
fit. The studies then sample with a constant liar, so that trials in flight together do not
all land on the same point; and a trial is asked only once the trials asked twice
:attr:`workers` turns before it have been told, in the order they were asked, so the
studies see the same history whichever fold ends first (the fits costing the same:
a trial much dearer than its family's defaults is not started). Twice: with one trial
per worker in flight, a worker idled whenever the oldest trial's last fold ran and the
newer ones had all their folds out; and the pipeline queues a fold per worker too.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mlharbor.models.automl.leaderboard import Entry, ranked
from mlharbor.models.automl.portfolio import TUNABLE, Candidate

if TYPE_CHECKING:
    from mlharbor.models.automl.folds import Folds
    from mlharbor.models.automl.pipeline import Open

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
        def _planned_end(self, per_fold: float, n_tasks: int, now: float) -> float: ...
        def pump(self) -> bool: ...
        def run_pipeline(
            self,
            propose: Callable[[], Candidate | None],
            on_done: Callable[[Open], None] | None = None,
        ) -> None: ...

        @property
        def workers(self) -> int: ...
        @property
        def fanning(self) -> bool: ...

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
            if self.fanning:
                self._tune_pipelined(leaders, studies, base, tried, turn)
                return
            order = [f for f in (e.candidate.family for e in leaders) if f in studies]
            family = order[SCHEDULE[turn % len(SCHEDULE)] % len(order)]
            turn += 1
            if not self._tune_once(family, studies[family], base[family], tried):
                del studies[family]

    def _tune_pipelined(
        self,
        leaders: list[Entry],
        studies: dict[str, Any],
        base: dict[str, Entry],
        tried: dict[str, int],
        turn: int,
    ) -> None:
        """Trials asked as workers free up (the families taking turns as one at a time
        would), each told once it ends, in the order asked (see the module's docstring)."""
        asked: list[tuple[Any, Any, Candidate]] = []  # (study, trial, candidate)
        ended: dict[int, Entry] = {}  # id(candidate) -> its entry, once cross-validated
        told = 0
        lag = 2 * max(1, self.workers)
        over = False

        def tell_up_to(n: int) -> None:
            nonlocal told
            while told < n:
                study, trial, candidate = asked[told]
                while id(candidate) not in ended:
                    if not self.pump():  # nothing in flight: it will not end
                        ended[id(candidate)] = Entry(candidate, trial=0, status="skipped")
                _tell(study, trial, ended[id(candidate)])
                told += 1

        def on_done(item: Open) -> None:
            nonlocal over
            ended[id(item.entry.candidate)] = item.entry
            if item.entry.status == "skipped":
                over = True  # no time for it: none for the trials after it either

        def propose() -> Candidate | None:
            nonlocal turn, over
            if over or not studies or not self._trials_left() or self._left() <= 0:
                over = True
                return None
            tell_up_to(len(asked) - lag + 1)
            while studies and not over:
                order = [f for f in (e.candidate.family for e in leaders) if f in studies]
                family = order[SCHEDULE[turn % len(SCHEDULE)] % len(order)]
                turn += 1
                got = self._ask(family, studies[family], base[family], tried, pipelined=True)
                if got is None:
                    del studies[family]
                    continue
                trial, candidate = got
                asked.append((studies[family], trial, candidate))
                return candidate
            over = True
            return None

        self.run_pipeline(propose, on_done)
        # Trials the pipeline never opened (the time ran out as they were asked) fail.
        for candidate in (c for _, _, c in asked[told:] if id(c) not in ended):
            ended[id(candidate)] = Entry(candidate, trial=0, status="skipped")
        tell_up_to(len(asked))

    def _ask(
        self,
        family: str,
        study: Any,
        base: Entry,
        tried: dict[str, int],
        pipelined: bool = False,
    ) -> tuple[Any, Candidate] | None:
        """A trial of ``family`` that is cheap enough and would end before the search
        deadline (alone, or ``pipelined`` after the folds already in flight and queued);
        ``None`` if six asks found none."""
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
            now = time.perf_counter()
            end = self._planned_end(per_fold, n_splits, now) if pipelined else now + cost
            if cost > cheap_cap or end > self.search_deadline():
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
