"""The worker: claims queued jobs, runs each attempt in its own process, and watches it.

While an attempt runs, its worker beats its heartbeat, enforces its time limit, honours a
cancel request, and records how the attempt ended if the process died without saying so.
``python -m mlharbor.jobs.worker --database-url … --handlers mlharbor.hub`` runs one (the
``mlharbor worker`` command calls :func:`run_worker`). A worker claims only the kinds its
process has registered (``--handlers`` imports the modules that register them); the
others wait for a worker that knows them.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import signal
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

from mlharbor.errors import InvalidInputError, JobTimeoutError, WorkerLostError
from mlharbor.jobs.handlers import handler_path, registered_kinds
from mlharbor.jobs.options import JobsConfig
from mlharbor.jobs.records import JobInfo, JobState, Lease
from mlharbor.jobs.recovery import recover_stale_jobs
from mlharbor.jobs.runner import AttemptSpec, describe_error, run_attempt
from mlharbor.jobs.starter import attempt_context
from mlharbor.jobs.store import JobStore

log = logging.getLogger(__name__)


def make_worker_id() -> str:
    """``host:pid:random``: unique per worker run, readable by an operator."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def worker_id_prefix(pid: int) -> str:
    """How the ids :func:`make_worker_id` gives in process ``pid`` on this host begin."""
    return f"{socket.gethostname()}:{pid}:"


def _signal_group(process: BaseProcess, signum: int) -> None:
    # The attempt leads its own process group; signalling the group reaches its helpers too.
    if process.pid is None:
        return
    try:
        os.killpg(process.pid, signum)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signum)


def exit_reason(exitcode: int | None) -> str:
    """How a process ended, in words: ``killed by SIGKILL``, ``exited with code 1 …``."""
    if exitcode is not None and exitcode < 0:
        try:
            return f"killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"killed by signal {-exitcode}"
    return f"exited with code {exitcode} without recording a result"


@dataclass
class _Attempt:
    job: JobInfo
    process: BaseProcess
    alive: Connection
    limit: float | None  # seconds this attempt may run
    next_beat: float
    kill_at: float | None = None  # set once we decided to stop it
    settled: bool = False  # the worker already wrote the job's final state
    started: float = field(default_factory=time.monotonic)

    @property
    def lease(self) -> Lease:
        return self.job.lease

    @property
    def deadline(self) -> float | None:
        return self.started + self.limit if self.limit else None


class Worker:
    """One worker: up to ``concurrency`` attempts at a time, each in its own process.

    Parameters
    ----------
    settings : mlharbor.config.Settings
        Names the database and is handed to handlers.
    concurrency : int, optional
        Attempts run at once; default ``settings.workers``.
    config : JobsConfig, optional
        Heartbeat, lease, poll and grace periods.
    worker_id : str, optional
        Identity recorded on claimed jobs; default ``host:pid:random``.
    wake : Connection, optional
        A pipe whose messages mean "a job was just submitted": the worker looks at the
        queue at once instead of at its next poll (see :mod:`mlharbor.jobs.wake`).
    """

    def __init__(
        self,
        settings: Any,
        *,
        concurrency: int | None = None,
        config: JobsConfig | None = None,
        worker_id: str | None = None,
        wake: Connection | None = None,
    ) -> None:
        self.settings = settings
        self.wake = wake
        self.config = config or JobsConfig.from_settings(settings)
        self.concurrency = max(1, concurrency or getattr(settings, "workers", 1) or 1)
        self.worker_id = worker_id or make_worker_id()
        self.database_url = settings.resolved_database_url()
        self.store = JobStore.from_url(self.database_url)
        self._mp = attempt_context(self.database_url)
        self.attempts: dict[int, _Attempt] = {}
        self._next_recovery = 0.0

    # -- one turn of the loop ----------------------------------------------------------

    def step(self, *, claim: bool = True) -> None:
        """Reap ended attempts, beat, enforce limits, recover, and claim new jobs."""
        now = time.monotonic()
        for attempt in list(self.attempts.values()):
            self._watch(attempt, now)
        if now >= self._next_recovery:
            self._next_recovery = now + self.config.recovery_seconds
            for job_id, state in recover_stale_jobs(self.store, self.config.lease_seconds).items():
                log.warning("job %s had a lost worker; now %s", job_id, state)
        while claim and len(self.attempts) < self.concurrency:
            # Only kinds this process knows: another worker may know the rest.
            job = self.store.claim(self.worker_id, registered_kinds())
            if job is None:
                break
            self._start(job)

    def _start(self, job: JobInfo) -> None:
        try:
            path = handler_path(job.kind)
        except InvalidInputError as exc:
            self.store.fail(job.lease, describe_error(exc, with_traceback=False), retry=False)
            return
        spec = AttemptSpec(
            self.database_url, job.lease, path, job.params, self.settings, self.config
        )
        keep, give = self._mp.Pipe(duplex=False)
        process = self._mp.Process(
            target=run_attempt, args=(spec, keep), name=f"mlharbor-job-{job.id}"
        )
        process.start()
        keep.close()
        timeout = job.timeout_seconds or self.config.default_timeout_seconds
        now = time.monotonic()
        self.attempts[job.id] = _Attempt(
            job=job,
            process=process,
            alive=give,
            limit=timeout,
            next_beat=now + self.config.heartbeat_seconds,
            started=now,
        )
        log.info("job %s (%s) attempt %s started", job.id, job.kind, job.attempts)

    def _watch(self, attempt: _Attempt, now: float) -> None:
        if not attempt.process.is_alive():
            self._reap(attempt)
            return
        if attempt.kill_at is not None:
            if now >= attempt.kill_at:
                _signal_group(attempt.process, signal.SIGKILL)
            return
        if attempt.deadline is not None and now >= attempt.deadline:
            timeout = JobTimeoutError(f"timed out after {attempt.limit:g} s (the job's time limit)")
            error = describe_error(timeout, with_traceback=False)
            self.store.fail(attempt.lease, error, retry=False)
            self._stop(attempt, now)
            return
        if now >= attempt.next_beat:
            attempt.next_beat = now + self.config.heartbeat_seconds
            beat = self.store.heartbeat(attempt.lease)
            if not beat.held:
                # Usually the attempt has just recorded its end and is exiting; if it was
                # really taken from us, its writes are fenced and it is killed after the grace.
                attempt.settled = True
                attempt.kill_at = now + self.config.cancel_grace_seconds
            elif beat.cancel_requested:
                self.store.cancel(attempt.lease)
                self._stop(attempt, now)

    def wait(self, timeout: float) -> None:
        """Sleep until one of this worker's attempts ends, or ``timeout`` seconds: a caller
        that runs the worker's steps itself (``Hub.wait``) sees a finished job at once."""
        sentinels = [a.process.sentinel for a in self.attempts.values()]
        if sentinels:
            wait(sentinels, timeout=timeout)
        else:
            time.sleep(timeout)

    def _stop(self, attempt: _Attempt, now: float) -> None:
        attempt.settled = True
        attempt.kill_at = now + self.config.cancel_grace_seconds
        _signal_group(attempt.process, signal.SIGTERM)

    def _reap(self, attempt: _Attempt) -> None:
        attempt.process.join()
        exitcode = attempt.process.exitcode
        # Sweep helpers (pool processes) an abruptly ended attempt may have left behind.
        _signal_group(attempt.process, signal.SIGKILL)
        attempt.alive.close()
        del self.attempts[attempt.job.id]
        if attempt.settled:
            return
        job = self.store.find(attempt.job.id)
        if job is not None and job.state is JobState.RUNNING and job.lease == attempt.lease:
            lost = WorkerLostError(f"worker lost: the job process {exit_reason(exitcode)}")
            error = describe_error(lost, with_traceback=False)
            state = self.store.fail(attempt.lease, error, retry=True)
            log.warning("job %s: %s; now %s", job.id, error["message"], state)

    # -- the loop ----------------------------------------------------------------------

    def _sleep(self, stop_event: Any) -> None:
        waitables: list[Any] = [a.process.sentinel for a in self.attempts.values()]
        if self.wake is not None:
            waitables.append(self.wake)
        if not waitables:
            stop_event.wait(self.config.poll_seconds)
            return
        if self.wake is not None and self.wake in wait(waitables, timeout=self.config.poll_seconds):
            self._drain_wake()

    def _drain_wake(self) -> None:
        assert self.wake is not None
        try:
            while self.wake.poll():
                self.wake.recv_bytes()
        except (EOFError, OSError):  # the submitting process is gone: poll as usual
            self.wake.close()
            self.wake = None

    def run(self, stop_event: Any, *, parent_pid: int | None = None) -> None:
        """Work until ``stop_event`` is set (or ``parent_pid`` dies), then shut down."""
        log.info("worker %s started (concurrency %s)", self.worker_id, self.concurrency)
        try:
            while not stop_event.is_set():
                if parent_pid is not None and os.getppid() != parent_pid:
                    log.warning("worker %s: parent process is gone; stopping", self.worker_id)
                    break
                try:
                    self.step()
                except Exception:
                    # A database outage must not end the worker: its attempts keep running,
                    # and their fenced writes succeed or fail once the database is back.
                    log.exception("worker %s: loop step failed; retrying", self.worker_id)
                    stop_event.wait(min(5.0, self.config.lease_seconds / 4))
                self._sleep(stop_event)
            self.shutdown()
        finally:
            self.store.close()

    def shutdown(self) -> None:
        """Let running attempts finish within the grace period; requeue the rest."""
        deadline = time.monotonic() + self.config.stop_grace_seconds
        while self.attempts and time.monotonic() < deadline:
            self.step(claim=False)
            if self.attempts:
                wait([a.process.sentinel for a in self.attempts.values()], timeout=0.1)
        for attempt in list(self.attempts.values()):
            if not attempt.settled and self.store.release(attempt.lease, "worker stopped"):
                attempt.settled = True
            _signal_group(attempt.process, signal.SIGKILL)
            self._reap(attempt)


def run_worker(
    settings: Any,
    *,
    concurrency: int | None = None,
    stop_event: Any = None,
    config: JobsConfig | None = None,
    parent_pid: int | None = None,
    wake: Connection | None = None,
) -> None:
    """Run a worker until ``stop_event`` is set; what ``mlharbor worker`` calls.

    Parameters
    ----------
    settings : mlharbor.config.Settings
        Names the database (SQLite for one host, PostgreSQL for many).
    concurrency : int, optional
        Jobs run at once; default ``settings.workers``.
    stop_event : threading.Event or multiprocessing.Event, optional
        Set it to stop: running jobs get ``config.stop_grace_seconds`` to finish, then go
        back to the queue. Without one, the worker runs until SIGINT or SIGTERM when
        called in the main thread, or forever otherwise.
    config : JobsConfig, optional
        Heartbeat, lease and grace periods; default from ``settings``.
    parent_pid : int, optional
        Stop when this process is no longer the parent (for embedded pools).
    wake : Connection, optional
        Look at the queue whenever a message arrives on it (see :class:`Worker`).

    Examples
    --------
    >>> run_worker(get_settings(), concurrency=2)  # doctest: +SKIP
    """
    if stop_event is None:
        stop_event = threading.Event()
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                signal.signal(signum, lambda *_: stop_event.set())
    worker = Worker(settings, concurrency=concurrency, config=config, wake=wake)
    worker.run(stop_event, parent_pid=parent_pid)


def main(argv: list[str] | None = None) -> None:
    """``python -m mlharbor.jobs.worker``: a worker without the full CLI."""
    from mlharbor.config import Settings

    parser = argparse.ArgumentParser(prog="python -m mlharbor.jobs.worker")
    parser.add_argument("--database-url", help="default: MLHARBOR_DATABASE_URL or data_dir")
    parser.add_argument("--concurrency", type=int, default=None)
    parser.add_argument("--heartbeat", type=float, default=None, help="seconds between beats")
    parser.add_argument("--lease", type=float, default=None, help="silence that means lost")
    parser.add_argument("--poll", type=float, default=None, help="seconds between queue looks")
    parser.add_argument(
        "--handlers", action="append", default=[], help="module to import (registers kinds)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    for module in args.handlers:
        importlib.import_module(module)
    settings = Settings(database_url=args.database_url) if args.database_url else Settings()
    overrides = {
        name: value
        for name, value in (
            ("heartbeat_seconds", args.heartbeat),
            ("lease_seconds", args.lease),
            ("poll_seconds", args.poll),
        )
        if value is not None
    }
    config = JobsConfig.from_settings(settings, **overrides)
    run_worker(settings, concurrency=args.concurrency, config=config)


if __name__ == "__main__":
    main()
