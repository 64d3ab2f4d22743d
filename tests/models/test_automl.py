"""AutoML's search on small real data: leaderboard, events, budget, ensemble, bad input."""

from __future__ import annotations

import time

import numpy as np
import pytest
from sklearn.pipeline import Pipeline

from mlharbor.errors import InvalidInputError
from mlharbor.models.automl import (
    BaggedClassifier,
    WeightedEnsembleClassifier,
    greedy_selection,
    run_automl,
    sort_rows,
)
from mlharbor.models.automl.portfolio import scorer
from mlharbor.registry.persist import dump_pipeline, load_trusted

from ..training_data import binary_frame, regression_frame, text_frame, with_schema
from .folds_data import text_folds

#: Generous: the budget contract is "within 10 %"; a shared CI machine gets slack on top.
SLACK = 1.5


def test_binary_search_gives_a_scored_leaderboard_events_and_a_model_in_budget() -> None:
    df, schema = with_schema(binary_frame())
    events: list[dict] = []
    started = time.perf_counter()
    result = run_automl(df, schema, target="diagnosis", time_budget=5, on_trial=events.append)
    elapsed = time.perf_counter() - started
    assert elapsed < 5 * SLACK + 1, elapsed

    rows = result.leaderboard
    scored = [r for r in rows if r["status"] == "ok"]
    assert len(scored) >= 2
    assert [r["name"] for r in rows if r["winner"]] == [result.best_name]
    first = scored[0]
    assert first["metric"] == "roc_auc" and 0.8 < first["score"] <= 1.0
    assert {"roc_auc", "accuracy", "f1", "log_loss"} <= set(first["cv"])
    assert first["cv"]["roc_auc"]["std"] >= 0 and first["folds"] == 5
    assert first["fit_seconds"] > 0 and first["predict_seconds"] > 0
    scores = [r["score"] for r in scored]
    assert scores == sorted(scores, reverse=True)

    # One event per candidate, with what a live leaderboard and a progress bar need.
    assert len(events) >= len(scored)
    for event in events:
        assert {"name", "params", "score", "status", "elapsed", "remaining"} <= set(event)
        assert event["remaining"] >= 0
    assert [e["elapsed"] for e in events] == sorted(e["elapsed"] for e in events)

    proba = result.pipeline.predict_proba(df.drop(columns=["diagnosis"]).head(5))
    assert proba.shape == (5, 2) and np.allclose(proba.sum(axis=1), 1)
    assert set(result.pipeline.predict(df.head(5))) <= {"benign", "malignant"}


def test_regression_and_text_pick_their_own_portfolios() -> None:
    df, schema = with_schema(regression_frame())
    reg = run_automl(df, schema, target="progress", time_budget=5, max_trials=4)
    assert reg.task.value == "regression" and reg.metric == "r2"
    assert reg.leaderboard[0]["cv"]["rmse"]["mean"] > 0
    assert len(reg.pipeline.predict(df.head(3))) == 3

    df, schema = with_schema(text_frame())
    text = run_automl(df, schema, target="sentiment", time_budget=5, max_trials=3)
    assert text.task.value == "text"
    families = {r["family"] for r in text.leaderboard}
    assert {"logistic-regression", "naive-bayes"} <= families
    assert text.leaderboard[0]["score"] > 0.9  # the words give the sentiment away


def test_same_seed_same_leaderboard() -> None:
    df, schema = with_schema(binary_frame())

    def scores() -> list:
        result = run_automl(df, schema, target="diagnosis", time_budget=60, max_trials=2)
        return [(r["name"], round(r["score"], 10)) for r in result.leaderboard]

    assert scores() == scores()


def test_ensemble_selection_mixes_complementary_models_and_persists_safely() -> None:
    # Two noisy, independent views of the truth average into a better one.
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    views = []
    for _ in range(2):
        p = np.clip(0.5 + (y - 0.5) * 0.3 + rng.normal(0, 0.25, 400), 0.01, 0.99)
        views.append(np.column_stack([1 - p, p]))
    weights, score = greedy_selection(views, y, scorer("roc_auc", "binary"))
    assert weights.min() > 0.2 and score > max(scorer("roc_auc", "binary")(y, v) for v in views)

    df, schema = with_schema(binary_frame())
    result = run_automl(df, schema, target="diagnosis", time_budget=60, max_trials=2)
    members = [result.refit(e) for e in result.top(2)]
    assert all(
        isinstance(m, Pipeline | WeightedEnsembleClassifier | BaggedClassifier) for m in members
    )
    ensemble = WeightedEnsembleClassifier.from_fitted(members, [0.5, 0.5], ["a", "b"])
    loaded = load_trusted(dump_pipeline(ensemble))
    X = df.drop(columns=["diagnosis"])
    assert np.allclose(loaded.predict_proba(X), ensemble.predict_proba(X))
    assert list(loaded.classes_) == ["benign", "malignant"]


def test_leaderboard_sorts_by_any_metric() -> None:
    rows = [
        {"name": "a", "cv": {"rmse": {"mean": 2.0}}, "fit_seconds": 0.1},
        {"name": "b", "cv": {"rmse": {"mean": 1.0}}, "fit_seconds": 0.3},
        {"name": "c", "cv": {}, "fit_seconds": 0.2},
    ]
    assert [r["name"] for r in sort_rows(rows, "rmse")] == ["b", "a", "c"]
    assert [r["name"] for r in sort_rows(rows, "rmse", descending=True)] == ["a", "b", "c"]
    assert [r["name"] for r in sort_rows(rows, "fit_seconds")] == ["a", "c", "b"]


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"time_budget": 0.5}, "too small to fit even one model"),
        ({"metric": "rmse"}, "does not fit a binary task"),
        ({"metric": "nonsense"}, "known metrics"),
        ({"target": "ghost"}, "not in the dataset"),
    ],
)
def test_bad_requests_name_what_is_wrong(change: dict, words: str) -> None:
    df, schema = with_schema(binary_frame())
    options = {"target": "diagnosis", "time_budget": 5, **change}
    with pytest.raises(InvalidInputError, match=words):
        run_automl(df, schema, **options)


def test_a_single_class_target_is_refused() -> None:
    frame = binary_frame()
    frame["diagnosis"] = "benign"
    df, schema = with_schema(frame)
    with pytest.raises(InvalidInputError, match="single value"):
        run_automl(df, schema, target="diagnosis", time_budget=5)


def test_preprocessing_not_fitted_yet_counts_in_a_candidates_predicted_cost() -> None:
    # On text the TF-IDF fit can cost far more than a model: a candidate needing another
    # preprocessing (dense input) must be charged for it before the search starts it.
    from mlharbor.models.catalog import get_spec

    folds = text_folds()
    sparse, dense = get_spec("logistic-regression"), get_spec("hist-gradient-boosting")
    assert folds.pending_prep(sparse, 0) == 0.0  # nothing measured yet: nothing to charge
    folds.matrices(sparse, 0)
    assert folds.pending_prep(sparse, 1) == 0.0  # fitted once on all rows, reused
    measured = max(folds.prep_seconds.values())
    assert measured > 0
    assert folds.pending_prep(dense, 0) == measured  # not fitted yet: charged the known cost
    folds.matrices(dense, 0)
    assert folds.pending_prep(dense, 2) == 0.0


def test_a_lightgbm_fold_stops_adding_trees_at_its_time_limit_and_still_predicts() -> None:
    from lightgbm import LGBMClassifier

    from mlharbor.models.automl.folds import fit_fold
    from mlharbor.models.tasks import Task

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(200, 5)), np.tile([0, 1], 100)
    model = LGBMClassifier(n_estimators=100_000, learning_rate=1e-4, verbose=-1, n_jobs=1)
    result = fit_fold((0, model, X, y, X[:7], Task.BINARY, 0.0))
    assert result.prediction.shape == (7, 2)
    assert 1 <= model.booster_.num_trees() < 100_000  # stopped after the 0.5 s floor


def test_the_search_runs_with_folds_fanned_out_on_a_map() -> None:
    df, schema = with_schema(binary_frame())

    def serial(fn, items):  # the shape of an executor's map, in this process
        return [fn(item) for item in items]

    result = run_automl(
        df, schema, target="diagnosis", time_budget=30, max_trials=3, map_folds=serial
    )
    assert [r["status"] for r in result.leaderboard].count("ok") >= 2


def test_a_search_limited_to_two_families_tries_both_and_picks_one_of_them() -> None:
    df, schema = with_schema(binary_frame())
    result = run_automl(
        df,
        schema,
        target="diagnosis",
        time_budget=8,
        models=["logistic", "decision-tree"],  # an alias is fine
    )
    families = {row["name"].split("-c")[0] for row in result.leaderboard}
    tried = {e.candidate.family for e in result.entries}
    assert tried == {"logistic-regression", "decision-tree"}, families
    assert result.winner.candidate.family in tried  # never an ensemble of them
    assert result.settings["models"] == ["logistic", "decision-tree"]
    with pytest.raises(InvalidInputError, match="unknown model 'gbdt'"):
        run_automl(df, schema, target="diagnosis", time_budget=3, models=["gbdt"])
