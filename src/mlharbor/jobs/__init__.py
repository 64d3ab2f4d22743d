"""Durable jobs: records in the metadata store, workers, recovery and fan-out compute.

The API submits and follows jobs through :class:`JobStore` and :func:`follow_events`;
``mlharbor serve`` runs a :class:`LocalWorkerPool` kept alive by a :class:`JobSupervisor`,
which also recovers lost jobs on a timer; ``mlharbor worker`` calls
:func:`run_worker`; job handlers are registered with :func:`register` and fan out with
``ctx.compute.map``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlharbor.lazy import lazy_exports

if TYPE_CHECKING:
    from mlharbor.jobs.compute import DaskExecutor, Executor, LocalExecutor, make_executor
    from mlharbor.jobs.context import JobCancelled, JobContext
    from mlharbor.jobs.follow import follow_events, iter_events
    from mlharbor.jobs.handlers import register, registered_kinds, retry_errors, unregister
    from mlharbor.jobs.options import JobsConfig
    from mlharbor.jobs.pool import LocalWorkerPool
    from mlharbor.jobs.records import EventKind, JobEventInfo, JobInfo, JobState, Lease
    from mlharbor.jobs.recovery import recover_stale_jobs
    from mlharbor.jobs.store import JobStore
    from mlharbor.jobs.supervisor import JobSupervisor
    from mlharbor.jobs.worker import Worker, run_worker

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

# Resolved on first use: the hub registers job kinds (``jobs.handlers``) in every process,
# and a command that runs no job must not load the pool, the worker and asyncio for it.
_EXPORTS = {
    "DaskExecutor": "mlharbor.jobs.compute",
    "Executor": "mlharbor.jobs.compute",
    "LocalExecutor": "mlharbor.jobs.compute",
    "make_executor": "mlharbor.jobs.compute",
    "JobCancelled": "mlharbor.jobs.context",
    "JobContext": "mlharbor.jobs.context",
    "follow_events": "mlharbor.jobs.follow",
    "iter_events": "mlharbor.jobs.follow",
    "register": "mlharbor.jobs.handlers",
    "registered_kinds": "mlharbor.jobs.handlers",
    "retry_errors": "mlharbor.jobs.handlers",
    "unregister": "mlharbor.jobs.handlers",
    "JobsConfig": "mlharbor.jobs.options",
    "LocalWorkerPool": "mlharbor.jobs.pool",
    "EventKind": "mlharbor.jobs.records",
    "JobEventInfo": "mlharbor.jobs.records",
    "JobInfo": "mlharbor.jobs.records",
    "JobState": "mlharbor.jobs.records",
    "Lease": "mlharbor.jobs.records",
    "recover_stale_jobs": "mlharbor.jobs.recovery",
    "JobStore": "mlharbor.jobs.store",
    "JobSupervisor": "mlharbor.jobs.supervisor",
    "Worker": "mlharbor.jobs.worker",
    "run_worker": "mlharbor.jobs.worker",
}

__getattr__ = lazy_exports("mlharbor.jobs", globals(), _EXPORTS)
