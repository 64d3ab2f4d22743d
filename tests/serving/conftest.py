"""The live-server fixtures of the API tests, for the serving tests; S3 credentials for the
processes the tests start."""

from __future__ import annotations

import os

import pytest

from tests.s3server import CREDENTIALS

from ..api.conftest import live_sqlite, live_worker  # noqa: F401


def pytest_configure(config: pytest.Config) -> None:
    """The S3 stand-in's credentials, for every process the tests start: the job system's
    fork server starts once per session with the environment it has then, so credentials
    a test set later would not reach the score jobs it runs."""
    for name, value in CREDENTIALS.items():
        os.environ.setdefault(name, value)
