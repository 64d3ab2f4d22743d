"""Tuning knobs of the job system, with embedded defaults.

They live here until the lead lifts them into :class:`mlharbor.config.Settings`;
:meth:`JobsConfig.from_settings` already reads ``settings.job_<name>`` when it exists, so
lifting a field needs no change in this package.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any


@dataclass(frozen=True)
class JobsConfig:
    """How often workers beat, when a silent worker counts as lost, and job defaults.

    Attributes
    ----------
    heartbeat_seconds : float
        How often a worker refreshes the heartbeat of each job it runs.
    lease_seconds : float
        A running job whose heartbeat is older than this is treated as lost by its worker.
        Must be several heartbeats long, so a busy database does not cause false alarms.
    poll_seconds : float
        How often an idle worker looks for queued jobs.
    recovery_seconds : float
        How often a worker looks for jobs of lost workers.
    default_timeout_seconds : float or None
        Time limit of a job submitted without one; ``None`` means no limit.
    max_attempts : int
        Attempts of a job submitted without its own limit.
    cancel_grace_seconds : float
        Time a job process gets to stop after SIGTERM before it is killed.
    stop_grace_seconds : float
        Time a stopping worker waits for running jobs before releasing them to the queue.
    compute_workers : int or None
        Processes of the local fan-out executor; ``None`` means one per CPU.
    """

    heartbeat_seconds: float = 5.0
    lease_seconds: float = 30.0
    poll_seconds: float = 0.5
    recovery_seconds: float = 10.0
    default_timeout_seconds: float | None = None
    max_attempts: int = 3
    cancel_grace_seconds: float = 5.0
    stop_grace_seconds: float = 10.0
    compute_workers: int | None = None

    @classmethod
    def from_settings(cls, settings: Any, **overrides: Any) -> JobsConfig:
        """Defaults, then any ``settings.job_<field>``, then ``overrides``."""
        values = {
            f.name: getattr(settings, f"job_{f.name}")
            for f in fields(cls)
            if hasattr(settings, f"job_{f.name}")
        }
        return replace(cls(**values), **overrides)
