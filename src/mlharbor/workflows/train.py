"""The ``train`` job: one model trained on a dataset version and registered.

Its request (:class:`~mlharbor.workflows.requests.TrainRequest`, declared with the
others), the checks against the stored data before it is queued (so bad input is a 4xx,
not a failed job) and the body of the job, written against the services it uses
(:class:`~mlharbor.workflows.services.TrainServices`). The job runs in a job process (see
:mod:`mlharbor.jobs`) and returns a JSON-ready result; :mod:`mlharbor.hub` registers the
``train`` kind, whose handler opens the services there and calls :func:`train_job`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mlharbor.errors import InvalidInputError
from mlharbor.forks import fork_later
from mlharbor.jobs import JobContext
from mlharbor.jobs.starter import rest_to_warm, warm_rest
from mlharbor.registry.records import check_alias, check_model_name, suggest_model_name
from mlharbor.workflows.requests import TrainRequest

if TYPE_CHECKING:
    from mlharbor.registry.records import ModelVersionRecord
    from mlharbor.workflows.services import DatasetServices, TrainServices

TRAIN = "train"
log = logging.getLogger(__name__)


def check_request(services: DatasetServices, request: TrainRequest) -> TrainRequest:
    """Check the request against the stored data before queuing, so bad input is a 4xx,
    not a failed job (the request checked its own fields, the model and its parameters).

    Fills in the dataset version, the canonical model name and a model name; types the
    parameters.
    """
    # The check is light (no scikit-learn unless the request sets model parameters); the
    # training stack is imported in each function below, which only a job process calls.
    from mlharbor.models.checks import check_train_request

    version = services.datasets.get_version(request.dataset, request.dataset_version)
    checked = check_train_request(
        version.schema,
        target=request.target,
        model=request.model,
        params=request.params,
        drop=request.drop,
        task=request.task,
    )
    request.model, request.params = checked["model"], checked["params"]
    request.dataset, request.dataset_version = version.dataset, version.version
    if request.test_dataset is not None:
        test = services.datasets.get_version(request.test_dataset, request.test_dataset_version)
        present = set(test.schema.names)
        missing = [c for c in version.schema.names if c not in present and c not in request.drop]
        if missing:
            raise InvalidInputError(
                f"test dataset {test.dataset!r} version {test.version} lacks the column(s) "
                f"{', '.join(map(repr, missing))} of dataset {version.dataset!r}",
                missing=missing,
            )
        request.test_dataset, request.test_dataset_version = test.dataset, test.version
    request.name = check_model_name(
        request.name or suggest_model_name(version.dataset, request.target)
    )
    if request.alias:
        check_alias(request.alias)
    return request


# Below this many rows, starting processes for the folds costs more than fitting them here.
PARALLEL_FOLDS_MIN_ROWS = 50_000
# Below this many rows a training job fits on one thread (see job_threads).
THREADED_MIN_ROWS = 10_000


def run_training(
    services: TrainServices,
    request: TrainRequest,
    progress: Callable[[float, str], None],
    job_id: int | None,
    map_folds: Any = None,
    *,
    background_drawing: bool = False,
    start_fits: Any = None,
) -> dict[str, Any]:
    """Train and register one model; the body of the ``train`` job.

    ``background_drawing`` draws charts in a forked process meanwhile, and ``start_fits``
    (:class:`mlharbor.forks.fork_later`) fits the folds and the learning curve on the other
    cores while the model is fitted, evaluated and refitted (job processes only, both).

    A retried job whose earlier attempt already registered its model (and died before the
    job recorded it) returns that version instead of registering a second one.
    """
    from mlharbor.models.train import TrainConfig, train_model

    assert request.name is not None  # a resolved request names its model
    done = services.models.find_version_by_job(job_id) if job_id is not None else None
    if done is not None:
        return _summary(done, ["registered by an earlier attempt of this job"])
    version = services.datasets.get_version(request.dataset, request.dataset_version)
    progress(0.02, "reading the dataset")
    frame = services.datasets.read_table(version).to_pandas()
    lineage = {
        "dataset": version.dataset,
        "dataset_version": version.version,
        "dataset_hash": version.content_hash,
    }
    test_df = None
    if request.test_dataset is not None:
        test = services.datasets.get_version(request.test_dataset, request.test_dataset_version)
        test_df = services.datasets.read_table(test).to_pandas()
        lineage.update(test_dataset=test.dataset, test_dataset_version=test.version)
    config = TrainConfig(
        target=request.target,
        model=request.model,
        params=request.params,
        drop=request.drop,
        task=request.task,
        test_size=request.test_size,
        cv_folds=request.cv_folds,
        seed=request.seed,
        refit_full=bool(request.refit_full),
    )
    result = train_model(
        frame,
        version.schema,
        config,
        test_df=test_df,
        progress=lambda f, m: progress(0.05 + 0.9 * f, m),
        map_folds=map_folds,
        background_drawing=background_drawing,
        start_fits=start_fits,
    )
    progress(0.96, "registering the model")
    record = services.models.register(
        request.name,
        result,
        dataset_version_id=version.id,
        job_id=job_id,
        lineage=lineage,
    )
    progress(0.98, "profiling the training data for drift monitoring")
    try:
        services.monitoring.store_reference(record, frame, result.pipeline)
    except Exception:  # the model is registered; its reference can be built on demand later
        log.exception("could not store the reference of %s v%s", record.model, record.version)
    if request.alias:
        record = services.models.set_alias(request.name, request.alias, record.version)
    return _summary(record, result.notes)


def _summary(record: ModelVersionRecord, notes: list[str]) -> dict[str, Any]:
    return {
        "model": record.model,
        "version": record.version,
        "model_version_id": record.id,
        "task": record.task,
        "estimator": record.estimator,
        "metrics": record.metrics,
        "fitted_on": (record.lineage.get("settings") or {}).get("fitted_on"),
        "notes": notes,
    }


def train_job(ctx: JobContext, params: dict[str, Any], services: TrainServices) -> dict[str, Any]:
    """The ``train`` job: one model on one dataset version, registered when done."""
    from threadpoolctl import threadpool_limits

    from mlharbor.tracking import track_job

    request = TrainRequest.from_params(params)
    rows = services.datasets.get_version(request.dataset, request.dataset_version).n_rows
    fan_out = ctx.settings.dask_address or rows >= PARALLEL_FOLDS_MIN_ROWS
    threads = job_threads(ctx.settings.workers, rows)
    # A job process is single-threaded, so it may fork: a chart-drawing child, and, where
    # each fit runs on one thread, copies of itself that fit the folds and the learning
    # curve beside its own work (a process pool would cost more to start and feed than
    # such fits take).
    start_fits = _fits_beside_warm_up if not fan_out and threads == 1 else None
    with threadpool_limits(threads):
        result = run_training(
            services,
            request,
            ctx.progress,
            ctx.job_id,
            ctx.compute.map if fan_out else None,
            background_drawing=True,
            start_fits=start_fits,
        )
    track_job(ctx, services, TRAIN, request, result)  # MLflow, if configured; never fails
    return result


def _fits_beside_warm_up(fn: Callable[[Any], Any], items: list[Any]) -> fork_later[Any]:
    """Start the side fits on the other cores, then import meanwhile what the rest of the
    job needs and a quick fork server left to it (charts, the model file, the drift
    reference; see :func:`mlharbor.jobs.starter.warm_rest`). The charts' child, forked
    later, inherits them.

    One child per core; one fewer when this process has those imports to do: its own
    chain (imports, fit, evaluation, refit) is then as long as the side fits, and a third
    process on two cores would slow that chain down (measured: 0.7 s of a 3.2 s job).
    """
    cores = os.cpu_count() or 1
    pending = fork_later(fn, items, workers=max(1, cores - 1) if rest_to_warm() else cores)
    try:
        warm_rest()
    except BaseException:
        pending.stop()
        raise
    return pending


def job_threads(workers: int, rows: int) -> int:
    """The BLAS/OpenMP threads one training job may use on a table of ``rows`` rows.

    Jobs share the cores: without a cap, each one's threads fight the others'. Below
    :data:`THREADED_MIN_ROWS` one thread: a parallel region costs more than its work there,
    and on a busy machine OpenMP's spinning threads made histogram gradient boosting on 200
    rows take 38 s instead of 0.6 s.
    """
    if rows < THREADED_MIN_ROWS:
        return 1
    return max(1, (os.cpu_count() or 1) // max(1, workers))
