"""Durable job records: the only code that reads or writes the ``jobs`` tables.

Claiming uses ``SELECT … FOR UPDATE SKIP LOCKED`` on PostgreSQL, so many workers on many
hosts can poll one queue. SQLite has no row locks; there a claim is one conditional
``UPDATE … WHERE id = ? AND state = 'queued'`` whose row count tells who won, which is safe
for the processes of one host sharing the file. Every write about a running job is fenced
by its :class:`~mlharbor.jobs.records.Lease`.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, Engine, Update, func, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from mlharbor.errors import InvalidInputError, NotFoundError
from mlharbor.jobs.records import (
    Beat,
    EventKind,
    JobEventInfo,
    JobInfo,
    JobState,
    Lease,
    aware,
)
from mlharbor.jobs.wake import notify_submitted
from mlharbor.store.db import make_engine, make_session_factory
from mlharbor.store.orm import Job, JobEvent, utcnow


def _info(job: Job) -> JobInfo:
    return JobInfo(
        id=job.id,
        kind=job.kind,
        params=dict(job.params or {}),
        state=JobState(job.state),
        progress=job.progress,
        message=job.message,
        result=job.result,
        error=job.error,
        attempts=job.attempts,
        max_attempts=job.max_attempts,
        timeout_seconds=job.timeout_seconds,
        cancel_requested=job.cancel_requested,
        worker=job.worker,
        heartbeat_at=aware(job.heartbeat_at),
        created_at=aware(job.created_at),
        started_at=aware(job.started_at),
        finished_at=aware(job.finished_at),
    )


def _append_event(session: Session, job_id: int, kind: str, data: dict[str, Any]) -> None:
    # One statement computes the next seq and inserts it, so SQLite writers cannot interleave;
    # on PostgreSQL every caller holds the job's row lock, which serialises them.
    next_seq = (
        select(func.coalesce(func.max(JobEvent.seq), 0) + 1)
        .where(JobEvent.job_id == job_id)
        .scalar_subquery()
    )
    session.execute(
        insert(JobEvent).values(
            job_id=job_id, seq=next_seq, kind=str(kind), data=data, created_at=utcnow()
        )
    )


def _fenced(lease: Lease) -> tuple[ColumnElement[bool], ...]:
    return (
        Job.id == lease.job_id,
        Job.state == JobState.RUNNING,
        Job.worker == lease.worker,
        Job.attempts == lease.attempt,
    )


def _changed(session: Session, statement: Update) -> int:
    """How many rows an UPDATE changed (execute() types its result as a plain Result)."""
    return cast(CursorResult[Any], session.execute(statement)).rowcount


class JobStore:
    """Submit, inspect, claim and finish jobs kept in the metadata database.

    Parameters
    ----------
    session_factory : sessionmaker
        Sessions on a migrated mlharbor database. Each method runs in its own transaction.

    Examples
    --------
    >>> store = JobStore.from_url("sqlite:///mlharbor.db")  # doctest: +SKIP
    >>> job = store.submit("sleep", {"seconds": 1})  # doctest: +SKIP
    >>> store.get(job.id).state  # doctest: +SKIP
    <JobState.QUEUED: 'queued'>
    """

    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self._sessions = session_factory
        self._engine: Engine | None = None
        bind = session_factory.kw.get("bind")
        self.dialect = bind.dialect.name if bind is not None else "sqlite"

    @classmethod
    def from_url(cls, database_url: str) -> JobStore:
        """A store with its own engine on ``database_url``; :meth:`close` disposes it."""
        engine = make_engine(database_url)
        store = cls(make_session_factory(engine))
        store._engine = engine
        return store

    def close(self) -> None:
        """Dispose the engine this store created, if any."""
        if self._engine is not None:
            self._engine.dispose()

    @contextmanager
    def _tx(self) -> Iterator[Session]:
        with self._sessions() as session, session.begin():
            yield session

    def _locked(self, session: Session, job_id: int) -> Job:
        job = session.scalars(select(Job).where(Job.id == job_id).with_for_update()).first()
        if job is None:
            raise NotFoundError(f"job {job_id} does not exist", job_id=job_id)
        return job

    # -- the user's side --------------------------------------------------------------

    def submit(
        self,
        kind: str,
        params: dict[str, Any] | None = None,
        *,
        timeout_seconds: float | None = None,
        max_attempts: int = 3,
    ) -> JobInfo:
        """Queue a job.

        Parameters
        ----------
        kind : str
            A registered job kind (see :func:`mlharbor.jobs.handlers.register`).
        params : dict, optional
            JSON-serialisable parameters handed to the handler.
        timeout_seconds : float, optional
            Wall-clock limit of one attempt; past it the job fails and is not retried.
        max_attempts : int
            Attempts before a job whose worker keeps failing or dying is failed for good.

        Returns
        -------
        JobInfo
            The queued job.

        Raises
        ------
        InvalidInputError
            For an unknown kind, parameters that are not JSON, or limits out of range.
        """
        from mlharbor.jobs.handlers import registered_kinds

        kinds = registered_kinds()
        if kind not in kinds:
            raise InvalidInputError(
                f"unknown job kind {kind!r}; known kinds: {', '.join(sorted(kinds)) or 'none'}",
                field="kind",
            )
        params = {} if params is None else params
        if not isinstance(params, dict):
            raise InvalidInputError("job params must be a JSON object", field="params")
        try:
            json.dumps(params, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(f"job params are not valid JSON: {exc}", field="params")
        if timeout_seconds is not None and not timeout_seconds > 0:
            raise InvalidInputError("timeout_seconds must be positive", field="timeout_seconds")
        if not 1 <= max_attempts <= 100:
            raise InvalidInputError("max_attempts must be between 1 and 100", field="max_attempts")
        with self._tx() as s:
            job = Job(
                kind=kind,
                params=params,
                state=JobState.QUEUED,
                progress=0.0,
                message="queued",
                attempts=0,
                max_attempts=max_attempts,
                timeout_seconds=timeout_seconds,
                cancel_requested=False,
                created_at=utcnow(),
            )
            s.add(job)
            s.flush()
            _append_event(s, job.id, EventKind.SUBMITTED, {"kind": kind})
            info = _info(job)
        notify_submitted()  # committed: a local worker may claim it now
        return info

    def find(self, job_id: int) -> JobInfo | None:
        """The job, or ``None`` if there is none with this id."""
        with self._sessions() as s:
            job = s.get(Job, job_id)
            return _info(job) if job is not None else None

    def get(self, job_id: int) -> JobInfo:
        """The job; raise :class:`~mlharbor.errors.NotFoundError` if it does not exist."""
        info = self.find(job_id)
        if info is None:
            raise NotFoundError(f"job {job_id} does not exist", job_id=job_id)
        return info

    def list(
        self,
        *,
        state: JobState | str | None = None,
        kind: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> builtins.list[JobInfo]:
        """Jobs, newest first, optionally of one state and/or kind."""
        stmt = select(Job).order_by(Job.id.desc()).limit(max(0, limit)).offset(max(0, offset))
        if state is not None:
            stmt = stmt.where(Job.state == JobState(state))
        if kind is not None:
            stmt = stmt.where(Job.kind == kind)
        with self._sessions() as s:
            return [_info(job) for job in s.scalars(stmt)]

    def count(self, *, state: JobState | str | None = None, kind: str | None = None) -> int:
        """How many jobs :meth:`list` would page through."""
        stmt = select(func.count(Job.id))
        if state is not None:
            stmt = stmt.where(Job.state == JobState(state))
        if kind is not None:
            stmt = stmt.where(Job.kind == kind)
        with self._sessions() as s:
            return int(s.scalar(stmt) or 0)

    def events(
        self, job_id: int, after_seq: int = 0, *, limit: int = 1000
    ) -> builtins.list[JobEventInfo]:
        """The job's events with ``seq > after_seq``, oldest first."""
        stmt = (
            select(JobEvent)
            .where(JobEvent.job_id == job_id, JobEvent.seq > after_seq)
            .order_by(JobEvent.seq)
            .limit(limit)
        )
        with self._sessions() as s:
            return [
                JobEventInfo(e.job_id, e.seq, e.kind, dict(e.data), aware(e.created_at))
                for e in s.scalars(stmt)
            ]

    def add_event(self, job_id: int, kind: str, data: dict[str, Any] | None = None) -> None:
        """Append an event to the job's log."""
        with self._tx() as s:
            self._locked(s, job_id)
            _append_event(s, job_id, kind, data or {})

    def set_progress(self, job_id: int, fraction: float, message: str = "") -> None:
        """Record progress (clamped to [0, 1]) on the job and as a ``progress`` event."""
        fraction = min(1.0, max(0.0, float(fraction)))
        with self._tx() as s:
            job = self._locked(s, job_id)
            job.progress = fraction
            job.message = message
            _append_event(s, job_id, EventKind.PROGRESS, {"fraction": fraction, "message": message})

    def request_cancel(self, job_id: int) -> JobInfo:
        """Cancel a job: at once if queued, by its worker if running; no-op once ended.

        Raises
        ------
        NotFoundError
            If there is no such job.
        """
        with self._tx() as s:
            job = self._locked(s, job_id)
            state = JobState(job.state)
            if state is JobState.QUEUED:
                job.state = JobState.CANCELLED
                job.cancel_requested = True
                job.message = "cancelled before it started"
                job.finished_at = utcnow()
                _append_event(s, job_id, EventKind.CANCELLED, {"reason": job.message})
            elif state is JobState.RUNNING and not job.cancel_requested:
                job.cancel_requested = True
                _append_event(s, job_id, EventKind.CANCEL_REQUESTED, {})
            return _info(job)

    # -- the worker's side ------------------------------------------------------------

    def claim(self, worker: str, kinds: Collection[str] | None = None) -> JobInfo | None:
        """Take the oldest queued job for ``worker``, or ``None`` if the queue is empty.

        With ``kinds``, only a job of one of those kinds: a worker that does not know a kind
        leaves its jobs to one that does, rather than failing them.
        """
        wanted = [Job.state == JobState.QUEUED, Job.cancel_requested.is_(False)]
        if kinds is not None:
            wanted.append(Job.kind.in_(list(kinds)))
        if self.dialect == "postgresql":
            return self._claim_skip_locked(worker, wanted)
        return self._claim_conditional(worker, wanted)

    def _start(self, s: Session, job: Job, worker: str) -> JobInfo:
        now = utcnow()
        job.state = JobState.RUNNING
        job.attempts += 1
        job.worker = worker
        job.heartbeat_at = now
        job.started_at = now
        job.message = f"running (attempt {job.attempts} of {job.max_attempts})"
        _append_event(s, job.id, EventKind.STARTED, {"attempt": job.attempts, "worker": worker})
        return _info(job)

    def _claim_skip_locked(self, worker: str, wanted: builtins.list[Any]) -> JobInfo | None:
        stmt = (
            select(Job).where(*wanted).order_by(Job.id).limit(1).with_for_update(skip_locked=True)
        )
        with self._tx() as s:
            job = s.scalars(stmt).first()
            return self._start(s, job, worker) if job is not None else None

    def _claim_conditional(self, worker: str, wanted: builtins.list[Any]) -> JobInfo | None:
        candidates = select(Job.id).where(*wanted).order_by(Job.id).limit(8)
        with self._sessions() as s:
            ids = list(s.scalars(candidates))
        for job_id in ids:
            with self._tx() as s:
                won = _changed(
                    s,
                    update(Job)
                    .where(Job.id == job_id, Job.state == JobState.QUEUED)
                    .values(state=JobState.RUNNING, worker=worker)
                    .execution_options(synchronize_session=False),
                )
                if won:
                    job = s.get(Job, job_id)
                    assert job is not None
                    return self._start(s, job, worker)
        return None

    def heartbeat(self, lease: Lease) -> Beat:
        """Refresh the lease's heartbeat; tell whether it is still held and cancel asked."""
        with self._tx() as s:
            held = _changed(
                s,
                update(Job)
                .where(*_fenced(lease))
                .values(heartbeat_at=utcnow())
                .execution_options(synchronize_session=False),
            )
            if not held:
                return Beat(held=False)
            return Beat(True, bool(s.scalar(select(Job.cancel_requested).where(*_fenced(lease)))))

    def _transition(self, lease: Lease, event: str, data: dict[str, Any], **values: Any) -> bool:
        with self._tx() as s:
            won = _changed(
                s,
                update(Job)
                .where(*_fenced(lease))
                .values(**values)
                .execution_options(synchronize_session=False),
            )
            if won:
                _append_event(s, lease.job_id, event, data)
            return bool(won)

    def finish(self, lease: Lease, result: dict[str, Any] | None = None) -> bool:
        """Mark the attempt succeeded with ``result``; ``False`` if the lease was lost."""
        return self._transition(
            lease,
            EventKind.SUCCEEDED,
            {"attempt": lease.attempt},
            state=JobState.SUCCEEDED,
            result=result or {},
            error=None,
            progress=1.0,
            message="succeeded",
            finished_at=utcnow(),
        )

    def cancel(self, lease: Lease, reason: str = "cancelled by request") -> bool:
        """Mark the attempt cancelled; ``False`` if the lease was lost."""
        return self._transition(
            lease,
            EventKind.CANCELLED,
            {"reason": reason},
            state=JobState.CANCELLED,
            message=reason,
            finished_at=utcnow(),
        )

    def fail(self, lease: Lease, error: dict[str, Any], *, retry: bool) -> JobState | None:
        """End the attempt with ``error``: requeue it if ``retry`` and attempts remain.

        Parameters
        ----------
        lease : Lease
            The attempt that failed.
        error : dict
            At least ``type`` and ``message``; may carry ``code`` and ``traceback``.
        retry : bool
            Whether the failure may go away on another attempt (a lost worker, a crash),
            as opposed to bad input or a timeout.

        Returns
        -------
        JobState or None
            ``QUEUED`` if it will be retried, ``FAILED`` if not, ``CANCELLED`` if a cancel
            was requested meanwhile, ``None`` if the lease was already lost (somebody else
            decided the job's fate).
        """
        return self._fail(lease, error, retry=retry, extra=())

    def _fail(
        self, lease: Lease, error: dict[str, Any], *, retry: bool, extra: tuple[Any, ...]
    ) -> JobState | None:
        with self._tx() as s:
            job = s.scalars(select(Job).where(*_fenced(lease), *extra).with_for_update()).first()
            if job is None:
                return None
            if job.cancel_requested:
                # Whatever ended the attempt, the user asked for the job to stop: honour that
                # rather than running it again.
                self._end_cancelled(s, job, "cancelled by request")
                return JobState.CANCELLED
            error = {**error, "attempts": job.attempts, "retryable": retry}
            if retry and job.attempts < job.max_attempts:
                job.state = JobState.QUEUED
                job.worker = None
                job.heartbeat_at = None
                job.message = f"retrying after: {error['message']}"
                job.error = error
                _append_event(s, job.id, EventKind.RETRYING, error)
                return JobState.QUEUED
            if retry:
                n = job.attempts
                error["message"] = f"{error['message']}; gave up after {n} attempt(s)"
            job.state = JobState.FAILED
            job.error = error
            job.message = error["message"]
            job.finished_at = utcnow()
            _append_event(s, job.id, EventKind.FAILED, error)
            return JobState.FAILED

    def expire(self, lease: Lease, before: datetime, error: dict[str, Any]) -> JobState | None:
        """Fail or requeue the attempt if its heartbeat is still older than ``before``."""
        return self._fail(lease, error, retry=True, extra=(Job.heartbeat_at < before,))

    def release(self, lease: Lease, reason: str) -> bool:
        """Put a running job back in the queue without counting the attempt.

        A job whose cancel was requested is cancelled instead. ``False`` if the lease was
        already lost.
        """
        with self._tx() as s:
            job = s.scalars(select(Job).where(*_fenced(lease)).with_for_update()).first()
            if job is None:
                return False
            if job.cancel_requested:
                self._end_cancelled(s, job, "cancelled by request")
                return True
            job.state = JobState.QUEUED
            job.attempts -= 1
            job.worker = None
            job.heartbeat_at = None
            job.message = f"requeued: {reason}"
            _append_event(s, job.id, EventKind.RELEASED, {"reason": reason})
            return True

    @staticmethod
    def _end_cancelled(s: Session, job: Job, reason: str) -> None:
        job.state = JobState.CANCELLED
        job.message = reason
        job.finished_at = utcnow()
        _append_event(s, job.id, EventKind.CANCELLED, {"reason": reason})

    def stale(self, older_than: timedelta) -> builtins.list[JobInfo]:
        """Running jobs whose last heartbeat is older than ``older_than``."""
        cutoff = utcnow() - older_than
        stmt = select(Job).where(Job.state == JobState.RUNNING, Job.heartbeat_at < cutoff)
        with self._sessions() as s:
            return [_info(job) for job in s.scalars(stmt)]
