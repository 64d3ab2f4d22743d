"""The ONNX fast path answers like the pipeline, says so, and steps aside when it must."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlharbor.hub import Hub

from ..api.conftest import LiveServer
from .mixed import register


def test_a_model_that_converts_is_served_by_onnxruntime(sqlite_hub: Hub, tmp_path: Path) -> None:
    model = "rf"
    features = register(sqlite_hub, tmp_path, "churn", "churn", model, lineage=True)
    pipeline = sqlite_hub.models.load_pipeline("churn")
    rows = features.iloc[:40]
    answer = sqlite_hub.predictor.predict("churn", "latest", rows)
    assert answer.backend == "onnx"
    assert answer.predictions == list(pipeline.predict(rows))
    np.testing.assert_allclose(answer.probabilities, pipeline.predict_proba(rows), atol=1e-3)
    one = sqlite_hub.predictor.predict("churn", "latest", [rows.iloc[0].to_dict()])
    assert one.backend == "onnx" and one.predictions == [answer.predictions[0]]
    # ONNX strings have no missing value: such a request goes to the pipeline.
    gap = sqlite_hub.predictor.predict(
        "churn", "latest", [{**rows.iloc[0].to_dict(), "city": None}]
    )
    assert gap.backend == "sklearn"
    batch = sqlite_hub.predictor.predict("churn", "latest", rows, source="batch")
    assert batch.backend == "sklearn"


@pytest.mark.parametrize("target", ["churn", "spend"])
def test_lightgbm_pipelines_are_served_by_onnxruntime(
    live_sqlite: LiveServer, tmp_path: Path, target: str
) -> None:
    hub = live_sqlite.hub
    features = register(hub, tmp_path, target, target, "lightgbm", lineage=True)
    rows = features.iloc[:50]
    pipeline = hub.models.load_pipeline(target)
    body = {"dataframe_split": {"columns": list(rows.columns), "data": rows.values.tolist()}}
    with live_sqlite.client() as api:
        r = api.post(f"/api/v1/models/{target}/latest/invocations", json=body)
        assert r.status_code == 200 and r.headers["x-mlharbor-backend"] == "onnx"
        bad = {
            "dataframe_split": {
                **body["dataframe_split"],
                "data": body["dataframe_split"]["data"][:3],
            }
        }
        bad["dataframe_split"]["data"][1] = ["old", *bad["dataframe_split"]["data"][1][1:]]
        refused = api.post(f"/api/v1/models/{target}/latest/invocations", json=bad)
        assert refused.status_code == 400 and "'age'" in refused.json()["message"]
        one = api.post(f"/api/v1/models/{target}/latest/predict", json=[rows.iloc[0].to_dict()])
        assert one.status_code == 200 and one.headers["x-mlharbor-backend"] == "onnx"
    got = r.json()["predictions"]
    if target == "churn":
        assert got == list(pipeline.predict(rows))
        assert one.json()["predictions"] == [got[0]]
        np.testing.assert_allclose(
            one.json()["probabilities"], pipeline.predict_proba(rows.iloc[:1]), atol=1e-3
        )
    else:
        np.testing.assert_allclose(got, pipeline.predict(rows), rtol=1e-4)
        np.testing.assert_allclose(one.json()["predictions"], got[:1], rtol=1e-6)


def test_otherwise_the_pipeline_answers(sqlite_hub: Hub, tmp_path: Path) -> None:
    # No lineage: nothing to check a conversion against, so the pipeline answers.
    features = register(sqlite_hub, tmp_path, "churn", "churn", "rf")
    answer = sqlite_hub.predictor.predict("churn", "latest", features.iloc[:3])
    assert answer.backend == "sklearn"
    assert answer.predictions == list(
        sqlite_hub.models.load_pipeline("churn").predict(features.iloc[:3])
    )


def test_the_backend_is_named_in_a_response_header(live_sqlite: LiveServer, tmp_path: Path) -> None:
    row = register(live_sqlite.hub, tmp_path, "churn", "churn", lineage=True).iloc[0].to_dict()
    with live_sqlite.client() as api:
        r = api.post("/api/v1/models/churn/latest/predict", json=[row])
        assert r.status_code == 200 and r.headers["x-mlharbor-backend"] == "onnx"
        r = api.post("/api/v1/models/churn/latest/invocations", json={"instances": [row]})
        assert r.status_code == 200 and r.headers["x-mlharbor-backend"] == "onnx"


def test_columns_named_as_users_name_them_keep_their_names_in_onnx(
    sqlite_hub: Hub, tmp_path: Path
) -> None:
    # skl2onnx renamed inputs to identifiers (sepal.length -> sepal_length) and the fast path
    # fed the user's names, so it was never used for iris; the exported file had the renamed
    # inputs too. Two names that collide once sanitised, and names the graph itself uses for
    # its outputs, must survive as well.
    import onnxruntime as ort

    from mlharbor.models import train_model
    from mlharbor.registry.export import export_onnx

    rng = np.random.default_rng(0)
    n = 200
    df = pd.DataFrame(
        {
            "sepal.length": rng.normal(5, 1, n),
            "sepal_length": rng.normal(3, 1, n),
            "2 petal width": rng.normal(1, 0.3, n),
            "größe (cm)": rng.choice(["klein", "groß", "mittel"], n),
            "label": rng.normal(0, 1, n),
            "probabilities": rng.normal(0, 1, n),
        }
    )
    df["kind"] = np.where(df["sepal.length"] + df["label"] > 5, "a", "b")
    path = tmp_path / "hazards.csv"
    df.to_csv(path, index=False)
    version = sqlite_hub.datasets.ingest_file(path).version
    result = train_model(
        sqlite_hub.datasets.read_table(version).to_pandas(),
        version.schema,
        target="kind",
        model="rf",
        params={"n_estimators": 10},
        cv_folds=0,
        artifacts=False,
    )
    lineage = {"dataset": version.dataset, "dataset_version": version.version}
    sqlite_hub.models.register("hazards", result, dataset_version_id=version.id, lineage=lineage)
    rows = df.drop(columns="kind").iloc[:30]
    answer = sqlite_hub.predictor.predict("hazards", "latest", rows)
    assert answer.backend == "onnx"
    assert answer.predictions == list(result.pipeline.predict(rows))

    record = sqlite_hub.models.get_version("hazards", "latest")
    out = export_onnx(result.pipeline, record, tmp_path / "hazards.onnx")
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == list(rows.columns)
    feeds = {
        c: (
            rows[c].to_numpy(np.float32) if rows[c].dtype.kind == "f" else rows[c].to_numpy(object)
        ).reshape(-1, 1)
        for c in rows
    }
    labels, proba = session.run(None, feeds)
    assert labels.tolist() == answer.predictions
    np.testing.assert_allclose(proba, answer.probabilities, atol=1e-6)


def test_a_model_that_cannot_convert_is_refused_before_the_converter_is_imported() -> None:
    # skl2onnx and onnxmltools take about a second to import: a server loading a model that
    # the check refuses (missing-value indicators) answers without them.
    probe = (
        "import sys, types\n"
        "import numpy as np\n"
        "from sklearn.impute import SimpleImputer\n"
        "from sklearn.linear_model import LogisticRegression\n"
        "from sklearn.pipeline import make_pipeline\n"
        "from mlharbor.errors import InvalidInputError\n"
        "from mlharbor.registry.export import to_onnx_model\n"
        "X = np.array([[1.0], [np.nan], [3.0], [4.0]]); y = [0, 1, 0, 1]\n"
        "model = make_pipeline(SimpleImputer(add_indicator=True), LogisticRegression())\n"
        "model.fit(X, y)\n"
        "version = types.SimpleNamespace(model='m', version=1, "
        "signature={'inputs': [{'name': 'x', 'type': 'double'}]})\n"
        "try:\n"
        "    to_onnx_model(model, version)\n"
        "except InvalidInputError as exc:\n"
        "    assert 'missing-value indicator' in exc.message, exc.message\n"
        "else:\n"
        "    raise AssertionError('converted')\n"
        "print(' '.join(sorted(sys.modules)))\n"
    )
    command = [sys.executable, "-c", probe]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    modules = {m.split(".")[0] for m in done.stdout.split()}
    assert modules & {"skl2onnx", "onnxmltools", "onnx"} == set()
