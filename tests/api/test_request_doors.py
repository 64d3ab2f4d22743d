"""One request per workflow: every door refuses a bad training request with the same message.

An unknown key and a wrong type, sent through REST, the WebSocket, Mini-ML ``/train``, the
CLI and the Python client, get the same 4xx message from each, and nothing is queued.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner
from websockets.sync.client import connect

from mlharbor import Client, InvalidInputError
from mlharbor.cli import app

from .conftest import LiveServer

SAMPLES = Path(__file__).parents[2] / "samples"
runner = CliRunner()

#: A bad training request, as each door spells it: (REST/WS/client params, CLI arguments,
#: Mini-ML form fields); ``None`` where a door cannot say it.
CASES: dict[str, tuple[dict[str, Any], list[str] | None, dict[str, str] | None]] = {
    "unknown model parameter": (
        {"params": {"nonsense": 5}},
        ["--param", "nonsense=5"],
        {"model_params": '{"nonsense": 5}'},
    ),
    "model parameter of the wrong type": (
        {"params": {"n_estimators": "lots"}},
        ["--param", "n_estimators=lots"],
        {"model_params": '{"n_estimators": "lots"}'},
    ),
    "unknown option": ({"nonsense": 5}, None, None),
    "option of the wrong type": ({"cv_folds": "abc"}, ["--cv-folds", "abc"], None),
    "option out of its limits": ({"test_size": 1.5}, ["--test-size", "1.5"], None),
    "one fold": ({"cv_folds": 1}, ["--cv-folds", "1"], None),
    "parameters that are not an object": (
        {"params": [1, 2]},
        None,
        {"model_params": "[1, 2]"},
    ),
}
WORDS = {
    "unknown model parameter": "unknown parameter 'nonsense' for model 'random-forest'",
    "model parameter of the wrong type": "'n_estimators' parameter of RandomForestClassifier",
    "unknown option": "unknown training option 'nonsense'; valid options: alias, cv_folds",
    "option of the wrong type": "cv_folds: Input should be a valid integer",
    "option out of its limits": "test_size: Input should be less than 1 (got 1.5)",
    "one fold": "cv_folds: one fold is no cross-validation: give 0 (none) or 2 to 20",
    "parameters that are not an object": "params: Input should be a valid dictionary",
}


@pytest.fixture
def iris(live_sqlite: LiveServer) -> LiveServer:
    with Client(live_sqlite.url) as client:
        client.datasets.upload(SAMPLES / "iris.csv")
    return live_sqlite


def _rest(live: LiveServer, params: dict[str, Any]) -> str:
    body = {"kind": "train", "params": {"dataset": "iris", "target": "variety", **params}}
    with live.client() as api:
        r = api.post("/api/v1/jobs", json=body)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    return str(r.json()["detail"])


def _ws(live: LiveServer, params: dict[str, Any]) -> str:
    message = {"type": "train", "dataset": "iris", "target": "variety", **params}
    with connect(live.url.replace("http://", "ws://") + "/ws") as ws:
        ws.send(json.dumps(message))
        reply = json.loads(ws.recv(timeout=120))
    assert reply["type"] == "error" and reply["error"]["status"] == 422, reply
    return str(reply["error"]["message"])


def _client(live: LiveServer, params: dict[str, Any]) -> str:
    with Client(live.url) as client, pytest.raises(InvalidInputError) as raised:
        client.train("iris", "variety", **params)
    return raised.value.message


def _cli(live: LiveServer, args: list[str]) -> str:
    r = runner.invoke(app, ["--url", live.url, "train", "iris", "--target", "variety", *args])
    assert r.exit_code == 3, r.output
    [line] = r.output.strip().splitlines()  # one red line
    assert line.startswith("error: ")
    return line.removeprefix("error: ")


def _mini_ml(live: LiveServer, form: dict[str, str]) -> str:
    fields = [f"dataset_file=@{SAMPLES / 'iris.csv'};type=text/csv"]
    fields += [f"{k}={v}" for k, v in form.items()]
    command = ["curl", "-s", "-w", "\n%{http_code}", "-X", "POST", f"{live.url}/train"]
    for field in fields:
        command += ["-F", field]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=True)
    text, status = done.stdout.rsplit("\n", 1)
    assert status == "400", text  # Mini-ML-Platform's status for a bad request
    return str(json.loads(text)["detail"])


@pytest.mark.parametrize("case", list(CASES))
def test_every_door_refuses_a_bad_request_with_the_same_message(
    iris: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    monkeypatch.setenv("MLHARBOR_DATA_DIR", str(tmp_path / "local"))
    params, cli_args, form = CASES[case]
    messages = {
        "REST": _rest(iris, params),
        "WebSocket": _ws(iris, params),
        "client": _client(iris, params),
    }
    if cli_args is not None:
        messages["CLI"] = _cli(iris, cli_args)
    if form is not None:
        messages["Mini-ML /train"] = _mini_ml(iris, form)
    assert WORDS[case] in messages["REST"], messages["REST"]
    assert set(messages.values()) == {messages["REST"]}, messages
    with iris.client() as api:
        assert api.get("/api/v1/jobs").json()["count"] == 0  # nothing was queued, anywhere


def test_a_stored_job_with_bad_parameters_fails_on_the_worker_with_the_same_message(
    iris: LiveServer,
) -> None:
    """The worker checks a job's parameters again: a row written around the API fails."""
    hub = iris.hub
    job = hub.jobs.submit("train", {"dataset": "iris", "target": "variety", "cv_folds": "abc"})
    done = hub.wait(job.id, run_here=True, timeout=300)
    assert done.error is not None and done.error["code"] == "invalid_input"
    assert done.error["message"] == _rest(iris, {"cv_folds": "abc"})


def test_mini_ml_train_refuses_an_unknown_form_field_naming_its_fields(iris: LiveServer) -> None:
    message = _mini_ml(iris, {"model_tpye": "LogisticRegression"})
    assert message == (
        "unknown form field 'model_tpye'; /train takes: dataset_file, model_type, "
        "model_params, target_column, columns_to_drop"
    )
    with iris.client() as api:
        assert api.get("/api/v1/jobs").json()["count"] == 0
