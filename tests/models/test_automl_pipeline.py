"""AutoML's folds are pipelined over the workers: no barrier between candidates.

Each fold is a task submitted when a worker frees up, so the next candidate's folds start
while the last one's still run, at most one fit per worker at a time. No wall clock is
asserted (the machine is shared): which fits ran beside which, as the tasks recorded it,
and what the search submitted against its own plan.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import threading
import time
from collections.abc import Callable
from functools import partial
from itertools import pairwise
from typing import Any

import pytest

from mlharbor.jobs.compute import LocalExecutor
from mlharbor.models.automl import run_automl
from mlharbor.models.automl.budget import FinishPlan
from mlharbor.models.automl.foldmap import FoldMap
from mlharbor.models.automl.folds import FoldResult
from mlharbor.workflows.automl import _warm

from ..training_data import binary_frame, regression_frame, with_schema

LIGHT = FinishPlan(n_test=60, n_columns=4, importance_rows=60, importance_repeats=1,
                   curve_rows=200, plot_seconds=0.5)  # fmt: skip


def _slowly(fn: Callable[[Any], Any], seconds: float, item: Any) -> Any:
    """``fn(item)``, ``seconds`` later: a fit long beside the search's own overheads (the
    wait counts as the fit's, in the times it records)."""
    started = time.time()
    time.sleep(seconds)
    result = fn(item)
    result.started_at = started
    return result


class Recorder:
    """A ``submit`` (as the job's executors have, for a :class:`FoldMap`), each task kept:
    which candidate (its parameters) and fold, when submitted, and the fit's own record
    of where and when it ran."""

    def __init__(
        self, submit: Callable[[Callable[[Any], Any], Any], cf.Future[Any]], slower: float = 0.0
    ) -> None:
        self._submit = submit
        self.slower = slower
        self.tasks: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def submit(self, fn: Callable[[Any], Any], item: Any) -> cf.Future[Any]:
        task = {
            "candidate": repr(sorted(item[1].get_params().items())),
            "fold": item[0],
            "threads": item[8],
            "submitted": time.perf_counter(),
            "submitted_at": time.time(),  # comparable with the fit's own times
        }
        with self._lock:
            self.tasks.append(task)
        future = self._submit(partial(_slowly, fn, self.slower) if self.slower else fn, item)
        future.add_done_callback(lambda done: task.update(result=done.result()))
        return future

    def candidates(self) -> list[list[dict[str, Any]]]:
        """The tasks of each candidate, in the order the candidates were submitted."""
        order: dict[str, list[dict[str, Any]]] = {}
        for task in self.tasks:
            order.setdefault(task["candidate"], []).append(task)
        return list(order.values())


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one core: folds are fitted in process")
def test_the_next_candidates_folds_run_beside_the_last_ones_on_two_workers() -> None:
    df, schema = with_schema(regression_frame())
    with LocalExecutor(2) as executor:
        _warm(executor)  # each worker has answered once, as the job does before fanning out
        # Every fit takes half a second more, so that the search's own work between them
        # (milliseconds here, on small data) is small beside them, as on real tables.
        recorder = Recorder(executor.submit, slower=0.5)
        result = run_automl(
            df,
            schema,
            target="progress",
            time_budget=300,
            max_trials=6,
            cv_folds=3,
            map_folds=FoldMap(recorder.submit, 2),
            workers=2,
            finish=LIGHT,
        )
    fits: list[FoldResult] = [t["result"] for t in recorder.tasks if "result" in t]
    assert len({f.pid for f in fits}) == 2 and os.getpid() not in {f.pid for f in fits}
    assert all(task["threads"] == 1 for task in recorder.tasks)  # one thread per fit
    # Never more fits at once than workers: at every fit's start, at most one other ran.
    for fit in fits:
        beside = [o for o in fits if o is not fit and o.started_at <= fit.started_at < o.ended_at]
        assert len(beside) <= 1
    # ... but a fold whose cost was known waited on its worker behind the fold it fitted
    # (submitted before that one ended), to be taken at once rather than after the round
    # trip through this process.
    by_worker: dict[int, list[dict[str, Any]]] = {}
    for task in (t for t in recorder.tasks if "result" in t):
        by_worker.setdefault(task["result"].pid, []).append(task)
    waited = 0
    for tasks in by_worker.values():
        tasks.sort(key=lambda t: t["result"].started_at)
        waited += sum(b["submitted_at"] < a["result"].ended_at for a, b in pairwise(tasks))
    assert waited >= 1
    # No barrier between candidates: each candidate after the first had a fold started
    # before the candidate before it had all its folds fitted.
    per_candidate = recorder.candidates()
    assert len(per_candidate) >= 4
    overlapped = 0
    for before, after in pairwise(per_candidate):
        last_end = max(t["result"].ended_at for t in before)
        first_start = min(t["result"].started_at for t in after)
        overlapped += first_start < last_end
    # (Batches with a barrier after each, as before, overlapped only within a batch: 2 of 5.)
    assert overlapped >= len(per_candidate) - 2, overlapped
    # The folds came back in any order; every entry's are in fold order, and complete.
    usable = [e for e in result.entries if e.usable and e.candidate.family != "ensemble"]
    assert len(usable) >= 4
    assert all(len(e.fold_scores) == result.folds.n_splits for e in usable)


def _slow_submit(workers: int, seconds: float) -> tuple[Any, cf.ThreadPoolExecutor]:
    """``submit`` on threads of this process, each fold taking ``seconds`` longer."""
    threads = cf.ThreadPoolExecutor(workers)

    def slow(fn: Callable[[Any], Any], item: Any) -> Any:
        time.sleep(seconds)
        return fn(item)

    return (lambda fn, item: threads.submit(slow, fn, item)), threads


def test_the_search_submits_no_fold_that_would_end_after_its_planned_stop() -> None:
    df, schema = with_schema(binary_frame())
    submit, threads = _slow_submit(2, 0.4)
    recorder = Recorder(submit)
    started = time.perf_counter()
    try:
        result = run_automl(
            df,
            schema,
            target="diagnosis",
            time_budget=8,
            cv_folds=3,
            map_folds=FoldMap(recorder.submit, 2),
            workers=2,
            finish=LIGHT,
            started=started,
        )
    finally:
        threads.shutdown(wait=True)
    deadline = started + 8
    assert result.entries[0].status == "ok"
    # Every fold fits in 0.4 s or more: none was submitted so late it would end past
    # the budget, whatever was left for the refit and the finish.
    assert all(task["submitted"] + 0.4 <= deadline for task in recorder.tasks)
    # The budget, not the candidates, ended this search: some were left unstarted.
    assert any(e.status == "skipped" for e in result.entries) or len(result.entries) < 10


def test_scores_are_the_same_whichever_fold_ends_first() -> None:
    df, schema = with_schema(binary_frame())

    def run(delays: list[float]) -> list[tuple[str, dict[str, Any], float]]:
        threads = cf.ThreadPoolExecutor(2)
        calls = iter(range(10_000))

        def jittered(fn: Callable[[Any], Any], item: Any) -> Any:
            time.sleep(delays[next(calls) % len(delays)])
            return fn(item)

        recorder = Recorder(lambda fn, item: threads.submit(jittered, fn, item))
        try:
            result = run_automl(
                df,
                schema,
                target="diagnosis",
                time_budget=600,
                # The portfolio: which tuning trials are asked also depends on their measured
                # costs (a trial much dearer than its family's defaults is not started).
                max_trials=10,
                cv_folds=3,
                map_folds=FoldMap(recorder.submit, 2),
                workers=2,
                finish=LIGHT,
            )
        finally:
            threads.shutdown(wait=True)
        return sorted(
            (e.name, e.candidate.params, round(e.signed_score, 10))
            for e in result.entries
            if e.candidate.family != "ensemble"
        )

    # The folds end in a different order in each run; the scores are the same.
    assert run([0.0, 0.05, 0.0]) == run([0.05, 0.0, 0.0, 0.02])
