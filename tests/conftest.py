"""Shared fixtures: settings on a temporary data folder, and fresh databases.

PostgreSQL tests use the server named by ``MLHARBOR_TEST_POSTGRES_URL`` (default: the local
server on 127.0.0.1:5432). Each test gets its own database, cloned from a template that the
migrations built once per session.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from mlharbor.config import Settings, get_settings
from mlharbor.hub import Hub
from mlharbor.store.db import make_engine, upgrade

PG_URL = os.environ.get(
    "MLHARBOR_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


#: The longest test files, longest first. ``make test`` hands whole files to two processes in
#: collection order, so a long file collected last keeps one process busy while the other
#: idles; started first, they run beside the many short ones. The tracking tests build the
#: MLflow environment that the export tests then find ready. Seconds measured in CI.
LONGEST_FIRST = (
    "tests/tracking/test_mlflow_tracking.py",  # 150 s, with the MLflow environment's build
    "tests/topology/test_topology.py",  # 115 s
    "tests/api/test_openapi_fuzz.py",  # 75 s
    "tests/ui/test_analyst_walk.py",  # 70 s
    "tests/jobs/test_recovery.py",  # 55 s
    "tests/test_automl_workflow.py",  # 50 s
    "tests/ui/test_phones.py",  # 45 s
    "tests/security/test_request_bounds.py",  # 45 s
    "tests/serving/test_batch_stream.py",  # 40 s
    "tests/ui/test_browser.py",  # 40 s
    "tests/jobs/test_supervision.py",  # 35 s
    "tests/serving/test_export.py",  # 25 s once MLflow is installed
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {path: i for i, path in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))


@pytest.fixture(autouse=True)
def _clean_settings_cache() -> Iterator[None]:
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _admin_engine():  # type: ignore[no-untyped-def]
    return create_engine(PG_URL, isolation_level="AUTOCOMMIT")


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """A migrated PostgreSQL database used as the template for each test's database."""
    name = f"mlh_tmpl_{uuid.uuid4().hex[:10]}"
    admin = _admin_engine()
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # the server is part of the test environment: say so loudly
        pytest.fail(f"PostgreSQL at {PG_URL} is not reachable: {exc}")
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    yield name
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def pg_url(pg_template: str) -> Iterator[str]:
    """The URL of a fresh, migrated PostgreSQL database for one test."""
    name = f"mlh_test_{uuid.uuid4().hex[:10]}"
    admin = _admin_engine()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"'))
    yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def empty_pg_url() -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database (no migrations applied)."""
    name = f"mlh_empty_{uuid.uuid4().hex[:10]}"
    admin = _admin_engine()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database URL, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.db'}"
    return request.getfixturevalue("empty_pg_url")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database URL, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'meta.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """Settings for an isolated hub: its own data folder and a fresh database."""
    return Settings(data_dir=tmp_path / "data", database_url=database_url, workers=1)


@pytest.fixture
def sqlite_settings(tmp_path: Path) -> Settings:
    """Settings for an isolated hub on the embedded defaults (SQLite in the data folder)."""
    return Settings(data_dir=tmp_path / "data", workers=1)


@pytest.fixture
def hub(settings: Settings) -> Iterator[Hub]:
    """An open hub on a fresh database (SQLite and PostgreSQL) and its own data folder."""
    with Hub.open(settings) as opened:
        yield opened


@pytest.fixture
def sqlite_hub(sqlite_settings: Settings) -> Iterator[Hub]:
    """An open hub on the embedded defaults only."""
    with Hub.open(sqlite_settings) as opened:
        yield opened
