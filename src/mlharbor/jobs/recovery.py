"""Recovery of jobs whose worker went silent (killed, out of memory, host lost).

A worker refreshes the heartbeat of each job it runs; a running job whose heartbeat is
older than the lease is requeued while attempts remain, else failed with the reason. Every
worker runs this at start and then periodically, so no job stays ``running`` forever even
when the only worker restarts.
"""

from __future__ import annotations

from datetime import timedelta

from mlharbor.errors import WorkerLostError
from mlharbor.jobs.records import JobState
from mlharbor.jobs.runner import describe_error
from mlharbor.jobs.store import JobStore
from mlharbor.store.orm import utcnow


def recover_stale_jobs(store: JobStore, lease_seconds: float) -> dict[int, JobState]:
    """Requeue or fail running jobs with no heartbeat for ``lease_seconds``.

    Parameters
    ----------
    store : JobStore
        The job records.
    lease_seconds : float
        Silence after which a job's worker counts as lost.

    Returns
    -------
    dict
        Job id → the state it was moved to (``queued`` or ``failed``).

    Examples
    --------
    >>> recover_stale_jobs(store, lease_seconds=30)  # doctest: +SKIP
    {7: <JobState.QUEUED: 'queued'>}
    """
    silence = timedelta(seconds=lease_seconds)
    moved: dict[int, JobState] = {}
    for job in store.stale(silence):
        lost = WorkerLostError(
            f"worker lost: no heartbeat from {job.worker} for {lease_seconds:g} s"
        )
        error = describe_error(lost, with_traceback=False)
        # The cutoff is checked again under the row lock: a worker that beat meanwhile keeps it.
        state = store.expire(job.lease, utcnow() - silence, error)
        if state is not None:
            moved[job.id] = state
    return moved
