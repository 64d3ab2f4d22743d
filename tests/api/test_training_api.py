"""Training through the API: a queued job, live events, and the registry it fills."""

from __future__ import annotations

import io
import json
from pathlib import Path

import httpx
import pytest
import skops.io as sio

from .conftest import LiveServer

SAMPLES = Path(__file__).parents[2] / "samples"


def upload_iris(api: httpx.Client) -> None:
    with open(SAMPLES / "iris.csv", "rb") as fh:
        assert api.post("/api/v1/datasets", files={"file": ("iris.csv", fh)}).status_code == 201


def follow(api: httpx.Client, job_id: int) -> list[dict]:
    events = []
    with api.stream("GET", f"/api/v1/jobs/{job_id}/events/stream", timeout=300) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
    return events


def test_train_job_reports_progress_and_registers_a_model(live_worker: LiveServer) -> None:
    with live_worker.client() as api:
        upload_iris(api)
        r = api.post(
            "/api/v1/jobs",
            json={
                "kind": "train",
                "params": {
                    "dataset": "iris",
                    "target": "variety",
                    "model": "RandomForestClassifier",
                    "params": {"n_estimators": "40"},
                    "cv_folds": 3,
                    "alias": "champion",
                },
            },
        )
        assert r.status_code == 202, r.text
        job = r.json()
        assert job["state"] == "queued" and job["params"]["model"] == "random-forest"
        events = follow(api, job["id"])
        kinds = [e["kind"] for e in events]
        assert kinds[-1] == "succeeded", events[-3:]
        assert [e["seq"] for e in events] == sorted(e["seq"] for e in events)
        assert any("fold" in json.dumps(e["data"]) for e in events)
        done = api.get(f"/api/v1/jobs/{job['id']}").json()
        assert done["state"] == "succeeded" and done["progress"] == 1.0
        assert done["result"]["model"] == "iris-variety" and done["result"]["version"] == 1

        model = api.get("/api/v1/models/iris-variety").json()
        assert model["aliases"] == {"latest": 1, "champion": 1}
        version = api.get("/api/v1/models/iris-variety/versions/champion").json()
        assert version["task"] == "multiclass"
        assert version["metrics"]["test"]["accuracy"] > 0.8
        assert version["lineage"]["dataset"] == "iris"
        names = set(version["artifacts"])
        assert {"roc_curve", "confusion_matrix", "feature_importance"} <= names
        for name in names:
            png = api.get(f"/api/v1/models/iris-variety/versions/1/artifacts/{name}")
            assert png.status_code == 200 and png.content[:8] == b"\x89PNG\r\n\x1a\n"
        data = api.get(
            "/api/v1/models/iris-variety/versions/1/artifacts/confusion_matrix",
            params={"format": "json"},
        ).json()
        assert data  # the numbers behind the picture
        blob = api.get("/api/v1/models/iris-variety/versions/latest/download").content
        pipeline = sio.loads(blob, trusted=sio.get_untrusted_types(data=blob))
        assert set(pipeline.classes_) == {"Setosa", "Versicolor", "Virginica"}

        # The dataset cannot be deleted while the model depends on it.
        r = api.delete("/api/v1/datasets/iris")
        assert r.status_code == 409 and "iris-variety v1" in r.json()["detail"]


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"dataset": "iris", "target": "colour"}, "target column 'colour' is not in the dataset"),
        ({"dataset": "iris", "target": "variety", "model": "deep-magic"}, "unknown model"),
        (
            {"dataset": "iris", "target": "variety", "params": {"n_trees": 5}},
            "unknown parameter 'n_trees'",
        ),
        ({"dataset": "iris", "target": "variety", "drop": ["nope"]}, "nope"),
        ({"dataset": "ghost", "target": "x"}, "dataset 'ghost' does not exist"),
        ({"dataset": "iris", "target": "variety", "task": "clustering"}, "task"),
        (
            {"dataset": "iris", "target": "variety", "model": "ridge"},
            "model 'ridge' serves regression only, but target 'variety' makes this a "
            "multiclass task (the target has 3 distinct values)",
        ),
        (
            {"dataset": "iris", "target": "sepal.length", "model": "logistic-regression"},
            "makes this a regression task (numeric target with 35 distinct values)",
        ),
    ],
)
def test_bad_train_requests_are_refused_before_queuing(
    live_sqlite: LiveServer, params: dict, words: str
) -> None:
    with live_sqlite.client() as api:
        upload_iris(api)
        r = api.post("/api/v1/jobs", json={"kind": "train", "params": params})
        assert r.status_code in (404, 422), r.text
        assert words in r.json()["detail"]
        assert api.get("/api/v1/jobs").json()["count"] == 0


def test_cancel_a_queued_job_and_unknown_things_are_404(live_sqlite: LiveServer) -> None:
    with live_sqlite.client() as api:
        upload_iris(api)
        job = api.post(
            "/api/v1/jobs",
            json={"kind": "train", "params": {"dataset": "iris", "target": "variety"}},
        ).json()
        cancelled = api.delete(f"/api/v1/jobs/{job['id']}").json()
        assert cancelled["state"] == "cancelled"
        assert api.get("/api/v1/jobs/999").status_code == 404
        r = api.get("/api/v1/models/nothing")
        assert r.status_code == 404 and "nothing" in r.json()["detail"]
        r = api.post("/api/v1/jobs", json={"kind": "bake", "params": {}})
        assert r.status_code == 422 and "kind" in r.json()["detail"]


def test_upload_of_an_unsafe_skops_file_is_refused(live_sqlite: LiveServer) -> None:
    import os

    from sklearn.preprocessing import FunctionTransformer

    evil = sio.dumps(FunctionTransformer(os.system))
    with live_sqlite.client() as api:
        r = api.post("/api/v1/models/evil/versions", files={"file": ("m.skops", io.BytesIO(evil))})
        assert r.status_code == 422, r.text
        assert "system" in r.json()["detail"]
        assert api.get("/api/v1/models").json()["count"] == 0
