"""Two separate worker processes share one PostgreSQL queue."""

from __future__ import annotations

from pathlib import Path

import pytest
from jobs_testkit import start_worker_process, traces, wait_for

from mlharbor.jobs import JobState, JobStore

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(120)]


def test_two_workers_on_postgresql_run_each_of_20_jobs_exactly_once(
    pg_url: str, trace_dir: Path, tmp_path: Path
) -> None:
    store = JobStore.from_url(pg_url)
    jobs = [store.submit("t_record", {"dir": str(trace_dir), "seconds": 0.3}) for _ in range(20)]
    workers = [
        start_worker_process(pg_url, concurrency=2, lease=10, log=tmp_path / f"w{i}.log")
        for i in range(2)
    ]
    try:
        wait_for(lambda: store.count(state=JobState.SUCCEEDED) == 20, timeout=90, every=0.2)
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(30)
    finished = [store.get(j.id) for j in jobs]
    assert all(j.state is JobState.SUCCEEDED and j.attempts == 1 for j in finished)
    assert {job_id: len(f) for job_id, f in traces(trace_dir, "started").items()} == {
        j.id: 1 for j in jobs
    }
    assert {job_id: len(f) for job_id, f in traces(trace_dir, "done").items()} == {
        j.id: 1 for j in jobs
    }
    # Both processes took part (each runs two at a time, so one alone could not keep up).
    assert len({j.worker for j in finished}) == 2
    store.close()
