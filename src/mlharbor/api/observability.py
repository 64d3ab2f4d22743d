"""Prometheus metrics and structured JSON logs, one line per request with its id."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

from fastapi import APIRouter, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mlharbor.api.auth import NEEDS_READ
from mlharbor.jobs import JobState

access_log = logging.getLogger("mlharbor.access")
#: The id of the request being served, for every log line written while serving it.
request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)


class JsonFormatter(logging.Formatter):
    """Log records as one JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id is not None:
            line["request_id"] = request_id
        line.update(getattr(record, "fields", {}))
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure_logging(level: str = "INFO") -> None:
    """Send mlharbor's logs to stderr as JSON lines."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("mlharbor")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False


class Metrics:
    """The server's Prometheus metrics, in a registry of its own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.latency = Histogram(
            "mlharbor_http_request_duration_seconds",
            "HTTP request latency by route",
            ["method", "route", "status"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        self.predictions = Counter(
            "mlharbor_predictions_total",
            "Rows predicted, by model",
            ["model"],
            registry=self.registry,
        )
        self.registry.register(_HubCollector(self))
        self.hub: Any = None
        self.supervisor: Any = None  # the JobSupervisor, when this process runs one


class _HubCollector(Collector):
    """Job counts by state and the model cache's size, read when Prometheus scrapes."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        hub = self.metrics.hub
        jobs = GaugeMetricFamily("mlharbor_jobs", "Jobs by state", labels=["state"])
        cache = GaugeMetricFamily("mlharbor_model_cache_models", "Models loaded for serving")
        if hub is not None:
            for state in JobState:
                jobs.add_metric([state.value], hub.jobs.count(state=state))
            cache.add_metric([], hub.predictor.size)
        yield jobs
        yield cache
        yield from _supervision(self.metrics.supervisor)
        predlog = hub.predlog if hub is not None else None
        if predlog is not None:
            for name, doc, value in (
                ("logged", "Predict calls queued for the prediction log", predlog.logged),
                ("dropped", "Predict calls dropped: the log's queue was full", predlog.dropped),
                ("written_rows", "Prediction rows written to the log", predlog.written_rows),
                ("write_errors", "Failed prediction-log writes", predlog.write_errors),
            ):
                counter = CounterMetricFamily(f"mlharbor_prediction_log_{name}", doc)
                counter.add_metric([], value)
                yield counter
            pending = GaugeMetricFamily(
                "mlharbor_prediction_log_pending", "Predict calls waiting to be written"
            )
            pending.add_metric([], predlog.pending)
            yield pending


def _supervision(supervisor: Any) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
    """Worker-pool restarts and liveness, and jobs recovered from lost workers."""
    if supervisor is None:
        return
    restarts = CounterMetricFamily(
        "mlharbor_worker_restarts", "Times the embedded worker pool was restarted after it died"
    )
    restarts.add_metric([], supervisor.restarts)
    yield restarts
    recovered = CounterMetricFamily(
        "mlharbor_jobs_recovered", "Jobs of lost workers retried or failed by this process"
    )
    recovered.add_metric([], supervisor.recovered)
    yield recovered
    if supervisor.pool is not None:
        up = GaugeMetricFamily("mlharbor_worker_pool_up", "1 while the embedded worker pool runs")
        up.add_metric([], int(supervisor.pool.is_alive()))
        yield up


class ObservabilityMiddleware:
    """Time each request, label it by its route template, and log one JSON line for it."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.latency.labels(scope["method"], template, str(status)).observe(elapsed)
            access_log.info(
                "%s %s %s",
                scope["method"],
                scope["path"],
                status,
                extra={
                    "fields": {
                        "request_id": scope.get("state", {}).get("request_id"),
                        "method": scope["method"],
                        "path": scope["path"],
                        "route": template,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 2),
                    }
                },
            )


router = APIRouter(tags=["operations"])


@router.get("/metrics", response_class=Response, dependencies=NEEDS_READ)
def metrics(request: Request) -> Response:
    """Prometheus metrics."""
    return Response(
        generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST
    )
