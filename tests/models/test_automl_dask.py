"""AutoML on a real Dask cluster of two single-thread workers.

Trials, not only folds, fan out: the folds of tuning trials are pipelined over the workers,
as the portfolio's candidates' are, the next trial's folds submitted while the last one's
still run, so that every worker has a fold to fit; each fold is shipped to fit on one
thread; and the finish the job plans is still reserved from the search. No wall clock is
asserted (the machine is shared): the plan is.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sklearn.base import clone

from mlharbor.jobs.compute import DaskExecutor
from mlharbor.models.automl import run_automl
from mlharbor.models.automl.budget import FinishPlan
from mlharbor.models.automl.foldmap import FoldMap

from ..training_data import binary_frame, with_schema

distributed = pytest.importorskip("distributed")
pytestmark = pytest.mark.timeout(900)

LIGHT = FinishPlan(n_test=60, n_columns=8, importance_rows=60, importance_repeats=1,
                   curve_rows=200, plot_seconds=0.5)  # fmt: skip


@pytest.fixture(scope="module")
def executor() -> Iterator[DaskExecutor]:
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        DaskExecutor(cluster.scheduler_address) as ex,
    ):
        yield ex


class Recorded:
    """The executor's ``submit``, as the search uses it (one fold each), the tasks kept
    with what each fit recorded of itself."""

    def __init__(self, executor: DaskExecutor) -> None:
        self.executor = executor
        self.tasks: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def submit(self, fn: Callable[[Any], Any], item: Any) -> cf.Future[Any]:
        task: dict[str, Any] = {"item": item}
        with self._lock:
            self.tasks.append(task)
        future = self.executor.submit(fn, item)
        future.add_done_callback(lambda done: task.update(result=done.result()))
        return future


def test_tuning_trials_are_pipelined_on_two_dask_workers(executor: DaskExecutor) -> None:
    df, schema = with_schema(binary_frame())
    recorded = Recorded(executor)
    result = run_automl(
        df,
        schema,
        target="diagnosis",
        time_budget=600,
        max_trials=14,  # the ten portfolio candidates, then four tuning trials
        cv_folds=3,
        map_folds=FoldMap(recorded.submit, executor.workers, check=executor.check_cancelled),
        workers=executor.workers,
        finish=LIGHT,
    )
    assert executor.workers == 2 and result.settings["workers"] == 2
    tuned = [e for e in result.entries if e.candidate.phase == "tuning"]
    assert len(tuned) == 4 and all(e.status == "ok" for e in tuned)
    # One task per fold, each submitted on its own as a worker freed up (the overlap of
    # candidates is asserted with fits slow enough to see it: test_automl_pipeline.py).
    scored = [e for e in result.entries if e.usable and e.candidate.family != "ensemble"]
    assert len(recorded.tasks) == sum(len(e.fold_scores) for e in scored)
    # Every fold fitted on a worker, one thread each: the task says so and so do its
    # model's thread counts (LightGBM's default would take every core of the machine).
    assert len(result.worker_pids) == 2 and os.getpid() not in result.worker_pids
    for task in (t["item"] for t in recorded.tasks):
        assert task[8] == 1
        threads = [v for k, v in task[1].get_params().items() if k.endswith("n_jobs")]
        assert all(v == 1 for v in threads), threads
    assert all(len(e.fold_scores) == result.folds.n_splits for e in result.entries if e.usable)


def test_the_finish_plan_still_stops_the_search_when_trials_fan_out(
    executor: DaskExecutor,
) -> None:
    df, schema = with_schema(binary_frame())
    recorded = Recorded(executor)
    # Drawing the plots alone would take longer than the budget: after the first candidate
    # (the search must end with a model) nothing more is started, on the cluster either.
    heavy = FinishPlan(n_test=60, n_columns=8, importance_rows=60, importance_repeats=1,
                       curve_rows=200, plot_seconds=1_000.0)  # fmt: skip
    result = run_automl(
        df,
        schema,
        target="diagnosis",
        time_budget=120,
        cv_folds=3,
        map_folds=FoldMap(recorded.submit, executor.workers, check=executor.check_cancelled),
        workers=executor.workers,
        finish=heavy,
    )
    statuses = [e.status for e in result.entries if e.candidate.family != "ensemble"]
    assert statuses[0] == "ok" and set(statuses[1:]) <= {"skipped"}
    assert not any(e.candidate.phase == "tuning" for e in result.entries)
    # The first candidate's folds only.
    assert len(recorded.tasks) == result.folds.n_splits


def test_a_fold_shipped_to_a_worker_fits_on_the_threads_it_is_given() -> None:
    from lightgbm import LGBMClassifier
    from sklearn.ensemble import RandomForestClassifier, VotingClassifier

    from mlharbor.models.automl.folds import cap_threads

    # LightGBM's n_jobs=None takes every core; -1 does anywhere; members count too.
    vote = VotingClassifier(
        [("gbm", LGBMClassifier()), ("forest", RandomForestClassifier(n_jobs=-1))]
    )
    capped = cap_threads(clone(vote), 1)
    threads = {k: v for k, v in capped.get_params().items() if k.endswith("n_jobs")}
    assert threads == {"n_jobs": 1, "gbm__n_jobs": 1, "forest__n_jobs": 1}
    assert cap_threads(RandomForestClassifier(n_jobs=2), 4).n_jobs == 2


def test_the_job_fans_its_folds_out_on_the_configured_cluster(executor: DaskExecutor) -> None:
    from types import SimpleNamespace

    from mlharbor.workflows.automl import fan_out

    ctx = SimpleNamespace(compute=executor, settings=SimpleNamespace(dask_address="tcp://x"))
    fold_map = fan_out(ctx)  # type: ignore[arg-type]
    assert fold_map is not None and fold_map.workers == 2
    # Ready at once, and nothing to end: the cluster's tasks are cancelled by their futures.
    assert fold_map.ready() and not fold_map.can_release
    assert fold_map.submit(abs, -3).result(timeout=60) == 3
