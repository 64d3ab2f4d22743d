"""Pipeline runs: start one from a pipeline file, list them, follow one, compare several."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from mlharbor.api.auth import NEEDS_READ, NEEDS_TRAIN
from mlharbor.api.deps import HubDep
from mlharbor.api.params import IdPath
from mlharbor.api.schemas import Problem
from mlharbor.errors import InvalidInputError
from mlharbor.limits import MAX_ID
from mlharbor.pipelines.compare import MAX_COMPARED, compare_runs
from mlharbor.pipelines.records import PipelineStore, RunInfo, RunState, StepInfo, StepState
from mlharbor.pipelines.spec import MAX_BYTES

router = APIRouter(prefix="/api/v1/pipelines", tags=["pipelines"])
ERRORS: dict[int | str, dict[str, Any]] = {404: {"model": Problem}, 422: {"model": Problem}}

Scalar = str | int | float | bool


class PipelineRunCreate(BaseModel):
    """A run to start: the pipeline file's text, parameter values, where to resume."""

    model_config = ConfigDict(extra="forbid")

    pipeline: str = Field(
        min_length=1,
        max_length=MAX_BYTES,
        description="The pipeline file (YAML), as text.",
    )
    params: dict[Annotated[str, Field(max_length=64)], Scalar] = Field(
        default_factory=dict, max_length=100, description="Values for the file's params."
    )
    from_step: str | None = Field(
        None,
        max_length=64,
        description="Resume: take the steps before this one from the pipeline's last run.",
    )
    inputs: dict[Annotated[str, Field(max_length=64)], Annotated[str, Field(max_length=200)]] = (
        Field(
            default_factory=dict,
            max_length=100,
            description="Ingest steps given a stored dataset (NAME@VERSION) instead of "
            "their source: what `mlharbor run --url` sends after uploading local files.",
        )
    )


class PipelineStepPublic(BaseModel):
    step: str
    kind: str
    position: int
    needs: list[str]
    state: StepState
    cache_key: str | None
    job_id: int | None
    reused_from: int | None = Field(description="The run whose result this step reused.")
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

    @classmethod
    def of(cls, step: StepInfo) -> PipelineStepPublic:
        return cls(**step.to_dict())


class PipelineRunPublic(BaseModel):
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
    seconds: float | None
    steps: list[PipelineStepPublic]

    @classmethod
    def of(cls, run: RunInfo) -> PipelineRunPublic:
        data = run.to_dict()
        data.pop("source", None)
        data["steps"] = [PipelineStepPublic.of(s) for s in run.steps]
        return cls(**data)


class PipelineRunsPublic(BaseModel):
    data: list[PipelineRunPublic]
    count: int


class PipelinePublic(BaseModel):
    name: str
    file_hash: str
    schedule: str | None
    next_run_at: datetime | None = Field(description="When the schedule next starts a run.")
    updated_at: datetime


class PipelinesPublic(BaseModel):
    data: list[PipelinePublic]


class CompareRow(BaseModel):
    name: str
    values: list[Any]
    differs: bool


class CompareStepRow(CompareRow):
    messages: list[str]
    outputs: list[dict[str, Any]]


class PipelineRunsCompared(BaseModel):
    runs: list[dict[str, Any]]
    file: CompareRow
    params: list[CompareRow]
    metrics: list[CompareRow]
    steps: list[CompareStepRow]


@router.post(
    "/runs",
    response_model=PipelineRunPublic,
    status_code=202,
    responses=ERRORS,
    dependencies=NEEDS_TRAIN,
)
def start_run(hub: HubDep, body: PipelineRunCreate) -> PipelineRunPublic:
    """Check a pipeline file and queue a run of it; the server runs its steps as jobs.

    A file that is not a valid pipeline is answered 422 naming the line. Paths in ingest
    steps are not read by a server: give those steps a stored dataset in ``inputs``.
    """
    from mlharbor.pipelines.runner import submit

    run = submit(
        hub,
        body.pipeline,
        params=body.params,
        origin="api",
        from_step=body.from_step,
        inputs=body.inputs,
    )
    return PipelineRunPublic.of(run)


@router.get("/runs", response_model=PipelineRunsPublic, responses=ERRORS, dependencies=NEEDS_READ)
def list_runs(
    hub: HubDep,
    pipeline: Annotated[str | None, Query(max_length=128)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> PipelineRunsPublic:
    """Pipeline runs, newest first, each with its steps."""
    runs, total = PipelineStore(hub.sessions).list_runs(
        pipeline=pipeline, limit=limit, offset=offset
    )
    return PipelineRunsPublic(data=[PipelineRunPublic.of(r) for r in runs], count=total)


@router.get(
    "/runs/compare",
    response_model=PipelineRunsCompared,
    responses=ERRORS,
    dependencies=NEEDS_READ,
)
def compare(
    hub: HubDep,
    ids: Annotated[
        list[Annotated[int, Query(ge=1, le=MAX_ID)]],
        Query(description=f"2 to {MAX_COMPARED} run ids (repeat the parameter)."),
    ],
) -> PipelineRunsCompared:
    """Runs side by side: parameters, metrics and step states, what differs marked."""
    if not 2 <= len(ids) <= MAX_COMPARED:
        raise InvalidInputError(f"compare 2 to {MAX_COMPARED} runs, got {len(ids)}", field="ids")
    store = PipelineStore(hub.sessions)
    return PipelineRunsCompared(**compare_runs([store.get_run(i) for i in ids]))


@router.get(
    "/runs/{run_id}", response_model=PipelineRunPublic, responses=ERRORS, dependencies=NEEDS_READ
)
def get_run(hub: HubDep, run_id: IdPath) -> PipelineRunPublic:
    """A run: its parameters, state, and each step's job, outputs, metrics and timing."""
    return PipelineRunPublic.of(PipelineStore(hub.sessions).get_run(run_id))


@router.get("", response_model=PipelinesPublic, dependencies=NEEDS_READ)
def list_pipelines(hub: HubDep) -> PipelinesPublic:
    """Pipelines the server knows (the last file run of each), with their schedules."""
    return PipelinesPublic(
        data=[
            PipelinePublic(
                name=d.name,
                file_hash=d.file_hash,
                schedule=d.schedule,
                next_run_at=datetime.fromtimestamp(d.next_fire, UTC) if d.next_fire else None,
                updated_at=d.updated_at,
            )
            for d in PipelineStore(hub.sessions).definitions()
        ]
    )
