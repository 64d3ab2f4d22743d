from __future__ import annotations

import io
import json

import pytest
from PIL import Image

from mlharbor.models import Task
from mlharbor.models.evaluate import artifact_names
from mlharbor.models.train import train_model

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
CASES = {
    "binary": "logistic-regression",
    "multiclass": "random-forest",
    "regression": "ridge",
    "text": "naive-bayes",
}


@pytest.mark.parametrize("task_data", list(CASES), indirect=True)
def test_every_artifact_is_produced_as_json_data_and_a_readable_png(task_data) -> None:
    df, schema, target = task_data
    model = _model_for(target)
    params = {"n_estimators": 20} if model == "random-forest" else None
    result = train_model(df, schema, target=target, model=model, params=params, cv_folds=3)
    assert set(result.artifacts) == set(artifact_names(result.task))
    for name, artifact in result.artifacts.items():
        json.dumps(artifact["data"], allow_nan=False)
        png = artifact["png"]
        assert png.startswith(PNG_MAGIC), name
        with Image.open(io.BytesIO(png)) as image:
            image.load()
            assert image.size[0] > 100 and image.size[1] > 100


def _model_for(target: str) -> str:
    by_target = {"diagnosis": "binary", "cultivar": "multiclass", "progress": "regression",
                 "sentiment": "text"}  # fmt: skip
    return CASES[by_target[target]]


def test_classification_artifacts_carry_curves_matrix_and_calibration(multiclass_data):
    df, schema = multiclass_data
    result = train_model(df, schema, target="cultivar", model="logistic", cv_folds=3)
    data = {name: a["data"] for name, a in result.artifacts.items()}
    assert {c["label"] for c in data["roc_curve"]["curves"]} == set(result.classes)
    assert data["confusion_matrix"]["labels"] == result.classes
    assert sum(map(sum, data["confusion_matrix"]["matrix"])) == result.settings["n_test"]
    assert len(data["calibration"]["curves"]) == 3
    assert data["learning_curve"]["scoring"] == "accuracy"
    assert len(data["learning_curve"]["train_sizes"]) == 3


def test_feature_importance_is_on_the_original_columns(text_data) -> None:
    df, schema = text_data
    result = train_model(df, schema, target="sentiment", model="logistic", cv_folds=3)
    features = [row["feature"] for row in result.artifacts["feature_importance"]["data"]
                ["features"]]  # fmt: skip
    assert sorted(features) == ["length", "review"]
    assert features[0] == "review"


def test_regression_artifacts_hold_predictions_and_residuals(regression_data) -> None:
    df, schema = regression_data
    result = train_model(df, schema, target="progress", model="ridge", cv_folds=3)
    assert result.task == Task.REGRESSION
    pva = result.artifacts["predicted_vs_actual"]["data"]
    assert len(pva["actual"]) == len(pva["predicted"]) == result.settings["n_test"]
    assert len(result.artifacts["residuals"]["data"]["residual"]) == result.settings["n_test"]


def test_a_model_without_probabilities_still_gets_a_calibration_image(binary_data) -> None:
    df, schema = binary_data
    result = train_model(df, schema, target="diagnosis", model="linear-svm", cv_folds=3)
    calibration = result.artifacts["calibration"]
    assert calibration["data"]["available"] is False
    assert calibration["png"].startswith(PNG_MAGIC)
    assert "log_loss" not in result.metrics["test"] and "roc_auc" in result.metrics["test"]
