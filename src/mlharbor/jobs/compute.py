"""The fan-out executor for the parallel parts of a job: folds, trials, scoring chunks.

One interface over two engines, so job code is the same on a laptop and on a cluster:

- :class:`LocalExecutor`: a process pool on this machine;
- :class:`DaskExecutor`: a ``distributed.Client`` on ``settings.dask_address``.

Functions and items are shipped with cloudpickle in both cases, so what works on one
works on the other. ``map`` returns results in input order and stops early, cancelling
what is left, when the job is cancelled; ``imap`` does the same as a stream, with a bounded
number of tasks in flight, for work too large to hold all at once (scoring a big file);
``submit`` hands back one task's :class:`concurrent.futures.Future`, for a caller that
schedules its own tasks as workers free up (AutoML's fold pipeline).
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import sys
import threading
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Generator, Iterable
from typing import Any

import cloudpickle

from mlharbor.errors import UpstreamError
from mlharbor.jobs.cancel import JobCancelled
from mlharbor.jobs.options import JobsConfig

WAIT_SECONDS = 0.2
POLL_SECONDS = 0.05


def _cancelled_error() -> BaseException:
    return JobCancelled("the job was cancelled while its tasks ran")


def _call_pickled(payload: bytes, item: Any) -> Any:
    return cloudpickle.loads(payload)(item)


class Executor(ABC):
    """Runs ``fn`` over items in parallel; see :func:`make_executor`."""

    name: str = "executor"

    def __init__(self, cancel_event: threading.Event | None = None) -> None:
        self.cancel_event = cancel_event or threading.Event()

    @abstractmethod
    def map(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]:
        """``[fn(item) for item in items]``, computed in parallel, in input order.

        Raises
        ------
        JobCancelled
            If the job is cancelled meanwhile; the remaining tasks are cancelled.
        Exception
            The first error raised by ``fn``; the remaining tasks are cancelled.
        """

    @abstractmethod
    def imap(
        self, fn: Callable[[Any], Any], items: Iterable[Any], *, ahead: int | None = None
    ) -> Generator[Any, None, None]:
        """``fn(item) for item in items``, computed in parallel, yielded in input order.

        At most ``ahead`` tasks (default: twice :attr:`workers`) are submitted and not yet
        consumed, so the items, the tasks and their results held at once stay bounded
        however many items there are. Closing the iterator cancels the tasks in flight.

        Raises
        ------
        JobCancelled
            If the job is cancelled meanwhile; the tasks in flight are cancelled.
        Exception
            The first error raised by ``fn`` among the tasks in flight.
        """

    @abstractmethod
    def submit(self, fn: Callable[[Any], Any], item: Any) -> cf.Future[Any]:
        """A future of ``fn(item)``, computed on a worker.

        Cancelling the future cancels the task if it has not started (a started task of a
        local pool runs to its end). The caller waits on it with
        :func:`concurrent.futures.wait`, whatever the engine, and calls
        :meth:`check_cancelled` meanwhile.

        Raises
        ------
        JobCancelled
            If the job is cancelled.
        """

    def preload(self, modules: Iterable[str]) -> None:  # noqa: B027 (optional to engines)
        """Have the workers start with ``modules`` imported, where the engine can (a local
        pool's workers are then forked from a process that imported them once)."""

    def check_cancelled(self) -> None:
        """Raise ``JobCancelled`` if the job was cancelled (for callers of :meth:`submit`)."""
        if self.cancel_event.is_set():
            raise _cancelled_error()

    @property
    @abstractmethod
    def workers(self) -> int:
        """How many tasks can run at once."""

    def cancel(self) -> None:
        """Ask a running :meth:`map` to stop; it cancels its tasks and raises."""
        self.cancel_event.set()

    def terminate(self) -> None:  # noqa: B027 (optional to engines)
        """End the tasks running and queued now, where the engine cannot stop them
        otherwise: a local pool's processes are ended, and the next task starts new ones
        (a cluster's tasks are cancelled through their futures instead)."""

    @abstractmethod
    def close(self) -> None:
        """Release processes or connections."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LocalExecutor(Executor):
    """A pool of worker processes on this machine, started on first use."""

    name = "local"

    def __init__(self, max_workers: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_workers = max_workers or os.cpu_count() or 1
        self._pool: cf.ProcessPoolExecutor | None = None
        self._preload: list[str] = []

    @property
    def workers(self) -> int:
        return self.max_workers

    def preload(self, modules: Iterable[str]) -> None:
        self._preload = list(dict.fromkeys([*self._preload, *modules]))

    def _get_pool(self) -> cf.ProcessPoolExecutor:
        if self._pool is None:
            # forkserver: job processes have threads, and forking those is unsafe
            method = "forkserver" if sys.platform == "linux" else "spawn"
            context = multiprocessing.get_context(method)
            if self._preload and method == "forkserver":
                # This process's fork server imports them once, before it forks a worker
                # (if it is not running yet): each worker, and each worker that replaces
                # one ended, starts with them in memory instead of importing them anew.
                context.set_forkserver_preload(["__main__", *self._preload])
            self._pool = cf.ProcessPoolExecutor(self.max_workers, mp_context=context)
        return self._pool

    def submit(self, fn: Callable[[Any], Any], item: Any) -> cf.Future[Any]:
        self.check_cancelled()
        return self._get_pool().submit(_call_pickled, cloudpickle.dumps(fn), item)

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]:
        if self.cancel_event.is_set():
            raise _cancelled_error()
        payload = cloudpickle.dumps(fn)
        pool = self._get_pool()
        futures = [pool.submit(_call_pickled, payload, item) for item in items]
        try:
            pending = set(futures)
            while pending:
                if self.cancel_event.is_set():
                    raise _cancelled_error()
                done, pending = cf.wait(pending, WAIT_SECONDS, cf.FIRST_EXCEPTION)
                for future in done:
                    future.result()  # raise the first error now, not after the rest
            return [future.result() for future in futures]
        except BaseException:
            for future in futures:
                future.cancel()
            self.terminate()
            raise

    def imap(
        self, fn: Callable[[Any], Any], items: Iterable[Any], *, ahead: int | None = None
    ) -> Generator[Any, None, None]:
        if self.cancel_event.is_set():
            raise _cancelled_error()
        payload = cloudpickle.dumps(fn)
        pool = self._get_pool()
        window: deque[cf.Future[Any]] = deque()
        source = iter(items)
        ahead = max(1, ahead or 2 * self.workers)
        try:
            while True:
                for item in source:
                    window.append(pool.submit(_call_pickled, payload, item))
                    if len(window) >= ahead:
                        break
                if not window:
                    return
                while not cf.wait([window[0]], WAIT_SECONDS).done:
                    if self.cancel_event.is_set():
                        raise _cancelled_error()
                    for future in window:
                        if future.done() and future.exception() is not None:
                            future.result()  # a later task's error, raised now
                yield window.popleft().result()
        except GeneratorExit:
            # The consumer stopped early: what was queued is not needed, what runs ends.
            for future in window:
                future.cancel()
            raise
        except BaseException:
            for future in window:
                future.cancel()
            self.terminate()
            raise

    def terminate(self) -> None:
        # A process pool cannot stop a running task; ending its processes is the only way.
        if self._pool is None:
            return
        # Private, but the only handle on the processes before Python 3.14's
        # terminate_workers(); getattr keeps a pool without it from failing here.
        processes = list(getattr(self._pool, "_processes", {}).values())
        self._pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.terminate()
        self._pool = None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


class DaskExecutor(Executor):
    """Tasks on a Dask cluster through a ``distributed.Client``."""

    name = "dask"

    def __init__(self, address: str, *, timeout: float = 10.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        from distributed import Client

        try:
            self.client = Client(address, set_as_default=False, timeout=timeout)
        except (OSError, TimeoutError) as exc:
            raise UpstreamError(f"cannot reach the Dask scheduler at {address}: {exc}")

    @property
    def workers(self) -> int:
        info = self.client.scheduler_info()
        return sum(w.get("nthreads", 1) for w in info.get("workers", {}).values()) or 1

    def submit(self, fn: Callable[[Any], Any], item: Any) -> cf.Future[Any]:
        self.check_cancelled()
        task = self.client.submit(fn, item, pure=False)
        future: cf.Future[Any] = cf.Future()

        def settle(done: Any) -> None:
            # On the client's thread; a future cancelled meanwhile stays cancelled.
            if not future.set_running_or_notify_cancel():
                return
            try:
                future.set_result(done.result())
            except BaseException as exc:  # the task's error, or its cancellation
                future.set_exception(exc)

        def forward_cancel(ours: cf.Future[Any]) -> None:
            if ours.cancelled():
                # force: stop it even if another client shares the key; the job owns it
                self.client.cancel([task], force=True)

        future.add_done_callback(forward_cancel)
        task.add_done_callback(settle)
        return future

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]:
        if self.cancel_event.is_set():
            raise _cancelled_error()
        futures = self.client.map(fn, list(items), pure=False)
        try:
            pending = list(futures)
            while pending:
                # Future states are local attributes, so polling costs no round trip; waiting
                # on the cancel event makes a cancel take effect at once.
                for future in pending:
                    if future.status == "error":
                        future.result()
                pending = [future for future in pending if not future.done()]
                if pending and self.cancel_event.wait(POLL_SECONDS):
                    raise _cancelled_error()
            results: list[Any] = self.client.gather(futures)
            return results
        except BaseException:
            # force: stop tasks other clients share with us too; the job owns its keys
            self.client.cancel(futures, force=True)
            raise

    def imap(
        self, fn: Callable[[Any], Any], items: Iterable[Any], *, ahead: int | None = None
    ) -> Generator[Any, None, None]:
        if self.cancel_event.is_set():
            raise _cancelled_error()
        window: deque[Any] = deque()
        source = iter(items)
        ahead = max(1, ahead or 2 * self.workers)
        try:
            while True:
                for item in source:
                    window.append(self.client.submit(fn, item, pure=False))
                    if len(window) >= ahead:
                        break
                if not window:
                    return
                while not window[0].done():
                    for future in window:
                        if future.status == "error":
                            future.result()  # a later task's error, raised now
                    if self.cancel_event.wait(POLL_SECONDS):
                        raise _cancelled_error()
                yield window.popleft().result()
        except BaseException:
            # force: stop tasks other clients share with us too; the job owns its keys
            if window:
                self.client.cancel(list(window), force=True)
            raise

    def close(self) -> None:
        self.client.close()


def make_executor(
    settings: Any,
    *,
    config: JobsConfig | None = None,
    max_workers: int | None = None,
    cancel_event: threading.Event | None = None,
) -> Executor:
    """The executor a job should fan out on.

    Parameters
    ----------
    settings : mlharbor.config.Settings
        With ``dask_address`` set, tasks go to that Dask scheduler; otherwise to local
        processes.
    config : JobsConfig, optional
        ``compute_workers`` sizes the local pool.
    max_workers : int, optional
        Overrides the local pool size.
    cancel_event : threading.Event, optional
        When set, a running ``map`` cancels its tasks and raises ``JobCancelled``.

    Returns
    -------
    Executor

    Raises
    ------
    UpstreamError
        If the Dask scheduler cannot be reached.

    Examples
    --------
    >>> with make_executor(settings) as ex:  # doctest: +SKIP
    ...     squares = ex.map(lambda x: x * x, range(10))
    """
    address = getattr(settings, "dask_address", None)
    if address:
        return DaskExecutor(address, cancel_event=cancel_event)
    workers = max_workers or (config.compute_workers if config else None)
    return LocalExecutor(workers, cancel_event=cancel_event)
