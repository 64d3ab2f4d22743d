"""Mini-ML-Platform compatibility: ``POST /train`` and ``POST /predict`` as it documented them.

Its curl commands work unchanged. As in the original, bad input answers 400, a missing model
404; the answers are JSON. ``/train`` trains through the job system and waits for the result;
``/predict`` uses the latest model trained through ``/train``.
"""

from __future__ import annotations

import io
import json
from typing import Annotated, Any

import pandas as pd
from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import JSONResponse, RedirectResponse

from mlharbor import __version__
from mlharbor.api.auth import NEEDS_PREDICT, NEEDS_READ, NEEDS_TRAIN
from mlharbor.api.deps import HubDep
from mlharbor.api.problems import problem_response
from mlharbor.api.schemas import Problem
from mlharbor.data.datasets import name_from_filename
from mlharbor.errors import HarborError, InvalidInputError, NotFoundError, error_from_dict
from mlharbor.workflows.requests import TrainRequest

router = APIRouter(tags=["mini-ml-platform"])
MODEL = "mini-ml-platform"
#: The target until the upload is read: its last column, as Mini-ML-Platform chose.
LAST_COLUMN = "(the last column)"
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": Problem},
    404: {"model": Problem},
    413: {"model": Problem},
}
CSV_TYPES = {
    "text/csv",
    "application/csv",
    "text/plain",
    "application/vnd.ms-excel",
    "application/octet-stream",
    "",
}


def _compat_error(request: Request, exc: HarborError) -> JSONResponse:
    # Mini-ML-Platform answered 400 to anything wrong with the request (413 stays 413); any
    # other error keeps its own status, a failed job's as much as a refused request's.
    if exc.status in (415, 422):
        exc.status = 400
    return problem_response(exc, request)


def _columns(text: str | None) -> list[str]:
    """``columns_to_drop`` as a JSON list (``["a","b"]``) or comma-separated (``a,b``)."""
    if not text or not text.strip():
        return []
    text = text.strip()
    if text.startswith("["):
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidInputError(f"columns_to_drop is not a valid JSON list: {exc}")
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise InvalidInputError("columns_to_drop must be a list of column names")
        return value
    return [c.strip() for c in text.split(",") if c.strip()]


def _check_csv(upload: UploadFile, field: str) -> None:
    name = upload.filename or ""
    ctype = (upload.content_type or "").split(";")[0].strip().lower()
    if not name.lower().endswith((".csv", ".txt")) or ctype not in CSV_TYPES:
        raise InvalidInputError(
            f"{field} must be a CSV file (got {name or 'no name'!r}, {ctype or 'no content type'})",
            field=field,
        )


#: The form fields of Mini-ML-Platform's ``/train``; anything else is refused by name.
TRAIN_FIELDS = ("dataset_file", "model_type", "model_params", "target_column", "columns_to_drop")


async def _unknown_fields(request: Request) -> list[str]:
    """Form fields ``/train`` does not take (the form is parsed once; this reads it again)."""
    form = await request.form()
    return [name for name in form if name not in TRAIN_FIELDS]


@router.post("/train", responses=ERRORS, dependencies=NEEDS_TRAIN)
def compat_train(
    request: Request,
    hub: HubDep,
    unknown: Annotated[list[str], Depends(_unknown_fields)],
    dataset_file: Annotated[UploadFile, File(description="The training data, as CSV")],
    model_type: Annotated[str, Form()] = "RandomForestClassifier",
    model_params: Annotated[str, Form(description="JSON object")] = "{}",
    target_column: Annotated[str | None, Form(description="Default: the last column")] = None,
    columns_to_drop: Annotated[str | None, Form(description='["a","b"] or a,b')] = None,
) -> Any:
    """Train a model from a CSV upload (Mini-ML-Platform); waits for the result.

    The form is an adapter over the training request (``model_type`` is its ``model``,
    ``model_params`` its ``params``...): a bad value gets the message every door gives,
    before the upload is stored.
    """
    try:
        if unknown:
            raise InvalidInputError(
                f"unknown form field{'s' if len(unknown) > 1 else ''} "
                f"{', '.join(map(repr, unknown))}; /train takes: {', '.join(TRAIN_FIELDS)}",
                unknown=unknown,
            )
        _check_csv(dataset_file, "dataset_file")
        try:
            params = json.loads(model_params or "{}")
        except json.JSONDecodeError as exc:
            raise InvalidInputError(f"model_params is not valid JSON: {exc}")
        filename = dataset_file.filename or "train.csv"
        form = {
            "dataset": name_from_filename(filename),
            "target": target_column or LAST_COLUMN,
            "model": model_type,
            "params": params,
            "drop": _columns(columns_to_drop),
            "name": MODEL,
        }
        TrainRequest.parse(form)  # before anything is stored
        version = hub.datasets.ingest_stream(
            dataset_file.file, filename=filename, name=form["dataset"]
        ).version
        train = TrainRequest.parse(
            {
                **form,
                "dataset": version.dataset,
                "dataset_version": version.version,
                "target": target_column or version.schema.names[-1],
            }
        )
        job = hub.submit_train(train)
        done = hub.wait(job.id, timeout=hub.settings.compat_train_wait_seconds)
        if not done.state.is_terminal:
            return JSONResponse(
                status_code=202,
                content={"message": f"still training; follow /api/v1/jobs/{job.id}", "job": job.id},
            )
        if done.state != "succeeded":
            ended = {"code": "job_failed", "message": f"the training job was {done.state}"}
            failed = error_from_dict(done.error or ended)
            failed.details.setdefault("job", job.id)
            raise failed
    except HarborError as exc:
        return _compat_error(request, exc)
    result = done.result or {}
    return {
        "message": "model trained",
        "metrics": result.get("metrics", {}).get("test", {}),
        "cv_metrics": result.get("metrics", {}).get("cv", {}),
        "model_path": f"models:/{result.get('model')}/{result.get('version')}",
        "model": result.get("model"),
        "version": result.get("version"),
        "task": result.get("task"),
        "job": job.id,
    }


@router.post("/predict", responses=ERRORS, dependencies=NEEDS_PREDICT)
def compat_predict(
    request: Request,
    hub: HubDep,
    input_file: Annotated[UploadFile, File(description="Rows to predict, as CSV")],
    columns_to_drop: Annotated[str | None, Form(description='["a","b"] or a,b')] = None,
) -> Any:
    """Predict a CSV upload with the latest model trained through ``/train``."""
    try:
        _check_csv(input_file, "input_file")
        drops = _columns(columns_to_drop)
        try:
            frame = pd.read_csv(io.BytesIO(input_file.file.read(hub.settings.max_upload_bytes)))
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidInputError(f"input_file is not a readable CSV file: {exc}")
        try:
            prediction = hub.predictor.predict(
                MODEL, "latest", frame, drop=drops, request_id=request.state.request_id
            )
        except NotFoundError:
            raise NotFoundError("no model has been trained through /train yet; train one first")
    except HarborError as exc:
        return _compat_error(request, exc)
    return {
        "predictions": prediction.predictions,
        "model": prediction.model,
        "version": prediction.version,
    }


@router.get("/", include_in_schema=False, dependencies=NEEDS_READ)
def root(request: Request) -> Any:
    """JSON status for API clients; the web UI for browsers."""
    if "text/html" in request.headers.get("accept", ""):
        return RedirectResponse("/datasets", status_code=303)
    return {
        "name": "mlharbor",
        "version": __version__,
        "status": "ok",
        "docs": "/docs",
        "api": "/api/v1",
    }
