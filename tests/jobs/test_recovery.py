"""Crashes and restarts: nothing lost, nothing stuck, nothing completed twice."""

from __future__ import annotations

import os
import signal
import time
from dataclasses import replace
from pathlib import Path

import pytest
from jobs_testkit import FAST, pid_alive, start_worker_process, traces, wait_for, wait_state

from mlharbor.config import Settings
from mlharbor.jobs import JobState, JobStore, LocalWorkerPool, recover_stale_jobs

pytestmark = pytest.mark.timeout(120)


def test_recovery_requeues_silent_jobs_then_fails_them_as_worker_lost(store: JobStore) -> None:
    retried = store.submit("noop", {}, max_attempts=2)
    last = store.submit("noop", {}, max_attempts=1)
    store.claim("gone-1")
    store.claim("gone-2")
    assert recover_stale_jobs(store, lease_seconds=60) == {}  # heartbeats are fresh
    time.sleep(0.3)
    moved = recover_stale_jobs(store, lease_seconds=0.2)
    assert moved == {retried.id: JobState.QUEUED, last.id: JobState.FAILED}
    failed = store.get(last.id)
    assert failed.error is not None
    assert failed.error["code"] == "worker_lost"
    assert failed.error["message"] == (
        "worker lost: no heartbeat from gone-2 for 0.2 s; gave up after 1 attempt(s)"
    )
    assert store.get(retried.id).worker is None


def test_kill_9_of_a_worker_process_kills_its_job_and_another_worker_finishes_it(
    sqlite_job_settings: Settings, trace_dir: Path, tmp_path: Path
) -> None:
    url = sqlite_job_settings.resolved_database_url()
    store = JobStore.from_url(url)
    job = store.submit("t_record", {"dir": str(trace_dir), "seconds": 2})
    first = start_worker_process(url, log=tmp_path / "w1.log")
    try:
        started = wait_for(lambda: traces(trace_dir, "started").get(job.id), timeout=60)
        job_pid = int((trace_dir / "started" / started[0]).read_text())
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        # The orphaned attempt must not run on while the job is handed to someone else.
        wait_for(lambda: not pid_alive(job_pid), timeout=5)
        assert store.get(job.id).state is JobState.RUNNING  # until a worker notices
    finally:
        first.kill()
    second = start_worker_process(url, log=tmp_path / "w2.log")
    try:
        done = wait_state(store, job.id, timeout=60)
    finally:
        second.terminate()
        second.wait(20)
    assert (done.state, done.attempts) == (JobState.SUCCEEDED, 2)
    assert len(traces(trace_dir, "done")[job.id]) == 1
    kinds = [e.kind for e in store.events(job.id)]
    assert kinds == ["submitted", "started", "retrying", "started", "succeeded"]
    assert "worker lost: no heartbeat" in store.events(job.id)[2].data["message"]


def test_restart_of_the_embedded_pool_loses_nothing_and_runs_nothing_twice(
    sqlite_job_settings: Settings, trace_dir: Path
) -> None:
    settings = sqlite_job_settings.model_copy(update={"workers": 2})
    store = JobStore.from_url(settings.resolved_database_url())
    # Long enough that the attempts orphaned by the kill notice it and die before finishing.
    jobs = [store.submit("t_record", {"dir": str(trace_dir), "seconds": 6}) for _ in range(5)]
    pool = LocalWorkerPool(settings, config=FAST).start()
    try:
        wait_for(lambda: len(traces(trace_dir, "started")) == 2, timeout=60)
        pool.kill()  # as a crash or an OOM kill of the server would
    finally:
        pool.stop()
    states = [store.get(j.id).state for j in jobs]
    assert states.count(JobState.RUNNING) == 2
    assert states.count(JobState.QUEUED) == 3
    with LocalWorkerPool(settings, config=FAST):
        for job in jobs:
            wait_state(store, job.id, timeout=60)
    finished = [store.get(j.id) for j in jobs]
    assert [j.state for j in finished] == [JobState.SUCCEEDED] * 5
    done = traces(trace_dir, "done")
    assert {job_id: len(files) for job_id, files in done.items()} == {j.id: 1 for j in jobs}
    assert sorted(j.attempts for j in finished) == [1, 1, 1, 2, 2]


def test_stopping_the_pool_puts_running_jobs_back_without_spending_attempts(
    sqlite_job_settings: Settings, trace_dir: Path
) -> None:
    store = JobStore.from_url(sqlite_job_settings.resolved_database_url())
    job = store.submit("t_record", {"dir": str(trace_dir), "seconds": 30})
    config = replace(FAST, stop_grace_seconds=0.2)
    pool = LocalWorkerPool(sqlite_job_settings, config=config).start()
    started = wait_for(lambda: traces(trace_dir, "started").get(job.id), timeout=60)
    job_pid = int((trace_dir / "started" / started[0]).read_text())
    pool.stop()
    after = store.get(job.id)
    assert (after.state, after.attempts, after.message) == (
        JobState.QUEUED,
        0,
        "requeued: worker stopped",
    )
    assert not pid_alive(job_pid)
    assert os.getpid() != job_pid


def test_a_job_cancelled_while_its_worker_was_lost_is_cancelled_not_rerun(
    store: JobStore,
) -> None:
    job = store.submit("noop", {}, max_attempts=3)
    store.claim("gone")
    store.request_cancel(job.id)  # nobody is left to act on it
    time.sleep(0.3)
    assert recover_stale_jobs(store, lease_seconds=0.2) == {job.id: JobState.CANCELLED}
    assert store.get(job.id).state is JobState.CANCELLED
    assert store.claim("next") is None
