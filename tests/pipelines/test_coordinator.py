"""The server side: cron schedules fire once across replicas, lost runs are recovered."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import update

from mlharbor.hub import Hub
from mlharbor.pipelines import PipelineStore, RunState, submit
from mlharbor.pipelines.coordinator import Coordinator
from mlharbor.pipelines.runner import next_fire
from mlharbor.store.db import transaction
from mlharbor.store.orm import PipelineDef, PipelineRun, utcnow
from tests.pipelines.conftest import LIGHT_PIPELINE, write_churn

SCHEDULED = "schedule: '*/5 * * * *'\n" + LIGHT_PIPELINE


def test_a_due_schedule_starts_one_run_across_two_replicas(hub: Hub, tmp_path: Path) -> None:
    hub.datasets.ingest_file(write_churn(tmp_path), name="churn")
    first = submit(hub, SCHEDULED, origin="api")
    store = PipelineStore(hub.sessions)
    (known,) = store.definitions()
    assert known.schedule == "*/5 * * * *" and known.next_fire is not None
    assert known.next_fire > time.time() and known.next_fire % 300 == 0
    # The time comes: both replicas look at once.
    due = known.next_fire
    replicas = [Coordinator(hub), Coordinator(hub)]
    started = [replica.fire_schedules(due + 1) for replica in replicas]
    assert sorted(len(s) for s in started) == [0, 1]
    runs, total = store.list_runs()
    assert total == 2 and runs[0].origin == "schedule" and runs[0].state == RunState.QUEUED
    assert runs[1].id == first.id
    assert store.definitions()[0].next_fire == next_fire("*/5 * * * *", due + 1) == due + 300
    # Not due yet: nothing more.
    assert replicas[0].fire_schedules(due + 2) == []
    # A file run again without its schedule stops the schedule.
    submit(hub, LIGHT_PIPELINE, origin="api")
    assert store.definitions()[0].schedule is None and store.definitions()[0].next_fire is None


def test_a_queued_run_is_claimed_by_one_replica_only(hub: Hub, tmp_path: Path) -> None:
    hub.datasets.ingest_file(write_churn(tmp_path), name="churn")
    run = submit(hub, LIGHT_PIPELINE, origin="api")
    store = PipelineStore(hub.sessions)
    claimed = [store.claim_queued("a"), store.claim_queued("b")]
    assert [c.id if c else None for c in claimed] == [run.id, None]
    assert store.get_run(run.id).state == RunState.RUNNING


def test_a_silent_server_run_is_requeued_and_a_silent_cli_run_failed(
    hub: Hub, tmp_path: Path
) -> None:
    hub.datasets.ingest_file(write_churn(tmp_path), name="churn")
    store = PipelineStore(hub.sessions)
    server = submit(hub, LIGHT_PIPELINE, origin="api")
    store.claim_queued("gone-server")
    cli = submit(hub, LIGHT_PIPELINE, origin="cli", state=RunState.RUNNING, owner="gone-cli")
    store.update_step(server.id, "data", state="running")
    with transaction(hub.sessions) as session:
        session.execute(update(PipelineRun).values(heartbeat_at=utcnow() - timedelta(seconds=600)))
    assert sorted(store.recover_lost(90)) == sorted([server.id, cli.id])
    again = store.get_run(server.id)
    assert again.state == RunState.QUEUED and again.step("data").state == "pending"
    lost = store.get_run(cli.id)
    assert lost.state == RunState.FAILED and "stopped" in lost.error["message"]
    assert store.recover_lost(90) == []


def test_a_scheduled_file_that_no_longer_validates_starts_nothing(hub: Hub, tmp_path: Path) -> None:
    hub.datasets.ingest_file(write_churn(tmp_path), name="churn")
    submit(hub, SCHEDULED, origin="api")
    with transaction(hub.sessions) as session:
        session.execute(update(PipelineDef).values(source="name: broken\n", next_fire=1.0))
    assert Coordinator(hub).fire_schedules(time.time()) == []
    assert PipelineStore(hub.sessions).list_runs()[1] == 1
