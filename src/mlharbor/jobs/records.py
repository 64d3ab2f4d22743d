"""The plain values the job system hands out: states, job records, events and leases."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, overload


class JobState(StrEnum):
    """Where a job is in its life."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        """Whether the job has ended and will not change state again."""
        return self in TERMINAL_STATES


TERMINAL_STATES = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED})


class EventKind(StrEnum):
    """Events the job system itself writes; handlers may add kinds of their own."""

    SUBMITTED = "submitted"
    STARTED = "started"
    PROGRESS = "progress"
    RETRYING = "retrying"
    RELEASED = "released"
    CANCEL_REQUESTED = "cancel_requested"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


@overload
def aware(value: datetime) -> datetime: ...
@overload
def aware(value: datetime | None) -> datetime | None: ...
def aware(value: datetime | None) -> datetime | None:
    """``value`` with UTC attached; SQLite hands datetimes back without their zone."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@dataclass(frozen=True)
class JobInfo:
    """A snapshot of one job, ready to serialise with :meth:`to_dict`."""

    id: int
    kind: str
    params: dict[str, Any]
    state: JobState
    progress: float
    message: str
    result: dict[str, Any] | None
    error: dict[str, Any] | None
    attempts: int
    max_attempts: int
    timeout_seconds: float | None
    cancel_requested: bool
    worker: str | None
    heartbeat_at: datetime | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @property
    def lease(self) -> Lease:
        """The lease of the attempt this snapshot shows (meaningful while running)."""
        return Lease(self.id, self.worker or "", self.attempts)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; datetimes as ISO 8601 strings."""
        out = asdict(self)
        out["state"] = str(self.state)
        for key in ("heartbeat_at", "created_at", "started_at", "finished_at"):
            out[key] = _iso(out[key])
        return out


@dataclass(frozen=True)
class JobEventInfo:
    """One entry of a job's event log; ``seq`` counts from 1 within the job."""

    job_id: int
    seq: int
    kind: str
    data: dict[str, Any]
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "job_id": self.job_id,
            "seq": self.seq,
            "kind": self.kind,
            "data": self.data,
            "created_at": _iso(self.created_at),
        }


@dataclass(frozen=True)
class Lease:
    """One worker's claim on one attempt of a job.

    Every write a worker makes about a running job is conditional on its lease, so a
    worker that was declared lost cannot overwrite what its successor did.
    """

    job_id: int
    worker: str
    attempt: int


@dataclass(frozen=True)
class Beat:
    """The answer to a heartbeat: is the lease still held, and was cancel requested."""

    held: bool
    cancel_requested: bool = False
