"""AutoML on small data: LightGBM defaults first, repeated folds, served fold models (bagging),
an honest check of the ensemble, and text vectorisers fitted once for every kind of scaling."""

from __future__ import annotations

import time

import numpy as np
from sklearn.pipeline import Pipeline

from mlharbor.models.automl import WeightedEnsembleClassifier, run_automl
from mlharbor.models.automl.ensemble import greedy_selection, nested_selection_oof
from mlharbor.models.automl.portfolio import scorer
from mlharbor.models.automl.result import refit_entry
from mlharbor.prep.text import TextFeatures
from mlharbor.registry.persist import dump_pipeline, load_trusted

from ..training_data import binary_frame, regression_frame, text_frame, with_schema


def test_lightgbm_with_its_defaults_is_always_the_first_candidate() -> None:
    for frame, target in ((binary_frame(), "diagnosis"), (regression_frame(), "progress")):
        df, schema = with_schema(frame)
        result = run_automl(df, schema, target=target, time_budget=60, max_trials=1)
        (row,) = result.leaderboard
        assert row["name"] == "lightgbm-defaults" and row["trial"] == 1 and row["status"] == "ok"
        served = result.pipeline
        model = (served if isinstance(served, Pipeline) else served.estimators_[0])[-1]
        assert type(model).__name__.startswith("LGBM")
        assert model.n_estimators == 100 and model.learning_rate == 0.1
        assert model.num_leaves == 31 and model.min_child_samples == 20


def test_small_data_is_cross_validated_twice_and_served_as_its_fold_models() -> None:
    df, schema = with_schema(binary_frame())  # 240 rows
    result = run_automl(df, schema, target="diagnosis", time_budget=60, max_trials=3)
    assert result.settings["cv_folds"] == 5 and result.settings["cv_repeats"] == 2
    assert result.settings["bagged"] is True
    assert all(r["folds"] == 10 for r in result.leaderboard if r["status"] == "ok")

    served = result.pipeline
    assert isinstance(served, WeightedEnsembleClassifier)
    winner = result.winner
    members = winner.members or {winner.name: 1.0}
    # Five fold models per member, each a whole pipeline, named after its member and fold.
    assert len(served.estimators_) == 5 * len(members)
    assert {name.rsplit("/fold", 1)[0] for name in served.names} == set(members)
    assert np.isclose(sum(served.weights_), 1.0)

    X = df.drop(columns=["diagnosis"])
    proba = served.predict_proba(X)
    by_hand = sum(
        w * m.predict_proba(X) for w, m in zip(served.weights_, served.estimators_, strict=True)
    )
    assert np.allclose(proba, by_hand) and np.allclose(proba.sum(axis=1), 1)
    # The registry saves it with skops and loads it back with its trusted types only.
    loaded = load_trusted(dump_pipeline(served))
    assert np.allclose(loaded.predict_proba(X), proba)
    assert list(loaded.predict(X.head(3))) == list(served.predict(X.head(3)))


def test_fold_models_are_refitted_as_one_model_when_their_time_is_not_there() -> None:
    df, schema = with_schema(binary_frame())
    result = run_automl(df, schema, target="diagnosis", time_budget=60, max_trials=1)
    notes: list[str] = []
    pipeline, entry = refit_entry(
        result.winner, result.folds, result.X, result.y, deadline=time.perf_counter(), notes=notes
    )
    assert isinstance(pipeline, Pipeline) and entry is result.winner
    assert any("refitted on all rows" in note for note in notes)


def test_larger_or_subsampled_data_is_refitted_on_all_rows() -> None:
    df, schema = with_schema(binary_frame())
    result = run_automl(
        df, schema, target="diagnosis", time_budget=60, max_trials=1, max_search_rows=150
    )
    assert result.settings["bagged"] is False and result.settings["n_search_rows"] == 150
    assert isinstance(result.pipeline, Pipeline)
    # Small budgets keep single folds: two repeats would halve the candidates.
    small = run_automl(df, schema, target="diagnosis", time_budget=5, max_trials=1)
    assert small.settings["cv_repeats"] == 1


def test_ensemble_selection_scored_on_its_own_rows_flatters_and_the_nested_score_does_not() -> None:
    # Thirty candidates that know nothing: selecting a blend of them on the rows it is then
    # scored on finds "signal" in the noise; selecting it on other rows does not.
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    noise = []
    for _ in range(30):
        p = rng.uniform(0.05, 0.95, 300)
        noise.append(np.column_stack([1 - p, p]))
    score = scorer("roc_auc", "binary")
    _, in_sample = greedy_selection(noise, y, score)
    splits = [(np.setdiff1d(np.arange(300), v), v) for v in np.array_split(np.arange(300), 5)]
    honest = score(y, nested_selection_oof(noise, y, score, splits))
    assert in_sample > 0.6 and honest < 0.57 and honest < in_sample - 0.05

    # Where the blend really helps (two independent views), it wins on unseen rows too.
    views = []
    for _ in range(2):
        p = np.clip(0.5 + (y - 0.5) * 0.3 + rng.normal(0, 0.25, 300), 0.01, 0.99)
        views.append(np.column_stack([1 - p, p]))
    nested = score(y, nested_selection_oof(views, y, score, splits))
    assert nested > max(score(y, v) for v in views)


def test_text_vectorisers_are_fitted_once_for_every_kind_of_scaling() -> None:
    from mlharbor.models.automl.folds import Folds
    from mlharbor.models.catalog import get_spec
    from mlharbor.models.tasks import Task

    df, schema = with_schema(text_frame())
    y = df["sentiment"].to_numpy(dtype=object)
    folds = Folds(
        X=df[["review", "length"]],
        y=y,
        y_index=(y == "pos").astype(int),
        classes=["neg", "pos"],
        task=Task.TEXT,
        schema=schema,
        target="sentiment",
        drop=[],
        n_folds=3,
        seed=0,
        shared=True,
    )
    standard, minmax, raw = (
        get_spec(n) for n in ("logistic-regression", "naive-bayes", "lightgbm")
    )
    first_prep, first = folds.fitted_on_all(standard)
    measured = max(folds.prep_seconds.values())
    # Another kind of scaling needs its numeric columns scaled anew, not its vocabulary.
    assert folds.pending_prep(minmax, 0) < measured
    preps = [first_prep, folds.fitted_on_all(minmax)[0], folds.fitted_on_all(raw)[0]]
    texts = [p.named_transformers_["text_review"] for p in preps]
    assert all(t is texts[0] for t in texts) and isinstance(texts[0], TextFeatures)
    # The TF-IDF block is identical; only the scaled numeric column differs.
    other = folds.fitted_on_all(minmax)[1]
    assert first.shape == other.shape
    n_text = len(texts[0].get_feature_names_out(["review"]))
    assert np.allclose(first[:, -n_text:].toarray(), other[:, -n_text:].toarray())
    # Fitted preprocessing holds plain, trusted types: it saves and loads as before.
    loaded = load_trusted(dump_pipeline(preps[1]))
    assert np.allclose(loaded.transform(df).toarray(), preps[1].transform(df).toarray())


def test_the_fast_roc_auc_of_the_search_agrees_with_scikit_learn() -> None:
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 500)
    p = rng.random(500).round(2)  # many ties, which count half
    assert np.isclose(
        scorer("roc_auc", "binary")(y, np.column_stack([1 - p, p])), roc_auc_score(y, p)
    )
    y = rng.integers(0, 4, 500)
    proba = rng.dirichlet(np.ones(4), 500)
    assert np.isclose(
        scorer("roc_auc_ovr", "multiclass")(y, proba),
        roc_auc_score(y, proba, multi_class="ovr"),
    )
