"""Monitoring: drift reports, traffic timelines, labels, performance and alerts."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query

from mlharbor.api.auth import NEEDS_PREDICT, NEEDS_READ, NEEDS_TRAIN
from mlharbor.api.deps import HubDep
from mlharbor.api.schemas import Problem
from mlharbor.errors import InvalidInputError

router = APIRouter(prefix="/api/v1", tags=["monitoring"])
ERRORS: dict[int | str, dict[str, Any]] = {404: {"model": Problem}, 422: {"model": Problem}}
Since = Annotated[
    str | None, Query(description="Window start: a duration back from now (7d, 12h) or ISO time")
]
Columns = Annotated[str | None, Query(description="Only these columns, comma-separated")]


def _columns(text: str | None) -> list[str] | None:
    return [c.strip() for c in text.split(",") if c.strip()] if text else None


@router.get("/models/{name}/{ref}/drift", responses=ERRORS, dependencies=NEEDS_READ)
def model_drift(
    hub: HubDep, name: str, ref: str, since: Since = None, columns: Columns = None
) -> dict[str, Any]:
    """Drift of a model version's logged inputs and outputs against its training reference."""
    return hub.monitoring.model_drift(name, ref, since=since, columns=_columns(columns))


@router.get("/models/{name}/{ref}/reference", responses=ERRORS, dependencies=NEEDS_READ)
def reference(hub: HubDep, name: str, ref: str) -> dict[str, Any]:
    """The reference profile of a model version (its training data and predictions)."""
    return hub.monitoring.reference(name, ref)


@router.get("/models/{name}/{ref}/monitoring", responses=ERRORS, dependencies=NEEDS_READ)
def timeline(
    hub: HubDep,
    name: str,
    ref: str,
    since: Since = None,
    window: Annotated[str, Query(description="Width of each window, e.g. 1h or 1d")] = "1d",
    drift: Annotated[bool, Query(description="Also compute drift share per window")] = True,
) -> dict[str, Any]:
    """Volume, latency and drift share of a model version per time window (for charts)."""
    return hub.monitoring.timeline(name, ref, since=since, window=window, drift=drift)


@router.post("/models/{name}/labels", responses=ERRORS, dependencies=NEEDS_PREDICT)
def add_labels(
    hub: HubDep,
    name: str,
    body: Annotated[
        dict[str, Any],
        Body(
            examples=[{"labels": [{"request_id": "9f1c…", "label": "yes"}]}],
            description='{"labels": [{"request_id", "label", "row" (optional)}]}',
        ),
    ],
) -> dict[str, Any]:
    """Ground-truth labels for logged predictions (by request id, optionally row).

    Each request id must be in the model's prediction log, each label a class the model
    knows (a number for regression); one bad label refuses the whole batch (422)."""
    hub.models.get_model(name)
    if "labels" not in body:
        raise InvalidInputError('the body needs "labels": a list of {"request_id", "label"}')
    # Monitoring's modules load polars: on the first request that needs them, not at start.
    from mlharbor.monitoring.labels import add_labels as check_and_store_labels

    stored = check_and_store_labels(hub.artifacts, hub.models, hub.predlog, name, body["labels"])
    return {"model": name, "stored": stored}


@router.get("/models/{name}/{ref}/performance", responses=ERRORS, dependencies=NEEDS_READ)
def model_performance(
    hub: HubDep,
    name: str,
    ref: str,
    since: Since = None,
    window: Annotated[str | None, Query(description="Metrics per window, e.g. 1d")] = None,
    dataset: Annotated[
        str | None, Query(description="A labelled dataset NAME@VERSION instead of the log")
    ] = None,
) -> dict[str, Any]:
    """Metrics of a model version on its labelled predictions (or a labelled dataset),
    against the metrics it was registered with."""
    from mlharbor.monitoring.performance import dataset_performance, performance

    if dataset:
        return dataset_performance(hub.monitoring, name, ref, dataset)
    return performance(hub.monitoring, name, ref, since=since, window=window)


@router.get("/drift", responses=ERRORS, dependencies=NEEDS_READ)
def dataset_drift(
    hub: HubDep,
    reference: Annotated[str, Query(description="Dataset NAME or NAME@VERSION")],
    current: Annotated[str, Query(description="Dataset NAME or NAME@VERSION")],
    columns: Columns = None,
) -> dict[str, Any]:
    """Drift between two dataset versions."""
    return hub.monitoring.dataset_drift(reference, current, columns=_columns(columns))


@router.get("/alerts", responses=ERRORS, dependencies=NEEDS_READ)
def alerts(
    hub: HubDep,
    model: str | None = None,
    alerts_only: bool = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Stored monitoring checks, newest first (``alerts_only`` for those that alerted)."""
    events = hub.alerts.list_events(model=model, alerts_only=alerts_only, limit=limit)
    return {"events": events, "monitored": hub.settings.monitor_models}


@router.post("/alerts/check", responses=ERRORS, dependencies=NEEDS_TRAIN)
def run_checks(
    hub: HubDep,
    model: Annotated[str | None, Query(description="NAME@ALIAS; default: every monitored")] = None,
) -> dict[str, Any]:
    """Run monitoring checks now and store their events (webhook notified on alerts)."""
    targets = [model] if model else list(hub.settings.monitor_models)
    if not targets:
        raise InvalidInputError(
            "no model to check: pass ?model=NAME@ALIAS or set MLHARBOR_MONITOR_MODELS"
        )
    events = [hub.alerts.check(t) for t in targets]
    return {"events": [e for e in events if e is not None]}
