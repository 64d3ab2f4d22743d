"""An RBF SVM with probabilities: Platt scaling without scikit-learn's deprecated option.

``SVC(probability=True)`` warns in scikit-learn 1.9 and goes in 1.11 (so does the ``probA_``
skl2onnx reads). Asking the catalog for ``probability=True`` gives the same 5-fold Platt
scaling as ``CalibratedClassifierCV(SVC(), ensemble=False)``; the model must still store
through the allow-list, serve its probabilities and convert to ONNX, and nothing on the way
may warn about the deprecation.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from sklearn.calibration import CalibratedClassifierCV
from sklearn.svm import SVC

from mlharbor.hub import Hub
from mlharbor.models import get_spec, train_model
from mlharbor.models.automl.portfolio import portfolio
from mlharbor.models.tasks import Task

from .mixed import mixed_frame


@pytest.fixture
def no_deprecation() -> object:
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*probab.*deprecated", category=FutureWarning)
        warnings.filterwarnings("error", message=".*prob[AB]_.*deprecated", category=FutureWarning)
        yield


def test_svm_probabilities_store_serve_and_convert(
    sqlite_hub: Hub, tmp_path: Path, no_deprecation: object
) -> None:
    frame = mixed_frame(200).drop(columns=["spend"])
    path = tmp_path / "churn.csv"
    frame.to_csv(path, index=False)
    version = sqlite_hub.datasets.ingest_file(path).version
    data = sqlite_hub.datasets.read_table(version).to_pandas()
    result = train_model(
        data,
        version.schema,
        target="churn",
        model="rbf-svm",
        params={"probability": "true"},  # as a REST caller or the CLI sends it
        cv_folds=0,
        artifacts=False,
    )
    final = result.pipeline.steps[-1][1]
    assert isinstance(final, CalibratedClassifierCV) and not final.ensemble
    lineage = {"dataset": version.dataset, "dataset_version": version.version}
    sqlite_hub.models.register("svm", result, dataset_version_id=version.id, lineage=lineage)

    rows = frame.drop(columns=["churn"]).iloc[:40]
    answer = sqlite_hub.predictor.predict("svm", "latest", rows)
    assert answer.classes == ["no", "yes"]
    assert np.allclose(np.sum(answer.probabilities, axis=1), 1.0, atol=1e-5)
    assert answer.backend == "onnx"  # converted, and agrees with the stored pipeline
    loaded = sqlite_hub.models.load_pipeline("svm")
    np.testing.assert_allclose(answer.probabilities, loaded.predict_proba(rows), atol=1e-3)

    onnx = sqlite_hub.models.export("svm", "latest", tmp_path / "svm.onnx", "onnx")
    session = ort.InferenceSession(str(onnx), providers=["CPUExecutionProvider"])
    feeds = {
        c: rows[[c]].to_numpy(np.float32 if rows[c].dtype.kind == "f" else object)
        for c in rows.columns
    }
    _, probabilities = session.run(None, feeds)
    np.testing.assert_allclose(probabilities, loaded.predict_proba(rows), atol=1e-3)


def test_an_svm_without_probabilities_is_a_plain_svc(no_deprecation: object) -> None:
    spec = get_spec("rbf-svm")
    for sent in ({}, {"probability": False}):
        estimator = spec.make(Task.BINARY, sent)
        assert type(estimator) is SVC and not hasattr(estimator, "predict_proba")
    assert type(spec.make(Task.REGRESSION, {})).__name__ == "SVR"


def test_automl_portfolio_svm_has_calibrated_probabilities(no_deprecation: object) -> None:
    (svm,) = [c for c in portfolio(Task.BINARY, "binary", 500, 1) if c.family == "rbf-svm"]
    estimator = svm.make(Task.BINARY, seed=0)
    assert isinstance(estimator, CalibratedClassifierCV)
    x = np.random.default_rng(0).normal(size=(60, 3))
    y = (x[:, 0] > 0).astype(int)
    assert estimator.fit(x, y).predict_proba(x).shape == (60, 2)
