"""Pipeline runs in the metadata database: the run, its steps, the cache, the schedules.

The store owns its transactions. Every write is one short transaction, so the UI and the
API see a run's steps move while it runs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from mlharbor.errors import NotFoundError
from mlharbor.store.db import transaction
from mlharbor.store.orm import PipelineDef, PipelineRun, PipelineStepRun, utcnow


class RunState(StrEnum):
    """Where a run is."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    @property
    def is_terminal(self) -> bool:
        return self in (RunState.SUCCEEDED, RunState.FAILED)


class StepState(StrEnum):
    """Where a step is. ``cached``: its outputs were reused from an earlier run."""

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    CACHED = "cached"
    FAILED = "failed"
    SKIPPED = "skipped"

    @property
    def has_outputs(self) -> bool:
        return self in (StepState.DONE, StepState.CACHED)


@dataclass
class StepInfo:
    """One step of a run, as stored."""

    step: str
    kind: str
    position: int
    needs: list[str]
    state: StepState
    cache_key: str | None
    job_id: int | None
    reused_from: int | None
    config: dict[str, Any]
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    metrics: dict[str, Any]
    message: str
    progress: float
    error: dict[str, Any] | None
    started_at: datetime | None
    finished_at: datetime | None
    seconds: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class RunInfo:
    """A run: its file, parameters, state and steps."""

    id: int
    pipeline: str
    file_hash: str
    params: dict[str, Any]
    state: RunState
    origin: str
    from_step: str | None
    resumed_from: int | None
    inputs: dict[str, Any]
    metrics: dict[str, Any]
    error: dict[str, Any] | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    source: str = ""
    steps: list[StepInfo] = field(default_factory=list)

    @property
    def seconds(self) -> float | None:
        if self.started_at is None:
            return None
        end = self.finished_at or datetime.now(UTC)
        return round((end - self.started_at).total_seconds(), 2)

    def step(self, step_id: str) -> StepInfo:
        for s in self.steps:
            if s.step == step_id:
                return s
        raise NotFoundError(f"run {self.id} has no step {step_id!r}")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["seconds"] = self.seconds
        return data


def _step_info(row: PipelineStepRun) -> StepInfo:
    return StepInfo(
        step=row.step,
        kind=row.kind,
        position=row.position,
        needs=list(row.needs),
        state=StepState(row.state),
        cache_key=row.cache_key,
        job_id=row.job_id,
        reused_from=row.reused_from,
        config=row.config,
        inputs=row.inputs,
        outputs=row.outputs,
        metrics=row.metrics,
        message=row.message,
        progress=row.progress,
        error=row.error,
        started_at=row.started_at,
        finished_at=row.finished_at,
        seconds=row.seconds,
    )


def _run_info(row: PipelineRun, *, steps: bool = True) -> RunInfo:
    return RunInfo(
        id=row.id,
        pipeline=row.pipeline,
        file_hash=row.file_hash,
        params=row.params,
        state=RunState(row.state),
        origin=row.origin,
        from_step=row.from_step,
        resumed_from=row.resumed_from,
        inputs=row.inputs,
        metrics=row.metrics,
        error=row.error,
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        source=row.source,
        steps=[_step_info(s) for s in row.steps] if steps else [],
    )


@dataclass
class PipelineDefInfo:
    """A pipeline the server knows: its last file, schedule and next scheduled run."""

    name: str
    file_hash: str
    schedule: str | None
    params: dict[str, Any]
    next_fire: float | None
    updated_at: datetime
    source: str


class PipelineStore:
    """Runs, steps, cached outputs and schedules."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    # ---- runs ---------------------------------------------------------------------------

    def create_run(
        self,
        *,
        pipeline: str,
        source: str,
        file_hash: str,
        params: dict[str, Any],
        origin: str,
        steps: list[tuple[str, str, list[str]]],
        state: RunState = RunState.QUEUED,
        from_step: str | None = None,
        resumed_from: int | None = None,
        inputs: dict[str, Any] | None = None,
        owner: str | None = None,
    ) -> RunInfo:
        """Record a new run with its steps (``(id, kind, needs)`` in run order) pending."""
        with transaction(self.sessions) as session:
            now = utcnow()
            row = PipelineRun(
                pipeline=pipeline,
                source=source,
                file_hash=file_hash,
                params=params,
                state=str(state),
                origin=origin,
                from_step=from_step,
                resumed_from=resumed_from,
                inputs=inputs or {},
                metrics={},
                owner=owner,
                heartbeat_at=now if owner else None,
                started_at=now if state == RunState.RUNNING else None,
            )
            for position, (step_id, kind, needs) in enumerate(steps):
                row.steps.append(
                    PipelineStepRun(
                        step=step_id,
                        kind=kind,
                        position=position,
                        needs=needs,
                        state=str(StepState.PENDING),
                        config={},
                        inputs={},
                        outputs={},
                        metrics={},
                        message="",
                    )
                )
            session.add(row)
            session.flush()
            return _run_info(row)

    def get_run(self, run_id: int) -> RunInfo:
        """A run with its steps; ``NotFoundError`` if there is none."""
        with self.sessions() as session:
            row = session.get(PipelineRun, run_id)
            if row is None:
                raise NotFoundError(f"pipeline run {run_id} does not exist", run=run_id)
            return _run_info(row)

    def list_runs(
        self, *, pipeline: str | None = None, limit: int = 50, offset: int = 0
    ) -> tuple[list[RunInfo], int]:
        """A page of runs, newest first (with steps), and the total count."""
        query = select(PipelineRun)
        count = select(func.count(PipelineRun.id))
        if pipeline:
            query = query.where(PipelineRun.pipeline == pipeline)
            count = count.where(PipelineRun.pipeline == pipeline)
        with self.sessions() as session:
            total = session.scalar(count) or 0
            rows = session.scalars(
                query.order_by(PipelineRun.id.desc()).limit(limit).offset(offset)
            ).all()
            return [_run_info(r) for r in rows], total

    def latest_run(self, pipeline: str, *, before: int | None = None) -> RunInfo | None:
        """The newest run of ``pipeline`` (older than run ``before`` when given)."""
        query = select(PipelineRun).where(PipelineRun.pipeline == pipeline)
        if before is not None:
            query = query.where(PipelineRun.id < before)
        with self.sessions() as session:
            row = session.scalar(query.order_by(PipelineRun.id.desc()).limit(1))
            return _run_info(row) if row is not None else None

    def claim_queued(self, owner: str) -> RunInfo | None:
        """Take the oldest queued run for ``owner`` (one claimant wins across replicas)."""
        with self.sessions() as session:
            run_id = session.scalar(
                select(PipelineRun.id)
                .where(PipelineRun.state == str(RunState.QUEUED))
                .order_by(PipelineRun.id)
                .limit(1)
            )
        if run_id is None:
            return None
        now = utcnow()
        with transaction(self.sessions) as session:
            # An UPDATE's result is a CursorResult (with rowcount); execute() types any Result.
            claimed = cast(
                CursorResult[Any],
                session.execute(
                    update(PipelineRun)
                    .where(PipelineRun.id == run_id, PipelineRun.state == str(RunState.QUEUED))
                    .values(
                        state=str(RunState.RUNNING), owner=owner, heartbeat_at=now, started_at=now
                    )
                ),
            ).rowcount
        return self.get_run(run_id) if claimed else None

    def heartbeat(self, run_id: int) -> None:
        with transaction(self.sessions) as session:
            session.execute(
                update(PipelineRun).where(PipelineRun.id == run_id).values(heartbeat_at=utcnow())
            )

    def recover_lost(self, lease_seconds: float) -> list[int]:
        """Runs whose runner went silent: a server's are queued again (they resume from their
        cache), a command line's are failed. Returns the ids requeued or failed."""
        before = utcnow() - timedelta(seconds=lease_seconds)
        with transaction(self.sessions) as session:
            rows = session.scalars(
                select(PipelineRun).where(
                    PipelineRun.state == str(RunState.RUNNING), PipelineRun.heartbeat_at < before
                )
            ).all()
            for row in rows:
                if row.origin == "cli":
                    row.state = str(RunState.FAILED)
                    row.error = {"message": "the command running it stopped", "step": None}
                    row.finished_at = utcnow()
                else:
                    row.state, row.owner = str(RunState.QUEUED), None
                for step in row.steps:
                    if step.state == str(StepState.RUNNING):
                        step.state = str(StepState.PENDING)
            return [r.id for r in rows]

    def finish_run(
        self,
        run_id: int,
        state: RunState,
        *,
        error: dict[str, Any] | None = None,
        metrics: dict[str, Any] | None = None,
    ) -> RunInfo:
        with transaction(self.sessions) as session:
            row = session.get_one(PipelineRun, run_id)
            row.state, row.error, row.finished_at = str(state), error, utcnow()
            if metrics is not None:
                row.metrics = metrics
            for step in row.steps:
                if step.state in (str(StepState.PENDING), str(StepState.RUNNING)):
                    step.state = str(StepState.SKIPPED)
            session.flush()
            return _run_info(row)

    # ---- steps --------------------------------------------------------------------------

    def update_step(self, run_id: int, step_id: str, **values: Any) -> None:
        """Set fields of a step row (``state``, ``message``, ``progress``, ``job_id``...)."""
        if "state" in values:
            values["state"] = str(values["state"])
        with transaction(self.sessions) as session:
            session.execute(
                update(PipelineStepRun)
                .where(PipelineStepRun.run_id == run_id, PipelineStepRun.step == step_id)
                .values(**values)
            )
            session.execute(
                update(PipelineRun).where(PipelineRun.id == run_id).values(heartbeat_at=utcnow())
            )

    def find_cached(self, cache_key: str) -> StepInfo | None:
        """The newest finished step with this cache key, in any run, if any."""
        with self.sessions() as session:
            row = session.scalar(
                select(PipelineStepRun)
                .where(
                    PipelineStepRun.cache_key == cache_key,
                    PipelineStepRun.state.in_([str(StepState.DONE), str(StepState.CACHED)]),
                )
                .order_by(PipelineStepRun.id.desc())
                .limit(1)
            )
            if row is None:
                return None
            info = _step_info(row)
            info.reused_from = row.reused_from or row.run_id
            return info

    # ---- pipelines and schedules --------------------------------------------------------

    def save_definition(
        self, name: str, source: str, file_hash: str, schedule: str | None, next_fire: float | None
    ) -> None:
        """Remember the pipeline's latest file and schedule (replacing the earlier one)."""
        with transaction(self.sessions) as session:
            row = session.scalar(select(PipelineDef).where(PipelineDef.name == name))
            if row is None:
                row = PipelineDef(name=name, params={})
                session.add(row)
            if row.schedule != schedule or row.next_fire is None:
                row.next_fire = next_fire
            row.source, row.file_hash, row.schedule = source, file_hash, schedule
            if schedule is None:
                row.next_fire = None
            row.updated_at = utcnow()

    def definitions(self) -> list[PipelineDefInfo]:
        with self.sessions() as session:
            rows = session.scalars(select(PipelineDef).order_by(PipelineDef.name)).all()
            return [
                PipelineDefInfo(
                    r.name, r.file_hash, r.schedule, r.params, r.next_fire, r.updated_at, r.source
                )
                for r in rows
            ]

    def claim_fire(self, name: str, expected: float, following: float) -> bool:
        """Move a schedule's next time from ``expected`` to ``following``; True if this
        caller did it (so it starts the run, and no other replica does)."""
        with transaction(self.sessions) as session:
            changed = session.execute(
                update(PipelineDef)
                .where(PipelineDef.name == name, PipelineDef.next_fire == expected)
                .values(next_fire=following)
            )
            return bool(cast(CursorResult[Any], changed).rowcount)
