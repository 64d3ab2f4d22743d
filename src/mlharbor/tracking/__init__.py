"""Experiment tracking: jobs and pipeline runs also logged to an MLflow tracking server.

:func:`report_run` logs a :class:`TrackedRun` (parameters, metrics, tags, artifacts, an
MLflow model, nested runs) to the server of ``MLHARBOR_MLFLOW_TRACKING_URI`` and never
raises; :func:`log_run` is the same, raising :class:`~mlharbor.errors.UpstreamError`;
:func:`track_job` is the hook train and AutoML jobs call at success.
"""

from __future__ import annotations

from mlharbor.tracking.jobs import job_run, track_job
from mlharbor.tracking.mlflow import LoggedRun, TrackedDataset, TrackedRun, log_run, report_run
from mlharbor.tracking.rest import MlflowRest

__all__ = [
    "LoggedRun",
    "MlflowRest",
    "TrackedDataset",
    "TrackedRun",
    "job_run",
    "log_run",
    "report_run",
    "track_job",
]
