"""A real MLflow tracking server for the tracking tests, and a reader of what it holds.

The server runs from its own virtual environment (``tests/serving/mlflow_venv.py``: MLflow
is never a dependency of mlharbor), over a SQLite store, with ``--serve-artifacts``, on a
free loopback port. The tests skip only when that environment cannot be built because the
package index is out of reach, as the serving tests do.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from ..api.conftest import free_port
from ..serving.mlflow_venv import mlflow_or_skip

READER = Path(__file__).with_name("mlflow_reader.py")


@dataclass
class MlflowServer:
    url: str
    python: Path

    def read(self, experiment: str, predict: dict[str, list[dict]] | None = None) -> dict:
        """Every run of ``experiment`` as ``MlflowClient`` reads it back (see the reader)."""
        request = {"uri": self.url, "experiment": experiment, "predict": predict or {}}
        done = subprocess.run(
            [str(self.python), str(READER)],
            input=json.dumps(request),
            capture_output=True,
            text=True,
            timeout=300,
            env=_env(self.python),
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads(done.stdout)

    def run_named(self, experiment: str, name: str) -> dict[str, Any]:
        runs = [r for r in self.read(experiment)["runs"] if r["name"] == name]
        assert len(runs) == 1, [r["name"] for r in self.read(experiment)["runs"]]
        return runs[0]


def _env(python: Path) -> dict[str, str]:
    # No PYTHONPATH: the MLflow side has no mlharbor but what an export carries.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PATH"] = f"{python.parent}{os.pathsep}{os.environ.get('PATH', '')}"
    return env


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    """``mlflow server`` on SQLite with the artifact proxy, on a free loopback port."""
    mlflow = mlflow_or_skip()
    root = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    log = (root / "server.log").open("wb")
    server = subprocess.Popen(
        [
            str(mlflow),
            "server",
            "--backend-store-uri",
            f"sqlite:///{root / 'mlflow.db'}",
            "--serve-artifacts",
            "--artifacts-destination",
            str(root / "artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        cwd=root,
        env=_env(mlflow),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail("mlflow server did not start: " + (root / "server.log").read_text())
            time.sleep(0.5)
        yield MlflowServer(url, mlflow.parent / "python")
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=30)
        log.close()
