"""Liveness, readiness and the root."""

from __future__ import annotations

from fastapi import APIRouter
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
def readyz(hub: HubDep) -> Health | JSONResponse:
    """The database and the artifact store answer."""
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
        checks["artifacts"] = f"error: {type(exc).__name__}"
    ok = all(v == "ok" for v in checks.values())
    if not ok:
        return JSONResponse(Health(status="unavailable", checks=checks).model_dump(), 503)
    return Health(status="ok", checks=checks)


@router.get("/api/v1", tags=["health"])
def api_root() -> dict[str, str]:
    """Name and version of this server."""
    return {"name": "mlharbor", "version": __version__, "docs": "/docs"}
