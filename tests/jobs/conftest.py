"""Fixtures of the job-system tests: a migrated database and its job store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mlharbor.config import Settings
from mlharbor.jobs import JobStore
from mlharbor.store.db import make_engine, upgrade


def _migrate(url: str) -> None:
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()


@pytest.fixture
def job_settings(tmp_path: Path, database_url: str) -> Settings:
    """Settings on a migrated database (SQLite, then PostgreSQL)."""
    _migrate(database_url)
    return Settings(data_dir=tmp_path / "data", database_url=database_url, workers=1)


@pytest.fixture
def sqlite_job_settings(tmp_path: Path) -> Settings:
    """Settings on a migrated SQLite database only, for the slower process tests."""
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    _migrate(url)
    return Settings(data_dir=tmp_path / "data", database_url=url, workers=1)


@pytest.fixture
def store(job_settings: Settings) -> Iterator[JobStore]:
    store = JobStore.from_url(job_settings.resolved_database_url())
    yield store
    store.close()


@pytest.fixture
def trace_dir(tmp_path: Path) -> Path:
    """Where test handlers leave their start and completion files."""
    path = tmp_path / "traces"
    path.mkdir()
    return path
