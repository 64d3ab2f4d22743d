"""Pages about data: the dataset list and upload, a dataset with its insights, training."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from mlharbor.api.auth import NEEDS_READ
from mlharbor.api.deps import HubDep
from mlharbor.api.params import VersionQuery
from mlharbor.api.schemas import DatasetPublic, DatasetVersionPublic
from mlharbor.data.tasks import Task
from mlharbor.errors import InvalidInputError
from mlharbor.ui import charts, forms
from mlharbor.ui.web import page

router = APIRouter(include_in_schema=False)
PREVIEW_ROWS = 20
#: Charts of single columns drawn on the page; a wide table's others are in the report.
MAX_COLUMN_CHARTS = 40
#: Warnings that suggest leaving a column out of training.
DROP_HINTS = {"target_leakage", "identifier", "constant", "high_cardinality", "duplicated_column"}


@router.get("/datasets", response_class=HTMLResponse, dependencies=NEEDS_READ)
def datasets_page(request: Request, hub: HubDep) -> HTMLResponse:
    """Every dataset, and the upload."""
    rows, _ = hub.datasets.list(limit=500, offset=0)
    return page(
        request,
        "datasets.html",
        section="datasets",
        datasets=[DatasetPublic.of(d) for d in rows],
        max_upload=hub.settings.max_upload_bytes,
    )


def _target(version: DatasetVersionPublic, target: str | None) -> str | None:
    if target and target not in {c.name for c in version.columns}:
        raise InvalidInputError(
            f"the dataset has no column {target!r}; its columns: "
            + ", ".join(c.name for c in version.columns),
            field="target",
        )
    return target or None


@router.get("/datasets/{ref}", response_class=HTMLResponse, dependencies=NEEDS_READ)
def dataset_page(
    request: Request,
    hub: HubDep,
    ref: str,
    version: VersionQuery = None,
    target: str | None = None,
) -> HTMLResponse:
    """A dataset version: schema, preview, and its insights (loaded by htmx)."""
    dataset = DatasetPublic.of(hub.datasets.get(ref))
    info = hub.datasets.get_version(ref, version)
    current = DatasetVersionPublic.of(info)
    return page(
        request,
        "dataset.html",
        section="datasets",
        dataset=dataset,
        v=current,
        target=_target(current, target),
        preview=hub.datasets.preview(info, PREVIEW_ROWS),
    )


@router.get("/datasets/{ref}/insights-panel", response_class=HTMLResponse, dependencies=NEEDS_READ)
async def insights_panel(
    request: Request,
    hub: HubDep,
    ref: str,
    version: VersionQuery = None,
    target: str | None = None,
) -> HTMLResponse:
    """The insights with their charts (an htmx fragment: computing them may take seconds)."""
    current = DatasetVersionPublic.of(hub.datasets.get_version(ref, version))
    target = _target(current, target)
    insights = await run_in_threadpool(
        hub.insights.get, ref, version=current.version, target=target
    )
    return page(
        request,
        "_insights.html",
        v=current,
        target=target,
        ins=insights,
        charts=charts.insights_charts(insights),
        max_column_charts=MAX_COLUMN_CHARTS,
    )


def _drop_hints(insights: dict[str, Any]) -> dict[str, list[str]]:
    hints: dict[str, list[str]] = {}
    for w in insights.get("warnings", []):
        if w["kind"] in DROP_HINTS and w.get("column"):
            hints.setdefault(w["column"], []).append(w["kind"].replace("_", " "))
    return hints


@router.get("/datasets/{ref}/train", response_class=HTMLResponse, dependencies=NEEDS_READ)
async def train_page(
    request: Request,
    hub: HubDep,
    ref: str,
    version: VersionQuery = None,
    target: str | None = None,
) -> HTMLResponse:
    """The training form: task from the insights, columns to drop, a model and its parameters."""
    current = DatasetVersionPublic.of(hub.datasets.get_version(ref, version))
    target = _target(current, target)
    task, reason, hints, insights = None, "", {}, None
    if target:
        insights = await run_in_threadpool(
            hub.insights.get, ref, version=current.version, target=target
        )
        task = (insights.get("target") or {}).get("task")
        reason = (insights.get("target") or {}).get("reason", "")
        hints = _drop_hints(insights)
    return page(
        request,
        "train.html",
        section="datasets",
        v=current,
        target=target,
        task=task,
        task_reason=reason,
        tasks=[t.value for t in Task],
        hints=hints,
        **_model_section(task, None),
        modes=[("single", "One model"), ("automl", "AutoML: try many, keep the best")],
        **_automl_section(task, insights),
    )


def _automl_section(task: str | None, insights: dict[str, Any] | None) -> dict[str, Any]:
    """The metrics AutoML can rank by for this task, and which one it uses by default."""
    from mlharbor.models.automl import DEFAULT_METRIC, METRICS
    from mlharbor.models.metrics import metric_kind
    from mlharbor.models.tasks import Task

    n_classes = len(((insights or {}).get("target") or {}).get("balance") or [])
    if task not in {t.value for t in Task}:
        if n_classes != 2:  # no task known yet, unless two classes make it binary
            return {"automl_metrics": [], "automl_default": None}
        task = Task.BINARY.value
    kind = metric_kind(Task(task), 2 if task == Task.BINARY else n_classes)
    return {"automl_metrics": list(METRICS[kind]), "automl_default": DEFAULT_METRIC[kind]}


def _model_section(task: str | None, model: str | None) -> dict[str, Any]:
    choices = forms.model_choices(task)
    names = [c["name"] for c in choices]
    if model not in names:
        model = "random-forest" if "random-forest" in names else (names[0] if names else None)
    fields = forms.param_fields(model, task or "binary") if model else ()
    return {"models": choices, "model": model, "fields": fields}


@router.get("/ui/model-fields", response_class=HTMLResponse, dependencies=NEEDS_READ)
def model_fields(
    request: Request, task: str | None = None, model: str | None = None
) -> HTMLResponse:
    """The model select and its parameter fields for a task (an htmx fragment)."""
    task = task if task in {t.value for t in Task} else None
    return page(request, "_model_fields.html", **_model_section(task, model))
