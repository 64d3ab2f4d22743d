from __future__ import annotations

import json
import threading

import pytest

import mlharbor.jobs
from mlharbor.errors import InvalidInputError, NotFoundError
from mlharbor.jobs import EventKind, JobState, JobStore


def test_public_names_are_pinned() -> None:
    assert sorted(mlharbor.jobs.__all__) == [
        "DaskExecutor",
        "EventKind",
        "Executor",
        "JobCancelled",
        "JobContext",
        "JobEventInfo",
        "JobInfo",
        "JobState",
        "JobStore",
        "JobSupervisor",
        "JobsConfig",
        "Lease",
        "LocalExecutor",
        "LocalWorkerPool",
        "Worker",
        "follow_events",
        "iter_events",
        "make_executor",
        "recover_stale_jobs",
        "register",
        "registered_kinds",
        "retry_errors",
        "run_worker",
        "unregister",
    ]


def test_submitted_job_is_queued_with_a_submitted_event(store: JobStore) -> None:
    job = store.submit("sleep", {"seconds": 1}, timeout_seconds=5, max_attempts=2)
    assert job.state is JobState.QUEUED
    again = store.get(job.id)
    assert (again.kind, again.params, again.max_attempts, again.timeout_seconds) == (
        "sleep",
        {"seconds": 1},
        2,
        5,
    )
    assert again.created_at.tzinfo is not None
    assert [e.kind for e in store.events(job.id)] == [EventKind.SUBMITTED]
    json.dumps(again.to_dict())


def test_unknown_kind_and_bad_params_are_rejected_with_a_reason(store: JobStore) -> None:
    with pytest.raises(InvalidInputError, match=r"unknown job kind 'nope'.*sleep"):
        store.submit("nope", {})
    with pytest.raises(InvalidInputError, match="not valid JSON"):
        store.submit("sleep", {"x": object()})
    with pytest.raises(InvalidInputError, match="max_attempts"):
        store.submit("sleep", {}, max_attempts=0)
    with pytest.raises(InvalidInputError, match="timeout_seconds"):
        store.submit("sleep", {}, timeout_seconds=0)
    assert store.count() == 0


def test_missing_job_is_not_found(store: JobStore) -> None:
    with pytest.raises(NotFoundError, match="job 999"):
        store.get(999)
    with pytest.raises(NotFoundError):
        store.request_cancel(999)
    assert store.find(999) is None


def test_list_filters_by_state_and_kind_newest_first(store: JobStore) -> None:
    a = store.submit("noop", {})
    b = store.submit("sleep", {})
    c = store.submit("noop", {})
    store.request_cancel(a.id)
    assert [j.id for j in store.list()] == [c.id, b.id, a.id]
    assert [j.id for j in store.list(kind="noop")] == [c.id, a.id]
    assert [j.id for j in store.list(state=JobState.CANCELLED)] == [a.id]
    assert [j.id for j in store.list(limit=1, offset=1)] == [b.id]
    assert store.count(state="queued") == 2


def test_cancelling_a_queued_job_ends_it_at_once(store: JobStore) -> None:
    job = store.submit("noop", {})
    cancelled = store.request_cancel(job.id)
    assert cancelled.state is JobState.CANCELLED
    assert cancelled.finished_at is not None
    assert store.claim("w") is None
    assert store.request_cancel(job.id).state is JobState.CANCELLED  # idempotent


def test_progress_is_clamped_and_logged(store: JobStore) -> None:
    job = store.submit("noop", {})
    store.set_progress(job.id, 1.7, "almost")
    store.add_event(job.id, "fold", {"fold": 1})
    info = store.get(job.id)
    assert (info.progress, info.message) == (1.0, "almost")
    events = store.events(job.id, after_seq=1)
    assert [(e.seq, e.kind) for e in events] == [(2, "progress"), (3, "fold")]
    assert events[0].data == {"fraction": 1.0, "message": "almost"}


def test_concurrent_claims_take_each_job_exactly_once(store: JobStore) -> None:
    ids = {store.submit("noop", {}).id for _ in range(20)}
    claimed: list[int] = []
    lock = threading.Lock()

    def claim_all(name: str) -> None:
        while (job := store.claim(name)) is not None:
            with lock:
                claimed.append(job.id)

    threads = [threading.Thread(target=claim_all, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(claimed) == sorted(ids)


def test_a_lost_lease_cannot_overwrite_the_new_attempt(store: JobStore) -> None:
    job = store.submit("noop", {}, max_attempts=3)
    first = store.claim("old")
    assert first is not None and first.attempts == 1
    assert store.fail(first.lease, {"type": "X", "message": "boom"}, retry=True) is JobState.QUEUED
    second = store.claim("new")
    assert second is not None and second.attempts == 2
    assert store.finish(first.lease, {"from": "old"}) is False
    assert store.heartbeat(first.lease).held is False
    assert store.finish(second.lease, {"from": "new"}) is True
    done = store.get(job.id)
    assert (done.state, done.result) == (JobState.SUCCEEDED, {"from": "new"})


def test_retryable_failures_give_up_after_max_attempts(store: JobStore) -> None:
    job = store.submit("noop", {}, max_attempts=2)
    for expected in (JobState.QUEUED, JobState.FAILED):
        claimed = store.claim("w")
        assert claimed is not None
        error = {"type": "WorkerLost", "message": "worker lost"}
        assert store.fail(claimed.lease, error, retry=True) is expected
    info = store.get(job.id)
    assert info.error is not None
    assert info.error["message"] == "worker lost; gave up after 2 attempt(s)"
    assert info.attempts == 2


def test_release_requeues_without_spending_an_attempt(store: JobStore) -> None:
    job = store.submit("noop", {})
    claimed = store.claim("w")
    assert claimed is not None
    assert store.release(claimed.lease, "worker stopped")
    info = store.get(job.id)
    assert (info.state, info.attempts, info.worker) == (JobState.QUEUED, 0, None)
