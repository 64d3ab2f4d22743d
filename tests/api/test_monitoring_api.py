"""Monitoring end to end on a live server: traffic is logged, drift and accuracy drops are
reported, the scheduler stores alerts and notifies a real webhook."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner
from websockets.sync.client import connect

from mlharbor.cli import app
from mlharbor.config import Settings
from mlharbor.hub import Hub
from mlharbor.monitoring.reference import reference_key

from .conftest import LiveServer, serve
from .test_predict import train
from .test_ws import ask, ws_url

SAMPLES = Path(__file__).parents[2] / "samples"
IRIS = pd.read_csv(SAMPLES / "iris.csv")
FEATURES = IRIS.drop(columns=["variety"])


class Webhook:
    """A real HTTP server on loopback that keeps the JSON bodies POSTed to it."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.received.append(json.loads(body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    yield hook
    hook.close()


@pytest.fixture
def monitored(tmp_path: Path, webhook: Webhook) -> Iterator[LiveServer]:
    settings = Settings(
        data_dir=tmp_path / "data",
        workers=1,
        predlog_flush_seconds=0.2,
        monitor_models=["iris@champion"],
        monitor_interval_seconds=1.0,
        monitor_window="1d",
        alert_webhook_url=webhook.url,
    )
    with Hub.open(settings) as hub:
        train(hub)
        yield from serve(hub)


def wait_for(check: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("timed out")


def test_traffic_is_logged_and_drift_accuracy_and_alerts_are_reported(
    monitored: LiveServer, webhook: Webhook
) -> None:
    shifted = FEATURES.assign(**{"petal.length": FEATURES["petal.length"] + 3.0})
    with monitored.client() as api:
        # Before any traffic, and bad requests: clear 4xx answers.
        r = api.get("/api/v1/models/iris/champion/drift", params={"since": "a week"})
        assert r.status_code == 422 and "'a week'" in r.json()["detail"]
        r = api.get("/api/v1/models/iris/champion/drift", params={"since": "1d"})
        assert r.status_code == 404 and "no predictions" in r.json()["detail"]
        r = api.get("/api/v1/models/ghost/latest/drift")
        assert r.status_code == 404 and "ghost" in r.json()["detail"]
        r = api.get("/api/v1/models/iris/champion/drift", params={"columns": "nope"})
        assert r.status_code == 422 and "nope" in r.json()["detail"]
        r = api.post("/api/v1/models/iris/labels", json={"labels": [{"label": "x"}]})
        assert r.status_code == 422 and "request_id" in r.json()["detail"]
        r = api.get(
            "/api/v1/models/iris/champion/monitoring", params={"since": "30d", "window": "1m"}
        )
        assert r.status_code == 422 and "longer window" in r.json()["detail"]
        r = api.get("/api/v1/drift", params={"reference": "iris", "current": "ghost"})
        assert r.status_code == 404

        ok = api.post("/api/v1/models/iris/champion/predict", json=FEATURES.to_dict("records"))
        assert ok.status_code == 200, ok.text
        request_id = ok.json()["request_id"]
        inv = api.post(
            "/api/v1/models/iris/champion/invocations",
            json={"dataframe_records": shifted.to_dict("records")},
            headers={"X-Request-ID": "shifted-batch"},
        )
        assert inv.status_code == 200, inv.text
        with connect(ws_url(monitored)) as ws:
            reply = ask(
                ws,
                {
                    "type": "predict",
                    "model": "iris@champion",
                    "records": [FEATURES.iloc[0].to_dict()],
                },
            )
        assert reply["ok"] and reply["request_id"]
        monitored.hub.predlog.flush()

        drift = api.get("/api/v1/models/iris/champion/drift", params={"since": "1d"})
        assert drift.status_code == 200, drift.text
        report = drift.json()
        assert report["n_predictions"] == 301 and report["n_requests"] == 3
        cols = {c["column"]: c for c in report["columns"]}
        assert cols["petal.length"]["drifted"] and not cols["sepal.width"]["drifted"]
        assert cols["petal.length"]["chart"]["type"] == "histogram"
        assert report["prediction"]["column"] == "prediction"

        # Ground truth arrives: every label of the first request is wrong.
        wrong = {"Setosa": "Virginica", "Versicolor": "Setosa", "Virginica": "Versicolor"}
        labels = [
            {"request_id": request_id, "row": i, "label": wrong[v]}
            for i, v in enumerate(ok.json()["predictions"])
        ]
        stored = api.post("/api/v1/models/iris/labels", json={"labels": labels})
        assert stored.status_code == 200 and stored.json()["stored"] == 150
        perf = api.get("/api/v1/models/iris/champion/performance", params={"since": "1d"}).json()
        assert perf["metric"] == "accuracy" and perf["baseline"] > 0.8
        assert perf["current"]["n_labelled"] == 150
        assert perf["current"]["metrics"]["accuracy"] == 0.0 and perf["dropped"]

        # The scheduler checks iris@champion each second and alerts; the webhook hears it.
        hook = wait_for(lambda: [h for h in webhook.received if "accuracy" in h["message"]])
        assert hook[0]["model"] == "iris" and hook[0]["version"] == 1
        assert hook[0]["summary"]["performance"]["dropped"]
        # The event is stored once the webhook has answered (its status is part of it).
        events = wait_for(
            lambda: api.get("/api/v1/alerts", params={"alerts_only": True}).json()["events"]
        )
        assert events[0]["alert"] and events[0]["webhook_status"] == "204"

        timeline = api.get(
            "/api/v1/models/iris/champion/monitoring", params={"since": "2h", "window": "1h"}
        ).json()
        assert sum(w["n_predictions"] for w in timeline["windows"]) == 301
        busy = [w for w in timeline["windows"] if w["n_predictions"]]
        assert busy[0]["latency_ms_p50"] > 0 and busy[0]["drift_share"] > 0

        # A labelled dataset can be scored too (the training data: no drop).
        monitored.hub.datasets.ingest_file(SAMPLES / "iris.csv")
        on_data = api.get(
            "/api/v1/models/iris/champion/performance", params={"dataset": "iris@1"}
        ).json()
        assert on_data["current"]["n_labelled"] == 150 and not on_data["dropped"]
        assert on_data["current"]["metrics"]["accuracy"] > 0.9

        # A version without a stored reference gets one built from its recorded dataset.
        stored_ref = api.get("/api/v1/models/iris/champion/reference").json()
        assert stored_ref["prediction_source"].startswith("validation split")
        version_id = monitored.hub.models.get_version("iris", "champion").id
        monitored.hub.artifacts.delete(reference_key(version_id))
        rebuilt = api.get("/api/v1/models/iris/champion/reference").json()
        assert rebuilt["columns"] == stored_ref["columns"]

        metrics = api.get("/metrics").text
        assert "mlharbor_prediction_log_logged_total 3.0" in metrics
        assert "mlharbor_prediction_log_dropped_total 0.0" in metrics


def test_dataset_drift_over_rest_and_the_cli(live_sqlite: LiveServer, tmp_path: Path) -> None:
    hub = live_sqlite.hub
    hub.datasets.ingest_file(SAMPLES / "iris.csv")
    moved = IRIS.assign(**{"sepal.width": IRIS["sepal.width"] * 1.5})
    hub.datasets.ingest_records(moved.to_dict("records"), name="iris_moved")
    with live_sqlite.client() as api:
        r = api.get("/api/v1/drift", params={"reference": "iris@1", "current": "iris_moved"})
        assert r.status_code == 200, r.text
        report = r.json()
    assert report["dataset"]["drifted_columns"] == ["sepal.width"]
    assert report["current"] == {"dataset": "iris_moved", "version": 1}
    result = CliRunner().invoke(
        app,
        ["--url", live_sqlite.url, "drift", "--reference", "iris", "--current", "iris_moved"],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    assert "sepal.width" in result.output and "DRIFT" in result.output
    assert "1 of 5 columns drifted" in result.output
    bad = CliRunner().invoke(app, ["--url", live_sqlite.url, "drift", "--reference", "iris"])
    assert bad.exit_code == 3 and "--current" in bad.output
