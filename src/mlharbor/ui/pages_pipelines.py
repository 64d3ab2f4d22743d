"""Pipeline runs: the list, one run with its DAG and live step states, runs compared."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from mlharbor.api.auth import NEEDS_READ
from mlharbor.api.deps import HubDep
from mlharbor.api.params import IdPath
from mlharbor.api.routes.pipelines import PipelineRunPublic
from mlharbor.errors import InvalidInputError
from mlharbor.limits import MAX_ID
from mlharbor.pipelines.compare import MAX_COMPARED, compare_runs
from mlharbor.pipelines.records import PipelineStore, RunInfo
from mlharbor.ui.web import page

router = APIRouter(include_in_schema=False)

RUN_BADGE = {"queued": "", "running": "blue", "succeeded": "ok", "failed": "bad"}
STEP_BADGE = {
    "pending": "",
    "running": "blue",
    "done": "ok",
    "cached": "gold",
    "failed": "bad",
    "skipped": "",
}
#: Fill and stroke of a DAG node per step state.
NODE_COLOURS = {
    "pending": ("#f4f6f9", "#c3cad5"),
    "running": ("#e6f0ff", "#0f5fd7"),
    "done": ("#e3f5ea", "#137a43"),
    "cached": ("#fff1c2", "#a07000"),
    "failed": ("#fde8e6", "#b42318"),
    "skipped": ("#f4f6f9", "#c3cad5"),
}
NODE_W, NODE_H, GAP_X, GAP_Y = 150, 46, 46, 18


def dag_picture(steps: list[dict[str, Any]]) -> dict[str, Any]:
    """Where each step's box and each dependency's arrow go: columns by depth."""
    depth: dict[str, int] = {}
    for step in steps:  # stored in run order: what a step needs comes before it
        depth[step["step"]] = 1 + max((depth.get(n, 0) for n in step["needs"]), default=-1)
    rows: dict[int, int] = {}
    nodes = {}
    for step in steps:
        column = depth[step["step"]]
        row = rows.get(column, 0)
        rows[column] = row + 1
        fill, stroke = NODE_COLOURS.get(step["state"], NODE_COLOURS["pending"])
        nodes[step["step"]] = {
            "id": step["step"],
            "kind": step["kind"],
            "state": step["state"],
            "x": 10 + column * (NODE_W + GAP_X),
            "y": 10 + row * (NODE_H + GAP_Y),
            "fill": fill,
            "stroke": stroke,
        }
    edges = []
    for step in steps:
        to = nodes[step["step"]]
        for need in step["needs"]:
            start = nodes[need]
            edges.append(
                {
                    "x1": start["x"] + NODE_W,
                    "y1": start["y"] + NODE_H / 2,
                    "x2": to["x"] - 4,
                    "y2": to["y"] + NODE_H / 2,
                }
            )
    width = 20 + (max(depth.values(), default=0) + 1) * (NODE_W + GAP_X) - GAP_X
    height = 20 + max(rows.values(), default=1) * (NODE_H + GAP_Y) - GAP_Y
    return {
        "nodes": list(nodes.values()),
        "edges": edges,
        "width": width,
        "height": height,
        "w": NODE_W,
        "h": NODE_H,
    }


def _public(run: RunInfo) -> dict[str, Any]:
    data = PipelineRunPublic.of(run).model_dump(mode="json")
    data["dag"] = dag_picture(data["steps"])
    return data


@router.get("/pipelines", response_class=HTMLResponse, dependencies=NEEDS_READ)
def pipelines_page(
    request: Request,
    hub: HubDep,
    pipeline: Annotated[str | None, Query(max_length=128)] = None,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> HTMLResponse:
    """Pipeline runs, newest first, to pick from for a comparison; the known pipelines."""
    store = PipelineStore(hub.sessions)
    runs, total = store.list_runs(pipeline=pipeline, limit=50, offset=offset)
    return page(
        request,
        "pipelines.html",
        section="pipelines",
        runs=[PipelineRunPublic.of(r).model_dump(mode="json") for r in runs],
        total=total,
        offset=offset,
        pipeline=pipeline,
        definitions=[
            {
                "name": d.name,
                "schedule": d.schedule,
                "file_hash": d.file_hash,
                "next_run": datetime.fromtimestamp(d.next_fire, UTC) if d.next_fire else None,
            }
            for d in store.definitions()
        ],
        badge=RUN_BADGE,
        step_badge=STEP_BADGE,
        max_compared=MAX_COMPARED,
    )


@router.get("/pipelines/runs/{run_id}", response_class=HTMLResponse, dependencies=NEEDS_READ)
def run_page(request: Request, hub: HubDep, run_id: IdPath) -> HTMLResponse:
    """One run: its DAG with each step's state (live while it runs), steps, parameters."""
    run = PipelineStore(hub.sessions).get_run(run_id)
    return page(
        request,
        "pipeline_run.html",
        section="pipelines",
        run=_public(run),
        source=run.source,
        badge=RUN_BADGE,
        step_badge=STEP_BADGE,
    )


@router.get("/pipelines/compare", response_class=HTMLResponse, dependencies=NEEDS_READ)
def compare_page(
    request: Request,
    hub: HubDep,
    run: Annotated[list[Annotated[int, Query(ge=1, le=MAX_ID)]] | None, Query()] = None,
) -> HTMLResponse:
    """Runs side by side: parameters and metrics that differ highlighted, each DAG."""
    ids = sorted(set(run or []))
    if not 2 <= len(ids) <= MAX_COMPARED:
        raise InvalidInputError(
            f"pick 2 to {MAX_COMPARED} runs to compare (got {len(ids)})", field="run"
        )
    store = PipelineStore(hub.sessions)
    runs = [store.get_run(i) for i in ids]
    return page(
        request,
        "pipeline_compare.html",
        section="pipelines",
        cmp=compare_runs(runs),
        runs=[_public(r) for r in runs],
        ids=ids,
        badge=RUN_BADGE,
        step_badge=STEP_BADGE,
    )
