"""Cross-validation as a pipeline of fold fits: a worker never waits for a batch to end.

A mixin of :class:`~mlharbor.models.automl.engine.Search`. When folds fan out (local worker
processes or a Dask cluster), each fold of each candidate is one task, and a task is
submitted as soon as a worker is free: the next candidate's folds are queued while the
current one's last folds still run, so the slowest fold of a candidate no longer leaves
the other workers idle, and the search's own work between candidates (scoring the folds,
the leaderboard, the budget, the tuner's next proposal) runs while the workers fit.

One single-threaded fit runs per worker (per core), so nothing oversubscribes the machine.
A fold whose cost is known and small (under :data:`QUEUE_BELOW`) may also wait behind the
one a worker fits, a tenth of a second's worth of them per worker (see :meth:`_queueable`):
a worker that ends a fold takes the next at once rather than after the round trip (its
result back to this process, the next fold submitted), which on small tables, where a fold
takes milliseconds, was most of its time. Folds of a new family, or dear ones, are not
queued: a fold queued cannot always be cancelled, and one given up should not hold a
worker. A fold's metrics are computed on the worker that fitted it, beside the fit.

The budget stays honest: a candidate is opened only if its folds, after the work already
in flight, would end before the search deadline; a fold is submitted only if it would,
counted from when it is likely to start; and fits still running a little past the
deadline are given up (cancelled, or left to end unheard), never waited for. Results do
not depend on the order folds end in: an entry's folds are put back in fold order when it
is complete, and the tuner is told its trials in the order it asked them (see
:meth:`Tuning._tune_pipelined`).
"""

from __future__ import annotations

import concurrent.futures as cf
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from mlharbor.models.automl.folds import FoldError, fit_fold_or_error
from mlharbor.models.automl.leaderboard import Entry

if TYPE_CHECKING:
    from mlharbor.models.automl.foldmap import FoldMap
    from mlharbor.models.automl.folds import Folds, StorableCheck
    from mlharbor.models.automl.portfolio import Candidate

#: Seconds between looks at a job's cancellation while waiting for fits.
POLL_SECONDS = 0.2
#: A fold predicted to cost less than this (seconds), from its candidate's or its family's
#: folds seen, may be queued behind the fold a worker fits ...
QUEUE_BELOW = 1.0
#: ... as many per worker as make about this many seconds of fitting (one at least) ...
QUEUE_AHEAD = 0.1
#: ... and this many at most.
QUEUE_MOST = 8


@dataclass
class Open:
    """A candidate whose folds are being fitted."""

    entry: Entry
    estimator: Any
    #: Seconds each fold's boosting may take (the search's first candidate only).
    limit: float | None
    check: StorableCheck | None
    #: Predicted seconds per fold, for the backlog (see :meth:`Pipeline._backlog`).
    per_fold: float
    first: bool = False
    #: Whether ``per_fold`` comes from folds of its family seen (not from other families').
    priced: bool = False
    next_fold: int = 0
    #: Folds fitted so far, and the futures of those in flight, with when each likely
    #: started (``None`` while it waits behind another fold on its worker).
    done: int = 0
    running: dict[cf.Future[Any], float | None] = field(default_factory=dict)


class Pipeline:
    """Fold fits kept in flight on the workers, candidates opened as they free up."""

    if TYPE_CHECKING:
        entries: list[Entry]
        folds: Folds
        seed: int
        map_folds: FoldMap | None
        budget: float

        def search_deadline(self) -> float: ...
        def _prior_cost(self, candidate: Candidate) -> float: ...
        def _family_cost(self, family: str, params: dict[str, Any]) -> float | None: ...
        def _check_for(self, entry: Entry) -> StorableCheck | None: ...
        def _record(self, entry: Entry, result: Any) -> None: ...
        def _oof(self, entry: Entry) -> np.ndarray: ...
        def _emit(self, entry: Entry) -> None: ...
        def _refused(self, entry: Entry) -> bool: ...

        @property
        def workers(self) -> int: ...

    _open: list[Open]
    _stray: list[cf.Future[Any]]
    #: Folds submitted while every worker had one, in the order submitted (see ``running``).
    _queue: deque[tuple[Open, cf.Future[Any]]]
    #: Called with an entry when its cross-validation is over (scored, failed or given up).
    _on_done: Callable[[Open], None] | None
    #: Called once the first candidate's first repeat of the folds is in (it may add the
    #: other repeats, see Search._decide_repeats); until then the others are not scored.
    _on_first: Callable[[Entry], None] | None

    def _init_pipeline(self) -> None:
        self._open, self._stray, self._queue = [], [], deque()
        self._on_done, self._on_first = None, None
        #: How many fold fits were in flight at once, at most (for tests and reports).
        self.most_in_flight = 0
        #: Seconds a fold of a family given up had run, at least what its folds cost.
        self.overran: dict[str, float] = {}

    # ---- the workers -----------------------------------------------------------------------

    def _fold_map(self) -> FoldMap:
        if self.map_folds is None:
            raise RuntimeError("folds are pipelined only over workers (map_folds)")
        return self.map_folds

    def close_pipeline(self) -> None:
        """Give up the fits still in flight (the search is over): cancelled where they
        have not started; a local pool's workers still fitting one are ended, so that the
        refit and the finish have the cores."""
        for item in list(self._open):
            self._give_up(item)
        running = [f for f in self._stray if not f.done()]
        self._stray, self._queue = [], deque()
        if self.map_folds is not None:
            if running:
                self.map_folds.release()
            self.map_folds.close()

    # ---- the schedule ---------------------------------------------------------------------

    @property
    def _in_flight(self) -> int:
        return sum(len(item.running) for item in self._open)

    @property
    def _started(self) -> int:
        """How many folds in flight have started and not ended: workers taken."""
        return sum(
            t is not None and not f.done() for item in self._open for f, t in item.running.items()
        )

    def _left_in_flight(self, item: Open, now: float) -> float:
        """Predicted seconds of fitting left of ``item``'s folds in flight."""
        cost = item.entry.fold_cost or item.per_fold
        return sum(
            cost if t is None else max(0.1 * cost, cost - (now - t)) for t in item.running.values()
        )

    def _backlog(self, now: float) -> float:
        """Predicted seconds of fold fitting already committed: the open candidates' folds
        not yet submitted, and what is left of those in flight."""
        total = 0.0
        for item in self._open:
            cost = item.entry.fold_cost or item.per_fold
            total += cost * (self.folds.n_splits - item.next_fold)
            total += self._left_in_flight(item, now)
        return total

    def _likely_start(self, now: float) -> float:
        """When a fold submitted now likely starts: at once if a worker is free, else once
        the folds in flight ahead of it, shared out over the workers, have ended."""
        if self._in_flight < self.workers:
            return now
        ahead = sum(self._left_in_flight(item, now) for item in self._open)
        return now + ahead / self.workers

    def _queueable(self, item: Open) -> bool:
        """Whether ``item``'s next fold may wait behind another on a worker: its cost is
        known, from its own folds or its family's, and small (see :data:`QUEUE_BELOW`),
        and the folds already waiting make less than :data:`QUEUE_AHEAD` seconds a worker
        (one fold a worker at least, :data:`QUEUE_MOST` at most)."""
        cost = item.entry.fold_cost or (item.per_fold if item.priced else QUEUE_BELOW)
        if cost >= QUEUE_BELOW:
            return False
        per_worker = min(QUEUE_MOST, max(1, int(QUEUE_AHEAD / max(cost, 1e-3))))
        return self._in_flight - self.workers < per_worker * self.workers

    def _promote(self, now: float) -> None:
        """Count the folds queued behind others as started, in the order submitted, as
        workers free up (the time is when this process saw it, within a poll)."""
        started = self._started
        while self._queue and started < self.workers:
            item, future = self._queue.popleft()
            if item.running.get(future, 0.0) is None and not future.done():
                item.running[future] = now
                started += 1

    def _planned_end(self, per_fold: float, n_tasks: int, now: float) -> float:
        """When ``n_tasks`` more folds of ``per_fold`` seconds would end, after the
        backlog, shared out over the workers."""
        return now + (self._backlog(now) + per_fold * n_tasks) / self.workers + 0.5 * per_fold

    def _measured(self) -> bool:
        """Whether any fold's cost is known yet (to price a candidate not seen)."""
        return any(e.fit_seconds for e in self.entries)

    def open_candidate(self, candidate: Candidate) -> Open | None:
        """Open ``candidate`` for its folds to be submitted, if they would end before the
        search deadline (the search's first candidate always opens); ``None`` when not,
        its entry then recorded as skipped, failed or not storable."""
        entry = Entry(candidate, trial=len(self.entries) + 1)
        self.entries.append(entry)
        first = self.entries[0] is entry
        if self._refused(entry):
            self._finish(Open(entry, None, None, None, 0.0, first=first))
            return None
        try:
            estimator = candidate.make(self.folds.task, self.seed)
        except Exception as exc:  # a configuration the data or the model refuses
            entry.status, entry.error = "failed", f"{type(exc).__name__}: {exc}"[:500]
            self._finish(Open(entry, None, None, None, 0.0, first=first))
            return None
        spec, native = candidate.spec, bool(candidate.native)
        n_splits = self.folds.n_splits
        per_fold = self._prior_cost(candidate)
        priced = self._family_cost(candidate.family, candidate.params) is not None
        fitting_prep = [0] if self.folds.shares(native) else range(n_splits)
        prep = sum(self.folds.pending_prep(spec, f, native) for f in fitting_prep)
        now = time.perf_counter()
        if not first and self._planned_end(per_fold, n_splits, now) + prep > self.search_deadline():
            entry.status = "skipped"
            self._finish(Open(entry, None, None, None, per_fold))
            return None
        limit = None
        if first:
            # The first candidate always runs, but its boosting stops at a share of the
            # time: its folds run as many at a time as there are workers.
            left = self.search_deadline() - now
            limit = 0.8 * left / -(-n_splits // self.workers)
        entry.oof_parts = []
        item = Open(
            entry, estimator, limit, self._check_for(entry), per_fold, first=first, priced=priced
        )
        self._open.append(item)
        return item

    def _submit_next(self) -> bool:
        """Submit the next fold of the oldest open candidate with folds left; whether one
        was. A fold that would end past the search deadline gives its candidate up; while
        every worker has a fold, only a fold that may be queued (:meth:`_queueable`) is."""
        for item in list(self._open):
            if item.next_fold >= self.folds.n_splits:
                continue
            queued = self._in_flight >= self.workers
            if queued and not self._queueable(item):
                return False
            fold = item.next_fold
            now = time.perf_counter()
            per_fold = item.entry.fold_cost or item.per_fold
            late = self._likely_start(now) + per_fold > self.search_deadline() + self._grace()
            if not item.first and late:
                self._give_up(item)
                continue
            entry, spec = item.entry, item.entry.candidate.spec
            native = bool(entry.candidate.native)
            # Later repeats of the first candidate, added once its cost allowed them, fit
            # without a limit, as the others' folds do.
            limit = item.limit if fold < self.folds.n_folds else None
            task = self.folds.fold_task(
                spec,
                item.estimator,
                fold,
                limit,
                native,
                item.check if fold == 0 else None,
                threads=1,
                # Computed beside the fit, on the worker: this process's time per fold
                # is what keeps the workers fed on small tables.
                metrics=True,
            )
            future = self._fold_map().submit(fit_fold_or_error, task)
            # Started now if a worker is free and no fold waits before it (a worker whose
            # fold has ended takes the oldest waiting one, not this one).
            item.running[future] = None
            self._queue.append((item, future))
            self._promote(time.perf_counter())
            item.next_fold += 1
            self.most_in_flight = max(self.most_in_flight, self._in_flight)
            return True
        return False

    def _grace(self) -> float:
        """How far past the search deadline a fit in flight is still waited for: half the
        search's safety margin (see :meth:`Search.search_deadline`)."""
        return 0.02 * self.budget + 0.15

    def fill(self, propose: Callable[[], Candidate | None]) -> bool:
        """Keep every worker busy: submit folds of the open candidates (and queue more
        where they may wait, see :meth:`_queueable`), opening the next
        ``propose()``-d one when they have none left; ``False`` once ``propose`` has
        nothing more and nothing is in flight."""
        while self._in_flight < (1 + QUEUE_MOST) * self.workers:
            if self._submit_next():
                continue
            if self._in_flight >= self.workers and any(
                item.next_fold < self.folds.n_splits for item in self._open
            ):
                break  # the next fold may not wait behind another: it waits for a worker
            # A candidate not seen is priced from the folds seen: the first one's, at least.
            if self._in_flight and not self._measured():
                break
            candidate = propose()
            if candidate is None:
                return bool(self._in_flight)
            self.open_candidate(candidate)
        return True

    def pump(self) -> bool:
        """Wait for at least one fit in flight to end (or a moment), and take in what
        ended; ``False`` if none was in flight."""
        self._fold_map().check()
        running = [f for item in self._open for f in item.running]
        if not running:
            return False
        done, _ = cf.wait(running, POLL_SECONDS, cf.FIRST_COMPLETED)
        # The folds queued behind those that ended have started meanwhile.
        self._promote(time.perf_counter())
        for item in list(self._open):
            for future in [f for f in item.running if f in done]:
                del item.running[future]
                self._take(item, future.result())
        now = time.perf_counter()
        end = self.search_deadline() + self._grace()
        for item in list(self._open):
            if not item.first and item.running and self._likely_end(item, now) > end:
                # What it ran prices its family's next candidates (tuning's included).
                ran = self._ran(item, now)
                family = item.entry.candidate.family
                self.overran[family] = max(self.overran.get(family, 0.0), ran)
                self._give_up(item)
        self._free_workers()
        return True

    def _likely_end(self, item: Open, now: float) -> float:
        """When ``item``'s folds are likely to have all ended, now that those in flight
        have run as long as they have.

        A fold running past its price was mispriced (a family's first candidate is priced
        from the others': a forest on a large table can cost twenty times it) and is, for
        all the search knows, half done: its cost is then taken as twice what it has run.
        Past its price by more than a poll, that is: when a fold started is known to this
        process only that closely (a fold that waited on its worker is counted as started
        when this process sees a worker free up), and a fold of milliseconds must not be
        taken for a mispriced one because its result took a moment to be seen.
        """
        price = item.entry.fold_cost or item.per_fold
        ran = self._ran(item, now)
        per_fold = 2.0 * ran if ran > price + POLL_SECONDS else price
        waiting = sum(t is None for t in item.running.values())
        waves = -(-(self.folds.n_splits - item.next_fold + waiting) // self.workers)
        return now + (per_fold - ran) + waves * per_fold

    @staticmethod
    def _ran(item: Open, now: float) -> float:
        """Seconds the longest-running of ``item``'s folds that have started has run."""
        return max((now - t for t in item.running.values() if t is not None), default=0.0)

    def _free_workers(self) -> None:
        """End the local workers still fitting folds given up, when nothing else runs:
        a fit cannot be stopped otherwise, and the pool's new workers start in seconds,
        where a fold given up may take many more. Only where ``map_folds`` can release."""
        self._stray = [f for f in self._stray if not f.done()]
        if not self._fold_map().can_release or not self._stray or self._in_flight:
            return
        self._fold_map().release()
        self._stray = []

    def _take(self, item: Open, result: Any) -> None:
        entry = item.entry
        if entry.status != "ok":
            return
        if isinstance(result, FoldError):
            entry.status, entry.error = "failed", result.error
            self._give_up(item, status=None)
            return
        # Scored as it arrives, while the workers fit the next folds.
        self._record(entry, result)
        item.done += 1
        if item.first and item.done == self.folds.n_folds and self._on_first is not None:
            on_first, self._on_first = self._on_first, None
            on_first(entry)
            # The others' folds may have grown too: those done wait no more.
            for other in list(self._open):
                if other is not item and other.done == self.folds.n_splits:
                    self._complete(other)
        if item.done == self.folds.n_splits and (item.first or self._on_first is None):
            self._complete(item)

    def _complete(self, item: Open) -> None:
        """Put ``item``'s folds in fold order (they end in any order) and score it."""
        entry = item.entry
        order = np.argsort([p.index for p in entry.oof_parts], kind="stable")
        for name in ("fold_scores", "fit_seconds", "predict_seconds", "fold_metrics"):
            values = getattr(entry, name)
            setattr(entry, name, [values[i] for i in order])
        entry.oof_parts = [entry.oof_parts[i] for i in order]
        entry.oof = self._oof(entry)
        self._finish(item)

    def _give_up(self, item: Open, status: str | None = "skipped") -> None:
        """Stop ``item``'s cross-validation: its folds in flight are cancelled or, once
        started, no longer heard."""
        entry = item.entry
        if status is not None and entry.status == "ok":
            entry.status = status
            entry.fold_scores, entry.fold_metrics, entry.oof_parts = [], [], []
        for future in item.running:
            if not future.cancel():
                self._stray.append(future)
        item.running = {}
        item.next_fold = self.folds.n_splits
        self._finish(item)

    def _finish(self, item: Open) -> None:
        if item in self._open:
            self._open.remove(item)
        if item.first and self._on_first is not None:
            # The first candidate failed: no repeats, and the others wait no more.
            self._on_first = None
            for other in list(self._open):
                if other.done == self.folds.n_splits:
                    self._complete(other)
        self._emit(item.entry)
        if self._on_done is not None:
            self._on_done(item)

    def run_pipeline(
        self,
        propose: Callable[[], Candidate | None],
        on_done: Callable[[Open], None] | None = None,
        on_first: Callable[[Entry], None] | None = None,
    ) -> None:
        """Cross-validate what ``propose()`` gives until it gives ``None`` (or the time
        is up), its folds pipelined over the workers; ``on_done(open)`` as each ends,
        ``on_first(entry)`` when the search's first candidate's first repeat is in."""
        self._on_done, self._on_first = on_done, on_first
        try:
            while self.fill(propose):
                self.pump()
            # Nothing in flight: what is still open has all its folds or none to come.
            self._on_first = None
            for item in list(self._open):
                if item.done == self.folds.n_splits:
                    self._complete(item)
                else:
                    self._give_up(item)
        finally:
            self._on_done, self._on_first = None, None
