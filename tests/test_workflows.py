"""The train job end to end, in-process and with its folds on a real Dask cluster."""

from __future__ import annotations

from pathlib import Path

import pytest
from distributed import LocalCluster

from mlharbor.config import Settings
from mlharbor.hub import Hub
from mlharbor.workflows import TrainRequest

SAMPLES = Path(__file__).parents[1] / "samples"


def train_iris(settings: Settings) -> dict:
    with Hub.open(settings) as hub:
        hub.datasets.ingest_file(SAMPLES / "iris.csv")
        job = hub.submit_train(
            TrainRequest(dataset="iris", target="variety", cv_folds=4, params={"n_estimators": 20})
        )
        done = hub.wait(job.id, run_here=True, timeout=300)
        assert done.state == "succeeded", done.error
        events = [e.data.get("message", "") for e in hub.jobs.events(job.id)]
        return {"metrics": done.result["metrics"], "messages": events}


@pytest.mark.timeout(600)
def test_train_job_folds_on_dask_match_the_local_run(tmp_path: Path) -> None:
    local = train_iris(Settings(data_dir=tmp_path / "local", workers=1))
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        settings = Settings(
            data_dir=tmp_path / "dask", workers=1, dask_address=cluster.scheduler_address
        )
        on_dask = train_iris(settings)
        assert any("in parallel" in m for m in on_dask["messages"])
    assert not any("in parallel" in m for m in local["messages"])
    assert on_dask["metrics"]["cv"] == local["metrics"]["cv"]
    assert on_dask["metrics"]["test"] == local["metrics"]["test"]


def test_a_retried_train_job_does_not_register_twice(tmp_path: Path) -> None:
    from mlharbor.workflows import run_training

    with Hub.open(Settings(data_dir=tmp_path / "d", workers=1)) as hub:
        hub.datasets.ingest_file(SAMPLES / "iris.csv")
        job = hub.submit_train(
            TrainRequest(dataset="iris", target="variety", cv_folds=0, params={"n_estimators": 10})
        )
        request = TrainRequest.from_params(job.params)
        first = run_training(hub, request, lambda f, m: None, job.id)
        # The attempt died after registering; the retry runs the same body again.
        second = run_training(hub, request, lambda f, m: None, job.id)
        assert second["version"] == first["version"] == 1
        assert [v.version for v in hub.models.get_model("iris-variety").versions] == [1]
        assert "earlier attempt" in second["notes"][0]
