"""Pages about work and results: jobs with live progress, models with their versions."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from mlharbor.api.auth import NEEDS_READ
from mlharbor.api.deps import HubDep
from mlharbor.api.routes.jobs import JobEventPublic, JobPublic
from mlharbor.api.routes.models import ModelPublic, ModelVersionPublic
from mlharbor.api.schemas import IdPath
from mlharbor.errors import HarborError, NotFoundError
from mlharbor.ui import forms
from mlharbor.ui.plots import TITLES, evaluation_plot
from mlharbor.ui.web import page

router = APIRouter(include_in_schema=False)
STATE_BADGE = {
    "queued": "",
    "running": "blue",
    "succeeded": "ok",
    "failed": "bad",
    "cancelled": "warn",
}
#: Metrics where smaller is better, so the UI does not colour them as scores.
LOWER_IS_BETTER = ("loss", "error", "mae", "mse", "rmse")


@router.get("/jobs", response_class=HTMLResponse, dependencies=NEEDS_READ)
def jobs_page(
    request: Request, hub: HubDep, offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0
) -> HTMLResponse:
    """Every job, newest first."""
    jobs = [JobPublic.of(j) for j in hub.jobs.list(limit=50, offset=offset)]
    return page(
        request,
        "jobs.html",
        section="jobs",
        jobs=jobs,
        total=hub.jobs.count(),
        offset=offset,
        badge=STATE_BADGE,
    )


@router.get("/jobs/{job_id}", response_class=HTMLResponse, dependencies=NEEDS_READ)
def job_page(request: Request, hub: HubDep, job_id: IdPath) -> HTMLResponse:
    """One job; the page follows its events live until it ends."""
    job = JobPublic.of(hub.jobs.get(job_id))
    events = [JobEventPublic.of(e) for e in hub.jobs.events(job_id)]
    return page(
        request,
        "job.html",
        section="jobs",
        job=job,
        events=events,
        last_seq=events[-1].seq if events else 0,
        badge=STATE_BADGE,
        trials=leaderboard_rows(job, events),
    )


def leaderboard_rows(job: JobPublic, events: list[JobEventPublic]) -> list[dict[str, Any]]:
    """An AutoML job's candidates, best first: the final board, or the trials so far."""
    if job.kind != "automl":
        return []
    final = (job.result or {}).get("leaderboard")
    rows = final if final else [e.data for e in events if e.kind == "trial"]
    return rank_trials(rows)


def rank_trials(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Scored candidates by score (the metric's own direction), then the others by trial."""
    order = {"ok": 0, "pruned": 1, "skipped": 2, "failed": 3}

    def key(row: dict[str, Any]) -> tuple[int, float, int]:
        score = row.get("score")
        sign = 1.0 if row.get("higher_is_better", True) else -1.0
        value = -sign * score if isinstance(score, int | float) else float("inf")
        return (order.get(row.get("status", ""), 4), value, int(row.get("trial") or 0))

    return sorted(rows, key=key)


@router.get("/models", response_class=HTMLResponse, dependencies=NEEDS_READ)
def models_page(request: Request, hub: HubDep) -> HTMLResponse:
    """Every registered model with its aliases."""
    models = [ModelPublic.of(m) for m in hub.models.list_models()]
    return page(request, "models.html", section="models", models=models)


def _plots(hub: Any, name: str, version: ModelVersionPublic) -> list[dict[str, Any]]:
    plots = []
    for artifact in version.artifacts:
        if "json" not in version.artifacts[artifact] or artifact not in TITLES:
            continue
        try:
            data = json.loads(hub.models.read_artifact(name, version.version, artifact, "json"))
        except HarborError as exc:
            plots.append({"name": artifact, "title": TITLES[artifact], "reason": exc.message})
            continue
        plots.append(evaluation_plot(artifact, data))
    order = list(TITLES)
    return sorted(plots, key=lambda p: order.index(p["name"]))


def _example(hub: Any, version: ModelVersionPublic) -> dict[str, Any]:
    """A row of the training data to pre-fill the "try it" form, when it is still there."""
    names = [str(c["name"]) for c in version.signature.get("inputs") or []]
    lineage = version.lineage
    row: dict[str, Any] = {}
    if lineage.get("dataset") and lineage.get("dataset_version"):
        try:
            v = hub.datasets.get_version(lineage["dataset"], lineage["dataset_version"])
            rows = hub.datasets.preview(v, 1)
            row = rows[0] if rows else {}
        except HarborError:
            row = {}
    return {n: row.get(n) for n in names}


def _metrics(version: ModelVersionPublic) -> list[dict[str, Any]]:
    test = version.metrics.get("test") or {}
    cv = version.metrics.get("cv") or {}
    names = list(dict.fromkeys([*test, *cv]))
    return [
        {
            "name": n,
            "test": test.get(n),
            "cv_mean": (cv.get(n) or {}).get("mean"),
            "cv_std": (cv.get(n) or {}).get("std"),
            "lower_is_better": any(s in n for s in LOWER_IS_BETTER),
        }
        for n in names
    ]


@router.get("/models/{name}", response_class=HTMLResponse, dependencies=NEEDS_READ)
def model_page(
    request: Request, hub: HubDep, name: str, version: Annotated[str | None, Query()] = None
) -> HTMLResponse:
    """A registered model: versions and aliases, and the chosen version in full."""
    model = ModelPublic.of(hub.models.get_model(name))
    if not model.versions:
        # Reachable once every version was deleted: say so, not "no alias 'latest'".
        raise NotFoundError(
            f"model {name!r} has no versions left; train or upload one, or delete the model",
            name=name,
        )
    current = ModelVersionPublic.of(hub.models.get_version(name, version or "latest"))
    example = _example(hub, current)
    base = str(request.base_url).rstrip("/")
    ref = "champion" if "champion" in model.aliases else str(current.version)
    champion = model.aliases.get("champion")
    previous = sorted(v.version for v in model.versions if champion and v.version < champion)
    return page(
        request,
        "model.html",
        section="models",
        model=model,
        v=current,
        metrics=_metrics(current),
        plots=_plots(hub, name, current),
        inputs=forms.input_fields(current.signature, example),
        snippets=forms.snippets(base, name, ref, example, auth=hub.settings.auth_enabled),
        snippet_ref=ref,
        champion=champion,
        rollback_to=previous[-1] if previous else None,
    )
