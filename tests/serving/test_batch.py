"""Batch scoring: a dataset scored in chunks, stored as a dataset, from hub, REST, CLI."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from mlharbor.cli import app
from mlharbor.config import Settings
from mlharbor.errors import InvalidInputError, NotFoundError
from mlharbor.hub import Hub
from mlharbor.workflows.score import ScoreRequest

from ..api.conftest import LiveServer
from .mixed import mixed_frame, register


def _ingest(hub: Hub, tmp: Path, rows: int, name: str = "customers") -> pd.DataFrame:
    frame = mixed_frame(rows, seed=1).drop(columns=["churn"]).assign(id=range(rows))
    path = tmp / f"{name}.csv"
    frame.to_csv(path, index=False)
    hub.datasets.ingest_file(path, name=name)
    return frame


def _stored(hub: Hub, name: str) -> pd.DataFrame:
    return hub.datasets.read_table(hub.datasets.get_version(name)).to_pandas()


def test_scored_dataset_holds_inputs_predictions_and_probabilities(
    sqlite_settings: Settings, tmp_path: Path
) -> None:
    # Chunks fan out on a real Dask cluster here; the CLI and REST tests score in-process.
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=True, dashboard_address=None
    ) as cluster:
        settings = sqlite_settings.model_copy(update={"dask_address": cluster.scheduler_address})
        with Hub.open(settings) as hub:
            register(hub, tmp_path, "churn", "churn")
            hub.models.set_alias("churn", "champion", 1)
            frame = _ingest(hub, tmp_path, 2_500)
            request = ScoreRequest(
                model="churn", ref="champion", dataset="customers", chunk_rows=1_000
            )
            job = hub.submit_score(request)
            done = hub.wait(job.id, run_here=True, timeout=120)
            assert done.state == "succeeded", done.error
            result = done.result or {}
            scored = _stored(hub, "customers-scored-churn")
            expected = hub.models.load_pipeline("churn", 1)
            chunks = [e.data for e in hub.jobs.events(job.id) if e.kind == "chunk"]
            csv = b"".join(hub.datasets.iter_csv(hub.datasets.get_version(result["dataset"])))
    assert result["dataset"] == "customers-scored-churn" and result["rows"] == 2_500
    assert result["chunks"] == 3 and result["model_version"] == 1
    assert list(scored.columns) == [
        *frame.columns,
        "prediction",
        "probability_no",
        "probability_yes",
    ]
    features = frame.drop(columns=["id"])
    assert scored["prediction"].tolist() == list(expected.predict(features))
    np.testing.assert_allclose(
        scored["probability_yes"], expected.predict_proba(features)[:, 1], atol=1e-6
    )
    assert scored["id"].tolist() == list(range(2_500))  # row order kept across chunks
    assert [c["chunk"] for c in chunks] == [1, 2, 3] and chunks[-1]["rows"] == 500
    assert pd.read_csv(io.BytesIO(csv))["prediction"].tolist() == scored["prediction"].tolist()


def test_bad_scoring_requests_are_refused_before_queuing(sqlite_hub: Hub, tmp_path: Path) -> None:
    register(sqlite_hub, tmp_path, "churn", "churn")
    _ingest(sqlite_hub, tmp_path, 50)
    pd.DataFrame({"age": [1.0], "city": ["x"]}).to_csv(tmp_path / "thin.csv", index=False)
    sqlite_hub.datasets.ingest_file(tmp_path / "thin.csv", name="thin")
    with pytest.raises(NotFoundError, match="'ghost'"):
        sqlite_hub.submit_score(ScoreRequest(model="ghost", dataset="customers"))
    with pytest.raises(NotFoundError, match="'gold'"):
        sqlite_hub.submit_score(ScoreRequest(model="churn", ref="gold", dataset="customers"))
    with pytest.raises(NotFoundError, match="'nowhere'"):
        sqlite_hub.submit_score(ScoreRequest(model="churn", dataset="nowhere"))
    with pytest.raises(InvalidInputError, match="'income', 'plan'"):
        sqlite_hub.submit_score(ScoreRequest(model="churn", dataset="thin"))
    assert sqlite_hub.jobs.count() == 0


def test_score_over_rest_and_the_client(live_worker: LiveServer, tmp_path: Path) -> None:
    from mlharbor.client import Client

    hub = live_worker.hub
    register(hub, tmp_path, "churn", "churn")
    _ingest(hub, tmp_path, 40)
    with live_worker.client() as api:
        bad = api.post("/api/v1/jobs", json={"kind": "score", "params": {"model": "churn"}})
        assert bad.status_code == 422 and "dataset" in bad.text
        gone = api.post("/api/v1/models/ghost/1/score", json={"dataset": "customers"})
        assert gone.status_code == 404 and "ghost" in gone.json()["detail"]
    with Client(live_worker.url) as client:
        job = client.score("churn@latest", "customers", output="out-b")
        assert job["state"] == "succeeded", job
        assert job["result"]["dataset"] == "out-b"
        path = client.datasets.download("out-b", tmp_path / "out.csv", format="csv")
    scored = pd.read_csv(path)
    assert len(scored) == 40 and set(scored["prediction"]) <= {"yes", "no"}
    with live_worker.client() as api:
        r = api.post(
            "/api/v1/models/churn/1/score", json={"dataset": "customers", "output": "out-a"}
        )
        assert r.status_code == 202, r.text
        assert r.json()["kind"] == "score" and r.json()["params"]["output"] == "out-a"
        api.delete(f"/api/v1/jobs/{r.json()['id']}")  # queued only: no need to run it twice


def test_cli_scores_a_file_and_saves_the_result(
    sqlite_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLHARBOR_DATA_DIR", str(sqlite_settings.data_dir))
    with Hub.open(sqlite_settings) as hub:
        register(hub, tmp_path, "churn", "churn")
    frame = mixed_frame(30, seed=2).drop(columns=["churn", "spend"])
    frame.to_csv(tmp_path / "prod.csv", index=False)
    out = tmp_path / "scored.csv"
    r = CliRunner().invoke(
        app, ["score", "churn@latest", str(tmp_path / "prod.csv"), "--out", str(out)]
    )
    assert r.exit_code == 0, r.output
    assert "scored 30 rows in 1 chunk(s)" in r.output
    assert pd.read_csv(out).columns.tolist()[-3:] == [
        "prediction",
        "probability_no",
        "probability_yes",
    ]
    r = CliRunner().invoke(app, ["score", "churn@gold", "prod"])
    assert r.exit_code == 4 and "'gold'" in r.output
