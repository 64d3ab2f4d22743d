"""The everyday loop through a live server: a train job starts straight into its work, and
the model it registers is loaded for serving before anyone asks it for a prediction."""

from __future__ import annotations

import time

import httpx

from .conftest import LiveServer
from .test_training_api import follow, upload_iris


def _cached_models(api: httpx.Client) -> float:
    for line in api.get("/metrics").text.splitlines():
        if line.startswith("mlharbor_model_cache_models "):
            return float(line.split()[1])
    raise AssertionError("/metrics has no mlharbor_model_cache_models")


def test_a_train_job_reads_its_data_first_and_its_model_is_served_before_a_request(
    live_worker: LiveServer,
) -> None:
    with live_worker.client() as api:
        upload_iris(api)
        assert _cached_models(api) == 0
        body = {
            "kind": "train",
            "params": {"dataset": "iris", "target": "variety", "params": {"n_estimators": 10}},
        }
        job = api.post("/api/v1/jobs", json=body).json()
        events = follow(api, job["id"])
        kinds = [e["kind"] for e in events]
        assert kinds[-1] == "succeeded", events[-3:]
        # Nothing between the start and reading the data: no step of its own for imports.
        started = kinds.index("started")
        first = events[started + 1]
        assert first["kind"] == "progress", events[started : started + 3]
        assert first["data"]["message"] == "reading the dataset"
        # The server loads the new version by itself (a predict-only replica would too).
        deadline = time.monotonic() + 120
        while _cached_models(api) < 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _cached_models(api) == 1
        result = api.get(f"/api/v1/jobs/{job['id']}").json()["result"]
        row = {"sepal.length": 5.1, "sepal.width": 3.5, "petal.length": 1.4, "petal.width": 0.2}
        url = f"/api/v1/models/{result['model']}/{result['version']}/predict"
        r = api.post(url, json=[row])
        assert r.status_code == 200, r.text
        assert _cached_models(api) == 1  # the request used the preloaded model
