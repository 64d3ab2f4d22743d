"""The monitoring page of a model: traffic, drift, performance once labels arrive, alerts."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from mlharbor.api.auth import NEEDS_READ
from mlharbor.api.deps import HubDep
from mlharbor.api.routes.models import ModelPublic, ModelVersionPublic
from mlharbor.errors import HarborError, InvalidInputError, NotFoundError
from mlharbor.monitoring.logs import parse_since
from mlharbor.monitoring.performance import performance
from mlharbor.ui import forms, monitor_charts
from mlharbor.ui.pages_models import _example
from mlharbor.ui.web import page

router = APIRouter(include_in_schema=False)
#: Choices offered next to the free-text fields (any duration the API reads is accepted).
SINCE_CHOICES = ("1h", "24h", "7d", "30d")
WINDOW_CHOICES = ("5m", "1h", "6h", "1d")
#: Widths an automatic window is picked from: the smallest giving at most MAX_BARS bars.
AUTO_WINDOWS = (("5m", 300), ("15m", 900), ("1h", 3600), ("6h", 21600), ("1d", 86400))
MAX_BARS = 48


def _auto_window(since: str) -> str:
    """A window giving a readable number of bars over ``since`` (``1d`` for long spans)."""
    now = datetime.now(UTC)
    try:
        seconds = (now - parse_since(since, now)).total_seconds()
    except InvalidInputError:
        return "1d"  # the page shows the error next to the since field
    return next((w for w, s in AUTO_WINDOWS if seconds / s <= MAX_BARS), "1d")


def _collect(hub: Any, name: str, ref: str, since: str, window: str) -> dict[str, Any]:
    """Everything the page shows; errors about the picker are kept for their fields."""
    out: dict[str, Any] = {"errors": {}, "timeline": None, "drift": None, "perf": None}
    try:
        out["timeline"] = hub.monitoring.timeline(name, ref, since=since, window=window)
    except InvalidInputError as exc:
        field = exc.details.get("field")
        out["errors"][field if field in ("since", "window") else "_form"] = exc.message
        return out
    except NotFoundError as exc:
        # A version registered without a dataset has no reference: traffic only.
        out["no_reference"] = exc.message
        out["timeline"] = hub.monitoring.timeline(
            name, ref, since=since, window=window, drift=False
        )
    if not sum(w["n_predictions"] for w in out["timeline"]["windows"]):
        return out
    if "no_reference" not in out:
        try:
            out["drift"] = hub.monitoring.model_drift(name, ref, since=since)
        except HarborError as exc:
            out["drift_error"] = exc.message
    try:
        out["perf"] = performance(hub.monitoring, name, ref, since=since, window=window)
    except HarborError as exc:
        out["perf_error"] = exc.message
    return out


def _charts(data: dict[str, Any]) -> dict[str, Any]:
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
        charts["performance"] = monitor_charts.performance(data["perf"])
    if drift:
        charts["columns"] = {
            c["column"]: monitor_charts.column(c.get("chart"), c["column"])
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
    window = chosen or _auto_window(since)
    data = await run_in_threadpool(_collect, hub, name, ref, since, window)
    alert_ref = f"{name}@{ref}"
    events = hub.alerts.list_events(model=name, limit=20)
    base = str(request.base_url).rstrip("/")
    example = _example(hub, ModelVersionPublic.of(version))
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
        charts=_charts(data),
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
