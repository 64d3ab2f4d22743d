"""Pages about work and results: jobs with live progress, models with their versions."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from mlharbor.api.auth import NEEDS_READ
from mlharbor.api.deps import HubDep
from mlharbor.api.model_views import (
    SETTINGS,
    compare_versions,
    lower_is_better,
    main_metric,
    parse_versions,
)
from mlharbor.api.params import IdPath
from mlharbor.api.routes.jobs import JobEventPublic, JobPublic
from mlharbor.api.routes.models import ModelPublic, ModelVersionPublic
from mlharbor.errors import HarborError, NotFoundError
from mlharbor.ui import forms
from mlharbor.ui.compare_plots import compare_plots
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
#: Rows of the training data looked at for a complete example row.
EXAMPLE_ROWS = 50


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
        message=_message(job),
    )


def _message(job: JobPublic) -> str:
    """The job's message, unless it is an older state's name ("queued" on a running job):
    the badge and the message must say the same."""
    states = set(STATE_BADGE)
    if not job.message or (job.message in states and job.message != job.state):
        return job.state
    return job.message


def leaderboard_rows(job: JobPublic, events: list[JobEventPublic]) -> list[dict[str, Any]]:
    """An AutoML job's candidates, best first: the final board, or the trials so far."""
    if job.kind != "automl":
        return []
    final = (job.result or {}).get("leaderboard")
    rows = final if final else [e.data for e in events if e.kind == "trial"]
    return rank_trials(rows, (job.result or {}).get("best"), job.params.get("cv_folds"))


#: What a candidate that is not a complete, storable result is, in a few words.
STATUS_REASON = {
    "pruned": "stopped early: it trailed the leader on its first folds",
    "skipped": "no time left in the budget for all its folds",
}


def rank_trials(
    rows: list[dict[str, Any]], best: str | None = None, n_folds: int | None = None
) -> list[dict[str, Any]]:
    """Candidates in the order a reader can trust: the winner, then complete candidates by
    score, then partial ones (scored on fewer folds), refused or skipped ones, failed ones.

    A score on 3 of 5 folds, or of a model that cannot be stored, is not a rival of the
    winner, so it never ranks above it, whatever its number. Each row gets ``group``,
    ``folds_text`` ("3/5") and a visible ``reason`` when it is not a complete result.
    """
    n = n_folds or max((int(r.get("folds") or 0) for r in rows), default=0)

    def group(row: dict[str, Any]) -> int:
        status, folds = row.get("status"), int(row.get("folds") or 0)
        if best and row.get("name") == best:
            return 0
        if status == "failed":
            return 4
        if row.get("note") or status == "skipped":
            return 3
        return 1 if status == "ok" and folds >= n else 2

    def key(row: dict[str, Any]) -> tuple[int, float, int]:
        score = row.get("score")
        sign = 1.0 if row.get("higher_is_better", True) else -1.0
        value = -sign * score if isinstance(score, int | float) else float("inf")
        return (row["group"], value, int(row.get("trial") or 0))

    out = []
    for row in rows:
        g = group(row)
        folds = int(row.get("folds") or 0)
        reason = row.get("note") or row.get("error") or STATUS_REASON.get(row.get("status", ""))
        if g == 2 and not reason:
            reason = f"scored on {folds} of {n} folds so far"
        out.append(
            {
                **row,
                "group": g,
                "complete": g <= 1,
                "folds_text": f"{folds}/{n}" if n else str(folds),
                "reason": None if g <= 1 else reason,
            }
        )
    return sorted(out, key=key)


@router.get("/models", response_class=HTMLResponse, dependencies=NEEDS_READ)
def models_page(request: Request, hub: HubDep) -> HTMLResponse:
    """Every registered model with its aliases."""
    models = [ModelPublic.of(hub.models.get_model(m.name)) for m in hub.models.list_models()]
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
    """A row of the training data to pre-fill the "try it" form and the snippets: the first
    one with every input present (the first row at all when none is complete)."""
    names = [str(c["name"]) for c in version.signature.get("inputs") or []]
    lineage = version.lineage
    rows: list[dict[str, Any]] = []
    if lineage.get("dataset") and lineage.get("dataset_version"):
        try:
            v = hub.datasets.get_version(lineage["dataset"], lineage["dataset_version"])
            rows = hub.datasets.preview(v, EXAMPLE_ROWS)
        except HarborError:
            rows = []
    complete = [r for r in rows if all(r.get(n) not in (None, "") for n in names)]
    row = (complete or rows or [{}])[0]
    return {n: row.get(n) for n in names}


def _metrics(version: ModelVersionPublic) -> list[dict[str, Any]]:
    test = version.metrics.get("test") or {}
    cv = version.metrics.get("cv") or {}
    names = [n for n in dict.fromkeys([*test, *cv]) if n not in SETTINGS]
    return [
        {
            "name": n,
            "test": test.get(n),
            "cv_mean": (cv.get(n) or {}).get("mean"),
            "cv_std": (cv.get(n) or {}).get("std"),
            "lower_is_better": lower_is_better(n),
        }
        for n in names
    ]


def _settings(version: ModelVersionPublic) -> dict[str, Any]:
    """Choices recorded with the metrics that are not measurements (the decision threshold)."""
    test = version.metrics.get("test") or {}
    return {k: test[k] for k in SETTINGS if k in test}


def _compare_default(model: ModelPublic, current: int, champion: int | None) -> list[int]:
    """The versions ticked for comparison: this one and the champion, else its predecessor."""
    others = [x.version for x in model.versions if x.version != current]
    if not others:
        return []
    if champion is not None and champion != current:
        return [current, champion]
    below = [n for n in others if n < current]
    return [current, below[-1] if below else others[0]]


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
        settings=_settings(current),
        main_metrics={x.version: main_metric(x) for x in model.versions},
        compare_default=_compare_default(model, current.version, champion),
        plots=_plots(hub, name, current),
        inputs=forms.input_fields(current.signature, example),
        snippets=forms.snippets(base, name, ref, example, auth=hub.settings.auth_enabled),
        snippet_ref=ref,
        champion=champion,
        rollback_to=previous[-1] if previous else None,
    )


@router.get("/models/{name}/compare", response_class=HTMLResponse, dependencies=NEEDS_READ)
def compare_page(
    request: Request,
    hub: HubDep,
    name: str,
    v: Annotated[list[str] | None, Query(max_length=6)] = None,
) -> HTMLResponse:
    """Versions of a model side by side (``?v=1&v=2``); differences and the best marked."""
    record = hub.models.get_model(name)
    model = ModelPublic.of(record)
    if not v:  # from the model page's link: the champion (or latest) and the one before it
        numbers = [x.version for x in model.versions][-2:]
        v = [str(n) for n in numbers]
    comparison = compare_versions(record, parse_versions(v))
    versions = [
        ModelVersionPublic.of(hub.models.get_version(name, c["version"]))
        for c in comparison["versions"]
    ]
    return page(
        request,
        "compare.html",
        section="models",
        model=model,
        cmp=comparison,
        plots=compare_plots(hub, name, versions),
    )
