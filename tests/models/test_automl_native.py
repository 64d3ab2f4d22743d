"""Native categoricals: integer codes that LightGBM and histogram gradient boosting split on."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import Pipeline

from mlharbor.models.automl import run_automl
from mlharbor.models.automl.portfolio import Candidate, portfolio
from mlharbor.models.tasks import Task
from mlharbor.prep import make_preprocessor
from mlharbor.registry.persist import dump_pipeline, load_trusted

from ..training_data import categorical_frame, with_schema


def test_native_preprocessing_puts_codes_first_pools_rare_levels_and_maps_unseen_to_nan() -> None:
    df, schema = with_schema(categorical_frame())
    df.loc[:2, "state"] = "rare-one"  # three rows: below the pooling threshold of five
    prep = make_preprocessor(schema, target="churn", task="binary", native_categorical=True)
    matrix = prep.fit_transform(df, df["churn"])
    # plan (otherwise one-hot) and state (40 levels, otherwise target-encoded) are one
    # column of codes each, first; then usage as it was, and calls, an integer category,
    # as its numbers (trees split on their order).
    assert schema.column("calls").semantic_type == "integer_categorical"
    assert list(prep.get_feature_names_out()) == [
        "categorical__plan",
        "categorical__state",
        "numeric__usage",
        "numeric__calls",
    ]
    np.testing.assert_array_equal(matrix[:, 3], df["calls"])
    state = matrix[:, 1]
    assert np.isnan(matrix[df.plan.isna().to_numpy(), 0]).all()
    assert (state[:3] == state[:3][0]).all()  # the rare level: the pooled code
    assert len(np.unique(state)) == 41  # 40 levels + the pool
    new = pd.DataFrame(
        {"state": ["never-seen", "st01"], "plan": ["gold", "pro"], "usage": [0, 1], "calls": 1}
    )
    codes = prep.transform(new)
    assert np.isnan(codes[0, :2]).all() and not np.isnan(codes[1, :2]).any()


def test_a_native_candidate_tells_the_model_which_columns_are_categories() -> None:
    df, schema = with_schema(categorical_frame())
    X, y = df.drop(columns=["churn"]), df["churn"]
    scores = {}
    for family, params in [("lightgbm", {"n_estimators": 50}), ("hist-gradient-boosting", {})]:
        for native in (0, 2):
            model = Candidate("c", family, params, native=native).make(Task.BINARY, 0)
            prep = make_preprocessor(
                schema, target="churn", task="binary", native_categorical=bool(native)
            )
            pipe = Pipeline([("preprocess", prep), ("model", model)])
            scores[family, native] = cross_val_score(pipe, X, y, cv=3, scoring="roc_auc").mean()
        fitted = pipe.fit(X, y)  # the native one
        if family == "lightgbm":
            trees = fitted[-1].booster_.dump_model()["tree_info"]
            assert any("==" in str(tree) for tree in trees)  # categorical splits
        else:
            assert fitted[-1].is_categorical_.tolist() == [True, True, False, False]
    # Split on the levels themselves, the models find the risky states at least as well.
    assert scores["lightgbm", 2] > 0.85 and scores["hist-gradient-boosting", 2] > 0.85


def test_the_portfolio_starts_with_native_lightgbm_only_where_there_are_categories() -> None:
    plain = portfolio(Task.BINARY, "binary", 1000, 1)
    assert plain[0].name == "lightgbm-defaults" and not any(c.native for c in plain)
    mixed = portfolio(Task.BINARY, "binary", 1000, 1, n_categorical=3)
    assert mixed[0].name == "lightgbm-defaults-native" and mixed[0].native == 3
    assert {c.family for c in mixed if c.native} == {"lightgbm", "hist-gradient-boosting"}
    assert any(c.family == "lightgbm" and not c.native for c in mixed)  # both views
    assert not any(c.native for c in portfolio(Task.TEXT, "binary", 1000, 1, 3))


@pytest.mark.parametrize("max_trials", [1, None])
def test_automl_with_native_categoricals_serves_unseen_levels_and_persists(
    max_trials: int | None,
) -> None:
    df, schema = with_schema(categorical_frame())
    result = run_automl(df, schema, target="churn", time_budget=8, max_trials=max_trials)
    rows = {r["name"]: r for r in result.leaderboard}
    assert rows["lightgbm-defaults-native"]["status"] == "ok"
    assert rows["lightgbm-defaults-native"]["trial"] == 1
    assert rows["lightgbm-defaults-native"]["score"] > 0.85
    if max_trials == 1:
        assert result.best_name == "lightgbm-defaults-native"
        assert result.settings["bagged"]  # served as its five fold models
    new = pd.DataFrame(
        {
            "state": ["never-seen", None, "st03"],
            "plan": ["gold", None, "pro"],
            "usage": [0, 2, 0],
            "calls": [0, 5, 9],
        }
    )
    proba = result.pipeline.predict_proba(new)
    assert proba.shape == (3, 2) and np.allclose(proba.sum(axis=1), 1)
    loaded = load_trusted(dump_pipeline(result.pipeline))
    X = pd.concat([df.drop(columns=["churn"]).head(50), new])
    assert np.allclose(loaded.predict_proba(X), result.pipeline.predict_proba(X))
