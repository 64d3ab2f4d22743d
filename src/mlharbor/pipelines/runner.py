"""Running a pipeline: its steps in order, each recorded, reused when unchanged, resumable.

A step's cache key is the SHA-256 of its kind, its configuration with every reference
filled in, and the content hashes of the dataset and model versions it reads. A later run
whose step has the same key reuses that step's outputs (as DVC and Kedro reuse unchanged
stages), if what they name still exists. A failed step stops the run with its error; a
new run ``from_step`` takes the outputs of the steps before it from the previous run of
the same pipeline and runs the rest afresh.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlharbor.errors import HarborError, NotFoundError
from mlharbor.pipelines import dag
from mlharbor.pipelines.records import PipelineStore, RunInfo, RunState, StepState
from mlharbor.pipelines.spec import (
    Pipeline,
    PipelineError,
    load_pipeline,
    substitute_params,
    validate_step,
)
from mlharbor.pipelines.steps import (
    CACHEABLE,
    EXECUTORS,
    StepContext,
    dataset_version,
    split_ref,
)
from mlharbor.store.orm import utcnow
from mlharbor.tracking.pipelines import track_pipeline_run
from mlharbor.values import jsonable

if TYPE_CHECKING:
    from mlharbor.hub import Hub

log = logging.getLogger(__name__)

#: How often a running step tells the database it is alive.
HEARTBEAT_SECONDS = 10.0
#: Silence after which a run's runner is taken for lost.
LEASE_SECONDS = 90.0
#: Least time between two progress writes of one step (a job reports many times a second).
PROGRESS_SECONDS = 0.5


def owner_id() -> str:
    """Who runs a run: host, process and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def next_fire(schedule: str | None, now: float | None = None) -> float | None:
    """The next time (Unix seconds, UTC) a cron schedule fires after ``now``."""
    if not schedule:
        return None
    from datetime import UTC, datetime

    from croniter import croniter

    start = datetime.fromtimestamp(time.time() if now is None else now, UTC)
    return float(croniter(schedule, start).get_next(float))


def submit(
    hub: Hub,
    text: str | bytes,
    *,
    params: dict[str, Any] | None = None,
    origin: str,
    from_step: str | None = None,
    inputs: dict[str, str] | None = None,
    state: RunState = RunState.QUEUED,
    owner: str | None = None,
    local_files: bool = False,
) -> RunInfo:
    """Check a pipeline file and record a run of it (queued for a server by default).

    Also remembers the file as the pipeline's latest, with its schedule. Without
    ``local_files`` (a server), an ingest step that reads a path must be given a stored
    dataset in ``inputs``.

    Raises
    ------
    PipelineError
        The file, a parameter, ``from_step`` or ``inputs`` is wrong (the message says
        where).
    """
    pipeline = load_pipeline(text, params)
    graph = dag.dependencies(pipeline)
    ordered = dag.order(graph)
    kinds = {s.id: s.kind for s in pipeline.spec.steps}
    for step_id, ref in (inputs or {}).items():
        if kinds.get(step_id) != "ingest":
            raise PipelineError(f"inputs: {step_id!r} is not an ingest step of the pipeline")
        if not isinstance(ref, str):
            raise PipelineError(f"inputs: {step_id}: give a dataset as NAME or NAME@VERSION")
        dataset_version(hub, ref)
    if not local_files:
        for index, step in enumerate(pipeline.spec.steps):
            if step.kind == "ingest" and step.path and step.id not in (inputs or {}):
                raise PipelineError(
                    f"step {step.id}: a server does not read local paths; run the file with "
                    "`mlharbor run --url` (it uploads the file), or name a stored dataset for "
                    f"this step in inputs",
                    line=pipeline.line_of("steps", index, "path"),
                )
    store = PipelineStore(hub.sessions)
    resumed_from = None
    if from_step is not None:
        if from_step not in kinds:
            raise PipelineError(
                f"--from {from_step!r}: the pipeline has no such step; steps: {', '.join(kinds)}"
            )
        previous = store.latest_run(pipeline.spec.name)
        if previous is None:
            raise PipelineError(
                f"--from {from_step}: pipeline {pipeline.spec.name!r} has no earlier run to resume"
            )
        before = ordered[: ordered.index(from_step)]
        have = {s.step: s for s in previous.steps}
        missing = [s for s in before if s not in have or not have[s].state.has_outputs]
        if missing:
            raise PipelineError(
                f"--from {from_step}: run {previous.id} has no result for step(s) "
                f"{', '.join(missing)}; resume from an earlier step"
            )
        resumed_from = previous.id
    store.save_definition(
        pipeline.spec.name,
        pipeline.text,
        pipeline.file_hash,
        pipeline.spec.schedule,
        next_fire(pipeline.spec.schedule),
    )
    return store.create_run(
        pipeline=pipeline.spec.name,
        source=pipeline.text,
        file_hash=pipeline.file_hash,
        params=pipeline.params,
        origin=origin,
        steps=[(s, kinds[s], graph[s]) for s in ordered],
        state=state,
        from_step=from_step,
        resumed_from=resumed_from,
        inputs=dict(inputs or {}),
        owner=owner,
    )


class Runner:
    """Runs recorded runs with one hub.

    Parameters
    ----------
    hub : Hub
    base_dir : Path, optional
        Where ``path:`` sources are read from (the pipeline file's folder); ``None`` on a
        server, which reads no local files.
    run_here : bool
        Run the steps' jobs in this process (the command line without a server).
    on_change : callable, optional
        Called with the run id after each change of a step, to show progress.
    """

    def __init__(
        self,
        hub: Hub,
        *,
        base_dir: Path | None = None,
        run_here: bool = False,
        on_change: Callable[[int], None] | None = None,
    ) -> None:
        self.hub = hub
        self.store = PipelineStore(hub.sessions)
        self.base_dir = base_dir
        self.run_here = run_here
        self.on_change = on_change or (lambda run_id: None)

    def execute(self, run_id: int) -> RunInfo:
        """Run the steps of a recorded run that are not done yet; the finished run."""
        finished = self._execute(run_id)
        track_pipeline_run(self.hub.settings, finished)  # MLflow, if configured; never fails
        return finished

    def _execute(self, run_id: int) -> RunInfo:
        run = self.store.get_run(run_id)
        try:
            pipeline = load_pipeline(run.source, run.params)
        except HarborError as exc:
            return self._fail(run.id, None, exc.message, exc.code)
        previous = self.store.get_run(run.resumed_from) if run.resumed_from else None
        resume_before: set[str] = set()
        if run.from_step is not None:
            names = [s.step for s in run.steps]
            resume_before = set(names[: names.index(run.from_step)])
        outputs: dict[str, dict[str, Any]] = {}
        for record in run.steps:
            if record.state.has_outputs:  # a run recovered after its runner stopped
                outputs[record.step] = record.outputs
                continue
            if record.step in resume_before and previous is not None:
                earlier = previous.step(record.step)
                outputs[record.step] = earlier.outputs
                self.store.update_step(
                    run.id,
                    record.step,
                    state=StepState.CACHED,
                    outputs=earlier.outputs,
                    metrics=earlier.metrics,
                    inputs=earlier.inputs,
                    config=earlier.config,
                    cache_key=earlier.cache_key,
                    job_id=earlier.job_id,
                    reused_from=earlier.reused_from or previous.id,
                    message=f"from run {previous.id} (resumed from {run.from_step})",
                    seconds=0.0,
                )
                self.on_change(run.id)
                continue
            failed = self._step(run, pipeline, record.step, outputs)
            if failed is not None:
                return failed
        metrics = {}
        for record in self.store.get_run(run.id).steps:
            for name, value in record.metrics.items():
                if isinstance(value, int | float) and not isinstance(value, bool):
                    metrics[f"{record.step}.{name}"] = value
        finished = self.store.finish_run(run.id, RunState.SUCCEEDED, metrics=metrics)
        self.on_change(run.id)
        return finished

    # ---- one step -----------------------------------------------------------------------

    def _step(
        self, run: RunInfo, pipeline: Pipeline, step_id: str, outputs: dict[str, dict[str, Any]]
    ) -> RunInfo | None:
        index, raw = pipeline.step_data(step_id)
        began = time.perf_counter()
        self.store.update_step(
            run.id, step_id, state=StepState.RUNNING, started_at=utcnow(), progress=0.0
        )
        self.on_change(run.id)
        try:
            values = dag.resolve(substitute_params(raw, pipeline.params), outputs)
            override = run.inputs.get(step_id)
            if override is not None:  # a remote command line uploaded this step's file
                values = {k: v for k, v in values.items() if k not in ("path", "url", "rdataset")}
                values["dataset"] = override
            step = validate_step(pipeline, index, values)
            config = jsonable(step.model_dump(mode="json", by_alias=True, exclude_none=True))
            key = self._cache_key(step, config) if step.kind in CACHEABLE else None
            self.store.update_step(run.id, step_id, config=config, cache_key=key)
            cached = self._cached(key) if key and run.from_step != step_id else None
            if cached is not None:
                outputs[step_id] = cached.outputs
                self.store.update_step(
                    run.id,
                    step_id,
                    state=StepState.CACHED,
                    outputs=cached.outputs,
                    metrics=cached.metrics,
                    inputs=cached.inputs,
                    job_id=cached.job_id,
                    reused_from=cached.reused_from,
                    message=f"unchanged: reused from run {cached.reused_from}",
                    progress=1.0,
                    finished_at=utcnow(),
                    seconds=round(time.perf_counter() - began, 3),
                )
                self.on_change(run.id)
                return None
            context = self._context(run, pipeline, step_id, outputs)
            with _Heartbeat(self.store, run.id):
                outcome = EXECUTORS[step.kind](context, step)
        except HarborError as exc:
            return self._fail(run.id, step_id, exc.message, exc.code, began)
        except Exception as exc:  # a bug or an outage: the run records it and stops
            log.exception("pipeline run %s step %s failed", run.id, step_id)
            return self._fail(run.id, step_id, f"{type(exc).__name__}: {exc}", "error", began)
        outputs[step_id] = jsonable(outcome.outputs)
        self.store.update_step(
            run.id,
            step_id,
            state=StepState.CACHED if outcome.reused else StepState.DONE,
            outputs=outputs[step_id],
            metrics=jsonable(outcome.metrics),
            inputs=jsonable(outcome.inputs),
            message=outcome.message[:2000],
            progress=1.0,
            finished_at=utcnow(),
            seconds=round(time.perf_counter() - began, 3),
        )
        self.on_change(run.id)
        return None

    def _context(
        self, run: RunInfo, pipeline: Pipeline, step_id: str, outputs: dict[str, dict[str, Any]]
    ) -> StepContext:
        last_time, last_fraction, last_message = 0.0, -1.0, ""

        def report(fraction: float, message: str) -> None:
            nonlocal last_time, last_fraction, last_message
            now = time.monotonic()
            fraction = max(0.0, min(1.0, float(fraction)))
            changed = (fraction, message) != (last_fraction, last_message)
            if not changed or (now - last_time < PROGRESS_SECONDS and fraction < 1.0):
                return
            last_time, last_fraction, last_message = now, fraction, message
            self.store.update_step(run.id, step_id, progress=fraction, message=message[:2000])
            self.on_change(run.id)

        def set_job(job_id: int) -> None:
            self.store.update_step(run.id, step_id, job_id=job_id)
            self.on_change(run.id)

        def summary() -> dict[str, Any]:
            current = self.store.get_run(run.id)
            return {
                s.step: {"state": str(s.state), "message": s.message, "metrics": s.metrics}
                for s in current.steps
            }

        return StepContext(
            hub=self.hub,
            pipeline=pipeline.spec.name,
            run_id=run.id,
            params=pipeline.params,
            outputs=outputs,
            base_dir=self.base_dir,
            run_here=self.run_here,
            report=report,
            set_job=set_job,
            summary=summary,
        )

    def _fail(
        self,
        run_id: int,
        step_id: str | None,
        message: str,
        code: str,
        began: float | None = None,
    ) -> RunInfo:
        if step_id is not None:
            self.store.update_step(
                run_id,
                step_id,
                state=StepState.FAILED,
                error={"message": message, "code": code},
                message=message[:2000],
                finished_at=utcnow(),
                seconds=None if began is None else round(time.perf_counter() - began, 3),
            )
        error = {"message": message, "code": code, "step": step_id}
        finished = self.store.finish_run(run_id, RunState.FAILED, error=error)
        self.on_change(run_id)
        return finished

    # ---- the cache ----------------------------------------------------------------------

    def _cache_key(self, step: Any, config: dict[str, Any]) -> str | None:
        """The step's key: its kind, its configuration and the hashes of what it reads;
        ``None`` when something it reads cannot be found (the step then says what)."""
        hashes: dict[str, Any] = {}
        try:
            for name, value in config.items():
                if name in dag.DATASET_FIELDS and isinstance(value, str):
                    hashes[name] = dataset_version(self.hub, value).content_hash
                elif name in dag.MODEL_FIELDS and step.kind in dag.READS_MODEL:
                    model, ref = split_ref(value, "model")
                    hashes[name] = self.hub.models.get_version(model, ref or "latest").content_hash
        except HarborError:
            return None
        identity = {"kind": step.kind, "config": config, "inputs": hashes}
        text = json.dumps(identity, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()

    def _cached(self, key: str) -> Any:
        found = self.store.find_cached(key)
        if found is None or not self._still_there(found.outputs):
            return None
        return found

    def _still_there(self, outputs: dict[str, Any]) -> bool:
        """Whether every dataset and model version an earlier step made still exists."""
        try:
            for name, value in outputs.items():
                if not isinstance(value, str) or "@" not in value:
                    continue
                if name == "model":
                    model, ref = split_ref(value, "model")
                    self.hub.models.get_version(model, ref or "latest")
                else:
                    dataset_version(self.hub, value)
        except (NotFoundError, HarborError):
            return False
        return True


class _Heartbeat:
    """Tells the database every few seconds that a step is still being run."""

    def __init__(self, store: PipelineStore, run_id: int) -> None:
        self.store, self.run_id = store, run_id
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True, name="pipeline-beat")

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_SECONDS):
            try:
                self.store.heartbeat(self.run_id)
            except Exception:  # a database hiccup: the next beat tries again
                log.warning("pipeline run %s: heartbeat failed", self.run_id, exc_info=True)

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def run_pipeline(
    hub: Hub,
    text: str | bytes,
    *,
    params: dict[str, Any] | None = None,
    base_dir: Path | None = None,
    from_step: str | None = None,
    on_change: Callable[[int], None] | None = None,
    on_start: Callable[[RunInfo], None] | None = None,
) -> RunInfo:
    """Run a pipeline file here and now (the command line's embedded hub); the finished run.

    Examples
    --------
    >>> run = run_pipeline(hub, Path("samples/email-spam.yaml").read_text(),  # doctest: +SKIP
    ...                    params={"budget": 30}, base_dir=Path("samples"))
    >>> run.state
    'succeeded'
    """
    run = submit(
        hub,
        text,
        params=params,
        origin="cli",
        from_step=from_step,
        state=RunState.RUNNING,
        owner=owner_id(),
        local_files=True,
    )
    if on_start is not None:
        on_start(run)
    if any(s.kind in ("train", "automl", "score") for s in run.steps):
        from mlharbor.jobs.starter import start_attempt_server

        # The jobs' fork server imports the ML stack (seconds) while the first steps run,
        # not after the first job is queued: an AutoML budget counts from its submit.
        start_attempt_server(hub.settings.resolved_database_url())
    runner = Runner(hub, base_dir=base_dir, run_here=True, on_change=on_change)
    return runner.execute(run.id)
