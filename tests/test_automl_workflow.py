"""The automl job end to end through the hub: leaderboard, registry, alias, events."""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from mlharbor.errors import InvalidInputError
from mlharbor.hub import Hub
from mlharbor.models.automl import run_automl
from mlharbor.models.automl.register import to_train_result
from mlharbor.workflows.automl import (
    AutoMLRequest,
    _split,
    describe_fit,
    refit_all,
    run_automl_job,
)
from mlharbor.workflows.train import TrainRequest

from .training_data import categorical_frame, with_schema

SAMPLES = Path(__file__).parents[1] / "samples"


def test_automl_registers_the_winner_and_top_k_with_best_model_alias(sqlite_hub: Hub) -> None:
    hub = sqlite_hub
    hub.datasets.ingest_file(SAMPLES / "iris.csv")
    started = time.perf_counter()
    job = hub.automl("iris", "variety", time_budget=30, top_k=2)
    assert job.state == "succeeded", job.error
    result = job.result
    # The budget is the user's wall clock: what the result reports counts from the submit
    # (the queue and the job's start-up included) to the registered winner. The extra
    # top-k models come after; ``seconds`` counts them too.
    from_submit = (job.finished_at - job.created_at).total_seconds()
    assert result["seconds"] - 0.01 <= from_submit <= result["seconds"] + 5, (from_submit, result)
    assert result["seconds"] >= result["budget_seconds"] >= result["timings"]["search"]
    assert result["timings"]["waiting"] >= 0 and result["timings"]["finish_predicted"] > 0
    assert time.perf_counter() - started < 120

    rows = result["leaderboard"]
    assert rows[0]["rank"] == 1 and result["best"] in {r["name"] for r in rows}
    assert {r["family"] for r in rows if r["status"] == "ok"} >= {"logistic-regression"}
    assert all("accuracy" in r["cv"] for r in rows if r["status"] == "ok")

    model = hub.models.get_model("iris-variety")
    assert len(model.versions) == 2
    best = hub.models.get_version("iris-variety", "best_model")
    assert best.version == result["version"] == model.aliases["latest"]
    assert best.lineage["automl"]["winner"] and best.lineage["automl"]["leaderboard"]
    assert best.metrics["test"]["accuracy"] > 0.8 and "accuracy" in best.metrics["cv"]
    assert {"confusion_matrix", "roc_curve", "feature_importance"} <= set(best.artifacts)

    rows_in = pd.read_csv(SAMPLES / "iris_predict.csv").head(3).to_dict("records")
    answer = hub.predictor.predict("iris-variety", "best_model", rows_in)
    assert len(answer.predictions) == 3 and set(answer.classes) == {
        "Setosa",
        "Versicolor",
        "Virginica",
    }

    trials = [e.data for e in hub.jobs.events(job.id) if e.kind == "trial"]
    assert len(trials) >= 2
    assert {"name", "params", "score", "elapsed", "remaining"} <= set(trials[0])

    # A retry of the same job (its worker lost after registering) finds the winner, not
    # the runner-up registered before it, registers nothing more and restores the alias.
    runner_up = next(v for v in model.versions if v.version != result["version"])
    hub.models.set_alias("iris-variety", "best_model", runner_up.version)
    request = AutoMLRequest.from_params(hub.jobs.get(job.id).params)
    again = run_automl_job(hub, request, lambda *a: None, lambda *a: None, job.id)
    assert again["version"] == result["version"] and again["best"] == result["best"]
    assert again["notes"] == ["registered by an earlier attempt"]
    assert len(hub.models.get_model("iris-variety").versions) == 2
    assert hub.models.get_version("iris-variety", "best_model").version == result["version"]


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"time_budget": 1}, "too small to fit even one model"),
        ({"metric": "r2"}, "does not fit a multiclass task"),
        ({"target": "nope"}, "not in the dataset"),
        ({"top_k": 0}, "top_k"),
    ],
)
def test_bad_automl_requests_are_refused_before_queueing(
    sqlite_hub: Hub, change: dict, words: str
) -> None:
    sqlite_hub.datasets.ingest_file(SAMPLES / "iris.csv")
    request = AutoMLRequest(**{"dataset": "iris", "target": "variety", **change})
    with pytest.raises(InvalidInputError, match=words):
        sqlite_hub.submit_automl(request)
    assert sqlite_hub.jobs.count() == 0


def test_a_bagged_winner_is_registered_and_served_like_any_model(sqlite_hub: Hub) -> None:
    # On 150 rows LightGBM (the only candidate here) is served as its five fold models.
    hub = sqlite_hub
    hub.datasets.ingest_file(SAMPLES / "iris.csv")
    job = hub.automl("iris", "variety", time_budget=6, max_trials=1, name="iris-bag")
    assert job.state == "succeeded", job.error
    assert job.result["best"] == "lightgbm-defaults" and job.result["settings"]["bagged"]
    best = hub.models.get_version("iris-bag", "best_model")
    assert best.estimator == "LGBMClassifier" and best.metrics["test"]["accuracy"] > 0.8
    assert "learning_curve" in best.artifacts

    rows_in = pd.read_csv(SAMPLES / "iris_predict.csv").head(4).to_dict("records")
    answer = hub.predictor.predict("iris-bag", "best_model", rows_in)
    assert len(answer.predictions) == 4
    assert set(answer.predictions) <= {"Setosa", "Versicolor", "Virginica"}


def test_a_winner_with_native_categoricals_is_registered_and_served(
    sqlite_hub: Hub, tmp_path: Path
) -> None:
    # LightGBM with the categorical columns as categories goes first on such a table.
    hub = sqlite_hub
    path = tmp_path / "churn.csv"
    categorical_frame().to_csv(path, index=False)
    hub.datasets.ingest_file(path)
    job = hub.automl("churn", "churn", time_budget=6, max_trials=1, name="churn-native")
    assert job.state == "succeeded", job.error
    assert job.result["best"] == "lightgbm-defaults-native"
    best = hub.models.get_version("churn-native", "best_model")
    assert best.metrics["test"]["roc_auc"] > 0.85

    pipeline = hub.models.load_pipeline("churn-native", best.version)
    rows = categorical_frame(seed=1).drop(columns=["churn"]).head(20)
    rows.loc[0, "state"] = "never-seen"  # unseen at training: treated as missing
    rows.loc[1, "plan"] = None
    answer = hub.predictor.predict("churn-native", "best_model", rows)
    assert answer.predictions == list(pipeline.predict(rows))
    np.testing.assert_allclose(answer.probabilities, pipeline.predict_proba(rows), atol=1e-3)
    one = hub.predictor.predict("churn-native", "best_model", [rows.iloc[0].to_dict()])
    assert one.predictions == [answer.predictions[0]]


@pytest.mark.parametrize("kind", ["train", "automl"])
def test_a_job_that_fails_deterministically_fails_after_one_attempt(
    sqlite_hub: Hub, kind: str
) -> None:
    # The dataset is deleted between submit and run: every attempt would say the same.
    hub = sqlite_hub
    hub.datasets.ingest_file(SAMPLES / "iris.csv")
    if kind == "train":
        job = hub.submit_train(TrainRequest(dataset="iris", target="variety"))
    else:
        job = hub.submit_automl(AutoMLRequest(dataset="iris", target="variety", time_budget=5))
    assert job.max_attempts > 1
    hub.datasets.delete("iris")
    done = hub.wait(job.id, run_here=True, timeout=120)
    assert (done.state, done.attempts) == ("failed", 1)
    assert done.error["code"] == "not_found" and "iris" in done.error["message"]
    assert done.error["retryable"] is False
    assert "retrying" not in [e.kind for e in hub.jobs.events(job.id)]


@pytest.mark.parametrize("refit_full", [True, False])
def test_automl_registers_a_winner_refitted_on_every_row(sqlite_hub: Hub, refit_full: bool) -> None:
    hub = sqlite_hub
    hub.datasets.ingest_file(SAMPLES / "iris.csv")
    # Two candidates, and a budget generous enough for the refit on all rows even after a
    # slow start on a busy machine (the budget counts from the submit).
    job = hub.automl(
        "iris", "variety", time_budget=120, max_trials=2, name="iris-all", refit_full=refit_full
    )
    assert job.state == "succeeded", job.error
    result = job.result
    assert result["budget_seconds"] == result["seconds"]  # top_k=1: all of it is the budget's
    version = hub.models.get_version("iris-all", "best_model")
    assert version.lineage["automl"]["fitted_on"] == result["fitted_on"]
    assert version.lineage["settings"]["fitted_on"] == result["fitted_on"]
    assert "test" in result["metrics"] and "cv" in result["metrics"]  # the holdout's

    # The registered model is the winner's recipe fitted on exactly the rows it says.
    frame = hub.datasets.read_table(hub.datasets.get_version("iris")).to_pandas()
    request = AutoMLRequest.from_params(hub.jobs.get(job.id).params)
    train, _ = _split(frame, request)
    if refit_full:
        assert result["refit"]["full"], (result["refit"], result["timings"])
        assert result["refit"]["n_rows"] == 150
        assert result["fitted_on"] == (
            "all rows (n=150); test metrics from a 20 % holdout before the refit"
        )
        rows = frame
    else:
        assert not result["refit"]["full"] and result["refit"]["n_rows"] == 120
        assert result["fitted_on"].startswith("120 rows (the test split of 20 % held out)")
        rows = train
    served = hub.models.load_pipeline("iris-all", version.version)
    X = frame.drop(columns=["variety"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        again = clone(served).fit(rows.drop(columns=["variety"]), rows["variety"].to_numpy())
    np.testing.assert_allclose(served.predict_proba(X), again.predict_proba(X), atol=1e-9)


def test_a_refit_that_would_not_fit_the_budget_keeps_the_holdout_model() -> None:
    frame = pd.read_csv(SAMPLES / "iris.csv")
    request = AutoMLRequest(dataset="iris", target="variety", time_budget=5)
    train, test = _split(frame, request)
    schema = with_schema(train)[1]
    result = run_automl(train, schema, target="variety", time_budget=5, max_trials=1)
    result.final_refit_seconds = 3.0
    model, info = refit_all(
        result, result.pipeline, frame, request, deadline=time.perf_counter() + 1
    )
    assert model is result.pipeline and not info["full"]
    X_test = test[result.features]
    trained = to_train_result(
        result, result.winner, result.pipeline, test, X_test, schema, artifacts=False
    )
    describe_fit(trained, model, info, request)
    assert info["fitted_on"] == (
        "120 rows (the test split of 20 % held out); test metrics from that holdout"
    )
    assert trained.settings["fitted_on"] == info["fitted_on"]
    assert trained.notes[-1].startswith(
        "not refitted on all rows: the refit on all rows (~3.0 s predicted) would not fit the "
    )
