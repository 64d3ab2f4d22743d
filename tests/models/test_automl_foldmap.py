"""FoldMap: what a job hands the search to fit its folds on, with explicit methods."""

from __future__ import annotations

import concurrent.futures as cf
import threading
from collections.abc import Callable
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
