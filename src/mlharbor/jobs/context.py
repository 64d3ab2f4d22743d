"""What a job handler sees of the system: progress, events, cancellation and compute."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from mlharbor.jobs.cancel import JobCancelled
from mlharbor.jobs.compute import Executor, make_executor
from mlharbor.jobs.options import JobsConfig
from mlharbor.jobs.records import Lease
from mlharbor.jobs.store import JobStore

__all__ = ["CANCEL_CHECK_SECONDS", "Handler", "JobCancelled", "JobContext"]

CANCEL_CHECK_SECONDS = 0.5


class JobContext:
    """The handle a job handler gets: ``handler(ctx, params) -> dict``.

    Parameters
    ----------
    store : JobStore
        Where progress and events are recorded.
    lease : Lease
        The attempt being run.
    settings : mlharbor.config.Settings
        The hub's settings, for handlers that open datasets, artifacts or the registry.
    config : JobsConfig, optional
        Job-system knobs (fan-out size).
    cancel_event : threading.Event, optional
        Set when the process was asked to stop.

    Examples
    --------
    >>> def handler(ctx, params):  # doctest: +SKIP
    ...     scores = ctx.compute.map(fit_fold, range(5))  # local processes or Dask
    ...     for i in range(10):
    ...         ctx.check_cancelled()
    ...         ctx.progress((i + 1) / 10, f"step {i + 1} of 10")
    ...     return {"scores": scores}
    """

    def __init__(
        self,
        store: JobStore,
        lease: Lease,
        settings: Any,
        config: JobsConfig | None = None,
        *,
        cancel_event: threading.Event | None = None,
    ) -> None:
        self.store = store
        self.lease = lease
        self.settings = settings
        self.config = config or JobsConfig()
        self.cancelled = cancel_event or threading.Event()
        self._executor: Executor | None = None
        self._last_check = 0.0

    @property
    def job_id(self) -> int:
        return self.lease.job_id

    @property
    def attempt(self) -> int:
        """1 on the first attempt, 2 on the first retry, and so on."""
        return self.lease.attempt

    def progress(self, fraction: float, message: str = "") -> None:
        """Record progress in [0, 1] with a short message; also checks for cancel."""
        self.check_cancelled()
        self.store.set_progress(self.job_id, fraction, message)

    def event(self, kind: str, data: dict[str, Any] | None = None) -> None:
        """Append an event (a fold's score, a trial, a phase) to the job's log."""
        self.store.add_event(self.job_id, kind, data or {})

    def check_cancelled(self) -> None:
        """Raise :class:`JobCancelled` if the job was cancelled.

        Cheap to call often: the database is asked at most every half second.
        """
        now = time.monotonic()
        if not self.cancelled.is_set() and now - self._last_check >= CANCEL_CHECK_SECONDS:
            self._last_check = now
            if self.store.get(self.job_id).cancel_requested:
                self.cancelled.set()
        if self.cancelled.is_set():
            raise JobCancelled(f"job {self.job_id} was cancelled")

    @property
    def compute(self) -> Executor:
        """The fan-out executor (Dask if ``settings.dask_address`` is set), made on first use."""
        if self._executor is None:
            self._executor = make_executor(
                self.settings, config=self.config, cancel_event=self.cancelled
            )
        return self._executor

    def close(self) -> None:
        """Release the executor, if one was made."""
        if self._executor is not None:
            self._executor.close()
            self._executor = None


#: What a job kind's handler is: ``handler(ctx, params) -> dict | None``, the result.
Handler = Callable[[JobContext, dict[str, Any]], "dict[str, Any] | None"]
