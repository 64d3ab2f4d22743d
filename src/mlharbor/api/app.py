"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware

from mlharbor import __version__
from mlharbor.api import observability, problems
from mlharbor.api.auth import authorize
from mlharbor.api.invocations import InvocationsRoute
from mlharbor.api.middleware import BodyLimitMiddleware, RequestIdMiddleware
from mlharbor.api.observability import Metrics, ObservabilityMiddleware
from mlharbor.api.origin import OriginMiddleware
from mlharbor.api.routes import health, models, predict
from mlharbor.config import Settings, get_settings
from mlharbor.hub import Hub

#: ``all`` serves everything and runs the worker pool; ``predict`` serves health, metrics,
#: the registry (read) and prediction only, and loads no training or job-running code.
ROLES = ("all", "predict")


def create_app(
    settings: Settings | None = None,
    hub: Hub | None = None,
    *,
    worker: bool | None = None,
    role: str = "all",
) -> FastAPI:
    """Build the app.

    The hub is opened by the lifespan unless one is passed in. ``worker`` starts the embedded
    worker pool with the app (default: when the app opens its own hub and
    ``settings.workers`` is above zero). ``role="predict"`` builds a predict-only replica
    (see :data:`ROLES`).
    """
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; roles: {', '.join(ROLES)}")
    settings = settings or (hub.settings if hub else get_settings())
    if worker is None:
        worker = hub is None and settings.workers > 0 and role == "all"

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = hub is None
        app.state.hub = hub or Hub.open(settings)
        app.state.metrics.hub = app.state.hub
        pool = supervisor = None
        if worker or role == "all":
            from mlharbor.jobs import JobsConfig, JobSupervisor, LocalWorkerPool

            # Returns at once: the pool warms up in its own process while the API answers;
            # ``pool.ready`` says when it claims jobs.
            pool = LocalWorkerPool(settings).start() if worker else None
            # Restarts the pool if it dies, and recovers lost jobs even with no worker left.
            config = JobsConfig.from_settings(settings)
            supervisor = JobSupervisor(app.state.hub.jobs, config, pool).start()
        app.state.pool = pool
        app.state.supervisor = app.state.metrics.supervisor = supervisor
        warmer = None
        if settings.predict_warm_seconds > 0:
            from mlharbor.serving.warm import VersionWarmer

            served = app.state.hub
            warmer = VersionWarmer(
                served.sessions, lambda: served.predictor, settings.predict_warm_seconds
            ).start()
        coordinator = None
        if role == "all":
            from mlharbor.pipelines.coordinator import Coordinator

            # Queued and scheduled pipeline runs; their steps' jobs go to the worker pool.
            coordinator = Coordinator(app.state.hub).start()
        checks = None
        if settings.monitor_models and role == "all":
            from mlharbor.monitoring.alerts import AlertScheduler

            checks = AlertScheduler(app.state.hub.alerts).start()
        try:
            yield
        finally:
            if coordinator is not None:
                coordinator.stop()
            if checks is not None:
                checks.stop()
            if supervisor is not None:
                supervisor.stop()  # first, or it would restart the pool being stopped
            if warmer is not None:
                warmer.stop()
            if pool is not None:
                pool.stop()
            if owned:
                app.state.hub.close()
            elif app.state.hub.predlog is not None:
                # A hub passed in outlives the app, but what the app logged must be written.
                app.state.hub.predlog.flush()

    app = FastAPI(
        title="mlharbor",
        version=__version__,
        summary="A self-hosted machine-learning hub.",
        lifespan=lifespan,
        dependencies=[Depends(authorize)],
    )
    app.state.metrics = Metrics()
    if hub is not None:
        app.state.hub = hub
        app.state.metrics.hub = hub
    problems.install(app)
    # Innermost: the MLflow scoring route, inside every check below (see its module).
    app.add_middleware(InvocationsRoute)
    app.add_middleware(BodyLimitMiddleware, settings=settings)
    app.add_middleware(OriginMiddleware, settings=settings)
    app.add_middleware(ObservabilityMiddleware, metrics=app.state.metrics)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
        )
    app.add_middleware(RequestIdMiddleware)
    app.include_router(health.router)
    app.include_router(observability.router)
    app.include_router(models.router)
    app.include_router(predict.router)
    if role == "all":
        # Imported here: these routes reach training, datasets, jobs and the UI.
        from mlharbor import ui
        from mlharbor.api import ws_events
        from mlharbor.api.routes import compat, datasets, jobs, keys, monitoring, pipelines

        app.include_router(datasets.router)
        app.include_router(jobs.router)
        app.include_router(jobs.scoring)
        app.include_router(monitoring.router)
        app.include_router(pipelines.router)
        app.include_router(keys.router)
        app.include_router(ws_events.router)
        app.include_router(compat.router)
        ui.install(app)
    return app
