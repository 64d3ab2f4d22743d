"""ML-Hub WebSocket events that prepare data, train, load and predict with models."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from fastapi import WebSocket

from mlharbor.api.ws import blocking, event, require, send
from mlharbor.data.ingest import check_table, records_to_table
from mlharbor.data.schema import infer_schema
from mlharbor.errors import ERRORS_BY_CODE, InvalidInputError, JobError, NotFoundError
from mlharbor.hub import Hub
from mlharbor.jobs import JobState, follow_events
from mlharbor.limits import MAX_ID
from mlharbor.registry.records import check_model_name, split_model_ref, suggest_model_name
from mlharbor.values import plain

if TYPE_CHECKING:
    import pandas as pd

    from mlharbor.data.datasets import DatasetVersionInfo
    from mlharbor.workflows.train import TrainRequest

# The training stack (scikit-learn, LightGBM, matplotlib, polars, pandas) is imported by the
# events that train, when they first run: importing it here would add seconds to every
# `mlharbor serve` start, before /healthz answers.

MAX_ENCODED_CELLS = 5_000_000


def _target_name(msg: dict[str, Any], field: str = "target") -> str:
    value = msg.get(field)
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if not isinstance(value, str) or not value:
        raise InvalidInputError(f'{field!r} must name one column, e.g. "target": ["price"]')
    return value


@event("pre-processing", "preprocessing")
@blocking
def preprocessing_event(hub: Hub, msg: dict[str, Any]) -> dict[str, Any]:
    """Insights of inline records, and an encoded train/test split ready for ``create-model``."""
    records = msg.get("datasset", msg.get("dataset"))
    if records is None:
        raise InvalidInputError(
            "the 'pre-processing' message needs 'datasset' (or 'dataset'): an array of records"
        )
    from sklearn.model_selection import train_test_split

    from mlharbor.data.insights import compute_insights, summarize_insights
    from mlharbor.models.problem import resolve_problem
    from mlharbor.prep import make_preprocessor

    target = _target_name(msg)
    drops = msg.get("drops") or []
    if not isinstance(drops, list):
        raise InvalidInputError("'drops' must be a list of column names")
    table = check_table(records_to_table(records), [], hub.settings.max_columns)
    for column in (target, *drops):
        if column not in table.column_names:
            raise NotFoundError(
                f"column {column!r} is not in the dataset; its columns are: "
                f"{', '.join(table.column_names)}",
                column=column,
            )
    table = table.drop_columns([d for d in drops if d != target])
    schema = infer_schema(table)
    insights = compute_insights(table, schema, target)
    problem = resolve_problem(table.to_pandas(), schema, target=target)
    task, reason = problem.task, problem.task_reason
    frame, y = problem.rows.drop(columns=[target]), problem.rows[target]
    stratify = y if task.is_classification and y.value_counts().min() >= 2 else None
    X_train, X_test, y_train, y_test = train_test_split(
        frame, y, test_size=float(msg.get("test_size", 0.2)), random_state=0, stratify=stratify
    )
    pre = make_preprocessor(schema, target=target, task=task, dense=True)
    train_matrix = pre.fit_transform(X_train, y_train)
    if train_matrix.size > MAX_ENCODED_CELLS:
        raise InvalidInputError(
            f"the encoded data has {train_matrix.size:,} cells; the limit for one message is "
            f"{MAX_ENCODED_CELLS:,}: send fewer rows or drop wide text columns"
        )
    test_matrix = pre.transform(X_test)
    return {
        "insights": summarize_insights(insights),
        "task": task.value,
        "task_reason": reason,
        "feature_names": [str(n) for n in pre.get_feature_names_out()],
        "X_train": np.asarray(train_matrix, dtype=float).round(8).tolist(),
        "y_train": [plain(v) for v in y_train.tolist()],
        "X_test": np.asarray(test_matrix, dtype=float).round(8).tolist(),
        "y_test": [plain(v) for v in y_test.tolist()],
    }


def _frame(values: Any, names: list[str] | None, field: str) -> pd.DataFrame:
    import pandas as pd

    if isinstance(values, dict) or (
        isinstance(values, list) and values and isinstance(values[0], dict)
    ):
        return records_to_table(values).to_pandas()
    if isinstance(values, list) and values and isinstance(values[0], list):
        width = len(values[0])
        if names is not None and len(names) != width:
            raise InvalidInputError(
                f"'feature_names' has {len(names)} names but {field} rows have {width} values"
            )
        return pd.DataFrame(values, columns=names or [f"x{i}" for i in range(width)])
    raise InvalidInputError(f"{field!r} must be a non-empty array of rows (arrays or objects)")


@event("create-model")
async def create_model_event(hub: Hub, msg: dict[str, Any], ws: WebSocket) -> dict[str, Any]:
    """Train a model on the given split as a ``train`` job, whose events stream on this
    socket; answer with the registered version and its metrics."""
    request = await asyncio.to_thread(_create_model_request, hub, msg)
    job = await asyncio.to_thread(hub.submit_train, request)
    wait = hub.settings.compat_train_wait_seconds
    try:
        await asyncio.wait_for(_forward(ws, hub, job.id), timeout=wait)
    except TimeoutError:
        raise JobError(
            f"the training job {job.id} is still running after {wait:g} s; follow it with "
            f'{{"type": "subscribe", "job": {job.id}}}',
            job=job.id,
        ) from None
    done = await asyncio.to_thread(hub.jobs.get, job.id)
    if done.state != JobState.SUCCEEDED:
        error = done.error or {}
        failure = ERRORS_BY_CODE.get(str(error.get("code")), JobError)
        raise failure(str(error.get("message") or f"the training job {done.state}"), job=job.id)
    result = done.result or {}
    record = await asyncio.to_thread(hub.models.get_version, result["model"], result["version"])
    return {
        "model": record.model,
        "version": record.version,
        "task": record.task,
        "estimator": record.estimator,
        "metrics": record.metrics,
        "aliases": record.aliases,
    }


def _create_model_request(hub: Hub, msg: dict[str, Any]) -> TrainRequest:
    """The ``train`` request of a ``create-model`` message: its split, stored as a training
    and a test dataset (so the model's lineage names what it learnt from)."""
    from mlharbor.models.catalog import get_spec
    from mlharbor.workflows.train import TrainRequest

    args = require(msg, "args", dict)
    model = msg.get("model", "random-forest")
    if not isinstance(model, str):
        raise InvalidInputError("'model' must be a model name such as 'random-forest'")
    spec = get_spec(model)  # an unknown model is refused before any data is stored
    names = args.get("feature_names") or msg.get("feature_names")
    target = str(msg.get("target") or args.get("target") or "target")
    frames = {}
    for part in ("train", "test"):
        X = _frame(args.get(f"X_{part}"), names, f"X_{part}")
        y = args.get(f"y_{part}")
        if not isinstance(y, list) or len(y) != len(X):
            raise InvalidInputError(
                f"'y_{part}' must be a list with one value per row of X_{part} ({len(X)})"
            )
        X[target] = y
        frames[part] = X
    name = check_model_name(str(msg.get("name") or suggest_model_name("ws", spec.name)))
    stored = {
        part: _store_split(hub, frame, f"{name[:120]}-{part}") for part, frame in frames.items()
    }
    return TrainRequest(
        dataset=stored["train"].dataset,
        dataset_version=stored["train"].version,
        test_dataset=stored["test"].dataset,
        test_dataset_version=stored["test"].version,
        target=target,
        model=model,
        params=msg.get("params") or {},
        task=msg.get("task"),
        name=name,
        cv_folds=max(0, min(5, len(frames["train"]) // 10)),
    )


def _store_split(hub: Hub, frame: pd.DataFrame, name: str) -> DatasetVersionInfo:
    """``frame`` as a new version of dataset ``name`` (the same rows again: the same version)."""
    with tempfile.TemporaryDirectory(prefix="mlharbor-ws-") as tmp:
        path = Path(tmp) / f"{name}.parquet"
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)
        return hub.datasets.ingest_file(
            path, name=name, filename=path.name, source="websocket create-model"
        ).version


@event("load-model")
@blocking
def load_model_event(hub: Hub, msg: dict[str, Any]) -> dict[str, Any]:
    """A registered model by ``name``, ``name@alias`` or ``name/version`` (never a path)."""
    name, ref = split_model_ref(require(msg, "name", str))
    version = hub.models.get_version(name, ref)
    hub.predictor.load(version)  # warm the cache, so the next predict is fast
    return {
        "model": version.model,
        "version": version.version,
        "aliases": version.aliases,
        "task": version.task,
        "target": version.target,
        "estimator": version.estimator,
        "metrics": version.metrics,
        "signature": version.signature,
    }


@event("predict")
@blocking
def predict_event(hub: Hub, msg: dict[str, Any]) -> dict[str, Any]:
    """Predict records with ``model`` (``name``, ``name@alias`` or ``name/version``)."""
    name, ref = split_model_ref(require(msg, "model", str))
    records = require(msg, "records", list)
    return hub.predictor.predict(name, ref, records).to_dict()


async def _forward(ws: WebSocket, hub: Hub, job_id: int) -> None:
    async for ev in follow_events(hub.jobs, job_id):
        await send(ws, {"type": "job-event", "job_id": job_id, **ev.to_dict()})


def _start_forwarding(ws: WebSocket, hub: Hub, job_id: int) -> None:
    tasks: set[asyncio.Task[None]] = ws.state.__dict__.setdefault("forwarders", set())
    task = asyncio.get_running_loop().create_task(_forward(ws, hub, job_id))
    tasks.add(task)
    task.add_done_callback(tasks.discard)


@event("train")
async def train_event(hub: Hub, msg: dict[str, Any], ws: WebSocket) -> dict[str, Any]:
    """Queue a training job; its progress events follow on this socket."""
    from mlharbor.workflows.train import TrainRequest

    options = {k: v for k, v in msg.items() if k not in ("type", "id")}
    try:
        request = TrainRequest(**options)
    except TypeError as exc:
        raise InvalidInputError(f"bad 'train' message: {exc}")
    job = await asyncio.to_thread(hub.submit_train, request)
    _start_forwarding(ws, hub, job.id)
    return {"job": job.to_dict()}


@event("subscribe")
async def subscribe_event(hub: Hub, msg: dict[str, Any], ws: WebSocket) -> dict[str, Any]:
    """Stream a job's events (from the start) on this socket."""
    job_id = require(msg, "job", int)
    if not 1 <= job_id <= MAX_ID:  # no such id fits the database: never ask it
        raise NotFoundError(f"job {job_id} does not exist", job_id=job_id)
    job = await asyncio.to_thread(hub.jobs.get, job_id)
    _start_forwarding(ws, hub, job_id)
    return {"job": job.to_dict()}
