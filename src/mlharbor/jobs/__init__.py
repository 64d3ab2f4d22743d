"""Durable jobs: records in the metadata store, workers, recovery and fan-out compute.

The API submits and follows jobs through :class:`JobStore` and :func:`follow_events`;
``mlharbor serve`` runs a :class:`LocalWorkerPool` kept alive by a :class:`JobSupervisor`,
which also recovers lost jobs on a timer; ``mlharbor worker`` calls
:func:`run_worker`; job handlers are registered with :func:`register` and fan out with
``ctx.compute.map``.
"""

from __future__ import annotations

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
