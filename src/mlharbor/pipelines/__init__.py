"""Pipelines as a file: steps that reference each other, runs you can compare.

A pipeline file (YAML) names parameters with defaults and steps (ingest, split, insights,
train or AutoML, evaluate, promote with a gate, score, drift, notify); a run of it is a
record of its file's hash, its parameters and each step's job, inputs, outputs, metrics and
timing. See :func:`run_pipeline` (here and now) and :func:`submit` (queued for a server).

Names resolve on first use: the server's routes import the light records and spec modules
without loading the runner and its steps (the job workflows) at start-up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlharbor.lazy import lazy_exports

_EXPORTS = {
    "PipelineStore": "mlharbor.pipelines.records",
    "RunInfo": "mlharbor.pipelines.records",
    "RunState": "mlharbor.pipelines.records",
    "StepInfo": "mlharbor.pipelines.records",
    "StepState": "mlharbor.pipelines.records",
    "Runner": "mlharbor.pipelines.runner",
    "run_pipeline": "mlharbor.pipelines.runner",
    "submit": "mlharbor.pipelines.runner",
    "Pipeline": "mlharbor.pipelines.spec",
    "PipelineError": "mlharbor.pipelines.spec",
    "PipelineSpec": "mlharbor.pipelines.spec",
    "load_pipeline": "mlharbor.pipelines.spec",
}

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

if TYPE_CHECKING:
    from mlharbor.pipelines.records import PipelineStore, RunInfo, RunState, StepInfo, StepState
    from mlharbor.pipelines.runner import Runner, run_pipeline, submit
    from mlharbor.pipelines.spec import Pipeline, PipelineError, PipelineSpec, load_pipeline

_lazy = lazy_exports("mlharbor.pipelines", globals(), _EXPORTS)


def __getattr__(name: str) -> Any:
    return _lazy(name)
