"""Wiring the UI into the FastAPI app: routers, static files, browser-friendly errors."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import suppress
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.gzip import GZipMiddleware

from mlharbor.api.auth import PUBLIC, SESSION_COOKIE
from mlharbor.errors import HarborError
from mlharbor.ui import (
    pages_admin,
    pages_data,
    pages_models,
    pages_monitoring,
    pages_pipelines,
    pages_scoring,
)
from mlharbor.ui.assets import PLOTLY_JS, PREFIX, Assets
from mlharbor.ui.web import HERE, page, templates

#: Path prefixes of the UI's own HTML pages (errors there are shown as pages).
PAGE_PREFIXES = (
    "/datasets",
    "/models",
    "/jobs",
    "/scoring",
    "/pipelines",
    "/settings",
    "/sign-in",
)


def _wants_page(request: Request) -> bool:
    path = request.url.path
    is_page = path == "/" or any(path == p or path.startswith(p + "/") for p in PAGE_PREFIXES)
    return is_page and "text/html" in request.headers.get("accept", "")


def _remember_viewer(request: Request) -> None:
    """Who is signed in, for the navigation of a page refused before the key was noted.

    The scope check refuses a key without the scope before recording it, so the "Not
    allowed" page had no navigation and no "Signed in as"; the session says who it is.
    """
    cookie = request.cookies.get(SESSION_COOKIE)
    if getattr(request.state, "api_key", None) is not None or not cookie:
        return
    with suppress(HarborError):  # an expired session: the page offers to sign in again
        request.state.api_key = request.app.state.hub.keys.verify_session(cookie)


def install(app: FastAPI) -> None:
    """Add the UI's routes, static files and error pages to ``app``."""
    app.include_router(pages_data.router)
    app.include_router(pages_monitoring.router)
    app.include_router(pages_models.router)
    app.include_router(pages_admin.router)
    app.include_router(pages_scoring.router)
    app.include_router(pages_pipelines.router)
    assets = Assets.default()
    templates.env.globals["asset"] = assets.url
    templates.env.globals["plotly_src"] = assets.url("plotly.min.js")

    @app.get(PREFIX + "/{hashed:path}", include_in_schema=False, dependencies=PUBLIC)
    def hashed_asset(request: Request, hashed: str) -> Response:
        return assets.response(request, hashed)

    @app.get("/static/plotly.min.js", include_in_schema=False, dependencies=PUBLIC)
    def plotly_js() -> FileResponse:
        # The unhashed name stays for links saved before the hashed ones; pages use those.
        return FileResponse(
            PLOTLY_JS,
            media_type="text/javascript",
            headers={"Cache-Control": "public, max-age=86400"},
        )

    app.mount(
        "/static/ui",
        GZipMiddleware(StaticFiles(directory=HERE / "static"), minimum_size=1000),
        name="ui-static",
    )

    api_handler = app.exception_handlers[HarborError]

    async def harbor_error(request: Request, exc: Exception) -> Response:
        if not isinstance(exc, HarborError) or not _wants_page(request):
            return await _delegate(api_handler, request, exc)
        if exc.status == 401:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/sign-in?next={quote(target)}", status_code=303)
        if request.headers.get("hx-request"):
            # An htmx fragment: answer with the message alone, where the fragment goes.
            return page(request, "_error.html", status_code=exc.status, detail=exc.message)
        if exc.status == 403:
            _remember_viewer(request)
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

    http_handler = app.exception_handlers[StarletteHTTPException]

    async def http_error(request: Request, exc: Exception) -> Response:
        # An unknown address typed or followed in a browser gets the styled page, with the
        # navigation, not a problem+json; API clients keep problem+json.
        path = request.url.path
        browser = "text/html" in request.headers.get("accept", "")
        if (
            isinstance(exc, StarletteHTTPException)
            and exc.status_code == 404
            and browser
            and not path.startswith(("/api/", "/static/"))
        ):
            return page(
                request,
                "error.html",
                status_code=404,
                title="Not found",
                detail=f"There is no page at {path}.",
                status=404,
                request_id=getattr(request.state, "request_id", None),
            )
        return await _delegate(http_handler, request, exc)

    app.add_exception_handler(StarletteHTTPException, http_error)


async def _delegate(
    handler: Callable[[Request, Exception], Response | Awaitable[Response]],
    request: Request,
    exc: Exception,
) -> Response:
    """The answer of an exception handler Starlette holds, plain or async."""
    answer = handler(request, exc)
    return answer if isinstance(answer, Response) else await answer
