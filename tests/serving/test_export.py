"""Export: an MLflow model directory that real ``mlflow models serve`` serves, and ONNX."""

from __future__ import annotations

import io
import json
import os
import subprocess
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from mlharbor.cli import app
from mlharbor.errors import ConflictError, InvalidInputError
from mlharbor.hub import Hub
from mlharbor.models import train_model
from mlharbor.registry.export import CARRIED, steps
from tests.training_data import text_frame, with_schema

from ..api.conftest import LiveServer, free_port
from ..user_tables import features, json_rows, parquet_bytes, with_target
from .mixed import register
from .mlflow_venv import mlflow_or_skip


@contextmanager
def _mlflow_serving(mlflow: Path, out: Path, tmp_path: Path) -> Iterator[str]:
    """``mlflow models serve -m out`` running from MLflow's environment: its URL."""
    port = free_port()
    # MLflow starts `uvicorn` by name: its own environment's must come first on PATH. No
    # PYTHONPATH: the MLflow side has no mlharbor but what the export carries.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PATH"] = f"{mlflow.parent}{os.pathsep}{os.environ.get('PATH', '')}"
    env["MLFLOW_TRACKING_URI"] = f"file://{tmp_path / 'mlruns'}"
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
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


def _predicted(url: str, rows: list[dict], csv: bytes | None = None) -> list:
    """What the served model answers for ``rows`` (JSON ``dataframe_split``), and also for
    the same rows as ``dataframe_records`` and, when given, as a ``csv`` body: all three
    must agree."""
    columns = list(rows[0])
    split = {"columns": columns, "data": [[r[c] for c in columns] for r in rows]}
    answer = httpx.post(f"{url}/invocations", json={"dataframe_split": split}, timeout=60)
    assert answer.status_code == 200, answer.text
    predictions: list = answer.json()["predictions"]
    records = httpx.post(f"{url}/invocations", json={"dataframe_records": rows}, timeout=60)
    assert records.status_code == 200, records.text
    assert records.json()["predictions"] == predictions
    if csv is not None:
        headers = {"content-type": "text/csv"}
        table = httpx.post(f"{url}/invocations", content=csv, headers=headers, timeout=60)
        assert table.status_code == 200, table.text
        assert table.json()["predictions"] == predictions
    return predictions


def _served_by_mlflow(
    mlflow: Path, out: Path, rows: list[dict], tmp_path: Path, csv: bytes | None = None
) -> list:
    """What ``mlflow models serve -m out`` answers for ``rows`` (see :func:`_predicted`)."""
    with _mlflow_serving(mlflow, out, tmp_path) as url:
        return _predicted(url, rows, csv)


def test_real_mlflow_serves_the_exported_model_and_names_a_refused_column(
    sqlite_hub: Hub, tmp_path: Path
) -> None:
    mlflow = mlflow_or_skip()
    features = register(sqlite_hub, tmp_path, "churn", "churn").iloc[:20]
    features.loc[features.index[0], "income"] = None  # a missing value, as production sends
    out = sqlite_hub.models.export("churn", "latest", tmp_path / "exported")
    assert {p.name for p in out.iterdir()} >= {"MLmodel", "model.pkl", "requirements.txt"}
    # Of mlharbor's, only the step that casts production rows as /predict does, and the
    # pyfunc loader that turns its refusals into MLflow's errors.
    carried = {p.relative_to(out / "code").as_posix() for p in (out / "code").rglob("*.py")}
    inits = {"mlharbor/__init__.py", "mlharbor/prep/__init__.py", "mlharbor/registry/__init__.py"}
    assert carried - inits == {
        "mlharbor/prep/inputs.py",
        "mlharbor/prep/input_step.py",
        "mlharbor/registry/pyfunc_loader.py",
    }
    assert "loader_module: mlharbor.registry.pyfunc_loader" in (out / "MLmodel").read_text()
    ours = sqlite_hub.predictor.predict("churn", "latest", features).predictions
    split = features.astype(object).where(features.notna(), None)
    rows = split.to_dict("records")
    with _mlflow_serving(mlflow, out, tmp_path) as url:
        assert _predicted(url, rows) == ours
        # A value the model cannot take: MLflow's 400 with our message, not its generic one.
        bad = [{**rows[0], "income": "lots"}, *rows[1:3]]
        bad_split = {"columns": list(bad[0]), "data": [list(r.values()) for r in bad]}
        no_city = [{k: v for k, v in r.items() if k != "city"} for r in rows[:3]]
        csv = {
            "content": pd.DataFrame(bad).to_csv(index=False),
            "headers": {"content-type": "text/csv"},
        }
        for body, column, says in (
            ({"json": {"dataframe_records": bad}}, "income", "must hold a number"),
            ({"json": {"dataframe_split": bad_split}}, "income", "must hold a number"),
            (csv, "income", "'lots'"),
            ({"json": {"dataframe_records": no_city}}, "city", "lacks the column 'city'"),
        ):
            answer = httpx.post(f"{url}/invocations", timeout=60, **body)
            assert answer.status_code == 400, answer.text
            error = answer.json()
            assert error["error_code"] == "INVALID_PARAMETER_VALUE", error
            assert error["column"] == column, error
            assert f"'{column}'" in error["message"] and says in error["message"], error
            assert "unexpected error" not in error["message"]
        assert _predicted(url, rows[:5]) == ours[:5]  # the server still answers


def _register_every_type(hub: Hub, tmp_path: Path, rows: int) -> tuple[pd.DataFrame, Any]:
    """A logistic regression on every column type, registered as ``every``: the table and
    the training result."""
    frame = with_target(features(rows), "binary")
    path = tmp_path / "every.parquet"
    path.write_bytes(parquet_bytes(frame))
    version = hub.datasets.ingest_file(path).version
    result = train_model(
        hub.datasets.read_table(version).to_pandas(),
        version.schema,
        target="churn",
        model="logistic-regression",
        cv_folds=0,
        artifacts=False,
    )
    hub.models.register("every", result, dataset_version_id=version.id)
    return frame, result


def test_real_mlflow_serves_a_model_with_dates_and_text(sqlite_hub: Hub, tmp_path: Path) -> None:
    """mlharbor's own date and text steps travel in the export's ``code/`` folder."""
    mlflow = mlflow_or_skip()
    frame, result = _register_every_type(sqlite_hub, tmp_path, 120)
    assert {"DatetimeFeatures", "TextFeatures"} <= {
        type(s).__name__ for _, s in steps(result.pipeline)
    }
    out = sqlite_hub.models.export("every", "latest", tmp_path / "exported")
    carried = {p.relative_to(out / "code").as_posix() for p in (out / "code").rglob("*.py")}
    assert {"mlharbor/prep/dates.py", "mlharbor/prep/text.py"} <= carried
    assert "mlharbor/hub.py" not in carried
    production = frame.drop(columns=["churn"]).iloc[:20]
    rows = json_rows(production)
    for row in rows:  # native JSON booleans where training had the text true/false
        row["is.active"] = row["is.active"] == "true"
    ours = sqlite_hub.predictor.predict("every", "latest", rows).predictions
    csv = production.to_csv(index=False).encode()
    assert _served_by_mlflow(mlflow, out, rows, tmp_path, csv) == ours


def test_carried_modules_import_nothing_else_of_mlharbor() -> None:
    """What an export carries must load without the rest of mlharbor, and without mlflow
    until MLflow itself calls in: mlflow only inside functions (the pyfunc loader's), other
    mlharbor modules only when carried too."""
    import ast
    from importlib import util

    for module in CARRIED:
        origin = util.find_spec(module).origin
        tree = ast.parse(Path(origin).read_text())
        in_functions = {
            id(node)
            for function in ast.walk(tree)
            if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef)
            for node in ast.walk(function)
        }
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            for name in names:
                root = name.split(".")[0]
                if root == "mlflow":
                    assert id(node) in in_functions, (module, name, "at import time")
                elif root == "mlharbor":
                    assert name in CARRIED, (module, name)
                else:
                    assert root in _CARRIED_MAY_IMPORT, (module, name)


_CARRIED_MAY_IMPORT = {
    "__future__",
    "collections",
    "datetime",
    "typing",
    "numpy",
    "pandas",
    "scipy",
    "sklearn",
}


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
    out = sqlite_hub.models.export("reviews", "latest", tmp_path / "mlflow")
    assert "code: code" in (out / "MLmodel").read_text()  # carries mlharbor's TextFeatures
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


_PYFUNC = """
import json, sys
import mlflow.pyfunc
import pandas as pd

model = mlflow.pyfunc.load_model(sys.argv[1])
print(json.dumps(model.predict(pd.read_csv(sys.argv[2])).tolist()))
"""


def test_mlflow_pyfunc_predicts_a_csv_read_by_pandas(sqlite_hub: Hub, tmp_path: Path) -> None:
    """The export takes what ``pandas.read_csv`` makes of production rows, read plainly:
    true/false text as booleans, whole numbers as int64 (see test_export_production.py for
    every such case)."""
    mlflow = mlflow_or_skip()
    frame, _ = _register_every_type(sqlite_hub, tmp_path, 160)
    out = sqlite_hub.models.export("every", "latest", tmp_path / "exported")
    production = frame.drop(columns=["churn"]).iloc[:30]
    csv = tmp_path / "production.csv"
    production.to_csv(csv, index=False)
    script = tmp_path / "pyfunc.py"
    script.write_text(_PYFUNC)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [str(mlflow.with_name("python")), str(script), str(out), str(csv)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    ours = sqlite_hub.predictor.predict("every", "latest", json_rows(production)).predictions
    assert json.loads(done.stdout.strip().splitlines()[-1]) == ours


def test_onnx_export_takes_the_text_pandas_makes_of_booleans_and_whole_numbers(
    sqlite_hub: Hub, tmp_path: Path
) -> None:
    """A user feeds the graph ``pd.read_csv(...)[col].astype(str)``: ``"True"`` for a column
    trained on ``true``/``false``, ``"2.0"`` for codes trained as text ``"2"`` (a gap makes
    pandas read floats). The graph maps those to the training spelling, as ``/predict``
    casts them, and says so in its metadata; before, the encoders ignored them silently."""
    import onnx
    import onnxruntime as ort

    frame = features(240, plain=True)
    rng = np.random.default_rng(3)
    frame["grade"] = rng.choice(["1", "2", "3"], len(frame))
    score = (frame["is.active"] == "true") * 2 + (frame["grade"] == "2") * 2
    frame["churn"] = np.where(score + rng.normal(0, 0.3, len(frame)) > 1.5, "left", "stayed")
    path = tmp_path / "plain.parquet"
    path.write_bytes(parquet_bytes(frame))
    version = sqlite_hub.datasets.ingest_file(path).version
    result = train_model(
        sqlite_hub.datasets.read_table(version).to_pandas(),
        version.schema,
        target="churn",
        model="logistic-regression",
        cv_folds=0,
        artifacts=False,
    )
    sqlite_hub.models.register("plain", result, dataset_version_id=version.id)
    out = sqlite_hub.models.export("plain", "latest", tmp_path / "plain.onnx", "onnx")
    props = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    spellings = json.loads(props["mlharbor_spellings"])
    assert spellings["grade"] == {"1.0": "1", "2.0": "2", "3.0": "3"}
    assert {"True": "true", "False": "false"}.items() <= spellings["is.active"].items()
    # As /predict reads any spelling of true and false in a yes/no column.
    assert {"True": "yes", "Yes": "yes", "n": "no", "FALSE": "no"}.items() <= spellings[
        "opt in"
    ].items()
    # Never a string the graph knows, even as another column's level ("Y" of "flag yn").
    assert "Y" not in spellings["opt in"] and "yes" not in spellings["flag yn"]
    assert spellings["flag yn"]["Yes"] == "Y"
    assert set(spellings) == {"grade", "is.active", "opt in", "flag yn"}

    production = frame.drop(columns=["churn"]).iloc[:60].copy()
    production.loc[production.index[0], "grade"] = None  # a gap: pandas reads floats
    csv = tmp_path / "production.csv"
    production.to_csv(csv, index=False)
    read = pd.read_csv(csv)
    assert read["is.active"].dtype == bool and read["grade"].dtype == float
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    read = read.iloc[1:]  # a gap is no text: ONNX string inputs have no missing value
    feeds = {}
    for graph_input in session.get_inputs():
        column = read[[graph_input.name]]
        text = graph_input.type == "tensor(string)"
        feeds[graph_input.name] = (
            column.astype(str).to_numpy(object) if text else (column.to_numpy(np.float32))
        )
    labels = np.asarray(session.run(None, feeds)[0])
    rows = json_rows(production.iloc[1:])
    ours = sqlite_hub.predictor.predict("plain", "latest", rows).predictions
    assert labels.tolist() == ours
    # The training file's own spellings pass unchanged.
    trained = {
        name: production.iloc[1:][[name]].to_numpy(object if v.dtype == object else np.float32)
        for name, v in feeds.items()
    }
    assert np.asarray(session.run(None, trained)[0]).tolist() == ours
