"""moto's S3 server as a separate process on loopback: the S3-compatible stand-in of the tests.

moto speaks the S3 REST protocol, so s3fs and boto3 talk to it as they would to AWS or MinIO;
only the endpoint differs (``MLHARBOR_S3_ENDPOINT_URL``). Credentials can be anything.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.api.conftest import free_port

#: What every process talking to the stand-in gets in its environment.
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "mlharbor-test",
    "AWS_SECRET_ACCESS_KEY": "mlharbor-test-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@dataclass
class S3Server:
    """A running moto server: its endpoint and process id."""

    endpoint: str
    pid: int

    def client(self):  # type: ignore[no-untyped-def]
        """A boto3 client on this server, to look at the bucket without mlharbor."""
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, **_boto_credentials())

    def create_bucket(self, name: str) -> str:
        self.client().create_bucket(Bucket=name)
        return name


def _boto_credentials() -> dict[str, str]:
    return {
        "aws_access_key_id": CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        "region_name": CREDENTIALS["AWS_DEFAULT_REGION"],
    }


@contextmanager
def moto_server(log: Path | None = None) -> Iterator[S3Server]:
    """Start ``moto_server`` on a free loopback port; stop it by its PID at the end."""
    port = free_port()
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=out,
        stderr=subprocess.STDOUT,
        env={**os.environ, **CREDENTIALS},
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{endpoint}/moto-api/", timeout=1).status_code < 500:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"moto server did not start (exit {proc.returncode})")
            time.sleep(0.1)
        yield S3Server(endpoint, proc.pid)
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        if log:
            out.close()  # type: ignore[union-attr]
