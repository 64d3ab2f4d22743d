"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from mlharbor import __version__
from mlharbor.api import problems
from mlharbor.api.middleware import BodyLimitMiddleware, RequestIdMiddleware
from mlharbor.api.routes import datasets, health
from mlharbor.config import Settings, get_settings
from mlharbor.hub import Hub


def create_app(settings: Settings | None = None, hub: Hub | None = None) -> FastAPI:
    """Build the app. The hub is opened by the lifespan unless one is passed in."""
    settings = settings or (hub.settings if hub else get_settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = hub is None
        app.state.hub = hub or Hub.open(settings)
        try:
            yield
        finally:
            if owned:
                app.state.hub.close()

    app = FastAPI(
        title="mlharbor",
        version=__version__,
        summary="A self-hosted machine-learning hub.",
        lifespan=lifespan,
    )
    if hub is not None:
        app.state.hub = hub
    problems.install(app)
    # Multipart framing adds a little to the file itself.
    app.add_middleware(BodyLimitMiddleware, limit=settings.max_upload_bytes + (1 << 20))
    app.add_middleware(RequestIdMiddleware)
    app.include_router(health.router)
    app.include_router(datasets.router)
    return app
