"""The fan-out executor on local processes and on a real Dask cluster."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import CancelledError
from concurrent.futures.process import BrokenProcessPool

import pytest
from jobs_testkit import FAST, wait_state, worker_thread

from mlharbor.config import Settings
from mlharbor.jobs import JobCancelled, JobState, JobStore, LocalExecutor, make_executor
from mlharbor.jobs.builtin import _fold_score, cross_validation_tasks
from mlharbor.jobs.compute import DaskExecutor

pytestmark = pytest.mark.timeout(120)

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def cluster() -> Iterator[distributed.LocalCluster]:
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        yield cluster


def test_local_executor_returns_results_in_order_and_raises_the_first_error() -> None:
    with LocalExecutor(2) as ex:
        assert ex.map(lambda x: x * x, range(6)) == [0, 1, 4, 9, 16, 25]
        with pytest.raises(ZeroDivisionError):
            ex.map(lambda x: 1 / x, [1, 0, 2])


def test_dask_cross_validation_matches_a_plain_loop(cluster: distributed.LocalCluster) -> None:
    tasks = cross_validation_tasks(folds=5, n_estimators=20, seed=3)
    expected = [_fold_score(task) for task in tasks]
    settings = Settings(dask_address=cluster.scheduler_address)
    with make_executor(settings) as ex:
        assert isinstance(ex, DaskExecutor)
        assert ex.workers == 2
        assert ex.map(_fold_score, tasks) == expected
    assert len(expected) == 5 and all(0.8 < s <= 1 for s in expected)


def test_cancel_stops_the_dask_tasks(cluster: distributed.LocalCluster) -> None:
    with DaskExecutor(cluster.scheduler_address) as ex:
        threading.Timer(0.5, ex.cancel).start()
        started = time.monotonic()
        with pytest.raises(JobCancelled):
            ex.map(lambda s: time.sleep(s), [3.0] * 8)
        assert time.monotonic() - started < 2.5
        # Nothing of ours is left on the scheduler: queued tasks were dropped, not run.
        ex.client.run_on_scheduler(lambda: None)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            left = ex.client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.tasks))
            if left == 0:
                break
            time.sleep(0.1)
        assert left == 0


def test_training_job_gets_the_same_scores_on_dask_as_on_local_processes(
    cluster: distributed.LocalCluster, sqlite_job_settings: Settings
) -> None:
    params = {"folds": 5, "n_estimators": 20, "seed": 3}
    store = JobStore.from_url(sqlite_job_settings.resolved_database_url())
    with worker_thread(sqlite_job_settings, config=FAST):
        local_job = store.submit("demo_cv", params)
        local = wait_state(store, local_job.id, timeout=60)
    on_dask = sqlite_job_settings.model_copy(update={"dask_address": cluster.scheduler_address})
    with worker_thread(on_dask, config=FAST):
        dask_job = store.submit("demo_cv", params)
        remote = wait_state(store, dask_job.id, timeout=60)
    assert local.state is remote.state is JobState.SUCCEEDED
    assert (local.result or {})["executor"] == "local"
    assert (remote.result or {})["executor"] == "dask"
    assert (remote.result or {})["scores"] == (local.result or {})["scores"]
    folds = [e.data for e in store.events(dask_job.id) if e.kind == "fold"]
    assert [f["fold"] for f in folds] == [0, 1, 2, 3, 4]


def _pulled(log: list[int], n: int) -> Iterator[int]:
    for i in range(n):
        log.append(i)
        yield i


@pytest.mark.parametrize("engine", ["local", "dask"])
def test_imap_streams_results_in_order_with_a_bounded_number_in_flight(
    engine: str, cluster: distributed.LocalCluster
) -> None:
    executor = LocalExecutor(2) if engine == "local" else DaskExecutor(cluster.scheduler_address)
    with executor as ex:
        pulled: list[int] = []
        stream = ex.imap(lambda x: x * x, _pulled(pulled, 20), ahead=3)
        assert next(stream) == 0
        assert pulled == [0, 1, 2]  # three submitted; the rest wait for results to be taken
        assert list(stream) == [i * i for i in range(1, 20)]
        with pytest.raises(ZeroDivisionError):
            list(ex.imap(lambda x: 1 / x, [1, 0, 2]))
        assert list(ex.imap(lambda x: x + 1, [])) == []


def test_closing_an_imap_cancels_its_tasks_on_dask(cluster: distributed.LocalCluster) -> None:
    with DaskExecutor(cluster.scheduler_address) as ex:
        stream = ex.imap(lambda s: time.sleep(s) or s, [0.0] + [3.0] * 7, ahead=4)
        assert next(stream) == 0.0
        stream.close()  # as the score job does when it fails or is cancelled mid-file
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            left = ex.client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.tasks))
            if left == 0:
                break
            time.sleep(0.1)
        assert left == 0


def test_terminate_ends_a_running_local_task_and_the_next_task_gets_a_new_pool() -> None:
    with LocalExecutor(1) as executor:
        stuck = executor.submit(time.sleep, 600)
        while not stuck.running():
            time.sleep(0.01)
        executor.terminate()
        # The pool's one process was ended: its task fails rather than run on, and the
        # next task starts a new pool instead of waiting behind it.
        with pytest.raises((BrokenProcessPool, CancelledError)):
            stuck.result(timeout=60)
        assert executor.submit(abs, -3).result(timeout=120) == 3
