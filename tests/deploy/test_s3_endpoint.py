"""An S3-compatible server (MinIO in compose.yaml) is reached with ``AWS_ENDPOINT_URL`` alone.

botocore reads ``AWS_ENDPOINT_URL`` itself, and s3fs passes no endpoint of its own, so
mlharbor needs no setting of its own for the endpoint. This runs the operator's path with
the real CLI against a real S3 server on loopback (moto's server): the first admin key, then
``mlharbor serve``, whose artifacts land in the bucket. A botocore, aiobotocore or s3fs that
stopped honouring the variable would fail here rather than in someone's deployment.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

pytest.importorskip(
    "moto.server",
    reason="moto[server] is not installed: it is the S3 server these tests run against",
)

pytestmark = pytest.mark.slow

BUCKET = "harbor"
KEY_ID, SECRET = "mlharbor-test", "mlharbor-test-secret"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def s3_endpoint() -> Iterator[str]:
    """A moto S3 server on loopback, with an empty bucket; its URL by host name."""
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    # A host name, not an IP: as http://minio:9000 in compose, where virtual-host-style
    # addressing (http://BUCKET.minio:9000) would not resolve.
    endpoint = f"http://localhost:{port}"
    try:
        import s3fs

        fs = s3fs.S3FileSystem(key=KEY_ID, secret=SECRET, endpoint_url=endpoint)
        fs.mkdir(BUCKET)
        yield endpoint
    finally:
        server.stop()


def _env(tmp_path: Path, endpoint: str) -> dict[str, str]:
    """The environment of a container started from .env.example, pointed at ``endpoint``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLHARBOR_", "AWS_"))}
    env.update(
        MLHARBOR_DATA_DIR=str(tmp_path / "data"),
        MLHARBOR_ARTIFACT_URI=f"s3://{BUCKET}/artifacts",
        MLHARBOR_AUTH_ENABLED="true",
        MLHARBOR_WORKERS="0",
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID=KEY_ID,
        AWS_SECRET_ACCESS_KEY=SECRET,
        AWS_DEFAULT_REGION="us-east-1",
        # Never the cloud metadata address, nor this machine's own AWS files.
        AWS_EC2_METADATA_DISABLED="true",
        AWS_CONFIG_FILE=str(tmp_path / "no-aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "no-aws-credentials"),
    )
    return env


def _mlharbor(*args: str) -> list[str]:
    return [sys.executable, "-c", "from mlharbor.cli import app; app()", *args]


def _bucket_keys(endpoint: str) -> list[str]:
    import s3fs

    fs = s3fs.S3FileSystem(key=KEY_ID, secret=SECRET, endpoint_url=endpoint)
    return [p.removeprefix(f"{BUCKET}/") for p in fs.find(BUCKET)]


def test_artifacts_go_to_the_s3_server_named_by_aws_endpoint_url(
    s3_endpoint: str, tmp_path: Path
) -> None:
    env = _env(tmp_path, s3_endpoint)
    created = subprocess.run(
        _mlharbor("keys", "create", "--scope", "admin", "--name", "ops"),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert created.returncode == 0, created.stdout + created.stderr
    token = created.stdout.strip().splitlines()[-1]

    port = _free_port()
    server = subprocess.Popen(
        _mlharbor("serve", "--port", str(port)),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, server.stdout.read() if server.stdout else ""
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "mlharbor serve did not answer /healthz"
            time.sleep(0.2)

        ready = httpx.get(f"{base}/readyz", timeout=30)
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"]["artifacts"] == "ok"

        auth = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=base, headers=auth, timeout=60) as api:
            rows = "".join(f"{20 + i},{i * 1.5},{i % 2}\n" for i in range(40))
            csv = "age,fare,survived\n" + rows
            r = api.post("/api/v1/datasets", files={"file": ("boats.csv", csv.encode())})
            assert r.status_code == 201, r.text
            shown = api.get("/api/v1/datasets/boats")
            assert shown.status_code == 200, shown.text
    finally:
        server.terminate()
        server.wait(timeout=30)

    stored = _bucket_keys(s3_endpoint)
    data = [k for k in stored if k.startswith("artifacts/") and "_ready" not in k]
    assert data, f"no dataset file in the bucket; it holds {stored}"
    assert not [k for k in stored if ".tmp-" in k], "a temporary upload was left behind"
