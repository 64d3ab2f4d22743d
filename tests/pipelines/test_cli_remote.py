"""``mlharbor run --url``: the file's local data is uploaded, the server runs the steps."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlharbor.cli import app
from mlharbor.pipelines import PipelineStore
from tests.api.conftest import LiveServer
from tests.pipelines.conftest import LIGHT_PIPELINE, write_churn

runner = CliRunner()
LOCAL_FILE = LIGHT_PIPELINE.replace("    dataset: churn\n", "    path: files/churn.csv\n")


def test_a_pipeline_with_a_local_file_runs_on_a_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, live_sqlite: LiveServer
) -> None:
    monkeypatch.setenv("MLHARBOR_DATA_DIR", str(tmp_path / "local"))
    (tmp_path / "files").mkdir()
    write_churn(tmp_path / "files")
    pipeline = tmp_path / "churn.yaml"
    pipeline.write_text(LOCAL_FILE)
    r = runner.invoke(app, ["run", str(pipeline), "--url", live_sqlite.url, "-p", "share=0.5"])
    assert r.exit_code == 0, r.output
    assert "uploaded churn.csv as churn@1" in r.output
    assert "run 1: succeeded" in r.output and "share=0.5" in r.output
    (run,) = PipelineStore(live_sqlite.hub.sessions).list_runs()[0]
    assert run.origin == "api" and run.inputs == {"data": "churn@1"}
    assert run.step("split").outputs["rows"] == {"train": 120, "production": 120}
    # Bad input is one red line and an exit code, before anything is sent.
    bad = runner.invoke(app, ["run", str(pipeline), "--url", live_sqlite.url, "-p", "shar=1"])
    assert bad.exit_code == 3 and "unknown parameter 'shar'" in bad.output
    assert runner.invoke(app, ["run", str(tmp_path / "nope.yaml")]).exit_code == 3
    assert PipelineStore(live_sqlite.hub.sessions).list_runs()[1] == 1
