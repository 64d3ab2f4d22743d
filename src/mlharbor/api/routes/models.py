"""Registered models: versions, aliases, artifacts and model files."""

from __future__ import annotations

import io
import tempfile
import zipfile
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Response, UploadFile
from pydantic import BaseModel, Field

from mlharbor.api.auth import NEEDS_ADMIN, NEEDS_READ, NEEDS_TRAIN
from mlharbor.api.deps import HubDep
from mlharbor.api.model_views import compare_versions, model_summary, parse_versions
from mlharbor.api.schemas import Problem
from mlharbor.errors import InvalidInputError, PayloadTooLargeError
from mlharbor.registry import ModelVersionRecord, RegisteredModelRecord

router = APIRouter(prefix="/api/v1/models", tags=["models"])
ERRORS: dict[int | str, dict[str, Any]] = {404: {"model": Problem}, 422: {"model": Problem}}


class ModelVersionPublic(BaseModel):
    id: int
    model: str
    version: int
    aliases: list[str]
    task: str
    target: str | None
    estimator: str
    params: dict[str, Any]
    metrics: dict[str, Any]
    artifacts: dict[str, Any]
    signature: dict[str, Any]
    lineage: dict[str, Any]
    dataset_version_id: int | None
    job_id: int | None
    content_hash: str
    train_seconds: float
    created_at: datetime

    @classmethod
    def of(cls, v: ModelVersionRecord) -> ModelVersionPublic:
        return cls(**v.to_dict())


class MainMetric(BaseModel):
    name: str
    value: float
    lower_is_better: bool


class ModelPublic(BaseModel):
    id: int
    name: str
    description: str
    created_at: datetime
    latest_version: int | None
    aliases: dict[str, int]
    versions: list[ModelVersionPublic]
    n_versions: int = Field(description="How many versions the model has")
    summary_version: int | None = Field(
        None, description="The version summarised below: the champion, else the latest"
    )
    summary_alias: str = "latest"
    task: str | None = None
    algorithm: str | None = None
    main_metric: MainMetric | None = Field(
        None, description="The summarised version's main test metric for its task"
    )
    changed_at: datetime | None = Field(
        None, description="When the summarised version was registered"
    )

    @classmethod
    def of(cls, m: RegisteredModelRecord) -> ModelPublic:
        return cls(**m.to_dict(), **model_summary(m))


class CompareRow(BaseModel):
    name: str
    values: list[Any]
    differs: bool
    split: str | None = None
    std: list[float | None] | None = None
    lower_is_better: bool | None = None
    best: list[int] | None = Field(None, description="Indexes of the best version(s)")


class ComparedVersion(BaseModel):
    version: int
    aliases: list[str]
    task: str
    estimator: str
    created_at: datetime
    job_id: int | None
    settings: dict[str, Any]


class ComparisonPublic(BaseModel):
    """Versions side by side; each row's ``values`` are in the order of ``versions``."""

    model: str
    versions: list[ComparedVersion]
    metrics: list[CompareRow]
    settings: list[CompareRow]
    params: list[CompareRow]
    lineage: list[CompareRow]


class ModelsPublic(BaseModel):
    data: list[ModelPublic]
    count: int


class AliasSet(BaseModel):
    version: int | str


class ArtifactFormat(StrEnum):
    PNG = "png"
    JSON = "json"


@router.get("", response_model=ModelsPublic, dependencies=NEEDS_READ)
def list_models(hub: HubDep) -> ModelsPublic:
    """Registered models with their versions, and a summary of each: task, algorithm and
    main metric of the champion (or the latest version), and when that version came."""
    models = [hub.models.get_model(m.name) for m in hub.models.list_models()]
    return ModelsPublic(data=[ModelPublic.of(m) for m in models], count=len(models))


@router.get("/{name}", response_model=ModelPublic, responses=ERRORS, dependencies=NEEDS_READ)
def get_model(hub: HubDep, name: str) -> ModelPublic:
    """A registered model with its versions and aliases."""
    return ModelPublic.of(hub.models.get_model(name))


@router.get(
    "/{name}/compare",
    response_model=ComparisonPublic,
    responses=ERRORS,
    dependencies=NEEDS_READ,
)
def compare(
    hub: HubDep,
    name: str,
    versions: Annotated[
        str, Query(max_length=200, description="Version numbers, e.g. 1,2", examples=["1,2"])
    ],
) -> ComparisonPublic:
    """Two or more versions side by side: metrics (best marked), settings such as the
    decision threshold, parameters, data version and lineage; rows say where they differ."""
    numbers = parse_versions(versions)
    return ComparisonPublic(**compare_versions(hub.models.get_model(name), numbers))


@router.get(
    "/{name}/versions/{ref}",
    response_model=ModelVersionPublic,
    responses=ERRORS,
    dependencies=NEEDS_READ,
)
def get_version(hub: HubDep, name: str, ref: str) -> ModelVersionPublic:
    """A version by number (``3``) or alias (``latest``, ``champion``)."""
    return ModelVersionPublic.of(hub.models.get_version(name, ref))


@router.put(
    "/{name}/aliases/{alias}",
    response_model=ModelVersionPublic,
    responses=ERRORS,
    dependencies=NEEDS_TRAIN,
)
def set_alias(hub: HubDep, name: str, alias: str, body: AliasSet) -> ModelVersionPublic:
    """Point an alias (e.g. ``champion``) at a version."""
    return ModelVersionPublic.of(hub.models.set_alias(name, alias, body.version))


@router.delete(
    "/{name}/aliases/{alias}", status_code=204, responses=ERRORS, dependencies=NEEDS_TRAIN
)
def delete_alias(hub: HubDep, name: str, alias: str) -> Response:
    """Remove an alias."""
    hub.models.delete_alias(name, alias)
    return Response(status_code=204)


@router.delete(
    "/{name}/versions/{version}",
    status_code=204,
    responses={**ERRORS, 409: {"model": Problem}},
    dependencies=NEEDS_TRAIN,
)
def delete_version(hub: HubDep, name: str, version: str, force: bool = False) -> Response:
    """Delete a version and its files; refused while an alias like ``champion`` holds it."""
    hub.models.delete_version(name, version, force=force)
    return Response(status_code=204)


@router.delete("/{name}", status_code=204, responses=ERRORS, dependencies=NEEDS_TRAIN)
def delete_model(hub: HubDep, name: str) -> Response:
    """Delete a registered model with all its versions, aliases and files."""
    hub.models.delete_model(name)
    return Response(status_code=204)


@router.get(
    "/{name}/versions/{ref}/artifacts/{artifact}",
    responses={**ERRORS, 200: {"content": {"image/png": {}, "application/json": {}}}},
    dependencies=NEEDS_READ,
)
def get_artifact(
    hub: HubDep, name: str, ref: str, artifact: str, format: ArtifactFormat = ArtifactFormat.PNG
) -> Response:
    """An evaluation artifact (ROC, confusion matrix...) as a PNG or its data as JSON."""
    data = hub.models.read_artifact(name, ref, artifact, format.value)
    media = "image/png" if format is ArtifactFormat.PNG else "application/json"
    return Response(data, media_type=media)


@router.get(
    "/{name}/versions/{ref}/download",
    responses={**ERRORS, 200: {"content": {"application/octet-stream": {}}}},
    dependencies=NEEDS_READ,
)
def download_model(hub: HubDep, name: str, ref: str) -> Response:
    """The model file (skops format, loadable with ``skops.io.load``)."""
    version = hub.models.get_version(name, ref)
    data = hub.models.read_model_file(name, version.version)
    filename = f"{name}-v{version.version}.skops"
    return Response(
        data,
        media_type="application/octet-stream",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.post(
    "/{name}/versions",
    response_model=ModelVersionPublic,
    status_code=201,
    responses={**ERRORS, 403: {"model": Problem}, 413: {"model": Problem}},
    dependencies=NEEDS_ADMIN,
)
def upload_model(
    hub: HubDep,
    name: str,
    file: Annotated[UploadFile, File(description="A fitted scikit-learn model as .skops")],
    allow: Annotated[
        list[str] | None,
        Form(
            description="Refused: what a model file may hold is the server's setting "
            "MLHARBOR_TRUSTED_MODEL_TYPES, never a request's"
        ),
    ] = None,
    task: Annotated[str | None, Form()] = None,
    target: Annotated[str | None, Form()] = None,
) -> ModelVersionPublic:
    """Register an externally built scikit-learn Pipeline from a ``.skops`` file.

    Needs the ``admin`` scope when auth is on: a model file from outside is close to code.
    The file may hold only what mlharbor's allow-list and the operator's
    ``MLHARBOR_TRUSTED_MODEL_TYPES`` name.
    """
    if allow is not None:
        raise InvalidInputError(
            "'allow' is no longer accepted: the types a model file may hold are a server "
            "setting (MLHARBOR_TRUSTED_MODEL_TYPES), never chosen per request",
            field="allow",
        )
    limit = hub.settings.max_upload_bytes
    data = file.file.read(limit + 1)
    if len(data) > limit:
        raise PayloadTooLargeError(f"the model file is over the limit of {limit:,} bytes")
    record = hub.models.register_external(name, data, task=task, target=target)
    return ModelVersionPublic.of(record)


class ExportFormat(StrEnum):
    MLFLOW = "mlflow"
    ONNX = "onnx"


@router.get(
    "/{name}/versions/{ref}/export",
    responses={**ERRORS, 200: {"content": {"application/zip": {}, "application/onnx": {}}}},
    dependencies=NEEDS_READ,
)
def export_model(
    hub: HubDep, name: str, ref: str, format: ExportFormat = ExportFormat.MLFLOW
) -> Response:
    """The version as an MLflow model directory (zip) or an ONNX file."""
    version = hub.models.get_version(name, ref)
    stem = f"{name}-v{version.version}"
    with tempfile.TemporaryDirectory(prefix="mlharbor-export-") as tmp:
        if format is ExportFormat.ONNX:
            path = hub.models.export(name, version.version, Path(tmp) / f"{stem}.onnx", "onnx")
            data, media, filename = path.read_bytes(), "application/onnx", path.name
        else:
            folder = hub.models.export(name, version.version, Path(tmp) / stem, "mlflow")
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
                for file in sorted(folder.iterdir()):
                    zf.write(file, f"{stem}/{file.name}")
            data, media, filename = buffer.getvalue(), "application/zip", f"{stem}.zip"
    return Response(
        data,
        media_type=media,
        headers={"content-disposition": f'attachment; filename="{filename}"'},
    )
