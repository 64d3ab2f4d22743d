"""The CLI with --url: the same commands, run on a server."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlharbor.cli import app

from ..data.factories import TITANIC_LIKE, write
from .conftest import LiveServer

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MLHARBOR_DATA_DIR", str(tmp_path / "local"))
    return tmp_path


def test_the_same_commands_work_against_a_server(env: Path, live_sqlite: LiveServer) -> None:
    path = write(env, "titanic.csv", TITANIC_LIKE)
    r = runner.invoke(app, ["--url", live_sqlite.url, "ingest", str(path)])
    assert r.exit_code == 0, r.output
    assert "created dataset titanic version 1: 120 rows × 8 columns" in r.output
    r = runner.invoke(app, ["--url", live_sqlite.url, "datasets", "list"])
    assert "titanic" in r.output
    r = runner.invoke(app, ["--url", live_sqlite.url, "datasets", "show", "ghost"])
    assert r.exit_code == 4 and "dataset 'ghost' does not exist" in r.output
    # The server holds it; the local store does not.
    assert "no datasets yet" in runner.invoke(app, ["datasets", "list"]).output
