"""Wiring the UI into the FastAPI app: routers, static files, browser-friendly errors."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import plotly
from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from mlharbor.api.auth import PUBLIC
from mlharbor.errors import HarborError
from mlharbor.ui import (
    pages_admin,
    pages_data,
    pages_models,
    pages_monitoring,
    pages_scoring,
)
from mlharbor.ui.web import HERE, page

PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
#: Path prefixes of the UI's own HTML pages (errors there are shown as pages).
PAGE_PREFIXES = ("/datasets", "/models", "/jobs", "/scoring", "/settings", "/sign-in")


def _wants_page(request: Request) -> bool:
    path = request.url.path
    is_page = path == "/" or any(path == p or path.startswith(p + "/") for p in PAGE_PREFIXES)
    return is_page and "text/html" in request.headers.get("accept", "")


def install(app: FastAPI) -> None:
    """Add the UI's routes, static files and error pages to ``app``."""
    app.include_router(pages_data.router)
    app.include_router(pages_monitoring.router)
    app.include_router(pages_models.router)
    app.include_router(pages_admin.router)
    app.include_router(pages_scoring.router)

    @app.get("/static/plotly.min.js", include_in_schema=False, dependencies=PUBLIC)
    def plotly_js() -> FileResponse:
        return FileResponse(
            PLOTLY_JS,
            media_type="text/javascript",
            headers={"Cache-Control": "public, max-age=86400"},
        )

    app.mount("/static/ui", StaticFiles(directory=HERE / "static"), name="ui-static")

    api_handler = app.exception_handlers[HarborError]

    async def harbor_error(request: Request, exc: Exception) -> Response:
        if not isinstance(exc, HarborError) or not _wants_page(request):
            return await api_handler(request, exc)
        if exc.status == 401:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/sign-in?next={quote(target)}", status_code=303)
        if request.headers.get("hx-request"):
            # An htmx fragment: answer with the message alone, where the fragment goes.
            return page(request, "_error.html", status_code=exc.status, detail=exc.message)
        titles = {403: "Not allowed", 404: "Not found", 422: "That did not work"}
        return page(
            request,
            "error.html",
            status_code=exc.status,
            title=titles.get(exc.status, "Something went wrong"),
            detail=exc.message,
            status=exc.status,
            request_id=getattr(request.state, "request_id", None),
        )

    app.add_exception_handler(HarborError, harbor_error)
