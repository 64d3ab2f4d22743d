"""Request and response schemas, in families per noun (``XCreate``, ``XPublic``, ``XsPublic``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field

from mlharbor.data.datasets import DatasetInfo, DatasetVersionInfo
from mlharbor.data.schema import Role, SemanticType
from mlharbor.limits import MAX_ID

# Numbers that name a row are bounded by their column (INTEGER); the path and query
# parameters are in mlharbor.api.params (FastAPI's markers: not for the CLI).
#: An optional version number in a request body.
VersionField = Annotated[int | None, Field(ge=1, le=MAX_ID)]


class Problem(BaseModel):
    """An error, as ``application/problem+json``: RFC 9457's members around the error as
    every door writes it (``code``, ``message``, ``status``, ``details``); each detail is also
    a top-level member."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    message: str
    details: dict[str, Any] = Field(default_factory=dict)
    request_id: str | None = None


class ColumnPublic(BaseModel):
    name: str
    storage_type: str
    semantic_type: SemanticType
    role: Role
    n_missing: int
    n_distinct: int
    unique_ratio: float
    datetime_format: str | None
    evidence: str
    overridden: bool


class DatasetVersionPublic(BaseModel):
    dataset: str
    version: int
    content_hash: str
    n_rows: int
    n_columns: int
    size_bytes: int
    source: str
    source_format: str
    created_at: datetime
    columns: list[ColumnPublic]
    notes: list[str]

    @classmethod
    def of(cls, v: DatasetVersionInfo) -> DatasetVersionPublic:
        return cls(
            dataset=v.dataset,
            version=v.version,
            content_hash=v.content_hash,
            n_rows=v.n_rows,
            n_columns=v.n_columns,
            size_bytes=v.size_bytes,
            source=v.source,
            source_format=v.source_format,
            created_at=v.created_at,
            columns=[ColumnPublic(**c.to_dict()) for c in v.schema.columns],
            notes=v.schema.notes,
        )


class DatasetIngested(DatasetVersionPublic):
    """The version an upload produced; ``created`` is false when the content was known."""

    created: bool


class VersionSummary(BaseModel):
    version: int
    n_rows: int
    n_columns: int
    size_bytes: int
    content_hash: str
    source: str
    created_at: datetime


class DatasetPublic(BaseModel):
    id: int
    name: str
    description: str
    created_at: datetime
    latest_version: int
    versions: list[VersionSummary]

    @classmethod
    def of(cls, d: DatasetInfo) -> DatasetPublic:
        return cls(
            id=d.id,
            name=d.name,
            description=d.description,
            created_at=d.created_at,
            latest_version=d.latest.version,
            versions=[
                VersionSummary(
                    version=v.version,
                    n_rows=v.n_rows,
                    n_columns=v.n_columns,
                    size_bytes=v.size_bytes,
                    content_hash=v.content_hash,
                    source=v.source,
                    created_at=v.created_at,
                )
                for v in d.versions
            ],
        )


class DatasetsPublic(BaseModel):
    data: list[DatasetPublic]
    count: int


class DatasetFromUrl(BaseModel):
    url: str = Field(description="An http(s) URL of a CSV, Parquet, JSON or Excel file.")
    name: str | None = None
    description: str = ""


class DatasetFromRecords(BaseModel):
    name: str
    records: list[dict[str, Any]] | dict[str, list[Any]] = Field(
        description="An array of row objects, or an object of column arrays."
    )
    description: str = ""


class PreviewPublic(BaseModel):
    dataset: str
    version: int
    columns: list[str]
    rows: list[dict[str, Any]]


class ColumnOverride(BaseModel):
    semantic_type: SemanticType | None = None
    role: Role | None = None


class SchemaOverride(BaseModel):
    columns: dict[str, ColumnOverride]


class Health(BaseModel):
    status: str
    checks: dict[str, str] = {}
