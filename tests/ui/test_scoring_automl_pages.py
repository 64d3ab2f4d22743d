"""The batch scoring page and the AutoML parts of the train and job pages, over plain HTTP."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from mlharbor.api.app import create_app
from mlharbor.config import Settings
from mlharbor.hub import Hub
from tests.ui.test_monitoring_page import HTML, SAMPLES, SCRIPT, _train


def test_scoring_page_empty_state_form_and_scopes(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "s", auth_enabled=True, workers=0)
    with (
        Hub.open(settings) as hub,
        TestClient(create_app(hub=hub), headers=HTML, base_url="http://localhost") as client,
    ):
        _, reader = hub.keys.create("reader", ["read"])
        client.post("/ui/session", json={"key": reader}, headers=SCRIPT)
        empty = client.get("/scoring")
        assert empty.status_code == 200 and 'href="/scoring"' in empty.text  # in the nav
        assert "No models yet — train one first" in empty.text
        assert "No scoring jobs yet" in empty.text

        _train(hub)
        page = client.get("/scoring?model=iris-variety@1&dataset=iris").text
        assert '<option value="iris-variety@1" selected>' in page
        assert '<option value="iris@1" selected>' in page
        assert "scoring needs the <code>train</code> scope" in page
        assert "Start scoring</button>" in page and "disabled>Start scoring" in page
        model = client.get("/models/iris-variety").text
        assert 'href="/scoring?model=iris-variety%401"' in model

        _, trainer = hub.keys.create("trainer", ["train"])
        client.post("/ui/session", json={"key": trainer}, headers=SCRIPT)
        page = client.get("/scoring").text
        assert 'type="submit">Start scoring' in page and "needs the <code>train</code>" not in page


def test_train_form_offers_automl_and_a_queued_automl_job_shows_its_empty_board(
    tmp_path: Path,
) -> None:
    from mlharbor.workflows.automl import AutoMLRequest

    settings = Settings(data_dir=tmp_path / "a", workers=0)
    with (
        Hub.open(settings) as hub,
        TestClient(create_app(hub=hub), headers=HTML, base_url="http://localhost") as client,
    ):
        hub.datasets.ingest_file(SAMPLES / "iris.csv")
        page = client.get("/datasets/iris/train?target=variety").text
        assert 'name="mode" value="automl"' in page and 'id="time_budget"' in page
        # Multiclass metrics only, and the default named.
        assert "default for the task (log_loss)" in page and 'value="f1_macro"' in page
        assert 'value="roc_auc"' not in page and 'value="r2"' not in page
        job = hub.submit_automl(AutoMLRequest(dataset="iris", target="variety", time_budget=5))
        board = client.get(f"/jobs/{job.id}").text
        assert "AutoML · 5 s budget" in board and "Leaderboard" in board
        assert "Candidates appear here as they finish" in board
        assert "0 candidates so far" in board
