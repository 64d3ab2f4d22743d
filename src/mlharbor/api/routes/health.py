"""Liveness, readiness and the root."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from mlharbor import __version__
from mlharbor.api.auth import PUBLIC
from mlharbor.api.deps import HubDep
from mlharbor.api.schemas import Health

router = APIRouter(tags=["health"], dependencies=PUBLIC)


@router.get("/healthz", response_model=Health)
def healthz() -> Health:
    """The process is up."""
    return Health(status="ok")


@router.get("/readyz", response_model=Health, responses={503: {"model": Health}})
def readyz(hub: HubDep, request: Request) -> Health | JSONResponse:
    """The database and the artifact store answer, and the embedded worker pool runs.

    With external ``mlharbor worker`` services (no embedded pool) workers are not checked:
    this process can still take requests and queue jobs, and taking it out of a load
    balancer would not bring a worker back (their own service manager does that).
    """
    checks: dict[str, str] = {}
    try:
        with hub.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # any driver error means not ready
        checks["database"] = f"error: {type(exc).__name__}"
    try:
        hub.artifacts.put_bytes("_ready/probe", b"ok")
        checks["artifacts"] = "ok"
    except Exception as exc:  # any filesystem error means not ready
        # The reason (read_only, no_space…) but not the store's path: this route is public.
        reason = getattr(exc, "details", {}).get("reason") or type(exc).__name__
        checks["artifacts"] = f"error: {reason}"
    supervisor = getattr(request.app.state, "supervisor", None)
    if supervisor is not None and supervisor.pool is not None:
        checks["workers"] = supervisor.workers_check()
    ok = all(v == "ok" for v in checks.values())
    if not ok:
        return JSONResponse(Health(status="unavailable", checks=checks).model_dump(), 503)
    return Health(status="ok", checks=checks)


@router.get("/api/v1", tags=["health"])
def api_root() -> dict[str, str]:
    """Name and version of this server."""
    return {"name": "mlharbor", "version": __version__, "docs": "/docs"}
