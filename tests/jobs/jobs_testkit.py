"""Job handlers and helpers for the job-system tests.

Workers import this module (``--handlers jobs_testkit``) so the kinds below exist in every
process. Handlers leave their traces as files, which outlive any process we kill.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mlharbor.config import Settings
from mlharbor.errors import ConflictError, InvalidInputError, UpstreamError
from mlharbor.jobs import (
    JobContext,
    JobsConfig,
    JobState,
    JobStore,
    Worker,
    register,
    retry_errors,
)

# Short enough for quick tests, long enough that a loaded 2-core CI machine does not make
# a healthy worker look lost (its heartbeats can be a few seconds late there).
FAST = JobsConfig(
    heartbeat_seconds=0.3,
    lease_seconds=6.0,
    poll_seconds=0.05,
    recovery_seconds=0.5,
    cancel_grace_seconds=2.0,
    stop_grace_seconds=0.5,
    compute_workers=2,
)


def _trace(params: dict[str, Any], what: str, ctx: JobContext) -> Path:
    folder = Path(params["dir"]) / what
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{ctx.job_id}-{ctx.attempt}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    path.write_text(str(os.getpid()))
    return path


def record(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Note the start, sleep ``seconds`` (cancellable), then note the completion."""
    _trace(params, "started", ctx)
    deadline = time.monotonic() + float(params.get("seconds", 0))
    while time.monotonic() < deadline:
        ctx.check_cancelled()
        time.sleep(0.02)
    _trace(params, "done", ctx)
    return {"job": ctx.job_id, "attempt": ctx.attempt}


def bad_input(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Fail the way a wrong column fails."""
    raise InvalidInputError("column 'price' is missing from the input", column="price")


def conflict(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Fail the way a model the registry refuses fails: the same on every attempt."""
    _trace(params, "started", ctx)
    raise ConflictError("the model holds types mlharbor does not load from its store: x.Y")


def upstream_once(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """A cluster that does not answer on the first attempt only."""
    if ctx.attempt == 1:
        raise UpstreamError("cannot reach the Dask scheduler at tcp://127.0.0.1:1")
    return {"attempt": ctx.attempt}


def flaky(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Raise an ordinary error on the first attempt only."""
    if ctx.attempt == 1:
        raise RuntimeError("transient failure")
    return {"attempt": ctx.attempt}


@retry_errors(1)
def broken_once_retried(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Fail on every attempt, retried once at most like an expensive search."""
    _trace(params, "started", ctx)
    raise RuntimeError(f"still broken on attempt {ctx.attempt}")


def crash(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Kill its own process with SIGKILL on the attempts listed in ``crash_on``."""
    _trace(params, "started", ctx)
    if ctx.attempt in params.get("crash_on", [1]):
        os.kill(os.getpid(), signal.SIGKILL)
    return {"attempt": ctx.attempt}


def write_file(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Write ``params["path"]`` with plain ``open``, as code outside the artifact store does."""
    _trace(params, "started", ctx)
    Path(params["path"]).write_bytes(b"result")
    return {}


def busy(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Sleep without ever checking for cancel, like a long native call."""
    _trace(params, "started", ctx)
    time.sleep(float(params.get("seconds", 60)))
    return {}


for _kind, _fn in {
    "t_record": record,
    "t_bad_input": bad_input,
    "t_flaky": flaky,
    "t_conflict": conflict,
    "t_upstream": upstream_once,
    "t_crash": crash,
    "t_broken": broken_once_retried,
    "t_busy": busy,
    "t_write": write_file,
}.items():
    register(_kind, _fn)


def traces(folder: Path, what: str) -> dict[int, list[str]]:
    """Job id → the trace files left under ``folder/what``."""
    out: dict[int, list[str]] = {}
    for path in sorted((folder / what).glob("*")) if (folder / what).exists() else []:
        out.setdefault(int(path.name.split("-")[0]), []).append(path.name)
    return out


def wait_for(predicate: Callable[[], Any], timeout: float = 30.0, every: float = 0.05) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"condition not met within {timeout} s")


def wait_state(store: JobStore, job_id: int, *states: JobState, timeout: float = 30.0) -> Any:
    """Wait until the job is in one of ``states`` (default: any terminal state)."""

    def reached() -> Any:
        job = store.get(job_id)
        ok = job.state in states if states else job.state.is_terminal
        return job if ok else None

    return wait_for(reached, timeout)


@contextmanager
def worker_thread(
    settings: Settings, *, concurrency: int = 1, config: JobsConfig = FAST
) -> Iterator[Worker]:
    """A real worker running in a thread of the test process (its jobs run in processes)."""
    worker = Worker(settings, concurrency=concurrency, config=config)
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    try:
        yield worker
    finally:
        stop.set()
        thread.join(30)
        assert not thread.is_alive(), "the worker did not stop"


SRC = Path(__file__).resolve().parents[2] / "src"


def start_worker_process(
    database_url: str, *, concurrency: int = 1, lease: float = 2.0, log: Path | None = None
) -> subprocess.Popen[bytes]:
    """``python -m mlharbor.jobs.worker`` in a process of its own, with the test kinds."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), str(Path(__file__).parent)])}
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - the child owns it
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlharbor.jobs.worker",
            "--database-url",
            database_url,
            "--concurrency",
            str(concurrency),
            "--heartbeat",
            "0.2",
            "--lease",
            str(lease),
            "--poll",
            "0.05",
            "--handlers",
            "jobs_testkit",
        ],
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
    )


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists (zombies of others count as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split()[2] == "Z")
