"""Where a search fits its folds: :class:`FoldMap`, the workers a job hands the search.

The search submits one fold at a time and waits on the futures itself (see
:mod:`~mlharbor.models.automl.pipeline`); it also needs to know whether the workers are up
yet, whether the job was cancelled, and how to end the local workers still fitting folds it
gave up. A job builds a :class:`FoldMap` over its executor (``mlharbor.workflows.automl``);
any ``map(fn, items)`` callable can stand in for one (:meth:`FoldMap.from_map`), a thread per
worker calling it one item at a time.
"""

from __future__ import annotations

import concurrent.futures as cf
from collections.abc import Callable, Iterable
from typing import Any

#: ``submit(fn, item)``: a future of ``fn(item)`` computed on a worker.
Submit = Callable[[Callable[[Any], Any], Any], "cf.Future[Any]"]
#: ``map(fn, items)``: ``[fn(item) for item in items]``, computed on the workers.
MapFolds = Callable[[Callable[[Any], Any], list[Any]], list[Any]]


def _nothing() -> None:
    return None


def _always() -> bool:
    return True


class FoldMap:
    """The workers a search fits its folds on.

    Parameters
    ----------
    submit : callable
        ``submit(fn, item)``: a :class:`concurrent.futures.Future` of ``fn(item)``, computed
        on a worker (``Executor.submit``). Cancelling the future cancels the task if it has
        not started.
    workers : int
        How many folds run at once (the cores, or the cluster's threads).
    check : callable, optional
        Raises if the job was cancelled (``Executor.check_cancelled``); called while the
        search waits for its folds.
    ready : callable, optional
        Whether the workers are up (a local pool's take seconds to start and import the
        model libraries); until then the search fits in its own process.
    release : callable, optional
        Ends the workers still fitting folds the search gave up (a local pool cannot stop a
        started task otherwise); without it, such folds run to their end unheard.
    """

    def __init__(
        self,
        submit: Submit,
        workers: int,
        *,
        check: Callable[[], None] | None = None,
        ready: Callable[[], bool] | None = None,
        release: Callable[[], None] | None = None,
    ) -> None:
        self._submit = submit
        self.workers = max(1, workers)
        self._check = check or _nothing
        self._ready = ready or _always
        self._release = release
        self._threads: cf.ThreadPoolExecutor | None = None

    @classmethod
    def from_map(cls, map_folds: MapFolds, workers: int) -> FoldMap:
        """A fold map over any ``map_folds(fn, items)``: each fold one call, on a thread
        per worker."""
        threads = cf.ThreadPoolExecutor(max(1, workers))

        def submit(fn: Callable[[Any], Any], item: Any) -> cf.Future[Any]:
            return threads.submit(lambda: map_folds(fn, [item])[0])

        fold_map = cls(submit, workers)
        fold_map._threads = threads
        return fold_map

    def submit(self, fn: Callable[[Any], Any], item: Any) -> cf.Future[Any]:
        """A future of ``fn(item)``, computed on a worker."""
        return self._submit(fn, item)

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]:
        """``[fn(item) for item in items]`` on the workers, in input order.

        Raises
        ------
        JobCancelled
            If the job is cancelled meanwhile (what ``check`` raises); the tasks not
            started are cancelled.
        """
        futures = [self.submit(fn, item) for item in items]
        try:
            pending = set(futures)
            while pending:
                self.check()
                _, pending = cf.wait(pending, 0.2)
            return [future.result() for future in futures]
        except BaseException:
            for future in futures:
                future.cancel()
            raise

    def check(self) -> None:
        """Raise if the job was cancelled."""
        self._check()

    def ready(self) -> bool:
        """Whether the workers are up."""
        return bool(self._ready())

    @property
    def can_release(self) -> bool:
        """Whether :meth:`release` ends workers (a local pool's)."""
        return self._release is not None

    def release(self) -> None:
        """End the workers still fitting folds (and drop what is queued), if this map can;
        the next :meth:`submit` starts new ones."""
        if self._release is not None:
            self._release()

    def close(self) -> None:
        """Stop the threads of :meth:`from_map` (the search is over)."""
        if self._threads is not None:
            self._threads.shutdown(wait=False, cancel_futures=True)
            self._threads = None


def as_fold_map(map_folds: FoldMap | MapFolds | None, workers: int) -> FoldMap | None:
    """``map_folds`` as a :class:`FoldMap` (a plain ``map`` callable wrapped in one)."""
    if map_folds is None or isinstance(map_folds, FoldMap):
        return map_folds
    return FoldMap.from_map(map_folds, workers)
