"""Jobs: submit, list, follow (JSON, server-sent events, WebSocket), cancel."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import (
    APIRouter,
    Body,
    File,
    Form,
    Query,
    UploadFile,
    WebSocket,
    WebSocketDisconnect,
)
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from mlharbor.api.auth import NEEDS_READ, NEEDS_TRAIN
from mlharbor.api.deps import HubDep
from mlharbor.api.params import IdPath, SeqQuery
from mlharbor.api.schemas import Problem
from mlharbor.errors import HarborError, InvalidInputError
from mlharbor.hub import Hub
from mlharbor.jobs import JobEventInfo, JobInfo, JobState, follow_events
from mlharbor.workflows.requests import (
    REQUESTS,
    AutoMLRequest,
    ScoreRequest,
    TrainRequest,
    WorkflowRequest,
    json_schema,
)

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"])
scoring = APIRouter(prefix="/api/v1/models", tags=["prediction"])
ERRORS: dict[int | str, dict[str, Any]] = {404: {"model": Problem}, 422: {"model": Problem}}


# A job body's ``params`` is taken as a JSON object, then validated by the workflow's
# request, so that the answer is the message every door gives; it is documented as that
# request.
TrainJobParams = Annotated[dict[str, Any], WithJsonSchema(json_schema(TrainRequest))]
AutoMLJobParams = Annotated[dict[str, Any], WithJsonSchema(json_schema(AutoMLRequest))]
ScoreJobParams = Annotated[dict[str, Any], WithJsonSchema(json_schema(ScoreRequest))]


class TrainJobCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["train"]
    params: TrainJobParams
    timeout_seconds: float | None = Field(None, gt=0)


class ScoreJobCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["score"]
    params: ScoreJobParams
    timeout_seconds: float | None = Field(None, gt=0)


class AutoMLJobCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["automl"]
    params: AutoMLJobParams
    timeout_seconds: float | None = Field(None, gt=0)


JobCreate = Annotated[
    TrainJobCreate | AutoMLJobCreate | ScoreJobCreate, Field(discriminator="kind")
]


class JobPublic(BaseModel):
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
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def of(cls, job: JobInfo) -> JobPublic:
        data = job.to_dict()
        data.pop("heartbeat_at", None)
        if data.get("error"):
            # The traceback is for operators' logs, not for API clients.
            data["error"] = {k: v for k, v in data["error"].items() if k != "traceback"}
        return cls(**data)


class JobsPublic(BaseModel):
    data: list[JobPublic]
    count: int


class JobEventPublic(BaseModel):
    job_id: int
    seq: int
    kind: str
    data: dict[str, Any]
    created_at: datetime

    @classmethod
    def of(cls, event: JobEventInfo) -> JobEventPublic:
        return cls(**event.to_dict())


@router.post(
    "", response_model=JobPublic, status_code=202, responses=ERRORS, dependencies=NEEDS_TRAIN
)
def submit_job(hub: HubDep, body: JobCreate) -> JobPublic:
    """Queue a job (kind ``train``, ``automl`` or ``score``); it runs on a worker and reports
    progress.

    An ``automl`` job emits a ``trial`` event per candidate (see ``/events``) and ends with
    the leaderboard in its result (also at ``/api/v1/jobs/{id}/leaderboard``). A ``score``
    job emits a ``chunk`` event per chunk and stores its result as a dataset.
    """
    request = REQUESTS[body.kind].parse(body.params)
    return _submit(hub, body.kind, request, body.timeout_seconds)


def _submit(
    hub: Hub, kind: str, request: WorkflowRequest, timeout: float | None = None
) -> JobPublic:
    submit = getattr(hub, f"submit_{kind}")
    return JobPublic.of(submit(request, timeout_seconds=timeout))


#: A score body without what the path gives (the model and its version or alias).
_FROM_PATH = ("model", "ref")
_SCORE_BODY = json_schema(ScoreRequest, without=_FROM_PATH)


@scoring.post(
    "/{name}/{ref}/score",
    response_model=JobPublic,
    status_code=202,
    responses=ERRORS,
    dependencies=NEEDS_TRAIN,
)
def score_dataset(
    hub: HubDep,
    name: str,
    ref: str,
    body: Annotated[dict[str, Any], Body(), WithJsonSchema(_SCORE_BODY)],
) -> JobPublic:
    """Score a stored dataset with a model version or alias, as a ``score`` job."""
    _refuse_path_fields(body)
    request = ScoreRequest.parse({**body, "model": name, "ref": ref})
    return _submit(hub, "score", request)


def _refuse_path_fields(given: Any) -> None:
    named = sorted(set(_FROM_PATH) & set(given)) if isinstance(given, dict) else []
    if named:
        verb = "comes" if len(named) == 1 else "come"
        raise InvalidInputError(
            f"{' and '.join(map(repr, named))} {verb} from the path (/models/NAME/REF/score), "
            "not the body",
            unknown=named,
        )


@scoring.post(
    "/{name}/{ref}/score/upload",
    response_model=JobPublic,
    status_code=202,
    responses={
        **ERRORS,
        413: {"model": Problem, "description": "Over the upload size limit"},
        415: {"model": Problem, "description": "Not a supported table format"},
    },
    summary="Upload a file and score it, in one call",
    dependencies=NEEDS_TRAIN,
)
def score_upload(
    hub: HubDep,
    name: str,
    ref: str,
    file: Annotated[UploadFile, File(description="CSV/TSV, Parquet, JSON, JSON Lines or .xlsx")],
    dataset: Annotated[
        str | None, Form(description="Name the file is stored under; default: its file name.")
    ] = None,
    output: Annotated[
        str | None, Form(description=ScoreRequest.model_fields["output"].description)
    ] = None,
    chunk_rows: Annotated[
        str | None, Form(description=ScoreRequest.model_fields["chunk_rows"].description)
    ] = None,
) -> JobPublic:
    """Store an uploaded file as a dataset (streamed to disk, within the upload size limit),
    then score it with a model version or alias as a ``score`` job, like ``/score``.

    The request and the model are checked before the file is stored; a file the model
    cannot score (a column it needs is missing) is kept as a dataset and answered 422
    naming the columns.
    """
    form = {"output": output, "chunk_rows": chunk_rows}
    request = ScoreRequest.parse(
        {
            "model": name,
            "ref": ref,
            "dataset": dataset or file.filename or "upload",
            **{k: v for k, v in form.items() if v is not None},
        }
    )
    hub.models.get_version(name, ref)  # 404 before anything is stored
    if not file.filename:
        raise InvalidInputError("the upload has no file name", field="file")
    stored = hub.datasets.ingest_stream(
        file.file, filename=file.filename, name=dataset or None, source=f"upload:{file.filename}"
    ).version
    request.dataset, request.dataset_version = stored.dataset, stored.version
    return _submit(hub, "score", request)


@router.get("", response_model=JobsPublic, responses={422: ERRORS[422]}, dependencies=NEEDS_READ)
def list_jobs(
    hub: HubDep,
    state: JobState | None = None,
    kind: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
) -> JobsPublic:
    """List jobs, newest first."""
    jobs = hub.jobs.list(state=state, kind=kind, limit=limit, offset=offset)
    return JobsPublic(
        data=[JobPublic.of(j) for j in jobs], count=hub.jobs.count(state=state, kind=kind)
    )


@router.get("/{job_id}", response_model=JobPublic, responses=ERRORS, dependencies=NEEDS_READ)
def get_job(hub: HubDep, job_id: IdPath) -> JobPublic:
    """A job: state, progress, result or error."""
    return JobPublic.of(hub.jobs.get(job_id))


@router.delete("/{job_id}", response_model=JobPublic, responses=ERRORS, dependencies=NEEDS_TRAIN)
def cancel_job(hub: HubDep, job_id: IdPath) -> JobPublic:
    """Cancel a job: a queued one at once, a running one as soon as its worker sees it."""
    return JobPublic.of(hub.jobs.request_cancel(job_id))


class LeaderboardPublic(BaseModel):
    job_id: int
    state: JobState
    final: bool = Field(description="False while the search runs: rows come from its events.")
    metric: str | None
    best: str | None
    rows: list[dict[str, Any]]


@router.get(
    "/{job_id}/leaderboard",
    response_model=LeaderboardPublic,
    responses=ERRORS,
    dependencies=NEEDS_READ,
)
def job_leaderboard(
    hub: HubDep,
    job_id: IdPath,
    sort: Annotated[
        str | None, Query(description="A metric, fit_seconds or predict_seconds.")
    ] = None,
    descending: bool | None = None,
) -> LeaderboardPublic:
    """An ``automl`` job's leaderboard: live from its trial events, final from its result."""
    # Imported here: the AutoML package loads scikit-learn and LightGBM (seconds at start).
    from mlharbor.models.automl.leaderboard import sort_rows

    job = hub.jobs.get(job_id)
    if job.kind != "automl":
        raise InvalidInputError(f"job {job_id} is a {job.kind} job, not an automl job")
    result = job.result or {}
    if result.get("leaderboard"):
        rows, final = result["leaderboard"], True
    else:
        rows = [e.data for e in hub.jobs.events(job_id) if e.kind == "trial"]
        final = False
    metric = result.get("metric") or next((r.get("metric") for r in rows), None)
    if (
        sort is not None
        and sort not in _SORTABLE
        and not any(sort in r.get("cv", {}) for r in rows)
    ):
        raise InvalidInputError(
            f"cannot sort by {sort!r}: use a metric of the leaderboard or one of "
            f"{', '.join(sorted(_SORTABLE))}"
        )
    return LeaderboardPublic(
        job_id=job_id,
        state=job.state,
        final=final,
        metric=metric,
        best=result.get("best"),
        rows=sort_rows(rows, sort, descending=descending),
    )


_SORTABLE = {"fit_seconds", "predict_seconds", "trial", "score"}


@router.get(
    "/{job_id}/events",
    response_model=list[JobEventPublic],
    responses=ERRORS,
    dependencies=NEEDS_READ,
)
def job_events(hub: HubDep, job_id: IdPath, after: SeqQuery = 0) -> list[JobEventPublic]:
    """The job's events after sequence number ``after``."""
    hub.jobs.get(job_id)
    return [JobEventPublic.of(e) for e in hub.jobs.events(job_id, after)]


@router.get(
    "/{job_id}/events/stream",
    responses={
        **ERRORS,
        200: {"content": {"text/event-stream": {}}, "description": "Server-sent events"},
    },
    dependencies=NEEDS_READ,
)
async def job_event_stream(hub: HubDep, job_id: IdPath, after: SeqQuery = 0) -> StreamingResponse:
    """Follow a job's events as server-sent events until it ends."""
    hub.jobs.get(job_id)

    async def stream() -> AsyncIterator[bytes]:
        async for event in follow_events(hub.jobs, job_id, after):
            data = json.dumps(JobEventPublic.of(event).model_dump(mode="json"))
            yield f"id: {event.seq}\nevent: {event.kind}\ndata: {data}\n\n".encode()

    return StreamingResponse(
        stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
    )


@router.websocket("/{job_id}/events", dependencies=NEEDS_READ)
async def job_event_socket(ws: WebSocket, job_id: IdPath, after: SeqQuery = 0) -> None:
    """Follow a job's events over a WebSocket until it ends; then the server closes."""
    await ws.accept()
    try:
        hub = ws.app.state.hub
        async for event in follow_events(hub.jobs, job_id, after):
            await ws.send_json(JobEventPublic.of(event).model_dump(mode="json"))
    except HarborError as exc:
        code = {401: 4401, 403: 4403, 404: 4404}.get(exc.status, 4400)
        await ws.close(code=code, reason=exc.message[:120])
        return
    except WebSocketDisconnect:
        return
    await ws.close(code=1000, reason="the job ended")
