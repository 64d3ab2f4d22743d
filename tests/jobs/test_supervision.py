"""A real ``mlharbor serve`` whose worker pool is killed: it comes back, and so do its jobs."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from jobs_testkit import SRC, pid_alive, traces, wait_for

from mlharbor.api.app import create_app
from mlharbor.config import Settings
from mlharbor.hub import Hub
from mlharbor.jobs import JobStore

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]

# The server imports the test kinds first, so its worker pool knows them too.
SERVE = "import jobs_testkit; from mlharbor.cli import app; app()"
LOCAL = "http://localhost"


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    url: str
    store: JobStore
    log: Path

    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.url + path, timeout=30)

    def ready(self) -> httpx.Response:
        return self.get("/readyz")

    def pool_pid(self) -> int:
        """The embedded worker pool: the server's child started by multiprocessing spawn."""
        pids = []
        for children in Path(f"/proc/{self.process.pid}/task").glob("*/children"):
            pids += [int(p) for p in children.read_text().split()]
        pools = [p for p in pids if b"spawn_main" in _cmdline(p) and pid_alive(p)]
        assert len(pools) == 1, f"expected one worker pool process, found {pools}"
        return pools[0]


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return b""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(tmp_path: Path, workers: int) -> Iterator[Server]:
    data = tmp_path / "data"
    port = _free_port()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), str(Path(__file__).parent)]),
        "MLHARBOR_DATA_DIR": str(data),
        "MLHARBOR_WORKERS": str(workers),
        "MLHARBOR_JOB_HEARTBEAT_SECONDS": "0.3",
        "MLHARBOR_JOB_LEASE_SECONDS": "3",
        "MLHARBOR_JOB_POLL_SECONDS": "0.1",
        "MLHARBOR_JOB_RECOVERY_SECONDS": "0.5",
    }
    log = tmp_path / "server.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", SERVE, "serve", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Server(process, f"http://127.0.0.1:{port}", None, log)  # type: ignore[arg-type]
    try:

        def up() -> bool:
            assert process.poll() is None, log.read_text()
            try:
                return server.ready().status_code == 200
            except httpx.TransportError:
                return False

        wait_for(up, timeout=90, every=0.2)
        server.store = JobStore.from_url(Settings(data_dir=data).resolved_database_url())
        yield server
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if server.store is not None:
            server.store.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """``mlharbor serve`` with one embedded worker and short job leases."""
    yield from _serve(tmp_path, workers=1)


def _job(server: Server, job_id: int) -> dict:
    response = server.get(f"/api/v1/jobs/{job_id}")
    assert response.status_code == 200
    return response.json()


def test_a_killed_worker_pool_is_restarted_and_its_job_retried(
    server: Server, trace_dir: Path
) -> None:
    assert server.ready().json()["checks"]["workers"] == "ok"
    job = server.store.submit("t_record", {"dir": str(trace_dir), "seconds": 3})
    started = wait_for(lambda: traces(trace_dir, "started").get(job.id), timeout=60)
    job_pid = int((trace_dir / "started" / started[0]).read_text())
    pool = server.pool_pid()

    os.kill(pool, signal.SIGKILL)  # as the kernel's out-of-memory killer would

    # Not ready while no worker runs, with the reason; the orphaned attempt is gone.
    down = wait_for(lambda: (r := server.ready()).status_code == 503 and r, every=0.02)
    assert down.json()["status"] == "unavailable"
    assert down.json()["checks"]["workers"].startswith(
        f"error: the worker pool process {pool} killed by SIGKILL; restarting in"
    )
    wait_for(lambda: not pid_alive(job_pid), timeout=10)
    # Ready again once a new pool runs; the job is retried on it and succeeds.
    wait_for(lambda: server.ready().status_code == 200, timeout=30)
    assert server.ready().json()["checks"]["workers"] == "ok"
    assert server.pool_pid() != pool
    done = wait_for(lambda: (j := _job(server, job.id))["state"] == "succeeded" and j, timeout=60)
    assert done["attempts"] == 2
    assert len(traces(trace_dir, "done")[job.id]) == 1
    events = server.get(f"/api/v1/jobs/{job.id}/events").json()
    kinds = [e["kind"] for e in events]
    assert kinds == ["submitted", "started", "retrying", "started", "succeeded"]
    assert events[2]["data"]["message"] == (
        f"worker lost: the worker pool process {pool} killed by SIGKILL"
    )
    # New work runs too.
    after = server.store.submit("t_record", {"dir": str(trace_dir), "seconds": 0})
    wait_for(lambda: _job(server, after.id)["state"] == "succeeded", timeout=60)

    metrics = server.get("/metrics").text
    assert "mlharbor_worker_restarts_total 1.0" in metrics
    assert "mlharbor_worker_pool_up 1.0" in metrics
    assert "mlharbor_jobs_recovered_total 1.0" in metrics
    log = server.log.read_text()
    assert f"worker pool process {pool} killed by SIGKILL; restarting it in" in log
    assert "worker pool restarted as process" in log


def test_the_api_process_recovers_jobs_of_lost_workers_when_no_worker_is_left(
    tmp_path: Path,
) -> None:
    # As next to external `mlharbor worker` services: the API runs no pool of its own.
    settings = Settings(
        data_dir=tmp_path / "data", workers=0, job_lease_seconds=1, job_recovery_seconds=0.2
    )
    with Hub.open(settings) as hub, TestClient(create_app(hub=hub), base_url=LOCAL) as api:
        # No pool to check: the API itself is ready, and jobs queue for the workers.
        assert "workers" not in api.get("/readyz").json()["checks"]
        retried = hub.jobs.submit("noop", {}, max_attempts=2)
        spent = hub.jobs.submit("noop", {}, max_attempts=1)
        hub.jobs.claim("host:1:gone")
        hub.jobs.claim("host:2:gone")  # then both workers vanish without a word

        def state(job_id: int) -> str:
            return api.get(f"/api/v1/jobs/{job_id}").json()["state"]

        wait_for(lambda: state(spent.id) == "failed" and state(retried.id) == "queued")
        failed = api.get(f"/api/v1/jobs/{spent.id}").json()
        assert failed["error"]["code"] == "worker_lost"
        assert failed["error"]["message"] == (
            "worker lost: no heartbeat from host:2:gone for 1 s; gave up after 1 attempt(s)"
        )
        assert "mlharbor_jobs_recovered_total 2.0" in api.get("/metrics").text
