"""Log runs to an MLflow tracking server: what a run holds, and how it is logged.

:func:`log_run` logs a :class:`TrackedRun` (parameters, metrics, tags, artifacts, the
dataset it read, an MLflow model, nested runs) over the server's REST API
(:mod:`mlharbor.tracking.rest`); :func:`report_run` does the same for callers whose own
work must not fail when the tracking server does. A run carries a ``key`` of tags: a
retried caller finds the run its earlier attempt logged rather than logging a second one.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlharbor.tracking.rest import ATTEMPTS, MlflowRest, proxied_root

log = logging.getLogger(__name__)


@dataclass
class TrackedRun:
    """What to log as one MLflow run.

    Attributes
    ----------
    experiment : str
        The experiment's name; created if it does not exist.
    name : str
        The run's name (``mlflow.runName``).
    params, metrics, tags : dict
        Parameters (any value, written as text), metrics (numbers; others are left out)
        and tags (text). Keys are made valid MLflow keys.
    artifacts : dict
        ``{artifact path: file content}``, e.g. ``{"plots/roc_curve.png": b"..."}``.
    model_dir : Path, optional
        An MLflow model directory (``MLmodel`` at its top) logged under ``model/``.
    key : dict
        Tags that identify the run (e.g. ``{"mlharbor.job_id": "7"}``): a finished run of
        the experiment with these tags is not logged again, an unfinished one is completed.
    datasets : list of TrackedDataset
        The run's inputs (MLflow's ``runs/log-inputs``), shown under Datasets in its UI.
    children : list of TrackedRun
        Nested runs (``mlflow.parentRunId``), e.g. AutoML's candidates.
    start_time, end_time : float, optional
        Seconds since the epoch; default: now.
    status : str
        How the run ended: ``FINISHED`` or ``FAILED``.
    """

    experiment: str
    name: str
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    artifacts: dict[str, bytes] = field(default_factory=dict)
    model_dir: Path | None = None
    key: dict[str, str] = field(default_factory=dict)
    datasets: list[TrackedDataset] = field(default_factory=list)
    children: list[TrackedRun] = field(default_factory=list)
    start_time: float | None = None
    end_time: float | None = None
    status: str = "FINISHED"


@dataclass(frozen=True)
class TrackedDataset:
    """A dataset a run read: its name, a digest of its content, where it is, and how it
    was used (``training``, ``evaluation``, ...)."""

    name: str
    digest: str
    url: str
    context: str = "training"
    #: MLflow's column spec, ``[{"name", "type"}]`` (optional).
    columns: list[dict[str, Any]] = field(default_factory=list)
    rows: int | None = None

    def to_input(self) -> dict[str, Any]:
        """The ``DatasetInput`` of ``runs/log-inputs``."""
        dataset: dict[str, Any] = {
            "name": self.name[:500],
            "digest": self.digest[:36],
            "source_type": "http",
            "source": json.dumps({"url": self.url}),
        }
        if self.columns:
            dataset["schema"] = json.dumps({"mlflow_colspec": self.columns})
        if self.rows is not None:
            dataset["profile"] = json.dumps({"num_rows": self.rows})
        tags = [{"key": "mlflow.data.context", "value": self.context}]
        return {"tags": tags, "dataset": dataset}


@dataclass(frozen=True)
class LoggedRun:
    """Where a run was logged: its ids and its page in the MLflow UI."""

    experiment_id: str
    run_id: str
    url: str
    artifact_uri: str
    #: Remarks a user should see (artifacts the server could not take, a reused run).
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "experiment_id": self.experiment_id,
            "run_id": self.run_id,
            "url": self.url,
            "artifact_uri": self.artifact_uri,
            "notes": list(self.notes),
        }


def log_run(uri: str, run: TrackedRun, *, attempts: int = ATTEMPTS) -> LoggedRun:
    """Log ``run`` (and its children) to the MLflow tracking server at ``uri``.

    Parameters
    ----------
    uri : str
        The tracking server, e.g. ``http://mlflow:5000``.
    run : TrackedRun
        What to log.
    attempts : int
        Tries of each request.

    Returns
    -------
    LoggedRun

    Raises
    ------
    UpstreamError
        The server could not be reached or refused a call; the run, if made, is marked
        ``FAILED`` when the server still answers.
    ValueError
        ``uri`` is not an http(s) URL.

    Examples
    --------
    >>> run = TrackedRun("churn", "nightly", params={"k": 3}, metrics={"auc": 0.91})
    >>> log_run("http://127.0.0.1:5000", run).url  # doctest: +SKIP
    'http://127.0.0.1:5000/#/experiments/1/runs/…'
    """
    with MlflowRest(uri, attempts=attempts) as rest:
        experiment_id = rest.experiment_id(run.experiment)
        return _log(rest, experiment_id, run, parent=None)


def report_run(
    uri: str | None, run: TrackedRun, warn: Callable[[str], None] | None = None
) -> LoggedRun | None:
    """:func:`log_run`, except that a failure is logged and handed to ``warn``, not raised.

    For callers whose own work must not fail because the tracking server did (a job, a
    pipeline run). ``None`` without a ``uri`` (tracking off) or on failure.
    """
    if not uri:
        return None
    try:
        return log_run(uri, run)
    except Exception as exc:  # whatever broke, the caller's work stands
        message = f"not logged to MLflow: {getattr(exc, 'message', None) or exc}"
        log.warning("run %r of experiment %r %s", run.name, run.experiment, message)
        if warn is not None:
            warn(message)
        return None


def _log(
    rest: MlflowRest,
    experiment_id: str,
    run: TrackedRun,
    parent: str | None,
    *,
    search: bool = True,
) -> LoggedRun:
    """Log ``run`` (and its children); ``search`` for an earlier attempt's run by its key."""
    notes: list[str] = []
    tags = {**run.tags, **run.key, "mlflow.runName": run.name}
    if parent:
        tags["mlflow.parentRunId"] = parent
    existing = rest.find_run(experiment_id, run.key) if run.key and search else None
    if existing is not None and existing["info"].get("status") == "FINISHED":
        info = existing["info"]
        return LoggedRun(
            experiment_id,
            info["run_id"],
            rest.run_url(experiment_id, info["run_id"]),
            info.get("artifact_uri", ""),
            ("logged by an earlier attempt",),
        )
    if existing is not None:
        info = existing["info"]
    else:
        info = rest.create_run(experiment_id, run.name, tags, run.start_time or time.time())
    run_id, artifact_uri = info["run_id"], info.get("artifact_uri", "")
    try:
        rest.log_batch(run_id, params=run.params, metrics=run.metrics, tags=tags)
        if run.datasets:
            inputs = [d.to_input() for d in run.datasets]
            rest.call("runs/log-inputs", {"run_id": run_id, "datasets": inputs})
        files: dict[str, bytes | Path] = dict(run.artifacts)
        if run.model_dir is not None:
            files.update(_model_files(run.model_dir, "model"))
            model_json = _model_json(run.model_dir, run_id, "model")
            rest.call("runs/log-model", {"run_id": run_id, "model_json": model_json})
        if files and proxied_root(artifact_uri) is None:
            notes.append(
                f"artifacts not uploaded: the server keeps them at {artifact_uri}, which "
                "mlharbor cannot write to (start it with --serve-artifacts)"
            )
            files = {}
        for path, data in files.items():
            rest.upload(artifact_uri, path, data)
        for child in run.children:
            # Only a run an earlier attempt made can have children already.
            _log(rest, experiment_id, child, parent=run_id, search=existing is not None)
        rest.end_run(run_id, run.status, run.end_time)
    except BaseException:
        # Marked failed if the server still answers: a half-logged run is not a result.
        try:
            rest.end_run(run_id, "FAILED")
        except Exception:
            log.debug("could not mark MLflow run %s failed", run_id, exc_info=True)
        raise
    return LoggedRun(
        experiment_id, run_id, rest.run_url(experiment_id, run_id), artifact_uri, tuple(notes)
    )


def _model_files(folder: Path, prefix: str) -> dict[str, bytes | Path]:
    """Every file of ``folder`` by its artifact path (read when uploaded, not now)."""
    return {
        f"{prefix}/{path.relative_to(folder).as_posix()}": path
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def _model_json(model_dir: Path, run_id: str, artifact_path: str) -> str:
    """What ``runs/log-model`` records of the model (its ``MLmodel``, with the run): the
    MLflow UI finds a run's models by it."""
    import yaml  # PyYAML comes with Dask

    mlmodel = yaml.safe_load((model_dir / "MLmodel").read_text()) or {}
    mlmodel.update(run_id=run_id, artifact_path=artifact_path)
    return json.dumps(mlmodel, default=str)
