"""The scale-out topology as real processes: every server started here, stopped by its PID.

PostgreSQL (the machine's, a fresh database per run), an S3 bucket on moto's server (a
stand-in for AWS S3 or MinIO: the same REST protocol, on loopback), a Dask scheduler with two
worker processes, two ``mlharbor worker`` processes, and two API processes (``serve --role
all`` with no embedded pool, and a ``serve --role predict`` replica), all sharing the one
database and the one bucket. Then a user's path through them: upload, train and AutoML with
folds on Dask, predictions on the replica, an alias moved on one API and seen by the other, a
file scored on Dask, a worker killed mid-job while the other finishes the job, every artifact
in the bucket and none on a local disk, and a restart that finds everything as it was.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.api.conftest import free_port
from tests.conftest import PG_URL
from tests.s3server import CREDENTIALS, S3Server, moto_server

pytestmark = [pytest.mark.topology, pytest.mark.postgres, pytest.mark.timeout(900)]

SRC = str(Path(__file__).resolve().parents[2] / "src")
BIN = Path(sys.executable).parent
TTL = 1.0  # MLHARBOR_PREDICT_REF_TTL_SECONDS of the replica


def wait_for(check: Callable[[], Any], timeout: float, what: str, every: float = 0.25) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


@dataclass
class Proc:
    name: str
    args: list[str]
    env: dict[str, str]
    log: Path
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> Proc:
        with open(self.log, "ab") as out:
            self.popen = subprocess.Popen(
                self.args, env=self.env, stdout=out, stderr=subprocess.STDOUT, cwd=self.log.parent
            )
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        os.kill(self.pid, sig)
        try:
            self.popen.wait(20)
        except subprocess.TimeoutExpired:
            os.kill(self.pid, signal.SIGKILL)
            self.popen.wait()

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


@dataclass
class Topology:
    """The processes of the stack, their shared settings and their private folders."""

    root: Path
    database_url: str
    s3: S3Server
    bucket: str
    procs: dict[str, Proc] = field(default_factory=dict)
    scheduler: str = ""
    api1: str = ""
    api2: str = ""

    def data_dir(self, name: str) -> Path:
        path = self.root / "data" / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def env(self, name: str, **extra: str) -> dict[str, str]:
        env = {
            **os.environ,
            **CREDENTIALS,
            "PYTHONPATH": SRC,
            "MLHARBOR_DATA_DIR": str(self.data_dir(name)),
            "MLHARBOR_DATABASE_URL": self.database_url,
            "MLHARBOR_ARTIFACT_URI": f"s3://{self.bucket}/hub",
            "MLHARBOR_S3_ENDPOINT_URL": self.s3.endpoint,
            "MLHARBOR_DASK_ADDRESS": self.scheduler,
            # A lost worker's job is taken over within seconds, not the default half minute.
            "MLHARBOR_JOB_HEARTBEAT_SECONDS": "1",
            "MLHARBOR_JOB_LEASE_SECONDS": "5",
            "MLHARBOR_JOB_RECOVERY_SECONDS": "1",
            "MLHARBOR_JOB_POLL_SECONDS": "0.2",
            "MLHARBOR_PREDLOG_FLUSH_SECONDS": "1",
            "MLHARBOR_LOG_LEVEL": "WARNING",
            **extra,
        }
        return env

    def add(self, name: str, args: list[str], **extra: str) -> Proc:
        proc = Proc(name, args, self.env(name, **extra), self.root / f"{name}.log")
        self.procs[name] = proc.start()
        return proc

    def start(self) -> None:
        """Start every process and wait until each answers."""
        port = free_port()
        self.scheduler = f"tcp://127.0.0.1:{port}"
        dask = str(BIN / "dask")
        self.add("scheduler", [dask, "scheduler", "--host", "127.0.0.1", "--port", str(port),
                               "--dashboard-address", "127.0.0.1:0"])  # fmt: skip
        for i in (1, 2):
            self.add(
                f"dask-{i}",
                [dask, "worker", self.scheduler, "--nworkers", "1", "--nthreads", "1",
                 "--memory-limit", "1.5GiB", "--dashboard-address", "127.0.0.1:0",
                 "--host", "127.0.0.1", "--name", f"dask-{i}",
                 "--local-directory", str(self.root / f"dask-{i}-scratch")],
            )  # fmt: skip
        mlharbor = str(BIN / "mlharbor")
        for i in (1, 2):
            self.add(f"worker-{i}", [mlharbor, "worker", "--concurrency", "1"])
        ports = free_port(), free_port()
        self.api1, self.api2 = (f"http://127.0.0.1:{p}" for p in ports)
        self.add("api-1", [mlharbor, "serve", "--role", "all", "--port", str(ports[0])],
                 MLHARBOR_WORKERS="0")  # fmt: skip
        self.add(
            "api-2",
            [mlharbor, "serve", "--role", "predict", "--port", str(ports[1])],
            MLHARBOR_PREDICT_REF_TTL_SECONDS=str(TTL),
        )
        for url, name in ((self.api1, "api-1"), (self.api2, "api-2")):
            # Generous: seven Python processes import the ML stack at once on two cores.
            wait_for(lambda u=url, n=name: self._answers(u, n), 240, f"{name} to answer")
        from distributed import Client

        with Client(self.scheduler, timeout=30) as client:
            client.wait_for_workers(2, timeout=120)

    def _answers(self, url: str, name: str) -> bool:
        proc = self.procs[name]
        assert proc.popen is not None
        if proc.popen.poll() is not None:
            raise AssertionError(f"{name} exited {proc.popen.returncode}:\n{proc.tail()}")
        try:
            return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        # Front to back: APIs, then workers, then the cluster.
        for proc in reversed(list(self.procs.values())):
            proc.stop()
        self.procs.clear()

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.tail()}" for p in self.procs.values())

    def worker_pid(self, worker_id: str) -> str:
        """The name of the ``mlharbor worker`` process a job's worker id points at."""
        pid = int(worker_id.split(":")[1])
        return next(n for n, p in self.procs.items() if n.startswith("worker-") and p.pid == pid)


@pytest.fixture
def database() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for this run (migrated by the first process)."""
    name = f"mlh_topo_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def topology(tmp_path: Path, database: str) -> Iterator[Topology]:
    with moto_server(tmp_path / "moto.log") as s3:
        bucket = s3.create_bucket(f"mlharbor-{uuid.uuid4().hex[:8]}")
        topo = Topology(tmp_path, database, s3, bucket)
        try:
            topo.start()
            yield topo
        except BaseException:
            print(topo.logs())
            raise
        finally:
            topo.stop()


def churn_csv(rows: int, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "tenure": rng.integers(0, 72, rows),
            "charges": rng.normal(70, 20, rows).round(2),
            "plan": rng.choice(["basic", "plus", "pro"], rows),
            "calls": rng.poisson(2, rows),
        }
    )
    logit = 0.04 * frame["calls"] * 10 - 0.05 * frame["tenure"] + (frame["plan"] == "basic")
    frame["churn"] = np.where(logit + rng.normal(0, 0.5, rows) > 0, "yes", "no")
    return frame.to_csv(index=False).encode()


def wait_job(api: httpx.Client, job_id: int, timeout: float = 150) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        job = api.get(f"/api/v1/jobs/{job_id}").json()
        return job if job["state"] in ("succeeded", "failed", "cancelled") else None

    job = wait_for(done, timeout, f"job {job_id}")
    assert job["state"] == "succeeded", job
    return job


def submit(api: httpx.Client, kind: str, **params: Any) -> dict[str, Any]:
    r = api.post("/api/v1/jobs", json={"kind": kind, "params": params})
    assert r.status_code == 202, r.text
    return r.json()


def dask_tasks(scheduler: str) -> dict[str, int]:
    """How many tasks of each kind the Dask cluster has run (by task-name prefix)."""
    from distributed import Client

    def count(dask_scheduler: Any) -> dict[str, int]:
        return {
            name: sum(prefix.state_counts.values())
            for name, prefix in dask_scheduler.task_prefixes.items()
        }

    with Client(scheduler, timeout=30) as client:
        return client.run_on_scheduler(count)


def bucket_keys(topo: Topology) -> list[str]:
    client = topo.s3.client()
    keys: list[str] = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=topo.bucket):
        keys.extend(o["Key"] for o in page.get("Contents", []))
    return keys


def local_files(topo: Topology) -> dict[str, list[str]]:
    """Every file in any process's own MLHARBOR_DATA_DIR (empty folders are allowed)."""
    root = topo.root / "data"
    return {
        d.name: sorted(str(p.relative_to(d)) for p in d.rglob("*") if p.is_file())
        for d in sorted(root.iterdir())
    }


def recorded_keys(database_url: str) -> list[str]:
    """Every artifact key the database records for a dataset or model version."""
    engine = create_engine(database_url)
    with engine.connect() as conn:
        keys = [
            *conn.scalars(text("SELECT artifact_key FROM dataset_versions")),
            *conn.scalars(text("SELECT artifact_key FROM model_versions")),
        ]
    engine.dispose()
    return keys


def models_state(api: httpx.Client) -> dict[str, Any]:
    return {
        m["name"]: sorted(
            (v["version"], v["content_hash"], tuple(sorted(v["aliases"]))) for v in m["versions"]
        )
        for m in api.get("/api/v1/models").json()["data"]
    }


def state(api: httpx.Client) -> dict[str, Any]:
    datasets = {
        d["name"]: [v["content_hash"] for v in d["versions"]]
        for d in api.get("/api/v1/datasets").json()["data"]
    }
    jobs = sorted(
        (j["id"], j["kind"], j["state"], j["attempts"], j["worker"])
        for j in api.get("/api/v1/jobs", params={"limit": 100}).json()["data"]
    )
    return {"datasets": datasets, "models": models_state(api), "jobs": jobs}


def test_the_scale_out_topology_end_to_end(topology: Topology) -> None:
    topo = topology
    api1 = httpx.Client(base_url=topo.api1, timeout=60)
    api2 = httpx.Client(base_url=topo.api2, timeout=60)

    # Upload through API 1: the Parquet lands in the bucket.
    up = api1.post("/api/v1/datasets", files={"file": ("churn.csv", churn_csv(3000))})
    assert up.status_code == 201, up.text
    assert any(k.startswith("hub/datasets/churn/") for k in bucket_keys(topo))

    # Train (folds on Dask) and AutoML (folds on Dask) on the mlharbor workers.
    before = dask_tasks(topo.scheduler)
    train = submit(api1, "train", dataset="churn", target="churn", model="logistic-regression",
                   cv_folds=3, name="churn", alias="champion")  # fmt: skip
    trained = wait_job(api1, train["id"])
    automl = submit(api1, "automl", dataset="churn", target="churn", time_budget=15,
                    max_trials=3, cv_folds=3, name="churn")  # fmt: skip
    tuned = wait_job(api1, automl["id"], timeout=180)
    on_dask = dask_tasks(topo.scheduler)
    ran = sum(on_dask.values()) - sum(before.values())
    folds = on_dask.get("fit_fold", 0) + on_dask.get("fit_fold_or_error", 0)
    assert ran >= 3 and folds, f"folds did not run on Dask: {on_dask}"
    for job in (trained, tuned):
        assert topo.worker_pid(job["worker"]).startswith("worker-")  # not an API process
    versions = api1.get("/api/v1/models/churn").json()["versions"]
    assert len(versions) >= 2
    champion = next(v for v in versions if "champion" in v["aliases"])
    other = next(v for v in versions if "champion" not in v["aliases"])

    # Predict through the replica (API 2), which trained nothing and shares only db + bucket.
    rows = pd.read_csv(io.BytesIO(churn_csv(5, seed=1))).drop(columns="churn")
    records = rows.to_dict(orient="records")

    def predicted_version() -> int:
        r = api2.post("/api/v1/models/churn/champion/predict", json={"records": records})
        assert r.status_code == 200, r.text
        assert len(r.json()["predictions"]) == 5
        return int(r.json()["version"])

    assert predicted_version() == champion["version"]

    # Move champion on API 1; the replica answers with the new version within its TTL.
    moved = api1.put("/api/v1/models/churn/aliases/champion", json={"version": other["version"]})
    assert moved.status_code == 200, moved.text
    at = time.monotonic()
    wait_for(lambda: predicted_version() == other["version"], TTL + 5, "the replica to follow")
    assert time.monotonic() - at <= TTL + 3

    # Score a stored file on Dask: three chunks of 1,000 rows.
    before = dask_tasks(topo.scheduler).get("score_chunk", 0)
    r = api1.post("/api/v1/models/churn/champion/score", json={"dataset": "churn",
                  "chunk_rows": 1000, "output": "churn-scored"})  # fmt: skip
    assert r.status_code == 202, r.text
    scored = wait_job(api1, r.json()["id"])
    assert scored["result"]["rows"] == 3000 and scored["result"]["chunks"] == 3
    assert dask_tasks(topo.scheduler).get("score_chunk", 0) - before >= 3  # ran on Dask
    download = api1.get("/api/v1/datasets/churn-scored/download", params={"format": "csv"})
    assert download.status_code == 200, download.text
    assert "prediction" in download.text.splitlines()[0]

    # Kill the worker running a slow AutoML with SIGKILL; the other worker finishes it.
    slow = submit(api1, "automl", dataset="churn", target="churn", time_budget=12,
                  cv_folds=3, name="churn-slow")  # fmt: skip

    def running() -> dict[str, Any] | None:
        job = api1.get(f"/api/v1/jobs/{slow['id']}").json()
        return job if job["state"] == "running" and job["progress"] > 0 else None

    first = wait_for(running, 60, "the slow AutoML to start")
    victim = topo.worker_pid(first["worker"])
    topo.procs[victim].stop(signal.SIGKILL)
    finished = wait_job(api1, slow["id"], timeout=200)
    assert finished["attempts"] == 2, finished
    survivor = topo.worker_pid(finished["worker"])
    assert survivor != victim
    assert api2.get("/api/v1/models/churn-slow").json()["latest_version"] == 1

    # Every artifact is in the bucket, and no process wrote a file to its local data folder.
    keys = set(bucket_keys(topo))
    recorded = recorded_keys(topo.database_url)
    assert len(recorded) >= 5  # 2 datasets, 3 model versions (train, AutoML, slow AutoML)
    assert {f"hub/{key}" for key in recorded} <= keys
    assert any(k.startswith("hub/predlog/churn/") for k in keys)  # the replica's log too
    assert local_files(topo) == {name: [] for name in local_files(topo)}, local_files(topo)

    # Restart everything: the same datasets, models (versions, hashes, aliases) and jobs.
    seen = state(api1)
    assert seen["jobs"] and seen["models"] and seen["datasets"]
    topo.stop()
    topo.start()
    api1 = httpx.Client(base_url=topo.api1, timeout=60)
    api2 = httpx.Client(base_url=topo.api2, timeout=60)
    assert state(api1) == seen
    assert models_state(api2) == seen["models"]
    assert predicted_version() == other["version"]
