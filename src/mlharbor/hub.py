"""The facade: the one entry point that the API, WebSocket, UI, CLI and client call.

Example
-------
>>> from mlharbor import Hub, Settings
>>> with Hub.open(Settings(data_dir="mlharbor-data")) as hub:        # doctest: +SKIP
...     version = hub.datasets.ingest_file(Path("titanic.csv")).version
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from functools import partial
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from mlharbor.jobs.handlers import register

if TYPE_CHECKING:
    from mlharbor.config import Settings
    from mlharbor.data.datasets import DatasetService
    from mlharbor.data.profiles import InsightsService
    from mlharbor.jobs import JobInfo, JobStore
    from mlharbor.keys import KeyService
    from mlharbor.monitoring.alerts import AlertService
    from mlharbor.monitoring.service import MonitoringService
    from mlharbor.registry import ModelRegistry
    from mlharbor.serving.predictor import Predictor
    from mlharbor.serving.predlog import PredictionLog
    from mlharbor.workflows.automl import AutoMLRequest
    from mlharbor.workflows.score import ScoreRequest
    from mlharbor.workflows.train import TrainRequest

#: A service the hub builds on first use.
_S = TypeVar("_S")

#: The job kinds the hub submits, by the import path of their handler (which opens the hub
#: in the job process and runs the workflow over it). Registered when this module is
#: imported, by path, so importing the facade loads no workflow: every process that submits
#: or runs them imports the hub first (the API, ``mlharbor worker``, the pool's worker
#: process, which gets the kinds from the API process; ``python -m mlharbor.jobs.worker
#: --handlers mlharbor.hub``), and a job attempt imports only the handler's module.
JOB_KINDS: dict[str, str] = {
    "train": "mlharbor.hub_jobs:train_job",
    "automl": "mlharbor.hub_jobs:automl_job",
    "score": "mlharbor.hub_jobs:score_job",
}
for _kind, _path in JOB_KINDS.items():
    register(_kind, _path)


class Hub:
    """Everything mlharbor can do, over one metadata database and one artifact store."""

    def __init__(self, settings: Settings) -> None:
        # Imported here: importing the facade (which registers the job kinds) stays light,
        # so ``mlharbor train`` can start the jobs' fork server before anything else.
        from mlharbor.store.artifacts import ArtifactStore
        from mlharbor.store.db import make_engine, make_session_factory

        self.settings = settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.engine = make_engine(settings.resolved_database_url())
        self.sessions = make_session_factory(self.engine)
        self.artifacts = ArtifactStore(
            settings.resolved_artifact_uri(), endpoint_url=settings.s3_endpoint_url
        )
        self._lazy_lock = threading.RLock()  # re-entrant: one service may build another
        self._built: dict[str, Any] = {}
        self._monitoring: MonitoringService | None = None
        self._alerts: AlertService | None = None
        self._insights: InsightsService | None = None
        self._predictor: Predictor | None = None

    # Every service is built when first used: a command imports only the layers it touches
    # (``mlharbor drift`` never loads the job runner or the registry's model files), and the
    # hot paths read a dict without taking the lock.
    def _service(self, name: str, build: Callable[[], _S]) -> _S:
        try:
            return self._built[name]
        except KeyError:
            with self._lazy_lock:
                if name not in self._built:
                    self._built[name] = build()
                return self._built[name]

    @property
    def datasets(self) -> DatasetService:
        """Datasets: ingestion, versions, schemas and reading tables."""

        def build() -> DatasetService:
            from mlharbor.data.datasets import DatasetService

            return DatasetService(self.settings, self.sessions, self.artifacts)

        return self._service("datasets", build)

    @property
    def keys(self) -> KeyService:
        """API keys and UI sessions."""

        def build() -> KeyService:
            from mlharbor.keys import KeyService

            return KeyService(self.sessions)

        return self._service("keys", build)

    @property
    def jobs(self) -> JobStore:
        """The job queue."""

        def build() -> JobStore:
            from mlharbor.jobs.store import JobStore

            return JobStore(self.sessions)

        return self._service("jobs", build)

    @property
    def models(self) -> ModelRegistry:
        """The model registry."""

        def build() -> ModelRegistry:
            from mlharbor.monitoring import cleanup as monitoring_cleanup
            from mlharbor.registry import ModelRegistry
            from mlharbor.serving import cleanup as serving_cleanup

            trusted = self.settings.trusted_model_types
            registry = ModelRegistry(self.sessions, self.artifacts, trusted_types=trusted)
            # What other layers keep about a version goes with it; each layer removes its own.
            registry.on_delete(
                partial(monitoring_cleanup.forget_deleted, self.sessions, self.artifacts)
            )
            registry.on_delete(partial(serving_cleanup.forget_deleted, self.artifacts))
            return registry

        return self._service("models", build)

    @property
    def predlog(self) -> PredictionLog | None:
        """The prediction log (``None`` when ``predlog_enabled`` is off)."""

        def build() -> PredictionLog | None:
            settings = self.settings
            if not settings.predlog_enabled:
                return None
            from mlharbor.serving.predlog import PredictionLog

            return PredictionLog(
                self.artifacts,
                sample_rate=settings.predlog_sample_rate,
                queue_size=settings.predlog_queue_size,
                flush_seconds=settings.predlog_flush_seconds,
                batch_rows=settings.predlog_batch_rows,
            )

        return self._service("predlog", build)

    # Insights (polars), prediction (pandas) and monitoring (SciPy) cost seconds of imports:
    # each is built when first used, so a command that needs none of them starts without them.
    @property
    def insights(self) -> InsightsService:
        """Dataset insights: profiles, charts and quality warnings."""
        if self._insights is not None:  # the hot path (every prediction) takes no lock
            return self._insights
        with self._lazy_lock:
            if self._insights is None:
                from mlharbor.data.profiles import InsightsService

                self._insights = InsightsService(self.sessions, self.artifacts, self.datasets)
            return self._insights

    @property
    def predictor(self) -> Predictor:
        """Online prediction over the registry, with its cache of loaded models."""
        if self._predictor is not None:  # the hot path (every prediction) takes no lock
            return self._predictor
        with self._lazy_lock:
            if self._predictor is None:
                from mlharbor.serving.predictor import Predictor

                settings = self.settings
                self._predictor = Predictor(
                    self.models,
                    capacity=settings.predict_cache_size,
                    ref_ttl=settings.predict_ref_ttl_seconds,
                    validation_rows=self._validation_rows if settings.predict_onnx else None,
                    log=self.predlog,
                )
            return self._predictor

    @property
    def monitoring(self) -> MonitoringService:
        """Drift reports, reference profiles and performance over time."""
        if self._monitoring is not None:  # the hot path (every prediction) takes no lock
            return self._monitoring
        with self._lazy_lock:
            if self._monitoring is None:
                from mlharbor.monitoring.service import MonitoringService

                self._monitoring = MonitoringService(
                    self.settings, self.artifacts, lambda: self.models, self.datasets
                )
            return self._monitoring

    @property
    def alerts(self) -> AlertService:
        """Scheduled monitoring checks, their stored events and webhooks."""
        if self._alerts is not None:
            return self._alerts
        monitoring = self.monitoring
        with self._lazy_lock:
            if self._alerts is None:
                from mlharbor.monitoring.alerts import AlertService

                self._alerts = AlertService(self.sessions, monitoring)
            return self._alerts

    def _validation_rows(self, version: Any) -> Any:
        """The last rows (up to ``VALIDATION_ROWS``) of the dataset a model version was
        trained on, to check its ONNX conversion against."""
        from mlharbor.errors import NotFoundError
        from mlharbor.serving.onnx import VALIDATION_ROWS

        dataset, number = version.lineage.get("dataset"), version.lineage.get("dataset_version")
        if not dataset:
            return None
        try:
            data = self.datasets.get_version(dataset, number)
        except NotFoundError:
            return None
        names = [str(c["name"]) for c in version.signature.get("inputs", [])]
        present = {c.name for c in data.schema.columns}
        if not names or not set(names) <= present:
            return None
        table = self.datasets.read_table(data, columns=names)
        return table.slice(max(0, table.num_rows - VALIDATION_ROWS)).to_pandas()

    @classmethod
    def open(cls, settings: Settings | None = None, *, migrate: bool = True) -> Hub:
        """Open the hub described by ``settings``, applying database migrations first."""
        from mlharbor.config import get_settings
        from mlharbor.store.db import upgrade

        hub = cls(settings or get_settings())
        if migrate:
            upgrade(hub.engine)
        return hub

    def submit_train(
        self, request: TrainRequest, *, timeout_seconds: float | None = None
    ) -> JobInfo:
        """Check a training request and queue it as a ``train`` job."""
        # Imported here: a predict-only server never loads the training stack.
        from mlharbor.workflows.train import TRAIN, check_request

        check_request(self, request)
        return self.jobs.submit(
            TRAIN,
            request.to_params(),
            timeout_seconds=timeout_seconds or self.settings.job_default_timeout_seconds,
            max_attempts=self.settings.job_max_attempts,
        )

    def submit_score(
        self, request: ScoreRequest, *, timeout_seconds: float | None = None
    ) -> JobInfo:
        """Check a batch-scoring request and queue it as a ``score`` job."""
        from mlharbor.workflows.score import SCORE, check_score_request

        check_score_request(self, request)
        return self.jobs.submit(
            SCORE,
            request.to_params(),
            timeout_seconds=timeout_seconds or self.settings.job_default_timeout_seconds,
            max_attempts=self.settings.job_max_attempts,
        )

    def submit_automl(
        self, request: AutoMLRequest, *, timeout_seconds: float | None = None
    ) -> JobInfo:
        """Check an AutoML request and queue it as an ``automl`` job."""
        from mlharbor.workflows.automl import AUTOML, check_automl_request

        check_automl_request(self, request)
        # The job ends within its budget; the timeout only catches a wedged one.
        timeout = timeout_seconds or max(
            self.settings.job_default_timeout_seconds or 0, 3 * request.time_budget + 120
        )
        return self.jobs.submit(
            AUTOML,
            request.to_params(),
            timeout_seconds=timeout,
            max_attempts=self.settings.job_max_attempts,
        )

    def automl(
        self,
        dataset: str,
        target: str,
        *,
        time_budget: float = 60.0,
        metric: str | None = None,
        task: str | None = None,
        seed: int = 0,
        top_k: int = 1,
        run_here: bool = True,
        on_update: Callable[[JobInfo], None] | None = None,
        **options: Any,
    ) -> JobInfo:
        """Run AutoML on a dataset and wait for it: the finished job, its result holding
        the leaderboard and the registered winner (alias ``best_model``).

        ``options`` are the other fields of :class:`AutoMLRequest` (``drop``, ``name``,
        ``cv_folds``, ``max_trials``...). With ``run_here`` the job runs in a worker in
        this process when no server is running.
        """
        from mlharbor.workflows.automl import AutoMLRequest

        request = AutoMLRequest(
            dataset=dataset,
            target=target,
            time_budget=time_budget,
            metric=metric,
            task=task,
            seed=seed,
            top_k=top_k,
            **options,
        )
        job = self.submit_automl(request)
        return self.wait(job.id, run_here=run_here, on_update=on_update)

    def wait(
        self,
        job_id: int,
        *,
        timeout: float | None = None,
        poll: float = 0.2,
        run_here: bool = False,
        on_update: Callable[[JobInfo], None] | None = None,
    ) -> JobInfo:
        """Wait for a job to end, optionally running queued jobs in this process meanwhile.

        ``run_here`` starts a worker in this process (each job still runs in a child
        process), for the command line when no server is running.
        """
        from mlharbor.jobs import Worker

        worker = Worker(self.settings, concurrency=1) if run_here else None
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while True:
                if worker is not None:
                    worker.step()
                job = self.jobs.get(job_id)
                if on_update is not None:
                    on_update(job)
                if job.state.is_terminal:
                    return job
                if deadline is not None and time.monotonic() > deadline:
                    return job
                if worker is not None:
                    worker.wait(poll)  # wakes when the attempt's process ends
                else:
                    time.sleep(poll)
        finally:
            if worker is not None:
                worker.shutdown()

    def close(self) -> None:
        """Write the queued prediction log, then release database connections."""
        predlog = self._built.get("predlog")  # one never built has nothing to write
        if predlog is not None:
            predlog.close()
        self.engine.dispose()

    def __enter__(self) -> Hub:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
