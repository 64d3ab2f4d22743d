"""The monitoring page of a model: traffic, drift, performance once labels arrive, alerts."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from mlharbor.api.auth import NEEDS_READ
from mlharbor.api.deps import HubDep
from mlharbor.api.routes.models import ModelPublic, ModelVersionPublic
from mlharbor.errors import HarborError, InvalidInputError, NotFoundError
from mlharbor.ui import forms, monitor_charts
from mlharbor.ui.pages_models import _example
from mlharbor.ui.web import page

router = APIRouter(include_in_schema=False)
#: Choices offered next to the free-text fields (any duration the API reads is accepted).
SINCE_CHOICES = ("1h", "24h", "7d", "30d")
WINDOW_CHOICES = ("5m", "1h", "6h", "1d")


def _collect(hub: Any, name: str, ref: str, since: str, window: str | None) -> dict[str, Any]:
    """Everything the page shows; errors about the picker are kept for their fields.

    The timelines span the logged traffic, not the whole ``since`` (an hour of traffic in
    a week would be one bar), and without a chosen ``window`` its width follows that span.
    """
    out: dict[str, Any] = {"errors": {}, "timeline": None, "drift": None, "perf": None}
    try:
        out["timeline"] = hub.monitoring.timeline(name, ref, since=since, window=window, fit=True)
    except InvalidInputError as exc:
        field = exc.details.get("field")
        out["errors"][field if field in ("since", "window") else "_form"] = exc.message
        return out
    except NotFoundError as exc:
        # A version registered without a dataset has no reference: traffic only.
        out["no_reference"] = exc.message
        out["timeline"] = hub.monitoring.timeline(
            name, ref, since=since, window=window, drift=False, fit=True
        )
    if not sum(w["n_predictions"] for w in out["timeline"]["windows"]):
        return out
    # Performance over the same windows as the traffic charts.
    window, since = out["timeline"]["window"], out["timeline"]["since"]
    until = datetime.fromisoformat(out["timeline"]["until"])
    if "no_reference" not in out:
        try:
            out["drift"] = hub.monitoring.model_drift(name, ref, since=since)
        except HarborError as exc:
            out["drift_error"] = exc.message
    try:
        from mlharbor.monitoring.performance import performance  # polars: on use

        out["perf"] = performance(
            hub.monitoring, name, ref, since=since, window=window, until=until
        )
    except HarborError as exc:
        out["perf_error"] = exc.message
    return out


def _report_rows(drift: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The report's columns, drifted ones first (most important first), then by importance."""
    if not drift:
        return []
    order = {c: i for i, c in enumerate(drift["dataset"]["drifted_columns"])}
    return sorted(
        drift["columns"],
        key=lambda c: (
            order.get(c["column"], len(order)),
            c.get("importance_rank") or 10**6,
            -(c.get("effect") or 0),
        ),
    )


#: A column's type as the predict form names it (the drift tests' kinds say less: a date
#: is tested as a number, yes/no as a category).
TYPE_WORDS = {
    "numeric": "number",
    "integer_categorical": "category",
    "categorical": "category",
    "boolean": "yes/no",
    "datetime": "date",
    "text": "text",
}


def _column_types(signature: dict[str, Any] | None) -> dict[str, str]:
    inputs = (signature or {}).get("inputs") or []
    return {
        str(c["name"]): TYPE_WORDS[c["semantic_type"]]
        for c in inputs
        if c.get("semantic_type") in TYPE_WORDS
    }


def _new_values(drift: dict[str, Any] | None, most: int = 3) -> dict[str, list[str]]:
    """The first few never-seen values of each column that has them, to name in the banner."""
    out = {}
    for c in (drift or {}).get("columns", []):
        values = (c.get("new_categories") or {}).get("values") or []
        if values:
            out[c["column"]] = [f"“{v['value']}”" for v in values[:most]]
    return out


def _charts(data: dict[str, Any], types: dict[str, str]) -> dict[str, Any]:
    timeline, drift = data["timeline"], data["drift"]
    if not timeline:
        return {}
    threshold = drift["thresholds"]["share"] if drift else 0.5
    charts: dict[str, Any] = {
        "volume": monitor_charts.volume(timeline),
        "latency": monitor_charts.latency(timeline),
    }
    if any(w.get("drift_share") is not None for w in timeline["windows"]):
        charts["drift_share"] = monitor_charts.drift_share(timeline, threshold)
    if data["perf"]:
        charts["performance"] = monitor_charts.performance(data["perf"], timeline)
    if drift:
        charts["columns"] = {
            c["column"]: monitor_charts.column(c.get("chart"), c["column"], types.get(c["column"]))
            for c in drift["columns"]
        }
        if drift.get("prediction"):
            charts["prediction"] = monitor_charts.column(
                drift["prediction"].get("chart"), "prediction"
            )
    return charts


@router.get("/models/{name}/monitoring", response_class=HTMLResponse, dependencies=NEEDS_READ)
async def monitoring_page(
    request: Request,
    hub: HubDep,
    name: str,
    ref: Annotated[str | None, Query(max_length=100)] = None,
    since: Annotated[str, Query(max_length=40)] = "7d",
    window: Annotated[str | None, Query(max_length=40)] = None,
) -> HTMLResponse:
    """Drift over time, traffic and latency, the latest drift report, performance, alerts."""
    model = ModelPublic.of(hub.models.get_model(name))
    ref = ref or ("champion" if "champion" in model.aliases else "latest")
    version = hub.models.get_version(name, ref)
    since = since.strip() or "7d"
    chosen = (window or "").strip()
    data = await run_in_threadpool(_collect, hub, name, ref, since, chosen or None)
    window = data["timeline"]["window"] if data["timeline"] else chosen or "auto"
    alert_ref = f"{name}@{ref}"
    events = hub.alerts.list_events(model=name, limit=20)
    base = str(request.base_url).rstrip("/")
    example = _example(hub, ModelVersionPublic.of(version))
    types = _column_types(version.signature)
    return page(
        request,
        "monitoring.html",
        section="models",
        status_code=422 if data["errors"] else 200,
        model=model,
        mv=version,
        ref=ref,
        since=since,
        window=window,
        window_chosen=chosen,
        since_choices=SINCE_CHOICES,
        window_choices=WINDOW_CHOICES,
        refs=_refs(model),
        data=data,
        charts=_charts(data, types),
        rows=_report_rows(data["drift"]),
        column_types=types,
        new_values=_new_values(data["drift"]),
        events=events,
        alert_ref=alert_ref,
        monitored=alert_ref in hub.settings.monitor_models,
        snippet=forms.snippets(base, name, ref, example, auth=hub.settings.auth_enabled)["curl"],
        predlog=hub.settings.predlog_enabled,
    )


def _refs(model: ModelPublic) -> list[tuple[str, str]]:
    """The aliases, then every version, newest first: (value, label)."""
    out = [(a, f"{a} (v{v})") for a, v in sorted(model.aliases.items())]
    out += [(str(v.version), f"v{v.version}") for v in reversed(model.versions)]
    return out
