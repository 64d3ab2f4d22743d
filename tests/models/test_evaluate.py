from __future__ import annotations

import io
import json

import pytest
from PIL import Image

from mlharbor.models import Task
from mlharbor.models.evaluate import artifact_names
from mlharbor.models.train import TrainResult, train_model
from tests.training_data import FRAMES, TARGETS, with_schema

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
CASES = {
    "binary": ("logistic-regression", None),
    "multiclass": ("random-forest", {"n_estimators": 20}),
    "regression": ("ridge", None),
    "text": ("naive-bayes", None),
}


@pytest.fixture(scope="module")
def results() -> dict[str, TrainResult]:
    """One model with artifacts per task, trained once for this module."""
    out = {}
    for task, (model, params) in CASES.items():
        df, schema = with_schema(FRAMES[task]())
        out[task] = train_model(
            df, schema, target=TARGETS[task], model=model, params=params, cv_folds=3
        )
    return out


@pytest.mark.parametrize("task", list(CASES))
def test_every_artifact_is_produced_as_json_data_and_a_readable_png(results, task) -> None:
    result = results[task]
    assert set(result.artifacts) == set(artifact_names(result.task))
    for name, artifact in result.artifacts.items():
        json.dumps(artifact["data"], allow_nan=False)
        png = artifact["png"]
        assert png.startswith(PNG_MAGIC), name
        with Image.open(io.BytesIO(png)) as image:
            image.load()
            assert image.size[0] > 100 and image.size[1] > 100


def test_classification_artifacts_carry_curves_matrix_and_calibration(results) -> None:
    result = results["multiclass"]
    data = {name: a["data"] for name, a in result.artifacts.items()}
    assert {c["label"] for c in data["roc_curve"]["curves"]} == set(result.classes)
    assert data["confusion_matrix"]["labels"] == result.classes
    assert sum(map(sum, data["confusion_matrix"]["matrix"])) == result.settings["n_test"]
    assert len(data["calibration"]["curves"]) == 3
    assert data["learning_curve"]["scoring"] == "accuracy"
    assert len(data["learning_curve"]["train_sizes"]) == 5


@pytest.mark.parametrize("task", list(CASES))
def test_learning_curve_has_five_growing_points_ending_at_the_cross_validation(
    results, task
) -> None:
    result = results[task]
    curve = result.artifacts["learning_curve"]["data"]
    sizes = curve["train_sizes"]
    assert len(sizes) == 5 and sizes == sorted(sizes) and len(set(sizes)) == 5
    # the last point is the cross-validation's own folds: no refit, its scores are the CV's
    assert curve["fits_per_point"] == [1, 1, 1, 1, result.settings["cv_folds"]]
    assert sizes[-1] < result.settings["n_train"]
    assert all(v is not None for v in curve["valid_mean"])
    if task == "multiclass":
        cv_accuracy = result.metrics["cv"]["accuracy"]["mean"]
        assert curve["valid_mean"][-1] == pytest.approx(cv_accuracy)


def test_binary_curves_are_drawn_for_the_positive_class(results) -> None:
    data = results["binary"].artifacts["roc_curve"]["data"]
    assert data["positive_class"] == "malignant"
    assert [c["label"] for c in data["curves"]] == ["malignant"]
    assert data["curves"][0]["auc"] == pytest.approx(results["binary"].metrics["test"]["roc_auc"])


def test_feature_importance_is_on_the_original_columns(results) -> None:
    rows = results["text"].artifacts["feature_importance"]["data"]["features"]
    assert sorted(row["feature"] for row in rows) == ["length", "review"]
    assert rows[0]["feature"] == "review"
    assert results["text"].feature_importance == rows


def test_regression_artifacts_hold_predictions_and_residuals(results) -> None:
    result = results["regression"]
    assert result.task == Task.REGRESSION
    pva = result.artifacts["predicted_vs_actual"]["data"]
    assert len(pva["actual"]) == len(pva["predicted"]) == result.settings["n_test"]
    assert len(result.artifacts["residuals"]["data"]["residual"]) == result.settings["n_test"]


def test_a_model_without_probabilities_still_gets_a_calibration_image() -> None:
    df, schema = with_schema(FRAMES["binary"]())
    result = train_model(df, schema, target="diagnosis", model="linear-svm", cv_folds=3)
    calibration = result.artifacts["calibration"]
    assert calibration["data"]["available"] is False
    assert calibration["png"].startswith(PNG_MAGIC)
    assert "log_loss" not in result.metrics["test"] and "roc_auc" in result.metrics["test"]


def test_charts_drawn_in_a_background_process_are_the_same_images(results) -> None:
    df, schema = with_schema(FRAMES["multiclass"]())
    model, params = CASES["multiclass"]
    drawn = train_model(
        df,
        schema,
        target=TARGETS["multiclass"],
        model=model,
        params=params,
        cv_folds=3,
        background_drawing=True,
    )
    expected = results["multiclass"].artifacts
    assert set(drawn.artifacts) == set(expected)
    for name, artifact in drawn.artifacts.items():
        assert artifact["png"] == expected[name]["png"], name
