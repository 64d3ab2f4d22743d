"""AutoML on small data: LightGBM defaults first, repeated folds, served fold models (bagging),
an honest check of the ensemble, and text vectorisers fitted once for every kind of scaling."""

from __future__ import annotations

import time

import numpy as np
from sklearn.pipeline import Pipeline

from mlharbor.models.automl import BaggedClassifier, BaggedRegressor, run_automl
from mlharbor.models.automl.ensemble import (
    greedy_selection,
    nested_selection_oof,
    single_fit_equivalent,
)
from mlharbor.models.automl.portfolio import scorer
from mlharbor.models.automl.result import refit_entry
from mlharbor.prep.text import TextFeatures
from mlharbor.registry.persist import dump_pipeline, load_trusted

from ..training_data import binary_frame, regression_frame, with_schema
from .folds_data import binary_folds, text_folds


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


def test_small_data_is_cross_validated_twice_and_boosting_served_as_its_fold_models() -> None:
    df, schema = with_schema(binary_frame())  # 240 rows
    X = df.drop(columns=["diagnosis"])
    result = run_automl(df, schema, target="diagnosis", time_budget=60, max_trials=1)
    assert result.settings["cv_folds"] == 5 and result.settings["cv_repeats"] == 2
    assert result.settings["bagged"] is True
    assert result.leaderboard[0]["folds"] == 10

    bag = result.pipeline  # LightGBM with its defaults, the only candidate
    assert isinstance(bag, BaggedClassifier) and bag.n_folds == 5
    assert len(bag.estimators_) == 5 and all(isinstance(m, Pipeline) for m in bag.estimators_)
    models = [m[-1] for m in bag.estimators_]
    assert len({id(m) for m in models}) == 5 and all(m.n_estimators == 100 for m in models)
    proba = bag.predict_proba(X)
    by_hand = np.mean([m.predict_proba(X) for m in bag.estimators_], axis=0)
    assert np.allclose(proba, by_hand) and np.allclose(proba.sum(axis=1), 1)
    # The registry saves it with skops and loads it back with its trusted types only.
    loaded = load_trusted(dump_pipeline(bag))
    assert np.allclose(loaded.predict_proba(X), proba)
    assert list(loaded.predict(X.head(3))) == list(bag.predict(X.head(3)))

    # In an ensemble, boosting members are bags and the others single refits.
    mixed = run_automl(df, schema, target="diagnosis", time_budget=60, max_trials=4)
    winner = mixed.winner
    served = mixed.pipeline.estimators_ if winner.members else [mixed.pipeline]
    names = list(mixed.pipeline.names) if winner.members else [winner.name]
    for name, model in zip(names, served, strict=True):
        family = next(r["family"] for r in mixed.leaderboard if r["name"] == name)
        expected = BaggedClassifier if family == "lightgbm" else Pipeline
        assert isinstance(model, expected), (name, type(model))
    assert np.allclose(
        load_trusted(dump_pipeline(mixed.pipeline)).predict_proba(X),
        mixed.pipeline.predict_proba(X),
    )


def test_a_bag_is_a_plain_estimator_that_refits_one_model_per_fold() -> None:
    from sklearn.base import clone
    from sklearn.linear_model import LinearRegression, LogisticRegression

    df = binary_frame()
    X, y = df.drop(columns=["diagnosis"]), df["diagnosis"].to_numpy()
    bag = BaggedClassifier(LogisticRegression(max_iter=500), n_folds=4).fit(X, y)
    assert len(bag.estimators_) == 4 and list(bag.classes_) == ["benign", "malignant"]
    assert not any(m is bag.estimators_[0] for m in bag.estimators_[1:])
    assert bag.score(X, y) > 0.8
    again = clone(bag).fit(X, y)  # seeded folds: the same bag
    assert np.allclose(again.predict_proba(X), bag.predict_proba(X))

    reg = regression_frame()
    Xr, yr = reg.drop(columns=["progress"]), reg["progress"].to_numpy()
    bagged = BaggedRegressor(LinearRegression(), n_folds=3).fit(Xr, yr)
    mean = np.mean([m.predict(Xr) for m in bagged.estimators_], axis=0)
    assert np.allclose(bagged.predict(Xr), mean)
    assert np.allclose(load_trusted(dump_pipeline(bagged)).predict(Xr), mean)
    # A learning curve refits one model, not the whole bag.
    single = single_fit_equivalent(bagged)
    assert isinstance(single, LinearRegression)


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
    from mlharbor.models.catalog import get_spec

    folds = text_folds()
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
    assert np.allclose(loaded.transform(folds.X).toarray(), preps[1].transform(folds.X).toarray())


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


def test_folds_are_repeated_only_when_the_first_candidate_says_the_portfolio_affords_it() -> None:
    from mlharbor.models.automl.engine import Search
    from mlharbor.models.automl.portfolio import Candidate

    def search(n_candidates: int) -> Search:
        folds = binary_folds(n_folds=5, n_repeats=2)
        y = folds.y
        now = time.perf_counter()
        run = Search(
            folds=folds,
            metric="roc_auc",
            kind="binary",
            seed=0,
            started=now,
            deadline=now + 30,
            n_full=len(y),
            max_trials=1,
            on_trial=None,
            map_folds=None,
        )
        first = Candidate("lightgbm-defaults", "lightgbm", {"n_estimators": 100})
        forests = [Candidate(f"forest-{i}", "random-forest") for i in range(n_candidates)]
        run.run_portfolio([first, *forests])
        return run

    cheap = search(3)  # a first fold of LightGBM on 240 rows: ten folds of four models fit
    (entry,) = cheap.entries
    assert cheap.folds.n_repeats == 2 and len(entry.fold_scores) == 10
    assert entry.oof is not None and entry.oof.shape == (len(cheap.folds.y), 2)
    assert np.allclose(entry.oof.sum(axis=1), 1)

    dear = search(100_000)  # a hundred thousand forests to come: one repeat only
    (entry,) = dear.entries
    assert dear.folds.n_repeats == 1 and len(entry.fold_scores) == 5
    assert dear.folds.n_splits == 5
