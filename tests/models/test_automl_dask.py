"""AutoML on a real Dask cluster of two single-thread workers.

Trials, not only folds, fan out: tuning trials are cross-validated together, as the
portfolio's candidates are, so that every worker has a fold to fit; each fold is shipped to
fit on one thread; and the finish the job plans is still reserved from the search. No wall
clock is asserted (the machine is shared): the plan is.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sklearn.base import clone

from mlharbor.jobs.compute import DaskExecutor
from mlharbor.models.automl import run_automl
from mlharbor.models.automl.budget import FinishPlan

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
    """The executor's ``map`` as the search calls it, each call's tasks kept."""

    def __init__(self, executor: DaskExecutor) -> None:
        self.executor = executor
        self.calls: list[list[tuple]] = []

    def __call__(self, fn: Callable[[Any], Any], items: list[Any]) -> list[Any]:
        self.calls.append(list(items))
        return self.executor.map(fn, items)


def test_tuning_trials_fan_out_together_on_two_dask_workers(executor: DaskExecutor) -> None:
    df, schema = with_schema(binary_frame())
    recorded = Recorded(executor)
    batch_of: dict[str, int] = {}  # trial name -> which map call cross-validated it
    result = run_automl(
        df,
        schema,
        target="diagnosis",
        time_budget=600,
        max_trials=14,  # the ten portfolio candidates, then four tuning trials
        cv_folds=3,
        map_folds=recorded,
        workers=executor.workers,
        finish=LIGHT,
        on_trial=lambda event: batch_of.setdefault(event["name"], len(recorded.calls)),
    )
    assert executor.workers == 2 and result.settings["workers"] == 2
    tuned = [e for e in result.entries if e.candidate.phase == "tuning"]
    assert len(tuned) == 4 and all(e.status == "ok" for e in tuned)
    # Two trials per map call: their folds together keep both workers busy, where one
    # trial's three folds would leave one idle for the last.
    per_call = Counter(batch_of[e.name] for e in tuned)
    assert sorted(per_call.values()) == [2, 2]
    for call in per_call:
        tasks = recorded.calls[call - 1]
        assert len(tasks) == 2 * result.folds.n_splits
        assert len({repr(task[1].get_params()) for task in tasks}) == 2
    # Every fold fitted on a worker, one thread each: the task says so and so do its
    # model's thread counts (LightGBM's default would take every core of the machine).
    assert len(result.worker_pids) == 2 and os.getpid() not in result.worker_pids
    for task in (t for call in recorded.calls for t in call):
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
        map_folds=recorded,
        workers=executor.workers,
        finish=heavy,
    )
    statuses = [e.status for e in result.entries if e.candidate.family != "ensemble"]
    assert statuses[0] == "ok" and set(statuses[1:]) <= {"skipped"}
    assert not any(e.candidate.phase == "tuning" for e in result.entries)
    # The first candidate's folds only.
    assert [len(call) for call in recorded.calls] == [result.folds.n_splits]


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
