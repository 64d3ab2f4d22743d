"""The predict form, the models overview and version comparison, over plain HTTP."""

from __future__ import annotations

import html as html_text
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from mlharbor.api.app import create_app
from mlharbor.config import Settings
from mlharbor.hub import Hub
from mlharbor.workflows.train import TrainRequest, run_training
from tests.ui.mixed_data import mixed_table

HTML = {"Accept": "text/html,application/xhtml+xml"}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    """``patients-risk`` with two versions (v2 the champion) trained on the mixed table."""
    folder = tmp_path_factory.mktemp("model-pages")
    path = folder / "patients.csv"
    mixed_table().to_csv(path, index=False)
    with Hub.open(Settings(data_dir=folder / "data", workers=0)) as hub:
        _train_two(hub, path)
        yield hub


def _train_two(sqlite_hub: Hub, path: Path) -> None:
    sqlite_hub.datasets.ingest_file(path, name="patients")
    for trees in (5, 20):
        request = TrainRequest(
            dataset="patients",
            target="risk",
            model="random-forest",
            params={"n_estimators": trees},
            cv_folds=2,
            name="patients-risk",
        )
        run_training(sqlite_hub, request, lambda *_: None, None)
    sqlite_hub.models.set_alias("patients-risk", "champion", 2)


@pytest.fixture(scope="module")
def client(trained: Hub) -> Iterator[TestClient]:
    with TestClient(create_app(hub=trained), base_url="http://localhost") as c:
        yield c


def test_signature_keeps_levels_ranges_and_the_yes_no_spelling(trained: Hub) -> None:
    inputs = {
        c["name"]: c for c in trained.models.get_version("patients-risk", 1).signature["inputs"]
    }
    assert inputs["smoker"]["labels"] == {"true": "yes", "false": "no"}
    assert {v for v, _ in inputs["region"]["levels"]} == {"north", "south", "east", "west"}
    assert inputs["region"]["n_levels"] == 4
    assert inputs["age"]["range"]["min"] >= 20 and inputs["age"]["range"]["max"] <= 79
    assert inputs["age"]["n_missing"] > 0 and inputs["bmi"]["n_missing"] == 0
    assert inputs["seen"]["date_only"] and inputs["seen"]["range"]["min"].startswith("2024-01")


def test_a_json_true_reaches_the_model_as_its_own_yes(client: TestClient) -> None:
    row = {"age": 70, "region": "north", "seen": "2024-05-01", "notes": "x", "bmi": 25}
    answers = {}
    for value in (True, "yes", "YES", "Y", False, "no"):
        r = client.post("/api/v1/models/patients-risk/1/predict", json=[{**row, "smoker": value}])
        assert r.status_code == 200, r.text
        answers[str(value)] = r.json()["probabilities"][0]
    # true, "yes", "YES" and "Y" are one and the same value for the model; so are false and "no"
    assert answers["True"] == answers["yes"] == answers["YES"] == answers["Y"]
    assert answers["False"] == answers["no"] != answers["yes"]


def test_predict_form_is_built_from_the_training_data(client: TestClient) -> None:
    page = client.get("/models/patients-risk?version=1", headers=HTML)
    assert page.status_code == 200
    html = page.text
    smoker = re.search(r'<select[^>]*data-input="smoker".*?</select>', html, re.S).group(0)
    assert (
        '<option value="&#34;yes&#34;"' in smoker and ">yes<" in smoker and ">true<" not in smoker
    )
    region = re.search(r'<select[^>]*data-input="region".*?</select>', html, re.S).group(0)
    assert "north (" in region and "other…" in region and "(missing)" in region
    assert re.search(r'data-input="seen"[^>]*type="date"', html)
    assert re.search(r'data-input="age"[^>]*type="number"[^>]*data-min="2\d\.0"', html)
    assert "missing in training" in html  # age had gaps
    # The form and the snippets start from the same real row of the training data.
    curl = html_text.unescape(re.search(r'id="snip-curl".*?<code>(.*?)</code>', html, re.S)[1])
    sent = json.loads(curl.split("-d '")[1].rsplit("'", 1)[0])[0]
    assert sent["smoker"] in ("yes", "no")
    assert f'value="{int(sent["age"])}"' in html  # the same row, shown as the integer it is
    # The button is off until the script takes the form over (no plain submit).
    assert re.search(r"<button[^>]*type=\"submit\"[^>]*disabled[^>]*data-predict-button", html)


def test_threshold_is_a_setting_of_the_version_not_a_metric(client: TestClient) -> None:
    html = client.get("/models/patients-risk?version=1", headers=HTML).text
    metrics = html.split('id="metrics-title"')[1].split("</section>")[0]
    assert "threshold" not in metrics
    assert 'data-setting="threshold"' in html


def test_models_list_shows_versions_task_algorithm_and_main_metric(client: TestClient) -> None:
    listed = client.get("/api/v1/models").json()["data"][0]
    assert listed["name"] == "patients-risk"
    assert [v["version"] for v in listed["versions"]] == [1, 2]
    assert listed["n_versions"] == 2 and listed["task"] == "binary"
    assert listed["algorithm"] == "RandomForestClassifier"
    assert listed["summary_version"] == 2 and listed["summary_alias"] == "champion"
    assert listed["main_metric"]["name"] == "roc_auc" and 0 <= listed["main_metric"]["value"] <= 1
    assert listed["changed_at"]
    html = client.get("/models", headers=HTML).text
    row = re.search(r'<tr data-model="patients-risk">.*?</tr>', html, re.S).group(0)
    assert re.search(r"data-versions>2<", row)
    assert "binary" in row and "RandomForestClassifier" in row and "roc auc" in row
    assert "champion v2" in row


def test_compare_api_puts_versions_side_by_side(client: TestClient) -> None:
    r = client.get("/api/v1/models/patients-risk/compare?versions=1,2")
    assert r.status_code == 200, r.text
    body = r.json()
    assert [v["version"] for v in body["versions"]] == [1, 2]
    params = {p["name"]: p for p in body["params"]}
    assert params["n_estimators"]["values"] == [5, 20] and params["n_estimators"]["differs"]
    assert not params["criterion"]["differs"]
    metrics = {(m["name"], m["split"]): m for m in body["metrics"]}
    assert ("threshold", "test") not in metrics and ("threshold", "cv") not in metrics
    auc = metrics[("roc_auc", "test")]
    assert auc["best"] and max(auc["values"]) == auc["values"][auc["best"][0]]
    loss = metrics[("log_loss", "test")]
    assert loss["lower_is_better"] and min(loss["values"]) == loss["values"][loss["best"][0]]
    assert body["settings"][0]["name"] == "threshold" and not body["settings"][0]["differs"]
    lineage = {row["name"]: row for row in body["lineage"]}
    assert lineage["dataset"]["values"] == ["patients v1", "patients v1"]
    assert lineage["fitted_on"]["values"][0]


@pytest.mark.parametrize(
    ("query", "status", "says"),
    [
        ("versions=1", 422, "between 2 and"),
        ("versions=1,x", 422, "version numbers"),
        ("versions=1,9", 404, "no version 9"),
        ("", 422, "versions"),
    ],
)
def test_compare_api_refuses_what_it_cannot_compare(
    client: TestClient, query: str, status: int, says: str
) -> None:
    r = client.get(f"/api/v1/models/patients-risk/compare?{query}")
    assert r.status_code == status and says in r.text
    assert r.headers["content-type"].startswith("application/problem+json")


def test_compare_page_marks_differences_best_values_and_overlays_curves(
    client: TestClient,
) -> None:
    page = client.get("/models/patients-risk/compare?v=1&v=2", headers=HTML)
    assert page.status_code == 200, page.text
    html = page.text
    assert re.search(r'<tr data-row="n_estimators" data-differs>', html)
    assert "data-best" in html and ">differs<" in html
    assert 'data-plot-name="roc_curve"' in html and 'data-plot-name="pr_curve"' in html
    assert html.count('"name": "v1 (AUC') == 1 and html.count('"name": "v2 (AUC') == 1
    metrics = html.split('id="cmp-metrics"')[1].split('id="cmp-plots"')[0]
    assert 'data-row="threshold"' in metrics.split("Settings")[1]
    # From the model page: the versions to compare are ticked, the form leads here.
    model = client.get("/models/patients-risk?version=1", headers=HTML).text
    assert 'action="/models/patients-risk/compare"' in model
    assert re.search(r'name="v" value="1"[^>]*checked', model)
    assert re.search(r'name="v" value="2"[^>]*checked', model)
    assert client.get("/models/patients-risk/compare", headers=HTML).status_code == 200
    bad = client.get("/models/patients-risk/compare?v=1", headers=HTML)
    assert bad.status_code == 422 and "between 2 and" in bad.text
