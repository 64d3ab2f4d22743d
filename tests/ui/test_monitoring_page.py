"""The monitoring page over plain HTTP: empty state, the drift report, picker errors, scopes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from mlharbor.api.app import create_app
from mlharbor.config import Settings
from mlharbor.hub import Hub
from mlharbor.workflows.train import TrainRequest, run_training

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
HTML = {"Accept": "text/html,application/xhtml+xml"}
SCRIPT = {"X-Requested-With": "mlharbor-ui"}
ROWS = [
    {"sepal.length": 5.1, "sepal.width": 3.5, "petal.length": 1.4, "petal.width": 0.2},
    {"sepal.length": 6.7, "sepal.width": 3.0, "petal.length": 5.2, "petal.width": 2.3},
]


def _train(hub: Hub) -> None:
    hub.datasets.ingest_file(SAMPLES / "iris.csv")
    request = TrainRequest(
        dataset="iris",
        target="variety",
        name="iris-variety",
        cv_folds=0,
        params={"n_estimators": 10},
    )
    run_training(hub, request, lambda f, m: None, None)


@pytest.fixture
def trained(tmp_path: Path) -> Iterator[tuple[TestClient, Hub]]:
    settings = Settings(data_dir=tmp_path / "m", workers=0, predlog_flush_seconds=0.2)
    with (
        Hub.open(settings) as hub,
        TestClient(create_app(hub=hub), headers=HTML, base_url="http://localhost") as client,
    ):
        _train(hub)
        yield client, hub


def test_monitoring_page_goes_from_empty_state_to_a_drift_report(
    trained: tuple[TestClient, Hub],
) -> None:
    client, hub = trained
    assert 'href="/models/iris-variety/monitoring?ref=1"' in client.get("/models/iris-variety").text
    empty = client.get("/models/iris-variety/monitoring")
    assert empty.status_code == 200
    assert "No predictions logged yet" in empty.text
    assert "/api/v1/models/iris-variety/latest/predict" in empty.text  # the snippet to send some
    assert "No checks yet" in empty.text and "Check now" in empty.text

    # Shifted traffic: every row far from the training data's petal lengths.
    rows = [{**ROWS[i % 2], "petal.length": 9.0 + i / 10} for i in range(40)]
    r = client.post("/api/v1/models/iris-variety/latest/predict", json=rows, headers=SCRIPT)
    assert r.status_code == 200, r.text
    assert hub.predlog is not None and hub.predlog.flush()
    page = client.get("/models/iris-variety/monitoring?since=24h")
    assert page.status_code == 200
    text = page.text
    assert "No predictions logged yet" not in text
    assert "Latest drift report" in text and "40 predictions in 1 requests" in text
    for column in ("sepal.length", "sepal.width", "petal.length", "petal.width"):
        assert f'data-column-chart="{column}"' in text
    # petal.length moved far away: its row says drift, with the reason from the report.
    row = text.split('data-column="petal.length"')[1].split("</tr>")[0]
    assert 'badge bad">drift' in row and "p-value" in row
    assert 'data-column-chart="prediction"' in text
    assert text.count("data-plot ") >= 4 + 4  # timelines, prediction and four columns
    assert "No labels yet" in text

    # Labels for that request: the page shows accuracy on them against registration.
    rid = r.json()["request_id"]
    truth = [{"request_id": rid, "row": i, "label": "Virginica"} for i in range(40)]
    labelled = client.post(
        "/api/v1/models/iris-variety/labels", json={"labels": truth}, headers=SCRIPT
    )
    assert labelled.status_code == 200, labelled.text
    perf = client.get("/models/iris-variety/monitoring?since=24h").text
    assert "No labels yet" not in perf
    assert "on 40 labelled predictions" in perf and "at registration" in perf

    # Check now stores an event that the page lists.
    check = client.post("/api/v1/alerts/check?model=iris-variety@latest", headers=SCRIPT)
    assert check.status_code == 200, check.text
    listed = client.get("/models/iris-variety/monitoring?since=24h").text
    assert "data-alert-event=" in listed and "input drift" in listed


def test_a_bad_span_is_shown_next_to_its_field(trained: tuple[TestClient, Hub]) -> None:
    client, _ = trained
    bad = client.get("/models/iris-variety/monitoring?since=yesterday")
    assert bad.status_code == 422
    error = bad.text.split('data-error-for="since"')[1].split("</p>")[0]
    assert "yesterday" in error and "duration" in error
    many = client.get("/models/iris-variety/monitoring?since=30d&window=1m")
    assert many.status_code == 422
    assert "longer window" in many.text.split('data-error-for="window"')[1].split("</p>")[0]
    assert client.get("/models/nope/monitoring").status_code == 404


def test_monitoring_needs_read_and_check_now_needs_train(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "s", auth_enabled=True, workers=0)
    with (
        Hub.open(settings) as hub,
        TestClient(create_app(hub=hub), headers=HTML, base_url="http://localhost") as client,
    ):
        _train(hub)
        out = client.get("/models/iris-variety/monitoring", follow_redirects=False)
        assert out.status_code == 303 and out.headers["location"].startswith("/sign-in")
        _, reader = hub.keys.create("reader", ["read"])
        client.post("/ui/session", json={"key": reader}, headers=SCRIPT)
        page = client.get("/models/iris-variety/monitoring")
        assert page.status_code == 200 and "Monitoring iris-variety" in page.text
        assert "data-check-now" not in page.text
        assert "Authorization: Bearer $MLHARBOR_KEY" in page.text  # the snippet needs a key
        refused = client.post("/api/v1/alerts/check?model=iris-variety@latest", headers=SCRIPT)
        assert refused.status_code == 403
        _, trainer = hub.keys.create("trainer", ["train"])
        client.post("/ui/session", json={"key": trainer}, headers=SCRIPT)
        assert "data-check-now" in client.get("/models/iris-variety/monitoring").text
