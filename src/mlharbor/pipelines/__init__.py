"""Pipelines as a file: steps that reference each other, runs you can compare.

A pipeline file (YAML) names parameters with defaults and steps (ingest, split, insights,
train or AutoML, evaluate, promote with a gate, score, drift, notify); a run of it is a
record of its file's hash, its parameters and each step's job, inputs, outputs, metrics and
timing. See :func:`run_pipeline` (here and now) and :func:`submit` (queued for a server).
"""

from __future__ import annotations

from mlharbor.pipelines.records import PipelineStore, RunInfo, RunState, StepInfo, StepState
from mlharbor.pipelines.runner import Runner, run_pipeline, submit
from mlharbor.pipelines.spec import Pipeline, PipelineError, PipelineSpec, load_pipeline

__all__ = [
    "Pipeline",
    "PipelineError",
    "PipelineSpec",
    "PipelineStore",
    "RunInfo",
    "RunState",
    "Runner",
    "StepInfo",
    "StepState",
    "load_pipeline",
    "run_pipeline",
    "submit",
]
