"""Datasets: upload, fetch, list, read, override types, download, delete."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Response, UploadFile, status
from fastapi.responses import HTMLResponse, StreamingResponse

from mlharbor.api.auth import NEEDS_READ, NEEDS_TRAIN
from mlharbor.api.deps import HubDep
from mlharbor.api.params import IdPath, VersionQuery
from mlharbor.api.schemas import (
    DatasetFromRecords,
    DatasetFromUrl,
    DatasetIngested,
    DatasetPublic,
    DatasetsPublic,
    DatasetVersionPublic,
    PreviewPublic,
    Problem,
    SchemaOverride,
)
from mlharbor.data.datasets import IngestResult
from mlharbor.errors import InvalidInputError

router = APIRouter(prefix="/api/v1/datasets", tags=["datasets"])
ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "No such dataset or version"},
    422: {"model": Problem, "description": "Invalid input"},
}
UPLOAD_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    409: {"model": Problem, "description": "Conflicting concurrent change"},
    413: {"model": Problem, "description": "Over the upload size limit"},
    415: {"model": Problem, "description": "Not a supported table format"},
}


class DownloadFormat(StrEnum):
    PARQUET = "parquet"
    CSV = "csv"


def _ingested(result: IngestResult, response: Response) -> DatasetIngested:
    response.status_code = status.HTTP_201_CREATED if result.created else status.HTTP_200_OK
    public = DatasetVersionPublic.of(result.version)
    return DatasetIngested(**public.model_dump(), created=result.created)


@router.post(
    "",
    response_model=DatasetIngested,
    status_code=201,
    responses=UPLOAD_ERRORS,
    summary="Upload a file as a new dataset version",
    dependencies=NEEDS_TRAIN,
)
def upload_dataset(
    hub: HubDep,
    response: Response,
    file: Annotated[UploadFile, File(description="CSV/TSV, Parquet, JSON, JSON Lines or .xlsx")],
    name: Annotated[
        str | None, Form(description="Dataset name; default: from the file name")
    ] = None,
    description: Annotated[str, Form()] = "",
) -> DatasetIngested:
    """Upload a file as a new dataset version (200 with the existing one if unchanged)."""
    if not file.filename:
        raise InvalidInputError("the upload has no file name", field="file")
    result = hub.datasets.ingest_stream(
        file.file, filename=file.filename, name=name or None, description=description
    )
    return _ingested(result, response)


@router.post(
    "/from-url",
    response_model=DatasetIngested,
    status_code=201,
    responses=UPLOAD_ERRORS,
    dependencies=NEEDS_TRAIN,
)
def dataset_from_url(hub: HubDep, body: DatasetFromUrl, response: Response) -> DatasetIngested:
    """Fetch an http(s) URL as a new dataset version."""
    result = hub.datasets.ingest_url(body.url, name=body.name, description=body.description)
    return _ingested(result, response)


@router.post(
    "/from-records",
    response_model=DatasetIngested,
    status_code=201,
    responses=UPLOAD_ERRORS,
    dependencies=NEEDS_TRAIN,
)
def dataset_from_records(
    hub: HubDep, body: DatasetFromRecords, response: Response
) -> DatasetIngested:
    """Store JSON records as a new dataset version."""
    result = hub.datasets.ingest_records(body.records, name=body.name, description=body.description)
    return _ingested(result, response)


@router.get(
    "", response_model=DatasetsPublic, responses={422: ERRORS[422]}, dependencies=NEEDS_READ
)
def list_datasets(
    hub: HubDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
) -> DatasetsPublic:
    """List datasets, newest first."""
    rows, total = hub.datasets.list(limit=limit, offset=offset)
    return DatasetsPublic(data=[DatasetPublic.of(d) for d in rows], count=total)


@router.get("/{ref}", response_model=DatasetPublic, responses=ERRORS, dependencies=NEEDS_READ)
def get_dataset(hub: HubDep, ref: str) -> DatasetPublic:
    """A dataset (by name or id) and its versions."""
    return DatasetPublic.of(hub.datasets.get(ref))


@router.get(
    "/{ref}/versions/{version}",
    response_model=DatasetVersionPublic,
    responses=ERRORS,
    dependencies=NEEDS_READ,
)
def get_dataset_version(hub: HubDep, ref: str, version: IdPath) -> DatasetVersionPublic:
    """One version of a dataset, with its schema."""
    return DatasetVersionPublic.of(hub.datasets.get_version(ref, version))


@router.get(
    "/{ref}/schema", response_model=DatasetVersionPublic, responses=ERRORS, dependencies=NEEDS_READ
)
def get_latest_version(hub: HubDep, ref: str) -> DatasetVersionPublic:
    """The latest version of a dataset, with its schema."""
    return DatasetVersionPublic.of(hub.datasets.get_version(ref))


@router.get(
    "/{ref}/preview", response_model=PreviewPublic, responses=ERRORS, dependencies=NEEDS_READ
)
def preview_dataset(
    hub: HubDep,
    ref: str,
    version: VersionQuery = None,
    rows: Annotated[int, Query(ge=1, le=1000)] = 20,
) -> PreviewPublic:
    """The first rows of a dataset version, as typed JSON."""
    v = hub.datasets.get_version(ref, version)
    return PreviewPublic(
        dataset=v.dataset,
        version=v.version,
        columns=v.schema.names,
        rows=hub.datasets.preview(v, rows),
    )


@router.get(
    "/{ref}/download",
    responses={**ERRORS, 200: {"content": {"application/vnd.apache.parquet": {}, "text/csv": {}}}},
    response_class=StreamingResponse,
    dependencies=NEEDS_READ,
)
def download_dataset(
    hub: HubDep,
    ref: str,
    version: VersionQuery = None,
    format: DownloadFormat = DownloadFormat.PARQUET,
) -> StreamingResponse:
    """Download a dataset version as Parquet or CSV."""
    v = hub.datasets.get_version(ref, version)
    filename = f"{v.dataset}-v{v.version}.{format.value}"
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    if format is DownloadFormat.CSV:
        return StreamingResponse(hub.datasets.iter_csv(v), media_type="text/csv", headers=headers)
    return StreamingResponse(
        hub.datasets.iter_file(v), media_type="application/vnd.apache.parquet", headers=headers
    )


@router.patch(
    "/{ref}/versions/{version}/schema",
    response_model=DatasetVersionPublic,
    responses=ERRORS,
    dependencies=NEEDS_TRAIN,
)
def override_schema(
    hub: HubDep, ref: str, version: IdPath, body: SchemaOverride
) -> DatasetVersionPublic:
    """Override the semantic type or role of columns."""
    changes = {
        name: {"semantic_type": c.semantic_type, "role": c.role} for name, c in body.columns.items()
    }
    return DatasetVersionPublic.of(hub.datasets.override_schema(ref, version, changes))


@router.delete(
    "/{ref}",
    status_code=204,
    responses={**ERRORS, 409: {"model": Problem}},
    dependencies=NEEDS_TRAIN,
)
def delete_dataset(hub: HubDep, ref: str) -> Response:
    """Delete a dataset and all its versions (refused while a model uses it)."""
    hub.datasets.delete(ref)
    return Response(status_code=204)


@router.delete(
    "/{ref}/versions/{version}",
    status_code=204,
    responses={**ERRORS, 409: {"model": Problem}},
    dependencies=NEEDS_TRAIN,
)
def delete_dataset_version(hub: HubDep, ref: str, version: IdPath) -> Response:
    """Delete one version of a dataset (refused while a model uses it)."""
    hub.datasets.delete(ref, version)
    return Response(status_code=204)


@router.get(
    "/{ref}/insights", response_model=dict[str, Any], responses=ERRORS, dependencies=NEEDS_READ
)
def dataset_insights(
    hub: HubDep, ref: str, target: str | None = None, version: VersionQuery = None
) -> dict[str, Any]:
    """Insights of a dataset version (computed once per version and target, then cached)."""
    return hub.insights.get(ref, version=version, target=target)


@router.get(
    "/{ref}/insights/report",
    response_class=HTMLResponse,
    responses={**ERRORS, 200: {"content": {"text/html": {}}}},
    dependencies=NEEDS_READ,
)
def dataset_insights_report(
    hub: HubDep,
    ref: str,
    target: str | None = None,
    version: VersionQuery = None,
    download: bool = False,
) -> HTMLResponse:
    """The insights as a self-contained HTML report (``download=true`` to save it)."""
    html = hub.insights.html(ref, version=version, target=target)
    headers = {}
    if download:
        v = hub.datasets.get_version(ref, version)
        headers["Content-Disposition"] = (
            f'attachment; filename="{v.dataset}-v{v.version}-insights.html"'
        )
    return HTMLResponse(html, headers=headers)
