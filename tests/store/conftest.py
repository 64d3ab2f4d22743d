"""The artifact store under test: a local folder, and a bucket on moto's S3 server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlharbor.store.artifacts import ArtifactStore
from tests.s3server import CREDENTIALS, S3Server, moto_server


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """One moto S3 server per test session (the S3-compatible stand-in)."""
    with moto_server() as server:
        yield server


@pytest.fixture
def s3_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)


@pytest.fixture(params=["local", "s3"])
def store(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> ArtifactStore:
    """The same store contract over a local folder and over an S3 bucket."""
    if request.param == "local":
        return ArtifactStore(str(tmp_path / "artifacts"))
    server: S3Server = request.getfixturevalue("s3_server")
    request.getfixturevalue("s3_credentials")
    bucket = server.create_bucket(f"art-{uuid.uuid4().hex[:12]}")
    return ArtifactStore(f"s3://{bucket}/root", endpoint_url=server.endpoint)
