"""``mlharbor serve-model`` answers like ``mlflow models serve``; a predict-only role."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mlharbor.config import Settings
from mlharbor.hub import Hub

from ..api.conftest import free_port
from .mixed import register

MLHARBOR = str(Path(sys.executable).parent / "mlharbor")


def _env(settings: Settings) -> dict[str, str]:
    return {**os.environ, "MLHARBOR_DATA_DIR": str(settings.data_dir)}


@pytest.fixture
def model_server(sqlite_settings: Settings, tmp_path: Path) -> Iterator[tuple[str, list]]:
    with Hub.open(sqlite_settings) as hub:
        features = register(hub, tmp_path, "churn", "churn")
        hub.models.set_alias("churn", "champion", 1)
    port = free_port()
    proc = subprocess.Popen(
        [MLHARBOR, "serve-model", "churn@champion", "--port", str(port)],
        env=_env(sqlite_settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/ping").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                out = proc.stdout.read().decode() if proc.stdout else ""
                pytest.fail(f"serve-model did not start: {out}")
            time.sleep(0.2)
        yield url, features.iloc[:3].to_dict("records")
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_serve_model_speaks_the_mlflow_scoring_protocol(model_server: tuple[str, list]) -> None:
    url, records = model_server
    with httpx.Client(base_url=url, timeout=30) as api:
        for path in ("/ping", "/health"):
            r = api.get(path)
            assert r.status_code == 200 and r.headers["content-type"] == "application/json"
        assert api.get("/version").text.strip()
        split = {"columns": list(records[0]), "data": [list(r.values()) for r in records]}
        answers = [
            api.post("/invocations", json={"dataframe_split": split}),
            api.post("/invocations", json={"dataframe_records": records}),
            api.post("/invocations", json={"instances": records[:1]}),
            api.post(
                "/invocations",
                content="\n".join(
                    [",".join(records[0]), *(",".join(map(str, r.values())) for r in records)]
                ),
                headers={"content-type": "text/csv"},
            ),
        ]
        for r in answers:
            assert r.status_code == 200, r.text
            assert r.headers["content-type"] == "application/json"
            assert set(r.json()["predictions"]) <= {"yes", "no"}
        assert answers[0].json() == answers[1].json() == answers[3].json()
        assert answers[2].json()["predictions"] == answers[0].json()["predictions"][:1]

        wrong = api.post("/invocations", json={"frames": records})
        assert wrong.status_code == 400 and wrong.json()["error_code"] == "BAD_REQUEST"
        assert "dataframe_split" in wrong.json()["message"]
        missing = api.post("/invocations", json={"dataframe_records": [{"age": 3}]})
        assert missing.status_code == 400 and "'income'" in missing.json()["message"]
        empty = api.post("/invocations", content=b"", headers={"content-type": "application/json"})
        assert empty.status_code == 400 and "empty" in empty.json()["message"]
        text = api.post("/invocations", content=b"age=3", headers={"content-type": "text/plain"})
        assert text.status_code == 415 and "application/json" in text.text
        latin = api.post(
            "/invocations",
            content=json.dumps({"instances": records}).encode(),
            headers={"content-type": "application/json; charset=latin-1"},
        )
        assert latin.status_code == 415 and "UTF-8" in latin.text


def test_serve_model_of_an_unknown_model_exits_naming_it(sqlite_settings: Settings) -> None:
    Hub.open(sqlite_settings).close()
    done = subprocess.run(
        [MLHARBOR, "serve-model", "ghost@champion", "--port", str(free_port())],
        env=_env(sqlite_settings),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 4
    assert "ghost" in done.stderr + done.stdout


PREDICT_ONLY = """
import sys
from fastapi.testclient import TestClient
from mlharbor.api.app import create_app
from mlharbor.config import Settings

app = create_app(Settings(data_dir=sys.argv[1]), role="predict")
with TestClient(app, base_url="http://localhost") as api:
    answer = api.post("/api/v1/models/churn/latest/predict", json=[dict(RECORD)])
    assert answer.status_code == 200, answer.text
    assert api.get("/api/v1/jobs").status_code == 404
    assert api.get("/api/v1/models/churn").status_code == 200
    import multiprocessing
    assert multiprocessing.active_children() == []  # no worker pool started
training = ["mlharbor.workflows.train", "mlharbor.models.train", "mlharbor.models.catalog",
            "mlharbor.models.evaluate", "optuna", "matplotlib"]
print([m for m in training if m in sys.modules])
"""


def test_predict_role_loads_no_training_code(sqlite_settings: Settings, tmp_path: Path) -> None:
    with Hub.open(sqlite_settings) as hub:
        record = register(hub, tmp_path, "churn", "churn").iloc[0].to_dict()
    script = PREDICT_ONLY.replace("RECORD", repr(record))
    done = subprocess.run(
        [sys.executable, "-c", script, str(sqlite_settings.data_dir)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
