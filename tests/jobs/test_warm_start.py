"""Job attempts start warm and at once: the ML stack is already imported by the fork server,
and a job submitted next to the embedded pool does not wait for the pool's next poll."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

from tests.jobs.warm_handlers import MODULES_AT_START

from mlharbor.config import Settings
from mlharbor.hub import JOB_KINDS
from mlharbor.jobs import JobsConfig, JobState, JobStore, LocalWorkerPool
from mlharbor.jobs.starter import WARM_FIRST, WARM_LATER, WARM_STACK, warm_list

# What a training attempt would otherwise spend seconds importing after it started.
HEAVY = [
    "pandas",
    "pyarrow",
    "sklearn.ensemble",
    "lightgbm",
    "skops.io",
    "matplotlib.backends.backend_agg",
    "mlharbor.workflows.train",
    "mlharbor.workflows.automl",
    "mlharbor.hub",
]


def _wait(store: JobStore, job_id: int, seconds: float) -> JobState:
    deadline = time.monotonic() + seconds
    while (state := store.get(job_id).state) is not JobState.SUCCEEDED and not state.is_terminal:
        if time.monotonic() > deadline:
            break
        time.sleep(0.02)
    return store.get(job_id).state


def test_the_warm_up_list_names_the_ml_stack_and_the_modules_of_the_hub_job_kinds() -> None:
    names = {entry.partition(":")[0] for entry in warm_list()}
    assert {"pandas", "skops.io", "lightgbm"} <= {e.partition(":")[0] for e in WARM_STACK}
    assert {path.partition(":")[0] for path in JOB_KINDS.values()} <= names


def test_an_attempt_starts_with_the_ml_stack_already_imported(
    sqlite_job_settings: Settings,
) -> None:
    store = JobStore.from_url(sqlite_job_settings.resolved_database_url())
    # A fresh pool process, so its fork server is started the way ``mlharbor serve`` starts it.
    with LocalWorkerPool(sqlite_job_settings):
        job = store.submit(MODULES_AT_START, {"modules": HEAVY})
        assert _wait(store, job.id, 300) is JobState.SUCCEEDED, store.get(job.id).error
    assert store.get(job.id).result == {"missing": []}
    store.close()


def test_a_job_submitted_next_to_the_pool_starts_without_waiting_for_its_poll(
    sqlite_job_settings: Settings,
) -> None:
    # With an hour between looks at the queue, only the wake-up on submit can start the job.
    config = replace(JobsConfig(), poll_seconds=3600.0)
    store = JobStore.from_url(sqlite_job_settings.resolved_database_url())
    pool = LocalWorkerPool(sqlite_job_settings, config=config).start()
    try:
        first = store.submit("noop", {})  # its worker may still be starting: found at start-up
        assert _wait(store, first.id, 300) is JobState.SUCCEEDED
        later = store.submit("noop", {})  # the worker now sleeps in its hour-long poll
        assert _wait(store, later.id, 60) is JobState.SUCCEEDED
    finally:
        pool.stop(timeout=30)
        store.close()


#: A stand-in fork server: imports the warm-up module (with nothing to warm), forks a child
#: that exits as a Python program does, then exits itself.
FORK_SERVER = """
import atexit, os, sys
marks = sys.argv[1]
atexit.register(lambda: open(os.path.join(marks, str(os.getpid())), "w").close())
os.environ.pop("_MLHARBOR_FORKSERVER_WARM", None)
import mlharbor.jobs.warm
pid = os.fork()
if pid == 0:
    sys.exit(0)
os.waitpid(pid, 0)
print(pid, flush=True)
raise SystemExit(3)
"""


def test_the_fork_server_leaves_at_once_and_its_forks_shut_down_as_usual(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", FORK_SERVER, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    # The server skipped the rest of its shutdown (its own exit handler never ran) ...
    assert done.returncode == 0, done.stderr
    child = done.stdout.strip()
    # ... while a process forked from it ran its exit handlers.
    assert sorted(p.name for p in tmp_path.iterdir()) == [child]


#: Warms up as a quick fork server, then as its attempt does beside its first fits.
QUICK = """
import json, sys
import mlharbor.hub
from mlharbor.jobs.starter import rest_to_warm, warm, warm_list, warm_rest
late = ("skops", "matplotlib", "polars")
for entry in warm_list(quick=True):
    warm(entry)
server = sorted(m for m in late if m in sys.modules)
starts = "sklearn.ensemble" in sys.modules and "mlharbor.models.train" in sys.modules
assert rest_to_warm()
warm_rest()
assert not rest_to_warm()
print(json.dumps([server, starts, sorted(m for m in late if m in sys.modules)]))
"""


def test_a_quick_fork_server_leaves_charts_model_files_and_drift_to_the_attempt() -> None:
    done = subprocess.run(
        [sys.executable, "-c", QUICK], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    server, starts, attempt = json.loads(done.stdout)
    assert server == [] and starts  # what training needs to start, and nothing later
    assert attempt == ["matplotlib", "polars", "skops"]  # imported beside the first fits
    assert set(WARM_STACK) == set(WARM_FIRST) | set(WARM_LATER)
