"""The embedded pool starts in the background: ``start()`` returns at once, ``ready`` follows."""

from __future__ import annotations

from pathlib import Path

import pytest
from jobs_testkit import FAST, traces, wait_state

from mlharbor.config import Settings
from mlharbor.jobs import JobState, JobStore, LocalWorkerPool

pytestmark = pytest.mark.timeout(180)


def test_start_returns_before_the_pool_is_ready_and_ready_follows(
    sqlite_job_settings: Settings, trace_dir: Path
) -> None:
    store = JobStore.from_url(sqlite_job_settings.resolved_database_url())
    job = store.submit("t_record", {"dir": str(trace_dir), "seconds": 0})
    pool = LocalWorkerPool(sqlite_job_settings, config=FAST)
    assert not pool.ready  # not started
    try:
        pool.start()
        # The worker process has yet to start Python, import the job stack and warm its
        # fork server: start() did not wait for any of that.
        assert pool.is_alive() and not pool.ready
        assert pool.wait_ready(timeout=150)
        assert wait_state(store, job.id, timeout=60).state == JobState.SUCCEEDED
        assert list(traces(trace_dir, "done")) == [job.id]
    finally:
        pool.stop()
    assert not pool.ready  # stopped
