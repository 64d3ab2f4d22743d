"""The notify step: a webhook reached through the same guard as dataset URLs."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from mlharbor.config import Settings
from mlharbor.hub import Hub
from mlharbor.pipelines import run_pipeline
from tests.pipelines.conftest import LIGHT_PIPELINE, write_churn


@pytest.fixture
def hook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A webhook receiver on loopback, and the JSON bodies it got."""
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["content-length"])
            received.append(json.loads(self.rfile.read(length)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/hook", received
    finally:
        server.shutdown()


def notifying(url: str) -> str:
    return LIGHT_PIPELINE + (
        "  - id: tell\n"
        "    kind: notify\n"
        f"    url: {url}\n"
        "    message: drift checked\n"
        "    if: steps.drift.n_drifted > 0\n"
    )


def test_a_webhook_on_a_private_address_is_refused_and_gets_nothing(
    sqlite_hub: Hub, tmp_path: Path, hook: tuple[str, list[dict[str, Any]]]
) -> None:
    url, received = hook
    sqlite_hub.datasets.ingest_file(write_churn(tmp_path), name="churn")
    run = run_pipeline(sqlite_hub, notifying(url))
    assert run.state == "failed" and run.error["step"] == "tell"
    assert "127.0.0.1, a loopback address" in run.error["message"]
    assert received == []
    for bad in ("file:///etc/passwd", "http://user@127.0.0.1/"):
        failed = run_pipeline(sqlite_hub, notifying(bad))
        assert failed.state == "failed" and failed.error["step"] == "tell"
    assert received == []


def test_a_webhook_gets_the_run_summary_when_allowed(
    tmp_path: Path, hook: tuple[str, list[dict[str, Any]]]
) -> None:
    url, received = hook
    settings = Settings(data_dir=tmp_path / "d", url_allow_private=True, workers=1)
    with Hub.open(settings) as hub:
        hub.datasets.ingest_file(write_churn(tmp_path), name="churn")
        run = run_pipeline(hub, notifying(url))
    assert run.state == "succeeded", run.error
    assert run.step("tell").outputs == {"sent": True, "status": 204}
    (body,) = received
    assert body["event"] == "mlharbor.pipeline" and body["run"] == run.id
    assert body["message"] == "drift checked" and body["params"]["share"] == 0.25
    assert body["steps"]["drift"]["state"] == "done"
