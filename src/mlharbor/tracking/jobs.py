"""A train or AutoML job's registered model as an MLflow run.

:func:`track_job` is the one call a job handler makes at success. With
``MLHARBOR_MLFLOW_TRACKING_URI`` unset it does nothing. Otherwise it logs the job's model
version to the tracking server — an MLflow run in the experiment named after the model, its
parameters, CV and test metrics, the evaluation plots, the model as an MLflow model (the
registry's export) and tags linking back to mlharbor — and AutoML's scored candidates as
nested runs. A failure of the tracking server never fails the job: it is logged and shown as
a ``warning`` event in the job's timeline (see :func:`~mlharbor.tracking.mlflow.report_run`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import tempfile
import time
from pathlib import Path
from typing import Any, Protocol

from mlharbor.jobs.records import aware
from mlharbor.registry.records import ModelVersionRecord
from mlharbor.tracking.mlflow import LoggedRun, TrackedDataset, TrackedRun, report_run

log = logging.getLogger(__name__)

#: Nested runs of an AutoML job: its best scored candidates, at most this many.
MAX_CANDIDATE_RUNS = 50
#: Request fields that are not run parameters (they name where, not how).
_NOT_PARAMS = frozenset({"name", "params", "dataset"})


class Registry(Protocol):
    """What :func:`job_run` reads of the model registry."""

    def get_version(self, name: str, ref: int | str = ...) -> ModelVersionRecord: ...

    def read_artifact(self, name: str, ref: int | str, artifact: str, fmt: str = ...) -> bytes: ...

    def export(self, name: str, ref: int | str, out: Path, fmt: str = ...) -> Path: ...


class RegistryServices(Protocol):
    """What :func:`track_job` uses of the job's services."""

    @property
    def models(self) -> Registry: ...


class JobHandle(Protocol):
    """What :func:`track_job` uses of the job's context (a ``JobContext``)."""

    settings: Any

    @property
    def job_id(self) -> int: ...

    def progress(self, fraction: float, message: str = ...) -> None: ...

    def event(self, kind: str, data: dict[str, Any] | None = ...) -> None: ...


def track_job(
    ctx: JobHandle, services: RegistryServices, kind: str, request: Any, result: dict[str, Any]
) -> LoggedRun | None:
    """Log a finished job's model version to MLflow, if a tracking server is configured.

    Parameters
    ----------
    ctx : JobContext
        The job's context: its settings, id and event log.
    services : TrainServices
        Its ``models`` registry is read (the job's services: the hub).
    kind : str
        ``"train"`` or ``"automl"``.
    request : WorkflowRequest
        The job's request (its fields become run parameters).
    result : dict
        The job's result; ``result["mlflow"]`` is set to the run's ids and URL.

    Returns
    -------
    LoggedRun or None
        ``None`` if tracking is off or failed (a ``warning`` event then says why).
    """
    uri = getattr(ctx.settings, "mlflow_tracking_uri", None)
    if not uri:
        return None

    def warn(message: str) -> None:
        try:
            ctx.event("warning", {"message": message, "source": "mlflow"})
        except Exception:  # the job's own store failing is the job's business, not ours
            log.exception("job %s: could not record the warning %r", ctx.job_id, message)

    began = time.perf_counter()
    with contextlib.suppress(Exception):  # a cancel (a BaseException) still goes through
        ctx.progress(0.99, "logging the run to the MLflow tracking server")
    with tempfile.TemporaryDirectory(prefix="mlharbor-mlflow-") as tmp:
        try:
            run = job_run(
                services.models,
                kind,
                request.to_params(),
                result,
                job_id=ctx.job_id,
                public_url=ctx.settings.resolved_public_url(),
                started=_started(ctx),
                workdir=Path(tmp),
                warn=warn,
            )
        except Exception as exc:  # the job's model stands, whatever its record lacks here
            log.exception("job %s: could not describe its run for MLflow", ctx.job_id)
            warn(f"not logged to MLflow: {getattr(exc, 'message', None) or exc}")
            return None
        logged = report_run(uri, run, warn)
    if logged is None:
        return None
    result["mlflow"] = logged.to_dict()
    for note in logged.notes:
        warn(f"MLflow: {note}")
    seconds = round(time.perf_counter() - began, 2)
    with contextlib.suppress(Exception):
        message = f"logged to MLflow in {seconds} s: {logged.url}"
        ctx.event("mlflow", {"message": message, "seconds": seconds, **logged.to_dict()})
    return logged


def job_run(
    registry: Registry,
    kind: str,
    params: dict[str, Any],
    result: dict[str, Any],
    *,
    job_id: int | None,
    public_url: str,
    started: float | None,
    workdir: Path,
    warn: Any = None,
) -> TrackedRun:
    """The MLflow run of a train or AutoML job's registered model (see :func:`track_job`).

    ``workdir`` receives the exported MLflow model; keep it until the run is logged. A model
    that does not export to MLflow (a step MLflow cannot load) is logged without it, and
    ``warn`` is told why.
    """
    record = registry.get_version(result["model"], result["version"])
    run = TrackedRun(
        experiment=record.model,
        name=f"{record.model} v{record.version}",
        params=_params(kind, params, record, result),
        metrics=_metrics(record, result),
        tags=_tags(kind, record, job_id, public_url),
        key=_key(record, job_id, "model_version"),
        start_time=started,
        end_time=time.time(),
    )
    lineage = record.lineage or {}
    if lineage.get("dataset"):
        name, number = str(lineage["dataset"]), lineage.get("dataset_version")
        settings = lineage.get("settings") or {}
        n_rows = (settings.get("n_train") or 0) + (settings.get("n_test") or 0)
        run.datasets.append(
            TrackedDataset(
                name=f"{name} v{number}",
                digest=str(lineage.get("dataset_hash") or "")[:16],
                url=f"{public_url}/datasets/{_quote(name)}?version={number}",
                rows=n_rows or None,
            )
        )
    for name in sorted(record.artifacts):
        formats = record.artifacts[name]
        for fmt in ("png", "json"):
            if fmt in formats:
                run.artifacts[f"plots/{name}.{fmt}"] = registry.read_artifact(
                    record.model, record.version, name, fmt
                )
    run.artifacts["mlharbor/model_version.json"] = _json(record.to_dict())
    if kind == "automl" and result.get("leaderboard"):
        run.artifacts["mlharbor/leaderboard.json"] = _json(result["leaderboard"])
        run.children = _candidates(record, result, job_id, started)
    try:
        run.model_dir = registry.export(record.model, record.version, workdir / "model")
    except Exception as exc:  # the run is still worth logging without its model
        if warn is not None:
            warn(f"the model was logged to MLflow without its MLflow model: {exc}")
    return run


def _params(
    kind: str, params: dict[str, Any], record: ModelVersionRecord, result: dict[str, Any]
) -> dict[str, Any]:
    out: dict[str, Any] = {
        k: v for k, v in params.items() if k not in _NOT_PARAMS and v not in (None, [], {})
    }
    out.update(dataset=params.get("dataset"), estimator=record.estimator, task=record.task)
    if kind == "automl":
        out["best"] = result.get("best")
    # The estimator's own parameters unprefixed, as PyCaret and autologging log them,
    # unless one would clash with mlharbor's request.
    for k, v in (record.params or {}).items():
        out[f"estimator.{k}" if k in out else k] = v
    return out


def _metrics(record: ModelVersionRecord, result: dict[str, Any]) -> dict[str, Any]:
    metrics = record.metrics or {}
    out: dict[str, Any] = {f"test_{k}": v for k, v in (metrics.get("test") or {}).items()}
    for k, v in (metrics.get("cv") or {}).items():
        if isinstance(v, dict):
            out[f"cv_{k}"] = v.get("mean")
            out[f"cv_{k}_std"] = v.get("std")
    out["train_seconds"] = record.train_seconds
    if "leaderboard" in result:
        out["candidates"] = len(result["leaderboard"])
        out["budget_seconds"] = result.get("budget_seconds")
    return out


def _tags(
    kind: str, record: ModelVersionRecord, job_id: int | None, public_url: str
) -> dict[str, str]:
    lineage = record.lineage or {}
    model_url = f"{public_url}/models/{_quote(record.model)}?version={record.version}"
    tags = {
        "mlflow.source.type": "JOB",
        "mlflow.source.name": f"mlharbor {kind} job",
        "mlharbor.kind": kind,
        "mlharbor.model": record.model,
        "mlharbor.model_version": str(record.version),
        "mlharbor.model_url": model_url,
        "mlharbor.estimator": record.estimator,
        "mlharbor.task": record.task,
        "mlharbor.content_hash": record.content_hash,
    }
    if lineage.get("dataset"):
        tags["mlharbor.dataset"] = str(lineage["dataset"])
        tags["mlharbor.dataset_version"] = str(lineage.get("dataset_version"))
        tags["mlharbor.dataset_hash"] = str(lineage.get("dataset_hash"))
    links = [f"[{record.model} v{record.version} in mlharbor]({model_url})"]
    if job_id is not None:
        tags["mlharbor.job_id"] = str(job_id)
        tags["mlharbor.job_url"] = f"{public_url}/jobs/{job_id}"
        links.append(f"[job #{job_id}]({tags['mlharbor.job_url']})")
    tags["mlflow.note.content"] = f"Logged by mlharbor: {', '.join(links)}."
    return tags


def _key(record: ModelVersionRecord, job_id: int | None, role: str) -> dict[str, str]:
    """Tags that find this run again: a retried job does not log it twice."""
    # The version's id and creation time tell this mlharbor's version from another's that
    # logs to the same server under the same model name.
    key = {"mlharbor.role": role, "mlharbor.model_version_id": str(record.id)}
    key["mlharbor.model_version_created"] = record.created_at.isoformat()
    if job_id is not None:
        key["mlharbor.job_id"] = str(job_id)
    return key


def _candidates(
    record: ModelVersionRecord, result: dict[str, Any], job_id: int | None, started: float | None
) -> list[TrackedRun]:
    """AutoML's scored candidates as nested runs, best first, as PyCaret's compare_models
    logs one run per model."""
    runs = []
    scored = [r for r in result["leaderboard"] if r.get("score") is not None]
    for row in scored[:MAX_CANDIDATE_RUNS]:
        metric = row.get("metric") or "score"
        metrics: dict[str, Any] = {
            f"cv_{metric}": row.get("score"),
            f"cv_{metric}_std": row.get("score_std"),
            "rank": row.get("rank"),
            "fit_seconds": row.get("fit_seconds"),
            "predict_seconds": row.get("predict_seconds"),
        }
        for k, v in (row.get("cv") or {}).items():
            if isinstance(v, dict) and k != metric:
                metrics[f"cv_{k}"] = v.get("mean")
        key = {**_key(record, job_id, "candidate"), "mlharbor.candidate": str(row["name"])}
        runs.append(
            TrackedRun(
                experiment=record.model,
                name=str(row["name"]),
                params={"family": row.get("family"), **(row.get("params") or {})},
                metrics=metrics,
                tags={
                    "mlharbor.model": record.model,
                    "mlharbor.candidate_status": str(row.get("status")),
                    "mlharbor.winner": json.dumps(bool(row.get("winner"))),
                    "mlharbor.phase": str(row.get("phase")),
                },
                key=key,
                start_time=started,
            )
        )
    return runs


def _started(ctx: JobHandle) -> float | None:
    """When the job started (seconds since the epoch), for the run's start time."""
    store: Any = getattr(ctx, "store", None)  # a JobContext's; the protocol does not ask for it
    try:
        job = store.get(ctx.job_id)
    except Exception:
        return None
    moment = aware(job.started_at or job.created_at)
    return moment.timestamp() if moment is not None else None


def _json(value: Any) -> bytes:
    return json.dumps(value, indent=2, default=str).encode()


def _quote(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")
