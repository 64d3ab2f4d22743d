"""The ML-Hub model events: pre-processing, create-model, load-model, predict, train."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
from websockets.sync.client import connect

from mlharbor.monitoring.reference import reference_key

from .conftest import LiveServer
from .test_ws import ask, ws_url

SAMPLES = Path(__file__).parents[2] / "samples"


def iris_records() -> list[dict[str, Any]]:
    return pd.read_csv(SAMPLES / "iris.csv").to_dict("records")


def ask_through_job(ws: Any, message: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Send ``message``; its reply, and the kinds of the job events streamed before it."""
    ws.send(json.dumps(message))
    kinds = []
    while (reply := json.loads(ws.recv(timeout=300)))["type"] == "job-event":
        kinds.append(reply["kind"])
    return reply, kinds


def test_preprocess_then_create_load_and_predict(live_worker: LiveServer) -> None:
    with connect(ws_url(live_worker), max_size=2**26) as ws:
        prep = ask(
            ws,
            {
                "type": "pre-processing",
                "datasset": iris_records(),
                "target": ["variety"],
                "drops": ["sepal.width"],
                "id": 1,
            },
        )
        assert prep["ok"], prep
        assert prep["task"] == "multiclass"
        balance = prep["insights"]["class_balance"]
        assert set(balance) == {"Setosa", "Versicolor", "Virginica"}
        gains = prep["insights"]["information_gain"]
        assert gains and "sepal.width" not in json.dumps(gains)
        assert len(prep["X_train"]) == 120 and len(prep["X_test"]) == 30
        assert len(prep["X_train"][0]) == len(prep["feature_names"])

        made, events = ask_through_job(
            ws,
            {
                "type": "create-model",
                "model": "random-forest",
                "name": "iris-ws",
                "args": {k: prep[k] for k in ("X_train", "y_train", "X_test", "y_test")},
                "feature_names": prep["feature_names"],
                "id": "m1",
            },
        )
        assert made["ok"] and made["type"] == "create-model" and made["id"] == "m1", made
        assert set(made) == {
            "type",
            "ok",
            "id",
            "model",
            "version",
            "task",
            "estimator",
            "metrics",
            "aliases",
        }
        assert made["model"] == "iris-ws" and made["version"] == 1
        assert made["metrics"]["test"]["accuracy"] > 0.8
        # Trained by the train job, as REST and /train train: its events came first, and
        # the version has the job's lineage and a reference profile for drift monitoring.
        assert events[0] == "submitted" and events[-1] == "succeeded" and "progress" in events
        version = live_worker.hub.models.get_version("iris-ws", 1)
        assert version.lineage["dataset"] == "iris-ws-train"
        assert version.lineage["test_dataset"] == "iris-ws-test"
        assert version.lineage["settings"]["n_test"] == 30  # evaluated on the split it was sent
        assert live_worker.hub.artifacts.exists(reference_key(version.id))

        loaded = ask(ws, {"type": "load-model", "name": "iris-ws@latest"})
        assert loaded["ok"] and loaded["version"] == 1 and loaded["task"] == "multiclass"
        row = dict(zip(prep["feature_names"], prep["X_test"][0], strict=True))
        pred = ask(ws, {"type": "predict", "model": "iris-ws/1", "records": [row]})
        assert pred["ok"] and pred["predictions"][0] in balance
        # Served like any trained version (ONNX in float32 when it converts): 6 decimals.
        assert abs(sum(pred["probabilities"][0]) - 1) < 1e-5

        for message, words in [
            ({"type": "load-model", "name": "../../etc/passwd"}, "no registered model named"),
            ({"type": "load-model", "name": "ghost"}, "ghost"),
            ({"type": "predict", "model": "iris-ws", "records": [{"x": 1}]}, "lacks the column"),
            (
                {
                    "type": "create-model",
                    "model": "quantum",
                    "args": {"X_train": [[1]], "y_train": [1], "X_test": [[1]], "y_test": [1]},
                },
                "unknown model",
            ),
            (
                {"type": "pre-processing", "dataset": iris_records(), "target": ["colour"]},
                "'colour'",
            ),
        ]:
            reply = ask(ws, message)
            assert reply["type"] == "error", reply
            assert words in reply["error"]["message"]


def test_train_streams_job_events_on_the_same_socket(live_worker: LiveServer) -> None:
    with connect(ws_url(live_worker), max_size=2**26) as ws:
        loaded = ask(ws, {"type": "file", "args": [(SAMPLES / "iris.csv").read_text(), "iris"]})
        assert loaded["ok"]
        reply = ask(
            ws,
            {
                "type": "train",
                "dataset": "iris",
                "target": "variety",
                "model": "logistic-regression",
                "cv_folds": 2,
                "id": "t1",
            },
        )
        assert reply["ok"] and reply["id"] == "t1", reply
        job_id = reply["job"]["id"]
        kinds = []
        while not kinds or kinds[-1] not in ("succeeded", "failed", "cancelled"):
            message = json.loads(ws.recv(timeout=120))
            assert message["type"] == "job-event" and message["job_id"] == job_id
            kinds.append(message["kind"])
        assert kinds[-1] == "succeeded", kinds
        assert "progress" in kinds
        again = ask(ws, {"type": "subscribe", "job": job_id})
        assert again["ok"] and again["job"]["state"] == "succeeded"
