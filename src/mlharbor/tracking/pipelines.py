"""A pipeline run as an MLflow run: its parameters, its steps' metrics, its file.

:func:`track_pipeline_run` is the one call the pipeline runner makes when a run ends. With
``MLHARBOR_MLFLOW_TRACKING_URI`` unset it does nothing. The run goes to the experiment
``pipeline/<name>``, one MLflow run per pipeline run, as kedro-mlflow logs a ``kedro run``:
the run's parameters, every numeric step metric (``promote.f1``, ``drift.share``), the
pipeline file and the run record as artifacts, and tags linking back to the run's page and
to each step's job. The train and AutoML steps' jobs are logged on their own, each in its
model's experiment (:func:`~mlharbor.tracking.jobs.track_job`). A failure of the tracking
server never fails the run: it is logged.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from mlharbor.jobs.records import aware
from mlharbor.tracking.mlflow import LoggedRun, TrackedRun, report_run

log = logging.getLogger(__name__)

#: Experiment names of pipeline runs: this, then the pipeline's name.
EXPERIMENT_PREFIX = "pipeline/"


def track_pipeline_run(settings: Any, run: Any) -> LoggedRun | None:
    """Log a finished pipeline run to MLflow, if a tracking server is configured.

    Parameters
    ----------
    settings : Settings
        ``mlflow_tracking_uri`` and the public URL of the links back.
    run : mlharbor.pipelines.records.RunInfo
        The finished run, with its steps.

    Returns
    -------
    LoggedRun or None
        ``None`` when tracking is off or failed (then logged as a warning).
    """
    uri = getattr(settings, "mlflow_tracking_uri", None)
    if not uri:
        return None
    try:
        tracked = pipeline_run(run, settings.resolved_public_url())
    except Exception:  # the run stands, whatever its record lacks here
        log.exception("pipeline run %s: could not describe it for MLflow", run.id)
        return None
    return report_run(uri, tracked)


def pipeline_run(run: Any, public_url: str) -> TrackedRun:
    """The MLflow run of a pipeline run (see :func:`track_pipeline_run`)."""
    run_url = f"{public_url}/pipelines/runs/{run.id}"
    tags = {
        "mlflow.source.type": "PROJECT",
        "mlflow.source.name": f"mlharbor pipeline {run.pipeline}",
        "mlflow.note.content": f"Logged by mlharbor: [pipeline run {run.id}]({run_url}).",
        "mlharbor.pipeline": run.pipeline,
        "mlharbor.pipeline_file_hash": run.file_hash,
        "mlharbor.pipeline_run_url": run_url,
        "mlharbor.state": str(run.state),
        "mlharbor.origin": run.origin,
    }
    if run.from_step:
        tags["mlharbor.from_step"] = run.from_step
    if run.error:
        tags["mlharbor.error"] = str(run.error.get("message", ""))
    for step in run.steps:
        tags[f"mlharbor.step.{step.step}.state"] = str(step.state)
        if step.job_id is not None:
            tags[f"mlharbor.step.{step.step}.job_url"] = f"{public_url}/jobs/{step.job_id}"
    created = aware(run.created_at)
    started, finished = aware(run.started_at), aware(run.finished_at)
    artifacts = {"mlharbor/run.json": json.dumps(run.to_dict(), indent=2, default=str).encode()}
    if run.source:
        artifacts["pipeline.yaml"] = run.source.encode()
    return TrackedRun(
        experiment=f"{EXPERIMENT_PREFIX}{run.pipeline}",
        name=f"{run.pipeline} run {run.id}",
        params=dict(run.params),
        metrics=_metrics(run),
        tags=tags,
        artifacts=artifacts,
        key={
            "mlharbor.role": "pipeline_run",
            "mlharbor.pipeline_run_id": str(run.id),
            "mlharbor.pipeline_run_created": created.isoformat() if created else "",
        },
        start_time=started.timestamp() if started else None,
        end_time=finished.timestamp() if finished else None,
        status="FINISHED" if str(run.state) == "succeeded" else "FAILED",
    )


def _metrics(run: Any) -> dict[str, Any]:
    """The run's metrics (``step.metric``), and each finished step's seconds."""
    metrics = dict(run.metrics or {})
    for step in run.steps:
        for name, value in (step.metrics or {}).items():
            metrics.setdefault(f"{step.step}.{name}", value)
        if step.seconds is not None:
            metrics[f"{step.step}.seconds"] = step.seconds
    return metrics
