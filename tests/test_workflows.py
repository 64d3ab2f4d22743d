"""The train job end to end, in-process and with its folds on a real Dask cluster."""

from __future__ import annotations

from pathlib import Path

import pytest
from distributed import LocalCluster

from mlharbor.config import Settings
from mlharbor.hub import Hub
from mlharbor.workflows.train import TrainRequest

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
    # Without a cluster the job still uses both cores, in forked copies of itself.
    assert any("shared out over the cores" in m for m in local["messages"])
    assert on_dask["metrics"]["cv"] == local["metrics"]["cv"]
    assert on_dask["metrics"]["test"] == local["metrics"]["test"]


def test_a_retried_train_job_does_not_register_twice(tmp_path: Path) -> None:
    from mlharbor.workflows.train import run_training

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


@pytest.mark.parametrize(("refit_full", "rows"), [(True, 150), (False, 120)])
def test_a_train_job_registers_a_model_refitted_on_every_row(
    sqlite_hub: Hub, refit_full: bool, rows: int
) -> None:
    hub = sqlite_hub
    hub.datasets.ingest_file(SAMPLES / "iris.csv")
    request = TrainRequest(
        dataset="iris", target="variety", model="knn", cv_folds=0, refit_full=refit_full
    )
    done = hub.wait(hub.submit_train(request).id, run_here=True, timeout=120)
    assert done.state == "succeeded", done.error
    model = hub.models.load_pipeline("iris-variety", done.result["version"])
    assert model[-1].n_samples_fit_ == rows
    settings = hub.models.get_version("iris-variety", done.result["version"]).lineage["settings"]
    assert settings["n_test"] == 30 and done.result["fitted_on"] == settings["fitted_on"]
    if refit_full:
        assert settings["fitted_on"] == (
            "all rows (n=150); test metrics from a 20 % holdout before the refit"
        )
    else:
        assert settings["fitted_on"].startswith("the training split (n=120)")
    assert done.result["metrics"]["test"]["accuracy"] > 0.8
