"""One error, one shape: REST, WebSocket, a failed job, the Python client and the CLI agree.

Every door writes an error with :func:`mlharbor.errors.error_to_dict` and reads it back with
:func:`mlharbor.errors.error_from_dict`, so the same failure carries the same code, message,
status and details wherever a user meets it.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner
from websockets.sync.client import connect

from mlharbor import Client, NotFoundError
from mlharbor.cli import app
from mlharbor.client import raise_for_job
from mlharbor.config import Settings
from mlharbor.errors import (
    ERROR_CLASSES,
    HarborError,
    StorageFullError,
    error_from_dict,
    error_to_dict,
    make_error,
)
from mlharbor.hub import Hub

from ..store.tmpfs import read_only, tmpfs
from .conftest import LiveServer, serve

SAMPLES = Path(__file__).parents[2] / "samples"
GONE = {
    "code": "not_found",
    "message": "dataset 'iris' does not exist",
    "status": 404,
    "details": {"dataset": "iris"},
}


def _ws_ask(live: LiveServer, message: dict[str, Any]) -> dict[str, Any]:
    with connect(live.url.replace("http://", "ws://") + "/ws") as ws:
        ws.send(json.dumps(message))
        return json.loads(ws.recv(timeout=60))


@pytest.mark.parametrize("cls", ERROR_CLASSES)
def test_every_class_of_the_tree_survives_the_round_trip(cls: type[HarborError]) -> None:
    error = cls("something is wrong", column="price", rows=[1, 2])
    back = error_from_dict(json.loads(json.dumps(error_to_dict(error))))
    assert type(back) is cls
    assert (back.message, back.details, back.status) == (
        "something is wrong",
        {"column": "price", "rows": [1, 2]},
        cls.status,
    )


def test_a_code_outside_the_tree_keeps_its_code_and_status() -> None:
    back = error_from_dict(error_to_dict(make_error("unknown_type", "no such type", 422)))
    assert (type(back), back.code, back.status) == (HarborError, "unknown_type", 422)
    full = error_from_dict({"code": "storage_unavailable", "message": "full", "status": 507})
    assert isinstance(full, StorageFullError)


def test_the_same_error_reads_the_same_through_every_door(
    live_sqlite: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A train job queued on a dataset that is then deleted: the job fails with the very
    error a REST call, a WebSocket message, the client and the CLI get for that dataset."""
    with Client(live_sqlite.url) as client:
        client.datasets.upload(SAMPLES / "iris.csv")
        job = client.jobs.submit_train("iris", "variety", model="logistic-regression")
        client.datasets.delete("iris")

        with live_sqlite.client() as http:
            rest = http.get("/api/v1/datasets/iris")
        assert rest.status_code == 404
        assert rest.headers["content-type"] == "application/problem+json"
        body = rest.json()
        assert {k: body[k] for k in GONE} == GONE
        assert body["detail"] == GONE["message"] and body["dataset"] == "iris"

        ws = _ws_ask(live_sqlite, {"type": "train", "dataset": "iris", "target": "variety"})
        assert ws["type"] == "error" and ws["error"] == GONE

        with pytest.raises(NotFoundError) as raised:
            client.datasets.get("iris")
        assert error_to_dict(raised.value) == GONE

        # The queued job now runs (in this process's worker) and meets the same error.
        live_sqlite.hub.wait(job["id"], run_here=True, timeout=300)
        failed = client.jobs.get(job["id"])
        assert failed["state"] == "failed"
        assert {k: failed["error"][k] for k in GONE} == GONE
        assert "traceback" not in failed["error"]  # for operators' logs, not API clients
        with pytest.raises(NotFoundError) as from_job:
            raise_for_job(failed)
        assert error_to_dict(from_job.value) == GONE

    monkeypatch.setenv("MLHARBOR_DATA_DIR", str(tmp_path / "local"))
    runner = CliRunner()
    shown = runner.invoke(app, ["--url", live_sqlite.url, "datasets", "show", "iris"])
    followed = runner.invoke(app, ["--url", live_sqlite.url, "jobs", "follow", str(job["id"])])
    assert (shown.exit_code, followed.exit_code) == (4, 4)
    assert shown.output.strip() == f"error: {GONE['message']}"
    assert followed.output.strip().endswith(f"error: job {job['id']} failed: {GONE['message']}")


def test_client_train_raises_the_error_its_job_failed_with(live_worker: LiveServer) -> None:
    with Client(live_worker.url) as client:
        client.datasets.from_records("flat", [{"x": i % 4, "y": "a"} for i in range(30)])
        with pytest.raises(HarborError) as raised:
            client.train("flat", "y", model="logistic-regression")
        [failed] = client.jobs.list()["data"]  # queued, then failed in the job
    assert failed["state"] == "failed"
    assert error_to_dict(raised.value) == {k: failed["error"][k] for k in GONE}
    assert raised.value.code == "invalid_input" and "single value" in raised.value.message


@pytest.fixture
def models_read_only(tmp_path: Path) -> Iterator[Hub]:
    """A hub with a worker whose artifact store takes datasets but refuses model files."""
    root = tmp_path / "artifacts"
    with tmpfs(root / "models", size="1m") as models:
        read_only(models)
        settings = Settings(data_dir=tmp_path / "data", artifact_uri=str(root), workers=1)
        with Hub.open(settings) as hub:
            yield hub


def test_mini_ml_train_answers_a_failed_job_with_its_own_status(
    models_read_only: Hub,
) -> None:
    """Mini-ML ``/train`` answered 500 to any failed job but bad input; a store that refuses
    the model is the 503 it is everywhere else, with its reason."""
    for live in serve(models_read_only, worker=True):
        done = subprocess.run(
            [
                "curl",
                "-s",
                "-w",
                "\n%{http_code}",
                "-X",
                "POST",
                f"{live.url}/train",
                "-F",
                f"dataset_file=@{SAMPLES / 'iris.csv'};type=text/csv",
                "-F",
                "model_type=LogisticRegression",
            ],
            capture_output=True,
            text=True,
            timeout=600,
            check=True,
        )
        text, status = done.stdout.rsplit("\n", 1)
        body = json.loads(text)
        assert int(status) == 503, body
        assert (body["code"], body["reason"]) == ("storage_unavailable", "read_only")
        assert body["details"]["reason"] == "read_only" and isinstance(body["job"], int)
        assert "read-only" in body["detail"]
