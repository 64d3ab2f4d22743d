"""Mini-ML-Platform's documented curl commands, run as curl against a real server."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from .conftest import LiveServer

ROOT = Path(__file__).parents[2]
pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl (CI installs it)")


def curl(*args: str) -> tuple[int, dict]:
    out = subprocess.run(
        ["curl", "-s", "-w", "\n%{http_code}", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    body, _, status = out.stdout.rpartition("\n")
    return int(status), json.loads(body)


def test_the_documented_curl_commands_work_unchanged(live_worker: LiveServer) -> None:
    url = live_worker.url
    # Verbatim from the Mini-ML-Platform README, but for the host.
    status, body = curl(
        "-X",
        "POST",
        f"{url}/train",
        "-H",
        "accept: application/json",
        "-H",
        "Content-Type: multipart/form-data",
        "-F",
        "dataset_file=@samples/iris.csv;type=text/csv",
        "-F",
        "model_type=RandomForestClassifier",
        "-F",
        "model_params={}",
        "-F",
        "target_column=variety",
        "-F",
        "columns_to_drop=",
    )
    assert status == 200, body
    assert body["metrics"]["accuracy"] > 0.8
    assert body["model_path"] == "models:/mini-ml-platform/1"
    status, body = curl(
        "-X",
        "POST",
        f"{url}/predict",
        "-H",
        "accept: application/json",
        "-H",
        "Content-Type: multipart/form-data",
        "-F",
        "input_file=@samples/iris_predict.csv;type=text/csv",
        "-F",
        'columns_to_drop=["variety"]',
    )
    assert status == 200, body
    assert len(body["predictions"]) == 15
    assert set(body["predictions"]) <= {"Setosa", "Versicolor", "Virginica"}


def test_compat_errors(live_sqlite: LiveServer) -> None:
    url = live_sqlite.url
    status, body = curl(
        "-X", "POST", f"{url}/predict", "-F", "input_file=@samples/iris_predict.csv;type=text/csv"
    )
    assert status == 404 and "no model has been trained through /train" in body["detail"]
    status, body = curl(
        "-X", "POST", f"{url}/train", "-F", "dataset_file=@README.md;type=text/markdown"
    )
    assert status == 400 and "must be a CSV file" in body["detail"]
    status, body = curl(
        "-X",
        "POST",
        f"{url}/train",
        "-F",
        "dataset_file=@samples/iris.csv;type=text/csv",
        "-F",
        "model_type=QuantumForest",
    )
    assert status == 400 and "unknown model 'QuantumForest'" in body["detail"]
    status, body = curl(
        "-X",
        "POST",
        f"{url}/train",
        "-F",
        "dataset_file=@samples/iris.csv;type=text/csv",
        "-F",
        "model_params={not json",
    )
    assert status == 400 and "model_params" in body["detail"]
    status, body = curl("-H", "Accept: application/json", f"{url}/")
    assert status == 200 and body["name"] == "mlharbor"
