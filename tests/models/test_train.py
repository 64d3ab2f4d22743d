from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from mlharbor.errors import InvalidInputError
from mlharbor.forks import fork_later
from mlharbor.models import CATALOG, Task
from mlharbor.models.checks import check_train_request
from mlharbor.models.train import TrainResult, train_model
from tests.training_data import binary_frame, text_frame, with_schema

# Small ensembles keep the whole matrix fast; the defaults are exercised elsewhere.
FAST_PARAMS = {
    "random-forest": {"n_estimators": 15},
    "extra-trees": {"n_estimators": 15},
    "lightgbm": {"n_estimators": 20, "min_child_samples": 5},
    "hist-gradient-boosting": {"max_iter": 20},
}
METRICS = {
    Task.BINARY: {
        "roc_auc",
        "pr_auc",
        "accuracy",
        "balanced_accuracy",
        "f1",
        "precision",
        "recall",
        "threshold",
    },
    Task.MULTICLASS: {"accuracy", "f1_macro", "balanced_accuracy"},
    Task.REGRESSION: {"rmse", "mae", "r2"},
    Task.TEXT: {"roc_auc", "accuracy", "f1"},
}
MATRIX = [(spec.name, task.value) for spec in CATALOG for task in sorted(spec.tasks)]


def _train(df, schema, target, **kwargs) -> TrainResult:
    kwargs.setdefault("cv_folds", 3)
    kwargs.setdefault("artifacts", False)
    return train_model(df, schema, target=target, **kwargs)


@pytest.mark.parametrize(
    ("model", "task_data"), MATRIX, indirect=["task_data"], ids=[f"{m}-{t}" for m, t in MATRIX]
)
def test_every_catalog_model_trains_and_predicts_for_each_task_it_claims(
    model: str, task_data
) -> None:
    df, schema, target = task_data
    result = _train(df, schema, target, model=model, params=FAST_PARAMS.get(model))
    assert result.model == model
    assert METRICS[result.task] <= set(result.metrics["test"])
    assert set(result.metrics["cv"]) >= METRICS[result.task] - {"threshold"}
    predictions = result.pipeline.predict(df.drop(columns=target).head(5))
    assert len(predictions) == 5
    if result.task.is_classification:
        assert set(predictions) <= set(df[target])
    json.dumps(result.summary())


def test_string_labels_stay_strings(binary_data) -> None:
    df, schema = binary_data
    result = _train(df, schema, "diagnosis", model="logistic-regression")
    assert result.classes == ["benign", "malignant"]
    assert result.signature["positive_class"] == "malignant"
    predictions = result.pipeline.predict(df.head(10))
    assert all(isinstance(p, str) for p in predictions)


def test_integer_labels_stay_integers() -> None:
    df, schema = with_schema(
        binary_frame().assign(diagnosis=lambda d: (d.diagnosis == "benign").astype(int))
    )
    result = _train(df, schema, "diagnosis", model="decision-tree", task="binary")
    assert result.classes == [0, 1]
    assert result.pipeline.predict(df.head(3)).dtype.kind == "i"


def test_same_seed_gives_the_same_model_and_metrics(binary_data) -> None:
    df, schema = binary_data
    first = _train(df, schema, "diagnosis", model="rf", params={"n_estimators": 10}, seed=3)
    second = _train(df, schema, "diagnosis", model="rf", params={"n_estimators": 10}, seed=3)
    assert first.metrics == second.metrics
    np.testing.assert_array_equal(
        first.pipeline.predict_proba(df), second.pipeline.predict_proba(df)
    )


@pytest.mark.parametrize("task_data", ["multiclass", "regression"], indirect=True)
@pytest.mark.parametrize("refit_full", [False, True])
def test_side_fits_on_other_cores_give_the_same_model_metrics_and_artifacts(
    task_data, refit_full: bool
) -> None:
    # A job fits the folds and the learning curve in forked children beside its own fit,
    # evaluation and refit: nothing the user sees may differ from fitting them here.
    df, schema, target = task_data
    options = {"model": "rf", "params": {"n_estimators": 10}, "seed": 2, "artifacts": True}
    here = _train(df, schema, target, refit_full=refit_full, **options)
    beside = _train(df, schema, target, refit_full=refit_full, start_fits=fork_later, **options)
    assert beside.metrics == here.metrics and beside.settings == here.settings
    assert set(beside.artifacts) == set(here.artifacts)
    for name, artifact in here.artifacts.items():
        assert json.dumps(beside.artifacts[name]["data"]) == json.dumps(artifact["data"]), name
        assert beside.artifacts[name]["png"] == artifact["png"], name
    np.testing.assert_array_equal(beside.pipeline.predict(df), here.pipeline.predict(df))


def test_a_fold_that_fails_beside_fails_the_training_in_its_words(binary_data) -> None:
    df, schema = binary_data
    with pytest.raises(InvalidInputError, match=r"training LGBMClassifier failed.*num_leaves"):
        _train(
            df, schema, "diagnosis", model="lightgbm", params={"num_leaves": -5},
            start_fits=fork_later,
        )  # fmt: skip


def test_progress_is_reported_per_phase_and_fold(multiclass_data) -> None:
    df, schema = multiclass_data
    calls: list[tuple[float, str]] = []
    _train(df, schema, "cultivar", model="dummy", progress=lambda f, m: calls.append((f, m)))
    fractions = [f for f, _ in calls]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert sum("fold" in m for _, m in calls) == 3


def test_result_records_signature_importance_versions_and_drops(text_data) -> None:
    df, schema = text_data
    df = df.assign(ticket=[f"T{i:05d}" for i in range(len(df))])
    df, schema = with_schema(df)
    result = _train(df, schema, "sentiment", model="naive-bayes")
    assert result.task == Task.TEXT
    assert [c["name"] for c in result.signature["inputs"]] == ["review", "length"]
    assert result.signature["inputs"][0]["semantic_type"] == "text"
    assert "identifier" in result.dropped["ticket"]
    assert result.feature_importance[0]["feature"] == "review"
    assert {"scikit-learn", "numpy", "python"} <= set(result.versions)
    assert result.timings["total"] > 0


def test_a_class_name_alias_from_mini_ml_platform_works(regression_data) -> None:
    df, schema = regression_data
    result = _train(
        df, schema, "progress", model="RandomForestClassifier", params='{"n_estimators": "5"}'
    )
    assert result.estimator == "RandomForestRegressor"
    assert result.params == {"n_estimators": 5}
    assert "RandomForestClassifier was trained as RandomForestRegressor" in result.notes[0]


def test_a_given_test_split_is_used_as_the_held_out_set(multiclass_data) -> None:
    df, schema = multiclass_data
    train, test = df.iloc[::2], df.iloc[1::2]
    result = _train(train, schema, "cultivar", model="dummy", test_df=test)
    assert (result.settings["n_train"], result.settings["n_test"]) == (len(train), len(test))
    with pytest.raises(InvalidInputError, match="test data lacks the columns"):
        _train(train, schema, "cultivar", test_df=test.drop(columns="alcohol"))


def test_one_text_column_among_many_features_keeps_the_task_binary() -> None:
    df = binary_frame()
    df["name"] = [f"Passenger number {i} of the ship" for i in range(len(df))]
    df, schema = with_schema(df)
    result = _train(
        df, schema, "diagnosis", model="hist-gradient-boosting", params={"max_iter": 10}
    )
    assert result.task == Task.BINARY
    assert "name" in [c["name"] for c in result.signature["inputs"]]


# ---- bad input: each a clear InvalidInputError naming the problem ----------------------


def test_missing_target_column_lists_the_columns(binary_data) -> None:
    df, schema = binary_data
    with pytest.raises(InvalidInputError, match="target column 'Survived' is not in the data"):
        _train(df, schema, "Survived")


def test_all_missing_target_is_refused(binary_data) -> None:
    df, _ = binary_data
    df, schema = with_schema(df.assign(diagnosis=pd.Series([None] * len(df), dtype=object)))
    with pytest.raises(InvalidInputError, match="'diagnosis' has no values"):
        _train(df, schema, "diagnosis")


def test_single_class_target_is_refused(binary_data) -> None:
    df, _ = binary_data
    df, schema = with_schema(df.assign(diagnosis="benign"))
    with pytest.raises(InvalidInputError, match="single value"):
        _train(df, schema, "diagnosis")


def test_regression_model_on_a_text_target_names_the_task(binary_data) -> None:
    df, schema = binary_data
    with pytest.raises(InvalidInputError, match=r"'lasso' serves regression only.*binary"):
        _train(df, schema, "diagnosis", model="lasso")
    with pytest.raises(InvalidInputError, match="regression needs a numeric target"):
        _train(df, schema, "diagnosis", task="regression")


def test_unknown_model_and_foreign_parameters_are_refused(binary_data) -> None:
    df, schema = binary_data
    with pytest.raises(InvalidInputError, match="unknown model 'xgb'; valid models"):
        _train(df, schema, "diagnosis", model="xgb")
    with pytest.raises(InvalidInputError, match=r"unknown parameter 'C'.*n_estimators"):
        _train(df, schema, "diagnosis", model="rf", params={"C": 1})


def test_a_value_only_lightgbm_checks_is_reported_in_its_words(binary_data) -> None:
    df, schema = binary_data
    with pytest.raises(InvalidInputError, match=r"training LGBMClassifier failed.*num_leaves"):
        _train(df, schema, "diagnosis", model="lightgbm", params={"num_leaves": -5})


def test_fewer_rows_than_folds_is_refused(binary_data) -> None:
    df, schema = binary_data
    with pytest.raises(InvalidInputError, match="only 6 rows"):
        _train(df.head(6), schema, "diagnosis", cv_folds=5)


def test_a_class_rarer_than_the_folds_gets_fewer_folds_with_a_note() -> None:
    df = binary_frame()
    rare = df[df.diagnosis == "malignant"].head(5)  # 4 in the training split, 1 in test
    df, schema = with_schema(pd.concat([df[df.diagnosis == "benign"], rare]))
    result = _train(df, schema, "diagnosis", cv_folds=5)
    assert result.settings["cv_folds"] == 4
    assert all(m["n_folds"] == 4 for m in result.metrics["cv"].values())
    assert any(
        note.startswith("cross-validated with 4 folds instead of 5")
        and "'malignant' (4 rows)" in note
        for note in result.notes
    ), result.notes


def test_integer_classes_are_named_plainly_in_notes_and_refusals() -> None:
    df = binary_frame()
    df["grade"] = np.where(df.diagnosis == "benign", 1, 2)
    df.loc[df.index[:3], "grade"] = 3
    df, schema = with_schema(df.drop(columns=["diagnosis"]))
    result = _train(df, schema, "grade", cv_folds=5)
    assert any(re.search(r"rows of 3 \(\d rows\)$", note) for note in result.notes), result.notes
    # Given a test set, all rows train: a class with one of them cannot be cross-validated.
    train, test = df.iloc[2:], df.iloc[:2].assign(grade=1)
    with pytest.raises(
        InvalidInputError, match=r"single row in the training split.*: 3 \(1 rows\)"
    ):
        _train(train, schema, "grade", cv_folds=5, test_df=test)


def test_no_usable_feature_left_is_refused(text_data) -> None:
    df, schema = text_data
    with pytest.raises(InvalidInputError, match=r"no usable feature.*'review': dropped"):
        _train(df, schema, "sentiment", drop=["review", "length"])


def test_rows_without_a_target_are_left_out_with_a_note() -> None:
    df = text_frame()
    df.loc[:9, "sentiment"] = None
    df, schema = with_schema(df)
    result = _train(df, schema, "sentiment", model="dummy")
    assert result.settings["n_train"] + result.settings["n_test"] == len(df) - 10
    assert any("10 rows without a value" in note for note in result.notes)


def test_a_request_is_checked_against_the_schema_before_any_training(binary_data) -> None:
    _, schema = binary_data
    checked = check_train_request(
        schema,
        target="diagnosis",
        model="RandomForestClassifier",
        params=["n_estimators=300"],
        drop=["mean area"],
    )
    assert checked["model"] == "random-forest" and checked["params"] == {"n_estimators": 300}
    assert "mean area" not in checked["features"]
    for kwargs, message in [
        ({"target": "Survived"}, "target column 'Survived' is not in the dataset"),
        ({"target": "diagnosis", "model": "xgb"}, "unknown model 'xgb'"),
        ({"target": "diagnosis", "params": {"C": 1}}, "unknown parameter 'C'"),
        ({"target": "diagnosis", "drop": ["nope"]}, "cannot drop 'nope'"),
        ({"target": "diagnosis", "model": "lasso", "task": "binary"}, "does not serve binary"),
    ]:
        with pytest.raises(InvalidInputError, match=message):
            check_train_request(schema, **kwargs)


def test_string_numbers_as_target_get_a_hint_towards_regression(regression_data) -> None:
    df, _ = regression_data
    df, schema = with_schema(df.assign(progress=df.progress.astype(str) + " units"))
    with pytest.raises(InvalidInputError, match="looks continuous"):
        _train(df, schema, "progress", model="dummy")


def test_duplicate_column_names_are_refused(binary_data) -> None:
    df, schema = binary_data
    twice = pd.concat([df, df[["mean radius"]]], axis=1)
    with pytest.raises(InvalidInputError, match="several columns named 'mean radius'"):
        _train(twice, schema, "diagnosis")
