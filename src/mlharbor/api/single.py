"""A server for one model, speaking the protocol of ``mlflow models serve``.

``/invocations`` (JSON or CSV in, ``{"predictions": ...}`` out, MLflow-style errors), ``/ping``
and ``/health`` (200 once the model is loaded), ``/version``. The model reference (an alias or
a version) is resolved through the predictor, so moving the alias switches the model served
within the predictor's TTL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, Request
from fastapi.responses import PlainTextResponse, Response
from fastapi.routing import APIRoute
from starlette.middleware import Middleware

from mlharbor import __version__
from mlharbor.api import observability, problems
from mlharbor.api.auth import NEEDS_PREDICT, PUBLIC, authorize
from mlharbor.api.invocations import InvocationsRoute
from mlharbor.api.middleware import BodyLimitMiddleware, RequestIdMiddleware
from mlharbor.api.observability import Metrics, ObservabilityMiddleware
from mlharbor.api.origin import OriginMiddleware
from mlharbor.api.routes.predict import BODY, mlflow_invocation
from mlharbor.config import Settings
from mlharbor.hub import Hub


def load_model(hub: Hub, name: str, ref: str) -> str:
    """Load the model to serve (raising ``NotFoundError`` naming it); a one-line description."""
    version = hub.predictor.resolve(name, ref)
    hub.predictor.load(version)
    return f"{version.model} version {version.version} ({version.estimator}, {version.task})"


def create_model_app(
    settings: Settings, name: str, ref: str = "latest", hub: Hub | None = None
) -> FastAPI:
    """An app serving model ``name`` at ``ref`` on MLflow's scoring routes."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = hub is None
        app.state.hub = hub or Hub.open(settings, migrate=False)
        app.state.metrics.hub = app.state.hub
        load_model(app.state.hub, name, ref)
        try:
            yield
        finally:
            if owned:
                app.state.hub.close()

    app = FastAPI(
        title=f"mlharbor: {name}@{ref}",
        version=__version__,
        lifespan=lifespan,
        dependencies=[Depends(authorize)],
    )
    app.state.metrics = Metrics()
    problems.install(app)
    app.add_middleware(BodyLimitMiddleware, settings=settings)
    app.add_middleware(OriginMiddleware, settings=settings)
    app.add_middleware(ObservabilityMiddleware, metrics=app.state.metrics)
    app.add_middleware(RequestIdMiddleware)
    app.include_router(observability.router)

    @app.get("/ping", include_in_schema=False, dependencies=PUBLIC)
    @app.get("/health", dependencies=PUBLIC)
    def ping() -> Response:
        """200 once the model is loaded (as MLflow's scoring server)."""
        return Response("\n", media_type="application/json")

    @app.get("/version", dependencies=PUBLIC)
    def version() -> PlainTextResponse:
        """The serving software's version."""
        return PlainTextResponse(__version__)

    @app.post("/invocations", openapi_extra=BODY, dependencies=NEEDS_PREDICT)
    async def invocations(request: Request) -> Response:
        """Predict with the served model: the MLflow scoring protocol."""
        return await mlflow_invocation(request.app.state.hub, name, ref, request)

    route = next(r for r in app.routes if isinstance(r, APIRoute) and r.path == "/invocations")
    # Innermost, inside every check above: POST /invocations without the router.
    app.user_middleware.append(Middleware(InvocationsRoute, route=route, model=(name, ref)))
    return app
