"""Train and AutoML jobs also logged to a real MLflow tracking server, read back with
``MlflowClient``; a tracking server that does not answer leaves the job succeeded."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from mlharbor.config import Settings
from mlharbor.hub import Hub
from mlharbor.tracking import TrackedRun, job_run, log_run

from ..api.conftest import LiveServer, free_port, serve
from ..api.test_training_api import follow, upload_iris
from ..probes import top_modules
from ..user_tables import features, json_rows, parquet_bytes, with_target
from .conftest import MlflowServer

pytestmark = pytest.mark.timeout(1200)


@contextmanager
def live_hub(tmp_path: Path, tracking_uri: str) -> Iterator[LiveServer]:
    """A live server with its worker pool, logging jobs to ``tracking_uri``."""
    settings = Settings(data_dir=tmp_path / "hub", workers=1, mlflow_tracking_uri=tracking_uri)
    with Hub.open(settings) as hub:
        yield from serve(hub, worker=True)


@pytest.fixture
def tracked(tmp_path: Path, mlflow_server: MlflowServer) -> Iterator[LiveServer]:
    with live_hub(tmp_path, mlflow_server.url) as live:
        yield live


def run_job(api: httpx.Client, kind: str, params: dict) -> tuple[dict, list[dict]]:
    """Submit a job over REST, follow it to its end; the job and its events."""
    r = api.post("/api/v1/jobs", json={"kind": kind, "params": params})
    assert r.status_code == 202, r.text
    events = follow(api, r.json()["id"])
    job = api.get(f"/api/v1/jobs/{r.json()['id']}").json()
    assert job["state"] == "succeeded", job["error"]
    return job, events


def test_a_train_job_is_an_mlflow_run_with_params_metrics_plots_model_and_links(
    tracked: LiveServer, mlflow_server: MlflowServer
) -> None:
    # A table like Kobe's shots: a date, categoricals, free text and missing values.
    table = with_target(features(160), "binary")
    with tracked.client() as api:
        upload = api.post(
            "/api/v1/datasets", files={"file": ("shots.parquet", parquet_bytes(table))}
        )
        assert upload.status_code == 201, upload.text
        params = {"dataset": "shots", "target": "churn", "model": "logistic-regression"}
        job, events = run_job(api, "train", {**params, "name": "shots", "cv_folds": 3})
        version = api.get("/api/v1/models/shots/versions/1").json()

    result = job["result"]
    assert result["mlflow"]["url"].startswith(f"{mlflow_server.url}/#/experiments/")
    assert not [e for e in events if e["kind"] == "warning"]
    logged = [e for e in events if e["kind"] == "mlflow"]
    assert logged and result["mlflow"]["run_id"] in logged[0]["data"]["message"]

    rows = json_rows(table.drop(columns=["churn"]).iloc[:8])
    read = mlflow_server.read("shots", predict={result["mlflow"]["run_id"]: rows})
    (run,) = read["runs"]
    assert run["run_id"] == result["mlflow"]["run_id"] and run["status"] == "FINISHED"
    assert run["name"] == "shots v1"
    assert run["params"]["model"] == "logistic-regression"
    assert run["params"]["target"] == "churn" and run["params"]["cv_folds"] == "3"
    assert run["params"]["estimator"] == "LogisticRegression"
    assert run["params"]["C"] == str(version["params"]["C"])  # the estimator's own
    test, cv = version["metrics"]["test"], version["metrics"]["cv"]
    assert run["metrics"]["test_accuracy"] == pytest.approx(test["accuracy"])
    assert run["metrics"]["test_roc_auc"] == pytest.approx(test["roc_auc"])
    assert run["metrics"]["cv_accuracy"] == pytest.approx(cv["accuracy"]["mean"])
    assert run["metrics"]["cv_accuracy_std"] == pytest.approx(cv["accuracy"]["std"])
    tags = run["tags"]
    assert tags["mlharbor.model"] == "shots" and tags["mlharbor.model_version"] == "1"
    assert tags["mlharbor.job_id"] == str(job["id"])
    assert tags["mlharbor.model_url"] == "http://127.0.0.1:8000/models/shots?version=1"
    assert tags["mlharbor.job_url"] == f"http://127.0.0.1:8000/jobs/{job['id']}"
    assert tags["mlharbor.dataset"] == "shots" and tags["mlharbor.dataset_version"] == "1"
    assert tags["mlharbor.content_hash"] == version["content_hash"]
    assert "/jobs/" in tags["mlflow.note.content"]
    assert tags["mlflow.source.type"] == "JOB"
    (dataset,) = run["datasets"]
    assert dataset["name"] == "shots v1" and dataset["context"] == "training"
    assert tags["mlharbor.dataset_hash"].startswith(dataset["digest"])
    assert "/datasets/shots?version=1" in dataset["source"]
    artifacts = set(run["artifacts"])
    plots = {f"plots/{name}.png" for name in version["artifacts"]}
    assert {"plots/roc_curve.png", "plots/confusion_matrix.png"} <= plots <= artifacts
    assert {"model/MLmodel", "model/model.pkl", "model/requirements.txt"} <= artifacts
    assert any(p.startswith("model/code/") for p in artifacts)  # dates and text carried
    assert '"artifact_path": "model"' in tags["mlflow.log-model.history"]
    # The logged model is one MLflow loads and predicts with, as mlharbor does.
    with tracked.client() as api:
        ours = api.post("/api/v1/models/shots/1/predict", json={"records": rows}).json()
    assert read["predictions"][run["run_id"]] == [str(p) for p in ours["predictions"]]


def test_an_automl_job_is_a_run_with_its_candidates_nested(
    tracked: LiveServer, mlflow_server: MlflowServer
) -> None:
    with tracked.client() as api:
        upload_iris(api)
        params = {"dataset": "iris", "target": "variety", "time_budget": 8, "name": "irises"}
        job, _ = run_job(api, "automl", params)
    result = job["result"]
    runs = mlflow_server.read("irises")["runs"]
    (parent,) = [r for r in runs if "mlflow.parentRunId" not in r["tags"]]
    assert parent["run_id"] == result["mlflow"]["run_id"] and parent["status"] == "FINISHED"
    assert parent["tags"]["mlharbor.kind"] == "automl"
    assert parent["params"]["best"] == result["best"]
    assert float(parent["params"]["time_budget"]) == 8
    assert parent["params"]["metric"] == result["metric"] == "log_loss"
    winner = result["metrics"]
    assert parent["metrics"]["test_log_loss"] == pytest.approx(winner["test"]["log_loss"])
    assert parent["metrics"]["candidates"] == len(result["leaderboard"])
    assert {"model/MLmodel", "mlharbor/leaderboard.json", "plots/roc_curve.png"} <= set(
        parent["artifacts"]
    )
    children = [r for r in runs if r["tags"].get("mlflow.parentRunId") == parent["run_id"]]
    scored = [row for row in result["leaderboard"] if row["score"] is not None]
    assert sorted(c["name"] for c in children) == sorted(row["name"] for row in scored)
    best = next(c for c in children if c["name"] == result["best"])
    assert best["tags"]["mlharbor.winner"] == "true"
    assert best["metrics"]["cv_log_loss"] == pytest.approx(scored[0]["score"])


def test_an_unreachable_tracking_server_leaves_the_job_succeeded_with_a_warning(
    tmp_path: Path,
) -> None:
    port = free_port()  # nothing listens on it
    with (
        live_hub(tmp_path, f"http://mlharbor:s3cret@127.0.0.1:{port}") as live,
        live.client() as api,
    ):
        upload_iris(api)
        params = {"dataset": "iris", "target": "variety", "model": "knn"}
        job, events = run_job(api, "train", params)
        model = api.get(f"/api/v1/models/{job['result']['model']}/versions/1")
        page = api.get(f"/jobs/{job['id']}")
    assert model.status_code == 200  # registered, and the job succeeded
    assert "mlflow" not in job["result"]
    (warning,) = [e for e in events if e["kind"] == "warning"]
    message = warning["data"]["message"]
    assert message.startswith("not logged to MLflow:")
    assert f"at http://127.0.0.1:{port} " in message and "s3cret" not in message
    assert "after 3 attempts" in message
    assert events[-1]["kind"] == "succeeded"
    # The job's page shows it in the timeline, marked as a warning.
    assert page.status_code == 200 and '<span class="badge warn">warning</span>' in page.text
    assert "not logged to MLflow" in page.text


def test_a_retried_job_does_not_log_a_second_run(
    sqlite_hub: Hub, mlflow_server: MlflowServer
) -> None:
    from mlharbor.workflows.train import TrainRequest, run_training

    hub = sqlite_hub
    hub.datasets.ingest_file(Path(__file__).parents[2] / "samples" / "iris.csv")
    request = TrainRequest(dataset="iris", target="variety", name="retried", cv_folds=0)
    job = hub.submit_train(request)
    result = run_training(hub, request, lambda f, m: None, job.id)
    logged = []
    for _ in range(2):  # an attempt that logged, then died; its retry logs again
        with tempfile.TemporaryDirectory() as tmp:
            run = job_run(
                hub.models,
                "train",
                request.to_params(),
                result,
                job_id=job.id,
                public_url="http://hub.example",
                started=None,
                workdir=Path(tmp),
            )
            logged.append(log_run(mlflow_server.url, run))
    assert logged[0].run_id == logged[1].run_id
    assert logged[1].notes == ("logged by an earlier attempt",)
    assert [r["run_id"] for r in mlflow_server.read("retried")["runs"]] == [logged[0].run_id]


def test_many_long_params_and_odd_keys_are_logged_within_the_servers_limits(
    mlflow_server: MlflowServer,
) -> None:
    params = {f"p{i}": "x" * 5000 for i in range(230)}  # > 100 a request, > 1 MB in all
    params["too long"] = "y" * 7000  # cut at MLflow's 6000
    metrics = {"a/../b": 1.0, "bad key!": 2.0, "nan": float("nan"), "flag": True}
    run = TrackedRun("odd keys", "r1", params=params, metrics=metrics, tags={"t//x": "v"})
    logged = log_run(mlflow_server.url, run)
    (read,) = mlflow_server.read("odd keys")["runs"]
    assert read["run_id"] == logged.run_id and read["status"] == "FINISHED"
    assert len(read["params"]) == 231 and read["params"]["p229"] == "x" * 5000
    assert read["params"]["too long"] == "y" * 6000
    assert read["metrics"] == {"a/_/b": 1.0, "bad key_": 2.0}
    assert read["tags"]["t/x"] == "v"


@pytest.mark.parametrize(
    ("uri", "words"),
    [("file:///srv/mlruns", "http(s) address"), ("databricks", "http(s) address")],
)
def test_a_tracking_uri_that_is_not_a_server_is_refused_at_start(uri: str, words: str) -> None:
    with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(")", r"\)")):
        Settings(mlflow_tracking_uri=uri)
    assert Settings(mlflow_tracking_uri="").mlflow_tracking_uri is None
    assert Settings(mlflow_tracking_uri="http://m:5000/").mlflow_tracking_uri == "http://m:5000"


def test_pipeline_runs_are_mlflow_runs_linked_to_their_steps_jobs(
    tmp_path: Path, mlflow_server: MlflowServer
) -> None:
    from mlharbor.pipelines import run_pipeline

    from ..pipelines.conftest import TRAIN_PIPELINE, write_churn

    write_churn(tmp_path)
    settings = Settings(data_dir=tmp_path / "hub", workers=1, mlflow_tracking_uri=mlflow_server.url)
    with Hub.open(settings) as hub:
        failed = run_pipeline(hub, TRAIN_PIPELINE, params={"target": "loyalty"}, base_dir=tmp_path)
        done = run_pipeline(hub, TRAIN_PIPELINE, base_dir=tmp_path)
    assert failed.state == "failed" and done.state == "succeeded", done.error
    runs = {r["name"]: r for r in mlflow_server.read("pipeline/churn")["runs"]}
    assert set(runs) == {f"churn run {failed.id}", f"churn run {done.id}"}
    bad, good = runs[f"churn run {failed.id}"], runs[f"churn run {done.id}"]
    assert bad["status"] == "FAILED" and "loyalty" in bad["tags"]["mlharbor.error"]
    assert good["status"] == "FINISHED"
    assert good["params"] == {"seed": "0", "target": "churned", "gain": "0.01"}
    assert good["metrics"]["fit.accuracy"] == pytest.approx(done.metrics["fit.accuracy"])
    assert {"pipeline.yaml", "mlharbor/run.json"} <= set(good["artifacts"])
    assert good["tags"]["mlharbor.pipeline_file_hash"] == done.file_hash
    assert good["tags"]["mlharbor.pipeline_run_url"].endswith(f"/pipelines/runs/{done.id}")
    fit_job = done.step("fit").job_id
    assert good["tags"]["mlharbor.step.fit.job_url"].endswith(f"/jobs/{fit_job}")
    # The fit step's job is a run of its own, in its model's experiment.
    (model_run,) = mlflow_server.read("churn")["runs"]
    assert model_run["tags"]["mlharbor.job_id"] == str(fit_job)


def test_the_tracking_package_exports_a_pinned_surface() -> None:
    import mlharbor.tracking

    assert sorted(mlharbor.tracking.__all__) == [
        "LoggedRun",
        "MlflowRest",
        "TrackedDataset",
        "TrackedRun",
        "job_run",
        "log_run",
        "report_run",
        "track_job",
    ]


def test_the_tracking_hook_of_every_job_loads_no_http_client_until_a_run_is_logged() -> None:
    # Every train job imports the hook; with tracking off it must cost the job nothing.
    probe = (
        "import sys\n"
        "from mlharbor.tracking import track_job\n"
        "print(' '.join(sorted(sys.modules)))\n"
    )
    assert {"httpx", "click", "pygments"} & top_modules(probe) == set()
