"""``/api/v1/pipelines``: start runs from a file, follow and compare them; scopes; bad input."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from mlharbor.api.app import create_app
from mlharbor.config import Settings
from mlharbor.hub import Hub
from tests.pipelines.conftest import LIGHT_PIPELINE, write_churn

LOCAL = "http://localhost"


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[tuple[TestClient, Hub]]:
    settings = Settings(data_dir=tmp_path / "d", auth_enabled=True, workers=0)
    with Hub.open(settings) as hub, TestClient(create_app(hub=hub), base_url=LOCAL) as client:
        hub.datasets.ingest_file(write_churn(tmp_path), name="churn")
        yield client, hub


def keys(hub: Hub) -> dict[str, dict[str, str]]:
    return {scope: {"X-API-Key": hub.keys.create(scope, [scope])[1]} for scope in ("read", "train")}


def wait_for(client: TestClient, run_id: int, headers: dict[str, str]) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        run = client.get(f"/api/v1/pipelines/runs/{run_id}", headers=headers).json()
        if run["state"] in ("succeeded", "failed"):
            return run
        time.sleep(0.2)
    raise AssertionError(f"run {run_id} did not end: {run}")


def test_a_train_key_starts_a_run_the_server_runs_and_a_read_key_follows_it(
    secured: tuple[TestClient, Hub],
) -> None:
    client, hub = secured
    key = keys(hub)
    body = {"pipeline": LIGHT_PIPELINE, "params": {"share": 0.3}}
    assert client.post("/api/v1/pipelines/runs", json=body).status_code == 401
    refused = client.post("/api/v1/pipelines/runs", json=body, headers=key["read"])
    assert refused.status_code == 403
    started = client.post("/api/v1/pipelines/runs", json=body, headers=key["train"])
    assert started.status_code == 202, started.text
    run = started.json()
    assert run["state"] == "queued" and run["origin"] == "api" and run["params"]["share"] == 0.3
    assert [s["step"] for s in run["steps"]] == ["data", "split", "quality", "drift"]
    done = wait_for(client, run["id"], key["read"])
    assert done["state"] == "succeeded", done["error"]
    assert [s["state"] for s in done["steps"]] == ["cached", "done", "done", "done"]
    assert done["steps"][1]["outputs"]["rows"] == {"train": 168, "production": 72}
    assert done["metrics"]["drift.n_drifted"] >= 1

    second = client.post(
        "/api/v1/pipelines/runs", json={"pipeline": LIGHT_PIPELINE}, headers=key["train"]
    ).json()
    assert wait_for(client, second["id"], key["read"])["state"] == "succeeded"
    listing = client.get("/api/v1/pipelines/runs", headers=key["read"]).json()
    assert listing["count"] == 2 and [r["id"] for r in listing["data"]] == [second["id"], run["id"]]
    compared = client.get(
        f"/api/v1/pipelines/runs/compare?ids={run['id']}&ids={second['id']}", headers=key["read"]
    ).json()
    rows = {r["name"]: r for r in compared["params"]}
    assert rows["share"] == {"name": "share", "values": [0.3, 0.25], "differs": True}
    assert rows["where"]["differs"] is False
    assert compared["file"]["differs"] is False
    known = client.get("/api/v1/pipelines", headers=key["read"]).json()["data"]
    assert [p["name"] for p in known] == ["churn-light"] and known[0]["schedule"] is None


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"pipeline": LIGHT_PIPELINE, "parms": {}}, "parms"),
        ({"pipeline": LIGHT_PIPELINE, "params": {"sahre": 1}}, "unknown parameter 'sahre'"),
        ({"pipeline": LIGHT_PIPELINE, "params": {"share": [1]}}, "params"),
        ({"pipeline": LIGHT_PIPELINE, "params": {"share": "x"}}, "takes a number"),
        ({"pipeline": "name: x\nsteps: [\n"}, "line 3: not valid YAML"),
        (
            {"pipeline": LIGHT_PIPELINE.replace("into:", "int0:")},
            "line 15: step split: int0: unknown field",
        ),
        ({"pipeline": LIGHT_PIPELINE, "from_step": "nope"}, "no such step"),
        ({"pipeline": LIGHT_PIPELINE, "inputs": {"split": "churn"}}, "not an ingest step"),
        ({"pipeline": LIGHT_PIPELINE, "inputs": {"data": "ghost"}}, "'ghost' does not exist"),
        ({"pipeline": ""}, "pipeline"),
        ({}, "pipeline"),
    ],
)
def test_bad_requests_are_a_422_naming_what_is_wrong(
    secured: tuple[TestClient, Hub], body: dict[str, Any], expected: str
) -> None:
    client, hub = secured
    r = client.post("/api/v1/pipelines/runs", json=body, headers=keys(hub)["train"])
    assert r.status_code in (404, 422), r.text
    assert expected in r.json()["detail"]
    assert client.get("/api/v1/pipelines/runs", headers=keys(hub)["read"]).json()["count"] == 0


def test_a_server_reads_no_local_path_but_takes_an_uploaded_dataset_instead(
    secured: tuple[TestClient, Hub],
) -> None:
    client, hub = secured
    key = keys(hub)["train"]
    text = LIGHT_PIPELINE.replace("    dataset: churn\n", "    path: /etc/passwd\n")
    r = client.post("/api/v1/pipelines/runs", json={"pipeline": text}, headers=key)
    assert r.status_code == 422
    assert "line 8: step data: a server does not read local paths" in r.json()["detail"]
    started = client.post(
        "/api/v1/pipelines/runs",
        json={"pipeline": text, "inputs": {"data": "churn@1"}},
        headers=key,
    )
    assert started.status_code == 202, started.text
    done = wait_for(client, started.json()["id"], key)
    assert done["state"] == "succeeded", done["error"]
    assert done["steps"][0]["outputs"]["dataset"] == "churn@1"


def test_runs_that_do_not_exist_or_a_comparison_of_one_are_refused(
    secured: tuple[TestClient, Hub],
) -> None:
    client, hub = secured
    key = keys(hub)["read"]
    assert client.get("/api/v1/pipelines/runs/99", headers=key).status_code == 404
    one = client.get("/api/v1/pipelines/runs/compare?ids=1", headers=key)
    assert one.status_code == 422 and "compare 2 to 10 runs" in one.json()["detail"]
    assert client.get("/api/v1/pipelines/runs/compare?ids=1&ids=2", headers=key).status_code == 404
    assert client.get("/api/v1/pipelines/runs/0", headers=key).status_code == 422
