"""AutoML over HTTP: a queued automl job, its trial events, the leaderboard, best_model."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlharbor.client import Client

from .conftest import LiveServer
from .test_training_api import follow, upload_iris

SAMPLES = Path(__file__).parents[2] / "samples"


def test_automl_job_streams_trials_and_serves_its_leaderboard(live_worker: LiveServer) -> None:
    with live_worker.client() as api:
        upload_iris(api)
        r = api.post(
            "/api/v1/jobs",
            json={
                "kind": "automl",
                "params": {"dataset": "iris", "target": "variety", "time_budget": 6},
            },
        )
        assert r.status_code == 202, r.text
        job = r.json()
        assert job["kind"] == "automl" and job["params"]["metric"] == "log_loss"
        events = follow(api, job["id"])
        assert events[-1]["kind"] == "succeeded", events[-3:]
        trials = [e["data"] for e in events if e["kind"] == "trial"]
        assert trials and all("remaining" in t and "score" in t for t in trials)

        board = api.get(f"/api/v1/jobs/{job['id']}/leaderboard", params={"sort": "accuracy"})
        assert board.status_code == 200, board.text
        body = board.json()
        assert body["final"] and body["metric"] == "log_loss" and body["best"]
        accuracy = [row["cv"]["accuracy"]["mean"] for row in body["rows"] if row["cv"]]
        assert accuracy == sorted(accuracy, reverse=True)
        bad_sort = api.get(f"/api/v1/jobs/{job['id']}/leaderboard", params={"sort": "nope"})
        assert bad_sort.status_code == 422 and "cannot sort by 'nope'" in bad_sort.text

        rows = [{"sepal.length": 5.1, "sepal.width": 3.5, "petal.length": 1.4, "petal.width": 0.2}]
        answer = api.post("/api/v1/models/iris-variety/best_model/predict", json={"records": rows})
        assert answer.status_code == 200, answer.text
        assert answer.json()["predictions"] == ["Setosa"]


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"time_budget": 0.5}, "too small to fit even one model"),
        ({"metric": "roc_auc"}, "does not fit a multiclass task"),
        ({"target": "ghost"}, "not in the dataset"),
    ],
)
def test_bad_automl_requests_are_422_before_queueing(
    live_sqlite: LiveServer, params: dict, words: str
) -> None:
    with Client(live_sqlite.url) as client:
        client.datasets.upload(SAMPLES / "iris.csv")
    with live_sqlite.client() as api:
        body = {"kind": "automl", "params": {"dataset": "iris", "target": "variety", **params}}
        r = api.post("/api/v1/jobs", json=body)
        assert r.status_code == 422 and words in r.text, r.text
        assert api.get("/api/v1/jobs").json()["count"] == 0


def test_single_class_target_is_422(live_sqlite: LiveServer, tmp_path: Path) -> None:
    data = tmp_path / "flat.csv"
    data.write_text("x,y\n" + "".join(f"{i % 7}.5,same\n" for i in range(30)))
    with live_sqlite.client() as api:
        with open(data, "rb") as fh:
            assert api.post("/api/v1/datasets", files={"file": ("flat.csv", fh)}).status_code == 201
        r = api.post(
            "/api/v1/jobs",
            json={"kind": "automl", "params": {"dataset": "flat", "target": "y"}},
        )
        assert r.status_code == 422 and "single value" in r.text, r.text
