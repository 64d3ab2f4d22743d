"""Durable jobs: records in the metadata store, workers, recovery and fan-out compute.

The API submits and follows jobs through :class:`JobStore` and :func:`follow_events`;
``mlharbor serve`` runs a :class:`LocalWorkerPool` kept alive by a :class:`JobSupervisor`,
which also recovers lost jobs on a timer; ``mlharbor worker`` calls
:func:`run_worker`; job handlers are registered with :func:`register` and fan out with
``ctx.compute.map``.

Names resolve on first use, so that the light modules (the registry of job kinds, the
fork server's starter) are imported without the store and the database layer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlharbor.lazy import lazy_exports

_EXPORTS = {
    "DaskExecutor": "mlharbor.jobs.compute",
    "EventKind": "mlharbor.jobs.records",
    "Executor": "mlharbor.jobs.compute",
    "JobCancelled": "mlharbor.jobs.cancel",
    "JobContext": "mlharbor.jobs.context",
    "JobEventInfo": "mlharbor.jobs.records",
    "JobInfo": "mlharbor.jobs.records",
    "JobState": "mlharbor.jobs.records",
    "JobStore": "mlharbor.jobs.store",
    "JobSupervisor": "mlharbor.jobs.supervisor",
    "JobsConfig": "mlharbor.jobs.options",
    "Lease": "mlharbor.jobs.records",
    "LocalExecutor": "mlharbor.jobs.compute",
    "LocalWorkerPool": "mlharbor.jobs.pool",
    "Worker": "mlharbor.jobs.worker",
    "follow_events": "mlharbor.jobs.follow",
    "iter_events": "mlharbor.jobs.follow",
    "make_executor": "mlharbor.jobs.compute",
    "recover_stale_jobs": "mlharbor.jobs.recovery",
    "register": "mlharbor.jobs.handlers",
    "registered_kinds": "mlharbor.jobs.handlers",
    "retry_errors": "mlharbor.jobs.handlers",
    "run_worker": "mlharbor.jobs.worker",
    "unregister": "mlharbor.jobs.handlers",
}

__all__ = [
    "DaskExecutor",
    "EventKind",
    "Executor",
    "JobCancelled",
    "JobContext",
    "JobEventInfo",
    "JobInfo",
    "JobState",
    "JobStore",
    "JobSupervisor",
    "JobsConfig",
    "Lease",
    "LocalExecutor",
    "LocalWorkerPool",
    "Worker",
    "follow_events",
    "iter_events",
    "make_executor",
    "recover_stale_jobs",
    "register",
    "registered_kinds",
    "retry_errors",
    "run_worker",
    "unregister",
]

if TYPE_CHECKING:
    from mlharbor.jobs.cancel import JobCancelled
    from mlharbor.jobs.compute import DaskExecutor, Executor, LocalExecutor, make_executor
    from mlharbor.jobs.context import JobContext
    from mlharbor.jobs.follow import follow_events, iter_events
    from mlharbor.jobs.handlers import register, registered_kinds, retry_errors, unregister
    from mlharbor.jobs.options import JobsConfig
    from mlharbor.jobs.pool import LocalWorkerPool
    from mlharbor.jobs.records import EventKind, JobEventInfo, JobInfo, JobState, Lease
    from mlharbor.jobs.recovery import recover_stale_jobs
    from mlharbor.jobs.store import JobStore
    from mlharbor.jobs.supervisor import JobSupervisor
    from mlharbor.jobs.worker import Worker, run_worker


__getattr__ = lazy_exports("mlharbor.jobs", globals(), _EXPORTS)
