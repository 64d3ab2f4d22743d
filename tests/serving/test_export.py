"""Export: an MLflow model directory that real ``mlflow models serve`` serves, and ONNX."""

from __future__ import annotations

import io
import os
import subprocess
import time
import zipfile
from pathlib import Path

import httpx
import numpy as np
import pytest
from typer.testing import CliRunner

from mlharbor.cli import app
from mlharbor.errors import ConflictError, InvalidInputError
from mlharbor.hub import Hub
from mlharbor.models import train_model
from tests.training_data import text_frame, with_schema

from ..api.conftest import LiveServer, free_port
from .mixed import register
from .mlflow_venv import mlflow_venv


def test_real_mlflow_serves_the_exported_model(sqlite_hub: Hub, tmp_path: Path) -> None:
    try:
        mlflow = mlflow_venv()
    except RuntimeError as exc:
        if "Could not find a version" in str(exc) or "connection" in str(exc).lower():
            pytest.skip(f"the package index is unreachable, so MLflow cannot be installed: {exc}")
        raise
    features = register(sqlite_hub, tmp_path, "churn", "churn").iloc[:20]
    features.loc[features.index[0], "income"] = None  # a missing value, as production sends
    out = sqlite_hub.models.export("churn", "latest", tmp_path / "exported")
    assert {p.name for p in out.iterdir()} >= {"MLmodel", "model.pkl", "requirements.txt"}
    ours = sqlite_hub.predictor.predict("churn", "latest", features).predictions
    port = free_port()
    # MLflow starts `uvicorn` by name: its own environment's must come first on PATH.
    env = {
        **os.environ,
        "PATH": f"{mlflow.parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "MLFLOW_TRACKING_URI": f"file://{tmp_path / 'mlruns'}",
    }
    server = subprocess.Popen(
        [str(mlflow), "models", "serve", "-m", str(out), "-p", str(port), "--env-manager", "local"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/ping").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail("mlflow models serve did not start: " + server.stdout.read().decode())
            time.sleep(0.5)
        split = features.astype(object).where(features.notna(), None).to_dict("split")
        body = {"dataframe_split": {"columns": split["columns"], "data": split["data"]}}
        answer = httpx.post(f"{url}/invocations", json=body, timeout=60)
        assert answer.status_code == 200, answer.text
        assert answer.json()["predictions"] == ours
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_onnx_export_predicts_as_the_pipeline(sqlite_hub: Hub, tmp_path: Path) -> None:
    import onnxruntime as ort

    features = register(sqlite_hub, tmp_path, "churn", "churn").iloc[:50]
    path = sqlite_hub.models.export("churn", "1", tmp_path / "churn.onnx", "onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = {
        c: features[[c]].to_numpy(np.float32 if features[c].dtype.kind == "f" else object)
        for c in features.columns
    }
    labels = session.run(None, feeds)[0]
    expected = sqlite_hub.models.load_pipeline("churn").predict(features)
    assert (np.asarray(labels) == expected).mean() >= 0.98  # float32 thresholds may differ


def test_export_names_what_does_not_convert(sqlite_hub: Hub, tmp_path: Path) -> None:
    frame, schema = with_schema(text_frame(80))
    result = train_model(
        frame, schema, target="sentiment", model="logistic", cv_folds=0, artifacts=False
    )
    sqlite_hub.models.register("reviews", result)
    with pytest.raises(InvalidInputError, match=r"step 'preprocess/text_review'.*TextFeatures"):
        sqlite_hub.models.export("reviews", "latest", tmp_path / "mlflow")
    with pytest.raises(InvalidInputError, match=r"does not convert to ONNX.*TextFeatures"):
        sqlite_hub.models.export("reviews", "latest", tmp_path / "r.onnx", "onnx")
    with pytest.raises(InvalidInputError, match="'pmml'"):
        sqlite_hub.models.export("reviews", "latest", tmp_path / "r", "pmml")
    register(sqlite_hub, tmp_path, "churn", "churn")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("mine")
    with pytest.raises(ConflictError, match="not an empty folder"):
        sqlite_hub.models.export("churn", "latest", tmp_path / "full")


def test_export_from_cli_and_rest(
    live_sqlite: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    register(live_sqlite.hub, tmp_path, "churn", "churn")
    monkeypatch.setenv("MLHARBOR_DATA_DIR", str(live_sqlite.hub.settings.data_dir))
    r = CliRunner().invoke(app, ["models", "export", "churn@latest", "--out", str(tmp_path / "d")])
    assert r.exit_code == 0, r.output
    assert (
        "mlflow models serve -m" in " ".join(r.output.split())
        and (tmp_path / "d" / "MLmodel").is_file()
    )
    r = CliRunner().invoke(app, ["models", "export", "churn@gold", "--out", str(tmp_path / "e")])
    assert r.exit_code == 4 and "'gold'" in r.output
    with live_sqlite.client() as api:
        zipped = api.get("/api/v1/models/churn/versions/latest/export")
        assert zipped.status_code == 200
        names = zipfile.ZipFile(io.BytesIO(zipped.content)).namelist()
        assert "churn-v1/MLmodel" in names and "churn-v1/model.pkl" in names
        onnx = api.get("/api/v1/models/churn/versions/1/export", params={"format": "onnx"})
        assert onnx.status_code == 200 and len(onnx.content) > 1000
        bad = api.get("/api/v1/models/churn/versions/1/export", params={"format": "pmml"})
        assert bad.status_code == 422
    remote = CliRunner().invoke(
        app,
        ["--url", live_sqlite.url, "models", "export", "churn", "--out", str(tmp_path / "r")],
    )
    assert remote.exit_code == 0, remote.output
    assert (tmp_path / "r" / "MLmodel").read_text().startswith("flavors:")
