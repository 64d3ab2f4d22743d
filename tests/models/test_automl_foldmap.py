"""FoldMap: what a job hands the search to fit its folds on, with explicit methods."""

from __future__ import annotations

import concurrent.futures as cf
import os
import threading
import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest

from mlharbor.jobs.cancel import JobCancelled
from mlharbor.models.automl.foldmap import FoldMap, as_fold_map


def _serial(fn: Callable[[Any], Any], items: list[Any]) -> list[Any]:
    return [fn(item) for item in items]


def test_a_plain_map_callable_fits_each_fold_on_its_own_and_keeps_the_order() -> None:
    fold_map = as_fold_map(_serial, 2)
    assert isinstance(fold_map, FoldMap) and fold_map.workers == 2
    try:
        assert fold_map.submit(abs, -3).result(timeout=30) == 3
        assert fold_map.map(abs, [-1, -2, -3, 4]) == [1, 2, 3, 4]
        assert fold_map.ready() and not fold_map.can_release
        fold_map.release()  # nothing to end: no error
    finally:
        fold_map.close()
    assert as_fold_map(None, 2) is None
    assert as_fold_map(fold_map, 4) is fold_map


def test_map_stops_and_cancels_what_has_not_started_when_the_job_is_cancelled() -> None:
    cancelled = threading.Event()
    gate = threading.Event()
    threads = cf.ThreadPoolExecutor(1)

    def check() -> None:
        if cancelled.is_set():
            raise JobCancelled("the job was cancelled")

    def blocked(item: Any) -> Any:
        gate.wait(30)
        return item

    submitted: list[cf.Future[Any]] = []

    def submit(fn: Callable[[Any], Any], item: Any) -> cf.Future[Any]:
        submitted.append(threads.submit(fn, item))
        return submitted[-1]

    fold_map = FoldMap(submit, 1, check=check)
    cancelled.set()
    try:
        with pytest.raises(JobCancelled):
            fold_map.map(blocked, [1, 2, 3])
        # The first had started on the one thread; the others never will.
        assert all(f.cancelled() for f in submitted[1:])
    finally:
        gate.set()
        threads.shutdown(wait=True)


def test_release_and_ready_are_the_jobs_own() -> None:
    released: list[bool] = []
    up = threading.Event()
    fold_map = FoldMap(
        lambda fn, item: cf.Future(), 2, ready=up.is_set, release=lambda: released.append(True)
    )
    assert not fold_map.ready()
    up.set()
    assert fold_map.ready() and fold_map.can_release
    fold_map.release()
    assert released == [True]


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one core: folds are fitted in process")
def test_the_job_fans_its_folds_out_on_its_local_pool_once_the_workers_are_up() -> None:
    from mlharbor.jobs.compute import LocalExecutor
    from mlharbor.workflows.automl import fan_out

    with LocalExecutor(2) as executor:
        ctx = SimpleNamespace(compute=executor, settings=SimpleNamespace(dask_address=None))
        fold_map = fan_out(ctx)  # type: ignore[arg-type]
        assert fold_map is not None and fold_map.workers == 2 and fold_map.can_release
        while not fold_map.ready():  # the workers start and import the model libraries
            time.sleep(0.05)
        assert fold_map.submit(abs, -3).result(timeout=120) == 3
        fold_map.release()  # the pool's processes end; the next fold starts new ones
        assert fold_map.submit(abs, -4).result(timeout=120) == 4
