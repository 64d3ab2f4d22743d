"""A real worker (in a thread) running real job processes on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest
from jobs_testkit import FAST, traces, wait_for, wait_state, worker_thread

from mlharbor.config import Settings
from mlharbor.jobs import EventKind, JobState, JobStore, follow_events, iter_events

pytestmark = pytest.mark.timeout(90)


def test_job_runs_to_success_with_live_progress(job_settings: Settings, store: JobStore) -> None:
    with worker_thread(job_settings):
        job = store.submit("sleep", {"seconds": 0.3, "steps": 3})
        seen = [e.kind for e in iter_events(store, job.id, poll=0.05)]
    done = store.get(job.id)
    assert done.state is JobState.SUCCEEDED
    assert done.result == {"slept": 0.3}
    assert (done.progress, done.attempts) == (1.0, 1)
    assert seen == ["submitted", "started", "progress", "progress", "progress", "succeeded"]


def test_bad_input_fails_once_with_the_users_message(
    job_settings: Settings, store: JobStore
) -> None:
    with worker_thread(job_settings):
        job = store.submit("t_bad_input", {}, max_attempts=3)
        done = wait_state(store, job.id)
    assert done.state is JobState.FAILED
    assert done.attempts == 1
    assert done.error is not None
    assert done.error["message"] == "column 'price' is missing from the input"
    assert done.error["code"] == "invalid_input"
    assert done.error["details"] == {"column": "price"}
    assert "retrying" not in [e.kind for e in store.events(job.id)]


def test_a_deterministic_error_fails_after_one_attempt_with_its_message(
    sqlite_job_settings: Settings, trace_dir: Path
) -> None:
    store = JobStore.from_url(sqlite_job_settings.resolved_database_url())
    with worker_thread(sqlite_job_settings):
        job = store.submit("t_conflict", {"dir": str(trace_dir)}, max_attempts=3)
        done = wait_state(store, job.id)
    assert (done.state, done.attempts) == (JobState.FAILED, 1)
    assert (
        done.error["message"] == "the model holds types mlharbor does not load from its store: x.Y"
    )
    assert (done.error["code"], done.error["retryable"]) == ("conflict", False)
    assert "retrying" not in [e.kind for e in store.events(job.id)]
    assert len(traces(trace_dir, "started")[job.id]) == 1


def test_an_unreachable_upstream_is_retried(sqlite_job_settings: Settings) -> None:
    store = JobStore.from_url(sqlite_job_settings.resolved_database_url())
    with worker_thread(sqlite_job_settings):
        job = store.submit("t_upstream", {})
        done = wait_state(store, job.id)
    assert (done.state, done.attempts, done.result) == (JobState.SUCCEEDED, 2, {"attempt": 2})


def test_unexpected_error_is_retried(sqlite_job_settings: Settings) -> None:
    store = JobStore.from_url(sqlite_job_settings.resolved_database_url())
    with worker_thread(sqlite_job_settings):
        job = store.submit("t_flaky", {})
        done = wait_state(store, job.id)
    assert (done.state, done.attempts, done.result) == (JobState.SUCCEEDED, 2, {"attempt": 2})
    retry = next(e for e in store.events(job.id) if e.kind == EventKind.RETRYING)
    assert retry.data["message"] == "transient failure"
    assert "RuntimeError" in retry.data["traceback"]


def test_a_handler_can_limit_retries_of_unexpected_errors(
    sqlite_job_settings: Settings, trace_dir: Path
) -> None:
    store = JobStore.from_url(sqlite_job_settings.resolved_database_url())
    with worker_thread(sqlite_job_settings):
        job = store.submit("t_broken", {"dir": str(trace_dir)}, max_attempts=3)
        done = wait_state(store, job.id)
    assert (done.state, done.attempts) == (JobState.FAILED, 2)
    assert done.error is not None
    assert done.error["message"] == "still broken on attempt 2"
    assert done.error["retryable"] is False
    assert [e.kind for e in store.events(job.id)].count("retrying") == 1
    assert len(traces(trace_dir, "started")[job.id]) == 2


def test_killed_job_process_is_retried_and_succeeds(
    sqlite_job_settings: Settings, trace_dir: Path
) -> None:
    store = JobStore.from_url(sqlite_job_settings.resolved_database_url())
    with worker_thread(sqlite_job_settings):
        job = store.submit("t_record", {"dir": str(trace_dir), "seconds": 30}, max_attempts=2)
        first = wait_for(lambda: traces(trace_dir, "started").get(job.id))
        pid = int((trace_dir / "started" / first[0]).read_text())
        os.kill(pid, signal.SIGKILL)  # the process running the job, from outside
        wait_for(lambda: store.get(job.id).attempts == 2)
        store.request_cancel(job.id)  # the second attempt would take 30 s
        done = wait_state(store, job.id)
    kinds = [e.kind for e in store.events(job.id)]
    assert kinds[:4] == ["submitted", "started", "retrying", "started"]
    retry = store.events(job.id)[2].data
    assert retry["message"] == "worker lost: the job process killed by SIGKILL"
    assert done.state is JobState.CANCELLED


def test_job_that_keeps_dying_fails_with_worker_lost(
    sqlite_job_settings: Settings, trace_dir: Path
) -> None:
    store = JobStore.from_url(sqlite_job_settings.resolved_database_url())
    with worker_thread(sqlite_job_settings):
        job = store.submit("t_crash", {"dir": str(trace_dir), "crash_on": [1, 2]}, max_attempts=2)
        done = wait_state(store, job.id)
        after = store.submit("noop", {})  # the worker is still there and free
        assert wait_state(store, after.id).state is JobState.SUCCEEDED
    assert (done.state, done.attempts) == (JobState.FAILED, 2)
    assert done.error is not None
    assert done.error["message"].startswith("worker lost: the job process killed by SIGKILL")
    assert done.error["message"].endswith("gave up after 2 attempt(s)")
    assert len(traces(trace_dir, "started")[job.id]) == 2


def test_cancel_stops_a_running_job_and_frees_the_worker(
    job_settings: Settings, store: JobStore, trace_dir: Path
) -> None:
    with worker_thread(job_settings, concurrency=1):
        job = store.submit("t_record", {"dir": str(trace_dir), "seconds": 60})
        wait_for(lambda: traces(trace_dir, "started").get(job.id))
        started = time.monotonic()
        store.request_cancel(job.id)
        done = wait_state(store, job.id)
        assert time.monotonic() - started < 5
        nxt = store.submit("noop", {})
        assert wait_state(store, nxt.id).state is JobState.SUCCEEDED
    assert done.state is JobState.CANCELLED
    assert done.message == "cancelled by request"
    assert job.id not in traces(trace_dir, "done")
    assert [e.kind for e in store.events(job.id)][-2:] == ["cancel_requested", "cancelled"]


def test_cancel_kills_a_job_that_never_checks(
    sqlite_job_settings: Settings, trace_dir: Path
) -> None:
    store = JobStore.from_url(sqlite_job_settings.resolved_database_url())
    with worker_thread(sqlite_job_settings) as worker:
        job = store.submit("t_busy", {"dir": str(trace_dir), "seconds": 60})
        first = wait_for(lambda: traces(trace_dir, "started").get(job.id))
        pid = int((trace_dir / "started" / first[0]).read_text())
        store.request_cancel(job.id)
        assert wait_state(store, job.id).state is JobState.CANCELLED
        wait_for(lambda: not worker.attempts, timeout=FAST.cancel_grace_seconds + 5)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_timeout_fails_the_job_with_the_reason_and_frees_the_worker(
    job_settings: Settings, store: JobStore, trace_dir: Path
) -> None:
    with worker_thread(job_settings, concurrency=1):
        job = store.submit(
            "t_busy", {"dir": str(trace_dir), "seconds": 60}, timeout_seconds=1, max_attempts=3
        )
        done = wait_state(store, job.id)
        nxt = store.submit("noop", {})
        assert wait_state(store, nxt.id).state is JobState.SUCCEEDED
    assert (done.state, done.attempts) == (JobState.FAILED, 1)
    assert done.error is not None
    assert done.error["code"] == "timeout"
    assert done.error["message"] == "timed out after 1 s (the job's time limit)"


def test_follow_events_streams_until_the_job_ends(sqlite_job_settings: Settings) -> None:
    store = JobStore.from_url(sqlite_job_settings.resolved_database_url())

    async def follow(job_id: int, after: int) -> list[tuple[int, str]]:
        return [(e.seq, e.kind) async for e in follow_events(store, job_id, after, poll=0.05)]

    with worker_thread(sqlite_job_settings):
        job = store.submit("sleep", {"seconds": 0.4, "steps": 2})
        events = asyncio.run(asyncio.wait_for(follow(job.id, 1), 30))
    assert events == [(2, "started"), (3, "progress"), (4, "progress"), (5, "succeeded")]
    assert asyncio.run(follow(job.id, 4)) == [(5, "succeeded")]
