"""The job process: runs one attempt of one job and records how it ended.

Each attempt runs in a process of its own, leader of its own process group, so that a
crash, an out-of-memory kill or a runaway handler cannot take its worker down, and so that
cancel and timeout can stop the attempt together with any processes it started.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import traceback
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from mlharbor.errors import HarborError, InvalidInputError, JobError, error_to_dict, storage_error
from mlharbor.jobs.context import JobCancelled, JobContext
from mlharbor.jobs.handlers import load_handler, may_retry_error
from mlharbor.jobs.options import JobsConfig
from mlharbor.jobs.records import Lease
from mlharbor.jobs.store import JobStore

TRACEBACK_CHARS = 4000


@dataclass(frozen=True)
class AttemptSpec:
    """Everything a job process needs, picklable."""

    database_url: str
    lease: Lease
    handler: str
    params: dict[str, Any]
    settings: Any
    config: JobsConfig


def describe_error(exc: BaseException, *, with_traceback: bool = True) -> dict[str, Any]:
    """The ``error`` record of a job: the error as :func:`~mlharbor.errors.error_to_dict`
    writes it (any other exception as a ``job_failed`` one), its class name and, for
    operators, a short traceback."""
    harbor = exc if isinstance(exc, HarborError) else JobError(str(exc) or type(exc).__name__)
    error: dict[str, Any] = {**error_to_dict(harbor), "type": type(exc).__name__}
    if with_traceback:
        text = "".join(traceback.format_exception(exc))
        error["traceback"] = text[-TRACEBACK_CHARS:]
    return error


def is_deterministic(exc: BaseException) -> bool:
    """Whether ``exc`` would end another attempt of the job the same way.

    Every :class:`~mlharbor.errors.HarborError` a handler raises is a verdict on the
    request or the stored state (bad input, a conflict, something not found, storage that
    is full or read-only), except the ``retryable`` ones
    (:class:`~mlharbor.errors.UpstreamError`: a cluster or a URL that did not answer,
    which may answer next time). Other errors (a dropped database connection,
    ``ECONNRESET``, a bug) keep the handler's retry policy, and a lost worker is always
    retried (see :mod:`mlharbor.jobs.worker`).
    """
    return isinstance(exc, HarborError) and not exc.retryable


def _die_with_worker(alive: Connection) -> None:
    # The worker holds the only other end of this pipe: EOF means the worker is gone, and an
    # orphaned attempt must not keep running while recovery hands the job to someone else.
    with contextlib.suppress(EOFError, OSError):
        alive.recv()
    os.killpg(os.getpgid(0), signal.SIGKILL)


def run_attempt(spec: AttemptSpec, alive: Connection) -> None:
    """Entry point of the job process (a ``multiprocessing`` target)."""
    os.setsid()
    cancelled = threading.Event()

    def on_sigterm(_signum: int, _frame: Any) -> None:
        if not cancelled.is_set():
            cancelled.set()
            raise JobCancelled("the job process was asked to stop")

    signal.signal(signal.SIGTERM, on_sigterm)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_die_with_worker, args=(alive,), daemon=True).start()

    store = JobStore.from_url(spec.database_url)
    ctx = JobContext(store, spec.lease, spec.settings, spec.config, cancel_event=cancelled)
    try:
        _run(spec, store, ctx)
    except JobCancelled:
        # The worker records cancels and timeouts it enforces before it signals us, so this
        # only lands when the handler noticed a cancel request by itself.
        store.cancel(spec.lease)
    finally:
        # The outcome is recorded; a late SIGTERM may now simply end the process.
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        try:
            ctx.close()
        finally:
            store.close()


def _checked_result(result: Any) -> dict[str, Any]:
    result = {} if result is None else result
    if not isinstance(result, dict):
        raise TypeError(f"the job handler returned {type(result).__name__}, not a dict")
    json.dumps(result, allow_nan=False)
    return result


def _run(spec: AttemptSpec, store: JobStore, ctx: JobContext) -> None:
    handler = None
    try:
        handler = load_handler(spec.handler)
        result = handler(ctx, spec.params)
    except Exception as exc:
        # A full or read-only disk written outside the artifact store's own checks is
        # classified here, so it fails the job once with a clear message too.
        classified = storage_error(exc)
        if classified is not None:
            classified.__cause__ = exc  # the traceback shows where the write failed
            exc = classified
        if is_deterministic(exc):
            # Bad input, a conflict, a missing dataset: the same attempt would fail the same
            # way (after spending its whole budget again). Tell the user once, do not retry.
            traceback_too = not isinstance(exc, InvalidInputError)
            store.fail(spec.lease, describe_error(exc, with_traceback=traceback_too), retry=False)
            return
        retry = may_retry_error(handler, spec.lease.attempt)
        store.fail(spec.lease, describe_error(exc), retry=retry)
        return
    try:
        result = _checked_result(result)
    except (TypeError, ValueError) as exc:
        error = describe_error(exc)
        error["message"] = f"the job's result cannot be stored as JSON: {exc}"
        store.fail(spec.lease, error, retry=False)
        return
    ctx.close()
    store.finish(spec.lease, result)
