"""The metadata tables, as a typed SQLAlchemy 2 ORM.

Every table mlharbor keeps is here so that one Alembic history describes them all. JSON
columns hold structured records (schemas, params, metrics) that are read whole.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

# Deterministic constraint names, so migrations are the same on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend (SQLite stores none; we restore it)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class Dataset(Base):
    __tablename__ = "datasets"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    versions: Mapped[list[DatasetVersion]] = relationship(
        back_populates="dataset", order_by="DatasetVersion.version", cascade="all, delete-orphan"
    )


class DatasetVersion(Base):
    __tablename__ = "dataset_versions"
    __table_args__ = (
        UniqueConstraint("dataset_id", "version", name="uq_dataset_versions_number"),
        UniqueConstraint("dataset_id", "content_hash", name="uq_dataset_versions_hash"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    version: Mapped[int]
    content_hash: Mapped[str] = mapped_column(String(64), index=True)
    n_rows: Mapped[int] = mapped_column(BigInteger)
    n_columns: Mapped[int]
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    source: Mapped[str] = mapped_column(Text)
    source_format: Mapped[str] = mapped_column(String(16))
    artifact_key: Mapped[str] = mapped_column(String(512))
    schema: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    dataset: Mapped[Dataset] = relationship(back_populates="versions")


class InsightsRecord(Base):
    """Computed insights of a dataset version, per target (``""`` for none)."""

    __tablename__ = "insights"
    __table_args__ = (UniqueConstraint("dataset_version_id", "target", name="uq_insights_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_version_id: Mapped[int] = mapped_column(
        ForeignKey("dataset_versions.id", ondelete="CASCADE")
    )
    target: Mapped[str] = mapped_column(String(256), default="")
    artifact_key: Mapped[str] = mapped_column(String(512))
    seconds: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Job(Base):
    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    params: Mapped[dict[str, Any]]
    state: Mapped[str] = mapped_column(String(16), index=True)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    message: Mapped[str] = mapped_column(Text, default="")
    result: Mapped[dict[str, Any] | None]
    error: Mapped[dict[str, Any] | None]
    attempts: Mapped[int] = mapped_column(default=0)
    max_attempts: Mapped[int] = mapped_column(default=3)
    timeout_seconds: Mapped[float | None]
    cancel_requested: Mapped[bool] = mapped_column(default=False)
    worker: Mapped[str | None] = mapped_column(String(256))
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class JobEvent(Base):
    __tablename__ = "job_events"
    __table_args__ = (UniqueConstraint("job_id", "seq", name="uq_job_events_seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int]
    kind: Mapped[str] = mapped_column(String(32))
    data: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class RegisteredModel(Base):
    __tablename__ = "registered_models"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # The highest version number ever given: numbers of deleted versions are never reused, so
    # a new version never inherits an old one's prediction log and monitoring history.
    last_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    versions: Mapped[list[ModelVersion]] = relationship(
        back_populates="model", order_by="ModelVersion.version", cascade="all, delete-orphan"
    )
    aliases: Mapped[list[ModelAlias]] = relationship(
        back_populates="model", cascade="all, delete-orphan"
    )


class ModelVersion(Base):
    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("model_id", "version", name="uq_model_versions_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("registered_models.id", ondelete="CASCADE"))
    version: Mapped[int]
    # RESTRICT: a dataset version cannot be deleted while a model was trained on it.
    dataset_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("dataset_versions.id", ondelete="RESTRICT"), index=True
    )
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    task: Mapped[str] = mapped_column(String(32))
    target: Mapped[str | None] = mapped_column(String(256))
    estimator: Mapped[str] = mapped_column(String(128))
    params: Mapped[dict[str, Any]]
    metrics: Mapped[dict[str, Any]]
    artifacts: Mapped[dict[str, Any]]
    signature: Mapped[dict[str, Any]]
    lineage: Mapped[dict[str, Any]]
    artifact_key: Mapped[str] = mapped_column(String(512))
    content_hash: Mapped[str] = mapped_column(String(64))
    train_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    model: Mapped[RegisteredModel] = relationship(back_populates="versions")


class ModelAlias(Base):
    __tablename__ = "model_aliases"

    model_id: Mapped[int] = mapped_column(
        ForeignKey("registered_models.id", ondelete="CASCADE"), primary_key=True
    )
    alias: Mapped[str] = mapped_column(String(64), primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id", ondelete="CASCADE"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    model: Mapped[RegisteredModel] = relationship(back_populates="aliases")


class ApiKey(Base):
    """An API key: only a hash of the secret is kept; ``prefix`` finds it quickly."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[list[Any]]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class MonitorEvent(Base):
    """One monitoring check of a model (drift or performance) and whether it alerted.

    ``slot`` numbers the schedule period of a scheduled check: several API replicas race to
    insert the same slot and only one wins, so each check runs once.
    """

    __tablename__ = "monitor_events"
    __table_args__ = (
        UniqueConstraint("model", "ref", "kind", "slot", name="uq_monitor_events_slot"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    model: Mapped[str] = mapped_column(String(128), index=True)
    ref: Mapped[str] = mapped_column(String(64))
    version: Mapped[int | None]
    kind: Mapped[str] = mapped_column(String(32))
    alert: Mapped[bool] = mapped_column(Boolean, default=False)
    slot: Mapped[int | None] = mapped_column(BigInteger)
    message: Mapped[str] = mapped_column(Text, default="")
    summary: Mapped[dict[str, Any]]
    webhook_status: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)


class UiSession(Base):
    """A browser signed in with an API key: only a hash of the cookie's random id is kept.

    Deleting the key's row (or revoking the key) ends its sessions.
    """

    __tablename__ = "ui_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_used_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class PipelineDef(Base):
    """A pipeline file a server knows by name: the last one run, and its schedule.

    ``next_fire`` is the next cron time (Unix seconds) of a scheduled pipeline: replicas race
    to move it forward and only the one whose update matched the old value starts the run.
    """

    __tablename__ = "pipelines"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    source: Mapped[str] = mapped_column(Text)
    file_hash: Mapped[str] = mapped_column(String(64))
    schedule: Mapped[str | None] = mapped_column(String(128))
    params: Mapped[dict[str, Any]]
    next_fire: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class PipelineRun(Base):
    """One run of a pipeline file: what ran, with which parameters, and how it went."""

    __tablename__ = "pipeline_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    pipeline: Mapped[str] = mapped_column(String(128), index=True)
    file_hash: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(Text)
    params: Mapped[dict[str, Any]]
    state: Mapped[str] = mapped_column(String(16), index=True)
    #: Who started it: ``cli``, ``api`` or ``schedule``.
    origin: Mapped[str] = mapped_column(String(16))
    from_step: Mapped[str | None] = mapped_column(String(64))
    resumed_from: Mapped[int | None]
    #: Ingest steps given a stored dataset instead of their source (a remote CLI's uploads).
    inputs: Mapped[dict[str, Any]]
    metrics: Mapped[dict[str, Any]]
    error: Mapped[dict[str, Any] | None]
    owner: Mapped[str | None] = mapped_column(String(256))
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    steps: Mapped[list[PipelineStepRun]] = relationship(
        back_populates="run", order_by="PipelineStepRun.position", cascade="all, delete-orphan"
    )


class PipelineStepRun(Base):
    """One step of a run: its resolved configuration, cache key, job, outputs and timing."""

    __tablename__ = "pipeline_steps"
    __table_args__ = (UniqueConstraint("run_id", "step", name="uq_pipeline_steps_step"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(
        ForeignKey("pipeline_runs.id", ondelete="CASCADE"), index=True
    )
    step: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    position: Mapped[int]
    needs: Mapped[list[Any]]
    state: Mapped[str] = mapped_column(String(16))
    cache_key: Mapped[str | None] = mapped_column(String(64), index=True)
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    reused_from: Mapped[int | None]
    config: Mapped[dict[str, Any]]
    inputs: Mapped[dict[str, Any]]
    outputs: Mapped[dict[str, Any]]
    metrics: Mapped[dict[str, Any]]
    message: Mapped[str] = mapped_column(Text, default="")
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    error: Mapped[dict[str, Any] | None]
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    seconds: Mapped[float | None] = mapped_column(Float)

    run: Mapped[PipelineRun] = relationship(back_populates="steps")
