"""Supervision inside the API process: a dead worker pool is restarted, lost jobs recovered.

Without it, a worker pool killed by the kernel (out of memory) or by an operator would leave
its running jobs ``running`` and every new job ``queued`` for as long as the server lives,
since only workers looked for lost jobs. The supervisor is one thread of the API process:

- it watches the embedded :class:`~mlharbor.jobs.pool.LocalWorkerPool` and starts it again
  when it dies (at once the first time, then backing off while it keeps dying young);
- the jobs the dead pool was running are handed back at once (retried, or failed when their
  attempts are spent), since nobody can be beating their heartbeat any more;
- every ``recovery_seconds`` it recovers jobs whose heartbeat is older than the lease, so
  jobs of any lost worker (also an external ``mlharbor worker``) move on even when no
  worker is left to do it.
"""

from __future__ import annotations

import logging
import threading
import time

from mlharbor.errors import WorkerLostError
from mlharbor.jobs.options import JobsConfig
from mlharbor.jobs.pool import LocalWorkerPool
from mlharbor.jobs.records import JobState
from mlharbor.jobs.recovery import recover_stale_jobs
from mlharbor.jobs.runner import describe_error
from mlharbor.jobs.store import JobStore
from mlharbor.jobs.worker import exit_reason, worker_id_prefix

log = logging.getLogger(__name__)

#: How often the pool is looked at; a dead pool is noticed within this.
CHECK_SECONDS = 0.5
#: A pool that dies sooner than this after its start is restarted after a growing pause.
HEALTHY_SECONDS = 60.0
MAX_BACKOFF_SECONDS = 30.0


class JobSupervisor:
    """Restart the embedded pool when it dies; recover lost jobs on a timer.

    Parameters
    ----------
    store : JobStore
        The job records (the API process's own store is fine).
    config : JobsConfig
        ``lease_seconds`` and ``recovery_seconds`` drive recovery.
    pool : LocalWorkerPool, optional
        The embedded pool to keep alive; without one only recovery runs (API processes
        next to external ``mlharbor worker`` services).

    Examples
    --------
    >>> supervisor = JobSupervisor(hub.jobs, config, pool).start()  # doctest: +SKIP
    >>> supervisor.stop(); pool.stop()  # doctest: +SKIP
    """

    def __init__(
        self, store: JobStore, config: JobsConfig, pool: LocalWorkerPool | None = None
    ) -> None:
        self.store = store
        self.config = config
        self.pool = pool
        #: Times the pool was started again after it died.
        self.restarts = 0
        #: Jobs of lost workers this process requeued or failed.
        self.recovered = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._next_recovery = 0.0
        self._started_at = time.monotonic()
        self._backoff = 0.0
        self._restart_at: float | None = None  # set while the pool is down
        self._down_reason = ""

    def start(self) -> JobSupervisor:
        """Start the supervising thread; returns ``self``."""
        self._stop.clear()
        self._started_at = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="mlharbor-supervisor", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop supervising (call before stopping the pool, or it would be restarted)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
            self._thread = None

    def workers_check(self) -> str:
        """``ok`` while the embedded pool runs, else why not; for ``/readyz``."""
        pool = self.pool
        if pool is not None and pool.is_alive() and not pool.ready:
            return "error: the worker pool is starting"
        if pool is None or pool.is_alive():
            return "ok"
        if pool.pid is None:
            return "error: the worker pool is not running"
        now = time.monotonic()
        restart_at = self._restart_at
        if restart_at is None:  # died this instant; the next turn restarts it
            reason, restart_at = f"process {pool.pid} {exit_reason(pool.exitcode)}", now
        else:
            reason = self._down_reason
        return f"error: the worker pool {reason}; restarting in {max(0, restart_at - now):.0f} s"

    # -- one turn ----------------------------------------------------------------------

    def check(self) -> None:
        """Restart the pool if it died, and recover lost jobs when it is time."""
        now = time.monotonic()
        if self.pool is not None and not self.pool.is_alive():
            self._restart(now)
        if now >= self._next_recovery:
            self._next_recovery = now + self.config.recovery_seconds
            moved = recover_stale_jobs(self.store, self.config.lease_seconds)
            for job_id, state in moved.items():
                log.warning("job %s had a lost worker; now %s", job_id, state)
            self.recovered += len(moved)

    def _restart(self, now: float) -> None:
        assert self.pool is not None
        if self._restart_at is None:  # just noticed
            pid, exitcode = self.pool.pid, self.pool.exitcode
            self._down_reason = f"process {pid} {exit_reason(exitcode)}"
            young = now - self._started_at < HEALTHY_SECONDS
            self._backoff = min(MAX_BACKOFF_SECONDS, max(1.0, 2 * self._backoff)) if young else 0
            self._restart_at = now + self._backoff
            log.error(
                "worker pool %s; restarting it in %.0f s (restart %d)",
                self._down_reason,
                self._backoff,
                self.restarts + 1,
            )
            if pid is not None:
                self._hand_back_jobs_of(pid)
        if now < self._restart_at:
            return
        self.pool.start()
        self.restarts += 1
        self._started_at = now
        self._restart_at = None
        log.warning("worker pool restarted as process %s", self.pool.pid)

    def _hand_back_jobs_of(self, pid: int) -> None:
        # The pool's attempts die with it (they watch a pipe to it), so no heartbeat will come:
        # retry now rather than after the lease. Writes are fenced by the lease either way.
        prefix = worker_id_prefix(pid)
        lost = [
            job
            for job in self.store.list(state=JobState.RUNNING, limit=10_000)
            if job.worker is not None and job.worker.startswith(prefix)
        ]
        for job in lost:
            exc = WorkerLostError(f"worker lost: the worker pool {self._down_reason}")
            error = describe_error(exc, with_traceback=False)
            state = self.store.fail(job.lease, error, retry=True)
            if state is not None:
                self.recovered += 1
                log.warning("job %s: %s; now %s", job.id, error["message"], state)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.check()
            except Exception:
                # A database outage must not end supervision; the next turn tries again.
                log.exception("job supervisor: check failed; retrying")
            self._stop.wait(CHECK_SECONDS)
