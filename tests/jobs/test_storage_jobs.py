"""A job that meets a full or read-only store fails once, with the store named, not retried."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from jobs_testkit import traces, wait_state, worker_thread
from tests.store.tmpfs import read_only, tmpfs

from mlharbor.config import Settings
from mlharbor.hub import Hub
from mlharbor.jobs import JobState
from mlharbor.workflows.train import TrainRequest

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def store_mount(tmp_path: Path) -> Iterator[Path]:
    with tmpfs(tmp_path / "store", size="8m") as path:
        yield path


@pytest.fixture
def hub(sqlite_job_settings: Settings, store_mount: Path) -> Iterator[Hub]:
    """A hub whose artifact store is a small tmpfs, and whose jobs may run 3 times."""
    settings = sqlite_job_settings.model_copy(update={"artifact_uri": str(store_mount)})
    with Hub.open(settings) as opened:
        yield opened


def test_training_into_a_read_only_store_fails_once_with_the_store_named(
    hub: Hub, store_mount: Path
) -> None:
    rows = [{"x": i, "z": (i * 7) % 5, "y": "a" if i % 3 else "b"} for i in range(60)]
    hub.datasets.ingest_records(rows, name="letters")
    job = hub.submit_train(TrainRequest(dataset="letters", target="y", cv_folds=2))
    read_only(store_mount)  # the model cannot be stored; the dataset can still be read

    with worker_thread(hub.settings):
        failed = wait_state(hub.jobs, job.id, timeout=150)
    assert (failed.state, failed.attempts, failed.max_attempts) == (JobState.FAILED, 1, 3)
    assert failed.error is not None
    assert (failed.error["code"], failed.error["type"]) == (
        "storage_unavailable",
        "StorageUnavailableError",
    )
    assert failed.error["retryable"] is False
    assert failed.error["details"] == {"reason": "read_only"}
    assert failed.error["message"].startswith(f"the artifact store at {store_mount} is read-only")
    assert "retrying" not in [e.kind for e in hub.jobs.events(job.id)]


def test_a_raw_read_only_error_in_a_handler_is_classified_and_not_retried(
    hub: Hub, store_mount: Path, trace_dir: Path
) -> None:
    read_only(store_mount)
    target = store_mount / "report.txt"
    job = hub.jobs.submit("t_write", {"dir": str(trace_dir), "path": str(target)})
    with worker_thread(hub.settings):
        failed = wait_state(hub.jobs, job.id, timeout=60)
    assert (failed.state, failed.attempts) == (JobState.FAILED, 1)
    assert failed.error is not None
    assert failed.error["code"] == "storage_unavailable"
    assert failed.error["message"] == (f"the storage at {target} is read-only; mount it read-write")
    assert "Read-only file system" in failed.error["traceback"]  # the original error too
    assert len(traces(trace_dir, "started")[job.id]) == 1
