"""The ``automl`` job: search a leaderboard in a time budget, register the winner.

Like :mod:`mlharbor.workflows` for ``train``: the request, its up-front checks (so bad
input is a 4xx before anything is queued), the body of the job and its handler.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split
from threadpoolctl import threadpool_limits

from mlharbor.errors import InvalidInputError
from mlharbor.jobs import JobContext, register, retry_errors
from mlharbor.jobs.params import JobParams
from mlharbor.models.automl import check_metric, run_automl
from mlharbor.models.automl.portfolio import metric_kind
from mlharbor.models.automl.register import to_train_result
from mlharbor.models.automl.search import _check_budget
from mlharbor.models.tasks import Task, detect_task, parse_task
from mlharbor.models.train import check_train_request
from mlharbor.registry.records import check_alias, check_model_name, suggest_model_name

AUTOML = "automl"
BEST_ALIAS = "best_model"
#: Share of the budget kept for the test evaluation, artifacts and registration.
FINISH_SHARE = 0.15
MAX_TOP_K = 10


@dataclass
class AutoMLRequest(JobParams):
    """What a user asks of AutoML (the ``automl`` job's parameters)."""

    what = "AutoML"

    dataset: str
    target: str
    time_budget: float = 60.0
    metric: str | None = None
    task: str | None = None
    drop: list[str] = field(default_factory=list)
    name: str | None = None
    dataset_version: int | None = None
    test_size: float = 0.2
    cv_folds: int | None = None
    seed: int = 0
    top_k: int = 1
    alias: str = BEST_ALIAS
    max_trials: int | None = None


def check_automl_request(hub: Any, request: AutoMLRequest) -> AutoMLRequest:
    """Check a request against the dataset before queueing; fills in defaults.

    Reads the target column (only) to refuse a single-class target or a metric that does
    not fit the task with a 4xx now rather than a failed job later.
    """
    version = hub.datasets.get_version(request.dataset, request.dataset_version)
    if request.target in request.drop:
        raise InvalidInputError(f"the target {request.target!r} cannot also be dropped")
    request.time_budget = _check_budget(request.time_budget)
    if not 0 < request.test_size < 1:
        raise InvalidInputError(f"test_size must be between 0 and 1, got {request.test_size}")
    if not 1 <= int(request.top_k) <= MAX_TOP_K:
        raise InvalidInputError(f"top_k must be between 1 and {MAX_TOP_K}, got {request.top_k}")
    if request.cv_folds is not None and not 2 <= request.cv_folds <= 20:
        raise InvalidInputError(f"cv_folds must be between 2 and 20, got {request.cv_folds}")
    checked = check_train_request(
        version.schema, target=request.target, model="dummy", drop=request.drop, task=request.task
    )
    column = hub.datasets.read_table(version, columns=[request.target]).to_pandas()[request.target]
    forced = parse_task(request.task)
    if forced is None:
        usable = [version.schema.column(name) for name in checked["features"]]
        task, _ = detect_task(column, version.schema.column(request.target), features=usable)
    else:
        task = forced
        if column.dropna().nunique() < 2:
            raise InvalidInputError(
                f"target column {request.target!r} has a single value; there is nothing to learn"
            )
    n_classes = int(column.dropna().nunique()) if task != Task.REGRESSION else 0
    request.metric = check_metric(request.metric, metric_kind(task, n_classes))
    request.dataset, request.dataset_version = version.dataset, version.version
    request.name = check_model_name(
        request.name or suggest_model_name(version.dataset, request.target)
    )
    check_alias(request.alias)
    return request


def run_automl_job(
    hub: Any,
    request: AutoMLRequest,
    progress: Any,
    event: Any,
    job_id: int | None,
    map_folds: Any = None,
    threads: int | None = None,
) -> dict[str, Any]:
    """Search, then register the winner (and the next ``top_k - 1``); the job's body.

    The budget covers reading the data, the search and refit, and the evaluation and
    registration of the winner; extra ``top_k`` models are refitted after it.
    """
    started = time.perf_counter()
    done = _registered_winner(hub, job_id) if job_id is not None else None
    if done is not None:
        # An earlier attempt registered the winner (the runners-up go first, the winner
        # last); it may have died before setting the alias.
        record = hub.models.set_alias(request.name, request.alias, done.version)
        return {
            **done.lineage["automl"],
            **_winner(record, request.alias),
            "notes": ["registered by an earlier attempt"],
        }
    version = hub.datasets.get_version(request.dataset, request.dataset_version)
    progress(0.0, "reading the dataset")
    frame = hub.datasets.read_table(version).to_pandas()
    frame = frame[frame[request.target].notna()].reset_index(drop=True)
    train_df, test_df = _split(frame, request)
    finish = max(1.0, FINISH_SHARE * request.time_budget)
    search_budget = request.time_budget - (time.perf_counter() - started) - finish

    def on_trial(data: dict[str, Any]) -> None:
        event("trial", data)
        fraction = min(0.9, 0.9 * data["elapsed"] / max(search_budget, 1e-9))
        score = "—" if data["score"] is None else f"{data['score']:.4f}"
        progress(fraction, f"{data['name']}: {data['status']} {score}")

    result = run_automl(
        train_df,
        version.schema,
        target=request.target,
        time_budget=max(search_budget, 2.0),
        metric=request.metric,
        task=request.task,
        drop=request.drop,
        seed=request.seed,
        cv_folds=request.cv_folds,
        max_trials=request.max_trials,
        on_trial=on_trial,
        map_folds=map_folds,
        threads=threads,
    )
    progress(0.92, f"evaluating {result.best_name} on the test split")
    X_test = test_df[result.features]
    lineage = {
        "dataset": version.dataset,
        "dataset_version": version.version,
        "dataset_hash": version.content_hash,
    }
    summary = result.summary()
    registered = []
    extra = 0.0  # seconds spent on the top_k models beyond the winner: outside the budget
    # The winner goes last, so `latest` and the alias both point at it.
    for entry in reversed(result.top(int(request.top_k))):
        began = time.perf_counter()
        pipeline = result.refit(entry)
        train_result = to_train_result(
            result, entry, pipeline, test_df, X_test, version.schema, seed=request.seed
        )
        winner = entry is result.winner
        info = {**summary, "registered": registered} if winner else {}
        record = hub.models.register(
            request.name,
            train_result,
            dataset_version_id=version.id,
            job_id=job_id,
            lineage={**lineage, "automl": {"candidate": entry.name, "winner": winner, **info}},
        )
        registered.insert(0, {"candidate": entry.name, "version": record.version})
        if not winner:
            extra += time.perf_counter() - began
    record = hub.models.set_alias(request.name, request.alias, record.version)
    progress(1.0, f"best: {result.best_name}")
    return {
        **summary,
        **_winner(record, request.alias),
        "registered": registered,
        "seconds": round(time.perf_counter() - started, 2),
        "budget_seconds": round(time.perf_counter() - started - extra, 2),
    }


def _registered_winner(hub: Any, job_id: int) -> Any:
    """The winner an earlier attempt of this job registered, if it got that far."""
    for record in hub.models.find_versions_by_job(job_id):
        if (record.lineage.get("automl") or {}).get("winner"):
            return record
    return None


def _split(frame: Any, request: AutoMLRequest) -> tuple[Any, Any]:
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
@register(AUTOML)
@retry_errors(1)
def automl_job(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """The ``automl`` job: a leaderboard on one dataset version, the winner registered."""
    from mlharbor.hub import Hub

    request = AutoMLRequest.from_params(params)
    threads = max(1, (os.cpu_count() or 1) // max(1, ctx.settings.workers))
    with threadpool_limits(threads), Hub.open(ctx.settings, migrate=False) as hub:
        # On a Dask cluster every candidate's folds fan out; locally the search runs here,
        # where early-fold pruning saves more than processes would.
        map_folds = ctx.compute.map if ctx.settings.dask_address else None
        return run_automl_job(
            hub, request, ctx.progress, ctx.event, ctx.job_id, map_folds, threads=threads
        )


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
