"""The ``automl`` job: search a leaderboard in a time budget, register the winner.

Like :mod:`mlharbor.workflows.train` for ``train``: its request
(:class:`~mlharbor.workflows.requests.AutoMLRequest`), the checks against the stored data
before it is queued (so bad input is a 4xx, not a failed job), the body of the job and its
handler.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from mlharbor.data.tasks import Task, parse_task
from mlharbor.errors import ConflictError, InvalidInputError
from mlharbor.jobs import JobContext, retry_errors
from mlharbor.jobs.records import aware
from mlharbor.registry.records import check_alias, check_model_name, suggest_model_name
from mlharbor.workflows.requests import AutoMLRequest

# The search stack (pandas, scikit-learn, LightGBM, Optuna) is imported by the functions that
# use it: the API imports AutoMLRequest, and those imports would add seconds to its start.
if TYPE_CHECKING:
    import pandas as pd

    from mlharbor.jobs.compute import Executor
    from mlharbor.models.automl import AutoMLResult
    from mlharbor.models.automl.budget import FinishPlan
    from mlharbor.models.automl.foldmap import FoldMap
    from mlharbor.models.train import TrainResult
    from mlharbor.registry.records import ModelVersionRecord
    from mlharbor.workflows.services import DatasetServices, TrainServices

log = logging.getLogger(__name__)

AUTOML = "automl"
#: Permutation importance permutes each column of at most this many test rows ...
IMPORTANCE_ROWS = 500
#: ... and at most this many rows in all (the permuted copies of every column).
IMPORTANCE_CELLS = 30_000
#: The learning curve refits the winner on at most this many training rows.
CURVE_ROWS = 1_000
#: The refit on all rows is started only if its predicted time, times this, is left.
REFIT_SAFETY = 1.2
#: What a local pool's workers start with in memory (see LocalExecutor.preload): what fold
#: fits and the storability check import. Imported once by the job's fork server, so a
#: worker that replaces one ended mid-search (a fold given up) starts in milliseconds.
FOLD_MODULES = [
    "mlharbor.models.automl.folds",
    "lightgbm",
    "sklearn.ensemble",
    "sklearn.linear_model",
    "mlharbor.registry.persist",
]


def check_automl_request(services: DatasetServices, request: AutoMLRequest) -> AutoMLRequest:
    """Check a request against the dataset before queueing (the request checked its own
    fields and limits); fills in defaults.

    Reads the target column (only) to refuse a single-class target or a metric that does
    not fit the task with a 4xx now rather than a failed job later.
    """
    from mlharbor.models.automl import check_metric
    from mlharbor.models.checks import check_train_request
    from mlharbor.models.metrics import metric_kind
    from mlharbor.models.problem import resolve_problem

    version = services.datasets.get_version(request.dataset, request.dataset_version)
    check_train_request(
        version.schema, target=request.target, model="dummy", drop=request.drop, task=request.task
    )
    # The target column alone: the problem (rows with a target, task, classes) as the job
    # will resolve it, so a single-class target or a metric that does not fit is a 4xx now.
    targets = services.datasets.read_table(version, columns=[request.target]).to_pandas()
    problem = resolve_problem(
        targets, version.schema, target=request.target, drop=request.drop, task=request.task
    )
    if request.models is not None:
        request.models = check_families(request.models, problem.task)
    request.metric = check_metric(request.metric, metric_kind(problem.task, problem.n_classes))
    request.dataset, request.dataset_version = version.dataset, version.version
    request.name = check_model_name(
        request.name or suggest_model_name(version.dataset, request.target)
    )
    check_alias(request.alias)
    return request


def check_families(models: Any, task: Task) -> list[str]:
    """The canonical names of ``models``, each a catalog family that serves ``task``."""
    from mlharbor.models.catalog import get_spec

    if not isinstance(models, list) or not models or not all(isinstance(m, str) for m in models):
        raise InvalidInputError("models must be a non-empty list of model names", field="models")
    names = []
    for name in models:
        spec = get_spec(name)
        if task not in spec.tasks:
            raise InvalidInputError(
                f"model {spec.name!r} does not serve {task.value} tasks", field="models"
            )
        names.append(spec.name)
    return list(dict.fromkeys(names))


def run_automl_job(
    services: TrainServices,
    request: AutoMLRequest,
    progress: Callable[[float, str], None],
    event: Callable[[str, dict[str, Any]], None],
    job_id: int | None,
    map_folds: FoldMap | None = None,
    threads: int | None = None,
    *,
    workers: int = 1,
    started: float | None = None,
) -> dict[str, Any]:
    """Search, then register the winner (and the next ``top_k - 1``); the job's body.

    The budget is the wall clock from ``started`` (the job's submit time, as
    ``time.perf_counter()``; default now) until the winner is registered: reading the data,
    the search and refit, the evaluation on the test split with its artifacts, the refit on
    all rows (``refit_full``), writing the model and its reference profile. The search
    reserves the time of what follows it, priced from the candidates' costs (see
    :class:`~mlharbor.models.automl.budget.FinishPlan`). Extra ``top_k`` models are
    refitted outside it. Every registered model passed the registry's round trip (stored,
    loaded back, predicting the same) before it was chosen.
    """
    from mlharbor.models.automl import AutoMLConfig, run_automl
    from mlharbor.models.automl.register import to_train_result
    from mlharbor.models.problem import rows_with_target

    started = time.perf_counter() if started is None else started
    deadline = started + request.time_budget
    name = request.name
    assert name is not None  # a resolved request names its model
    timings: dict[str, float] = {"waiting": round(time.perf_counter() - started, 2)}
    done = _registered_winner(services, job_id) if job_id is not None else None
    if done is not None:
        # An earlier attempt registered the winner (the runners-up go first, the winner
        # last); it may have died before setting the alias.
        record = services.models.set_alias(name, request.alias, done.version)
        return {
            **done.lineage["automl"],
            **_winner(record, request.alias),
            "notes": ["registered by an earlier attempt"],
        }
    version = services.datasets.get_version(request.dataset, request.dataset_version)
    progress(0.0, "reading the dataset")
    frame = services.datasets.read_table(version).to_pandas()
    frame = rows_with_target(frame, request.target, [])  # split and search what has one
    train_df, test_df = _split(frame, request)
    plan = finish_plan(request, train_df, test_df)
    timings["read"] = round(time.perf_counter() - started - timings["waiting"], 2)
    event("phase", {"phase": "search", "elapsed": round(time.perf_counter() - started, 2)})

    def on_trial(data: dict[str, Any]) -> None:
        event("trial", data)
        fraction = min(0.9, 0.9 * data["elapsed"] / max(request.time_budget, 1e-9))
        score = "—" if data["score"] is None else f"{data['score']:.4f}"
        progress(fraction, f"{data['name']}: {data['status']} {score}")

    config = AutoMLConfig(
        target=request.target,
        # The whole budget, counted from the submit: the search reserves the finish.
        time_budget=request.time_budget,
        metric=request.metric,
        task=request.task,
        drop=request.drop,
        seed=request.seed,
        cv_folds=request.cv_folds,
        max_trials=request.max_trials,
        models=request.models,
    )
    result = run_automl(
        train_df,
        version.schema,
        config,
        started=started,
        finish=plan,
        workers=workers,
        on_trial=on_trial,
        map_folds=map_folds,
        threads=threads,
        check_storable=check_storable,
        final_rows=len(frame) if request.refit_full else 0,
    )
    searched = time.perf_counter()
    if map_folds is not None:
        map_folds.release()
    timings["search"] = round(searched - started - timings["waiting"] - timings["read"], 2)
    event("phase", {"phase": "finish", "elapsed": round(searched - started, 2)})
    X_test = test_df[result.features]
    lineage = {
        "dataset": version.dataset,
        "dataset_version": version.version,
        "dataset_hash": version.content_hash,
    }
    summary = result.summary()
    registered: list[dict[str, Any]] = []
    extra = 0.0  # seconds spent on the top_k models beyond the winner: outside the budget
    finish = result.finish_seconds or 0.0

    def register_one(entry: Any, pipeline: Any, winner: bool) -> tuple[Any, dict[str, Any]]:
        if winner and request.refit_full:
            progress(0.9, f"refitting {entry.name} on all rows")
        model, refit = refit_all(
            result,
            pipeline,
            frame,
            request,
            deadline=deadline if winner else None,
            finish=finish,
        )
        progress(0.92, f"evaluating {entry.name} on the test split")
        train_result = to_train_result(
            result,
            entry,
            pipeline,
            test_df,
            X_test,
            version.schema,
            seed=request.seed,
            plan=plan,
            deadline=deadline if winner else None,
        )
        describe_fit(train_result, model, refit, request)
        info: dict[str, Any] = {}
        if winner:
            summary["notes"] = train_result.notes
            info = {**summary, "registered": registered, "refit": refit}
        automl = {"candidate": entry.name, "winner": winner, "fitted_on": refit["fitted_on"]}
        record = services.models.register(
            name,
            train_result,
            dataset_version_id=version.id,
            job_id=job_id,
            lineage={**lineage, "automl": {**automl, **info}},
        )
        registered.insert(0, {"candidate": entry.name, "version": record.version})
        if winner:
            progress(0.98, "profiling the training data for drift monitoring")
            try:
                services.monitoring.store_reference(record, frame, model)
            except Exception:  # registered; its reference can be built on demand later
                log.exception(
                    "could not store the reference of %s v%s", record.model, record.version
                )
        return record, refit

    # The winner goes last, so `latest` and the alias both point at it.
    for entry in reversed(result.top(int(request.top_k))[1:]):
        began = time.perf_counter()
        pipeline = result.refit(entry)
        # A runner-up the registry refuses is not registered.
        if check_reason(pipeline, X_test, test_df[request.target]) is None:
            with contextlib.suppress(ConflictError):
                register_one(entry, pipeline, winner=False)
        extra += time.perf_counter() - began
    while True:
        try:
            record, refit = register_one(result.winner, result.pipeline, winner=True)
            break
        except ConflictError as exc:
            # The search checked the winner's make already; should the registry still
            # refuse it, the next best takes its place rather than the job failing.
            refused = result.winner
            refused.refuse(f"could not be stored: {exc.message}")
            following = next((e for e in result.entries if e.usable), None)
            if following is None:
                raise
            pipeline = result.refit(following)
            result.winner, result.pipeline = following, pipeline
            result.notes.append(
                f"{refused.name} could not be stored ({exc.message}); "
                f"registered {following.name}, the best model that can be"
            )
            summary = result.summary()
    record = services.models.set_alias(name, request.alias, record.version)
    progress(1.0, f"best: {result.best_name}")
    ended = time.perf_counter()
    timings["finish"] = round(ended - searched - extra, 2)
    timings["finish_predicted"] = round(finish, 2)
    return {
        **summary,
        **_winner(record, request.alias),
        "registered": registered,
        "refit": refit,
        "fitted_on": refit["fitted_on"],
        # Wall clock from the submit (the queue and the job's start-up included).
        "seconds": round(ended - started, 2),
        # The same, less the runners-up of top_k > 1, which the budget does not cover.
        "budget_seconds": round(ended - started - extra, 2),
        "timings": timings,
        "workers": result.settings.get("workers", 1),
    }


def finish_plan(
    request: AutoMLRequest, train_df: pd.DataFrame, test_df: pd.DataFrame
) -> FinishPlan:
    """What the job does after the search, for the search to reserve its time.

    Permutation importance of every column on a sample of the test rows (one repeat on
    budgets under a minute, two above), the learning curve on a sample of the training
    rows: what makes the evaluation of a wide table take seconds, kept in proportion.
    """
    from mlharbor.models.automl.budget import FinishPlan
    from mlharbor.models.evaluate import artifact_names
    from mlharbor.models.plots import render

    n_columns = max(
        1, len([c for c in train_df.columns if c != request.target]) - len(request.drop)
    )
    # Drawing a plot costs a tenth of a second on an idle machine and seconds on a busy
    # one: timed here, on a blank one (the first also imports the plotting library).
    render("learning_curve", {"available": False, "reason": "timing"})
    began = time.perf_counter()
    render("learning_curve", {"available": False, "reason": "timing"})
    one = 2 * (time.perf_counter() - began)  # a real plot has axes, ticks and lines
    task = parse_task(request.task) or Task.BINARY
    return FinishPlan(
        n_test=len(test_df),
        n_columns=n_columns,
        importance_rows=min(len(test_df), IMPORTANCE_ROWS, max(50, IMPORTANCE_CELLS // n_columns)),
        importance_repeats=1 if request.time_budget < 60 else 2,
        curve_rows=min(len(train_df), CURVE_ROWS),
        plot_seconds=one * len(artifact_names(task)),
    )


def refit_all(
    result: AutoMLResult,
    pipeline: Any,
    frame: pd.DataFrame,
    request: AutoMLRequest,
    *,
    deadline: float | None,
    finish: float = 0.0,
) -> tuple[Any, dict[str, Any]]:
    """``pipeline`` refitted on every row of ``frame``, if asked and it fits the budget.

    Run right after the search, in the time it reserved for this refit (predicted from
    the candidates' fit times): the evaluation on the test split, which measures the
    holdout model, comes after. Without time before ``deadline`` (less ``finish``, kept
    for evaluating and registering), ``pipeline`` is kept and the info says why. Returns
    the model to register and what the job result and lineage say of it (see
    :func:`describe_fit`).
    """
    from sklearn.base import clone

    from mlharbor.models.problem import target_values

    n_train, n_all = len(result.y), len(frame)
    info: dict[str, Any] = {"requested": request.refit_full, "full": False, "n_rows": n_train}
    if not request.refit_full:
        return pipeline, info
    if deadline is not None:
        predicted = result.final_refit_seconds or 0.0
        info["predicted_seconds"] = round(predicted, 3)
        left = deadline - finish - time.perf_counter()
        if predicted * REFIT_SAFETY > left:
            info["why_not"] = (
                f"the refit on all rows (~{predicted:.1f} s predicted) would not fit the "
                f"{max(left, 0):.1f} s left of the budget"
            )
            return pipeline, info
    began = time.perf_counter()
    X_all = frame[result.features]
    y_all = target_values(frame[result.target], result.task)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # The same make as the model checked by the search: the registry stores it alike.
        full = clone(pipeline).fit(X_all, y_all)
    info.update(full=True, n_rows=n_all, seconds=round(time.perf_counter() - began, 3))
    return full, info


def describe_fit(
    train_result: TrainResult, model: Any, info: dict[str, Any], request: AutoMLRequest
) -> dict[str, Any]:
    """Put the refitted ``model`` in ``train_result`` (its metrics stay the holdout's, the
    honest estimate) and say on what it was fitted in its settings and notes."""
    share = f"{request.test_size:.0%}".replace("%", " %")
    train_result.pipeline = model
    if info["full"]:
        fitted_on = (
            f"all rows (n={info['n_rows']}); test metrics from a {share} holdout before the refit"
        )
        train_result.timings["refit_full"] = info["seconds"]
    else:
        fitted_on = (
            f"{info['n_rows']} rows (the test split of {share} held out); "
            "test metrics from that holdout"
        )
        if info.get("why_not"):
            train_result.notes.append(f"not refitted on all rows: {info['why_not']}")
    info["fitted_on"] = fitted_on
    train_result.settings.update(fitted_on=fitted_on, n_fitted=info["n_rows"])
    return info


def check_storable(model: Any, X: Any) -> None:
    """Raise unless ``model`` survives the registry's round trip.

    It is saved as the registry saves it, loaded back with the registry's trusted types,
    and must predict ``X`` (a few rows) as the model in memory does. A module-level
    function, so the search can send it to where its folds are fitted.

    Raises
    ------
    ConflictError
        The model holds a type the registry refuses, or predicts differently loaded back.
    """
    from mlharbor.registry.persist import dump_pipeline, load_trusted

    loaded = load_trusted(dump_pipeline(model))
    for method in ("predict_proba", "predict"):
        if not hasattr(model, method):
            continue
        ours = np.asarray(getattr(model, method)(X))
        theirs = np.asarray(getattr(loaded, method)(X))
        if ours.dtype.kind in "fc" and theirs.dtype.kind in "fc":
            same = ours.shape == theirs.shape and np.allclose(ours, theirs, equal_nan=True)
        else:
            same = np.array_equal(ours, theirs)
        if not same:
            raise ConflictError(f"the model loaded back from its file {method}s differently")
        return


def check_reason(model: Any, X: pd.DataFrame, y: pd.Series) -> str | None:
    """Why a model like ``model`` could not be registered (:func:`check_storable` on a
    miniature of it refitted on ``X, y``), or ``None``."""
    from mlharbor.models.automl.folds import refusal

    return refusal(check_storable, model, X, np.asarray(y))


def _registered_winner(services: TrainServices, job_id: int) -> ModelVersionRecord | None:
    """The winner an earlier attempt of this job registered, if it got that far."""
    for record in services.models.find_versions_by_job(job_id):
        if (record.lineage.get("automl") or {}).get("winner"):
            return record
    return None


def _split(frame: Any, request: AutoMLRequest) -> tuple[Any, Any]:
    import pandas as pd
    from sklearn.model_selection import train_test_split

    y = frame[request.target]
    # Stratify the test split on anything that looks like classes (the search then
    # detects the task itself, on the training rows).
    classification = parse_task(request.task) != Task.REGRESSION and (
        not pd.api.types.is_float_dtype(y) or y.nunique() <= 10
    )
    counts = y.value_counts()
    stratify = y if classification and counts.min() >= 2 else None
    n_test = int(np.ceil(len(frame) * request.test_size))
    if len(frame) - n_test < 10 or n_test < 2:
        raise InvalidInputError(
            f"only {len(frame)} rows with a target: too few for a test split and "
            "cross-validation (at least 14 needed)"
        )
    train, test = train_test_split(
        frame, test_size=request.test_size, random_state=request.seed, stratify=stratify
    )
    return train.reset_index(drop=True), test.reset_index(drop=True)


# One attempt spends the whole time budget. A HarborError (bad input, a conflict, a dataset
# gone) fails the job at once; another crash is usually a bug the seeded search would
# repeat, so it gets a single retry (for a passing hiccup such as a database outage). A lost
# worker is still retried up to the job's max_attempts.
@retry_errors(1)
def automl_job(ctx: JobContext, params: dict[str, Any], services: TrainServices) -> dict[str, Any]:
    """The ``automl`` job: a leaderboard on one dataset version, the winner registered."""
    from threadpoolctl import threadpool_limits

    from mlharbor.tracking import track_job

    request = AutoMLRequest.from_params(params)
    # The user's clock started at the submit: the queue and this process's start-up count.
    submitted = aware(ctx.store.get(ctx.job_id).created_at)
    lag = max(0.0, time.time() - submitted.timestamp()) if submitted else 0.0
    started = time.perf_counter() - lag
    threads = max(1, (os.cpu_count() or 1) // max(1, ctx.settings.workers))
    map_folds = fan_out(ctx)
    with threadpool_limits(threads):
        result = run_automl_job(
            services,
            request,
            ctx.progress,
            ctx.event,
            ctx.job_id,
            map_folds,
            threads=threads,
            workers=map_folds.workers if map_folds is not None else 1,
            started=started,
        )
        track_job(ctx, services, AUTOML, request, result)  # MLflow, if configured; never fails
        return result


def fan_out(ctx: JobContext) -> FoldMap | None:
    """Where the search fits its folds (and how many at once: ``FoldMap.workers``).

    On a Dask cluster, or locally with more than one core, on the job's executor (one
    single-threaded fold per core); on one core, in this process (with early pruning):
    ``None``.
    Local workers start, and import the model libraries, in the background: until they
    are ready the search fits in this process (``FoldMap.ready``).
    """
    from mlharbor.models.automl.foldmap import FoldMap

    executor = ctx.compute
    if ctx.settings.dask_address:
        return FoldMap(executor.submit, executor.workers, check=executor.check_cancelled)
    if executor.workers < 2:
        threading.Thread(target=_warm, args=(None,), daemon=True).start()
        return None
    executor.preload(FOLD_MODULES)
    warm = threading.Thread(target=_warm, args=(executor,), daemon=True)
    warm.start()
    fold_map = FoldMap(
        executor.submit,
        executor.workers,
        check=executor.check_cancelled,
        # Until the workers have started and imported the model libraries (Search.fanning).
        ready=lambda: not warm.is_alive(),
        # The job's end waits for the pool to shut down, and a worker still importing (tens
        # of seconds on a busy machine) would hold it: the workers are ended when the
        # search is, and those still fitting folds the search gave up when nothing else runs.
        release=executor.terminate,
    )
    return fold_map


def _warm(executor: Executor | None, rounds: int = 100) -> None:
    """Have this process and every worker import the model libraries and the registry's
    file format; over when each has (or it failed)."""
    from mlharbor.models.automl.folds import warm_worker

    # The job saves its winner anyway: imported now, beside reading the data, rather than
    # during the search's first storability check, whose time prices saving the models.
    warm_worker()
    import optuna  # noqa: F401  (the tuning's, in this process only: between phases)

    seen: set[int] = set()
    if executor is None:
        return
    with contextlib.suppress(BaseException):  # a cancel or a failed start shows in the search
        # A worker that is up takes the next task while another still starts: again until
        # every worker has answered.
        for _ in range(rounds):
            seen.update(executor.map(warm_worker, range(executor.workers)))
            if len(seen) >= executor.workers:
                return


def _winner(record: Any, alias: str) -> dict[str, Any]:
    """What a job's result says of the registered winner."""
    return {
        "model": record.model,
        "version": record.version,
        "model_version_id": record.id,
        "alias": alias,
        "estimator": record.estimator,
        "metrics": record.metrics,
    }
