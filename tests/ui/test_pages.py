"""The UI's pages over plain HTTP: what they show, their errors, and who may see them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from mlharbor.api.app import create_app
from mlharbor.config import Settings
from mlharbor.hub import Hub

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
HTML = {"Accept": "text/html,application/xhtml+xml"}
SCRIPT = {"X-Requested-With": "mlharbor-ui"}


@pytest.fixture
def client(sqlite_hub: Hub) -> Iterator[TestClient]:
    with TestClient(create_app(hub=sqlite_hub), headers=HTML, base_url="http://localhost") as c:
        yield c


@pytest.fixture
def iris(sqlite_hub: Hub) -> Hub:
    sqlite_hub.datasets.ingest_file(SAMPLES / "iris.csv")
    return sqlite_hub


def test_empty_hub_shows_empty_states_and_the_upload(client: TestClient) -> None:
    page = client.get("/datasets")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "No datasets yet — upload one" in page.text
    assert 'type="file"' in page.text and "From a URL" in page.text
    assert "No models yet" in client.get("/models").text
    assert "No jobs yet" in client.get("/jobs").text
    assert "Create a key" in client.get("/settings").text


def test_root_sends_browsers_to_the_ui_and_api_clients_get_json(client: TestClient) -> None:
    page = client.get("/", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/datasets"
    api = client.get("/", headers={"Accept": "application/json"})
    assert api.json()["name"] == "mlharbor"


def test_static_assets_are_served_locally(client: TestClient) -> None:
    plotly = client.get("/static/plotly.min.js")
    assert plotly.status_code == 200 and "plotly" in plotly.text[:2000].lower()
    htmx = client.get("/static/ui/vendor/htmx.min.js")
    assert htmx.status_code == 200 and "htmx" in htmx.text
    assert client.get("/static/ui/vendor/htmx.LICENSE.txt").status_code == 200
    page = client.get("/datasets").text
    assert "https://" not in page.split("<body>")[0], "no asset may come from the internet"


def test_dataset_page_shows_schema_preview_and_lazy_insights(client: TestClient, iris: Hub) -> None:
    listing = client.get("/datasets").text
    assert 'href="/datasets/iris"' in listing and "150 × 5" in listing
    page = client.get("/datasets/iris?target=variety").text
    assert "sepal.length" in page and "Setosa" in page  # schema and preview
    assert 'hx-get="/datasets/iris/insights-panel?version=1&amp;target=variety"' in page
    panel = client.get("/datasets/iris/insights-panel?target=variety").text
    assert "Target variety: class balance" in panel
    # Petal sizes are iris's best features, not leaks: no leakage warning tells users to drop them.
    assert "target leakage" not in panel and "Correlations and associations" in panel
    assert panel.count("data-plot ") >= 8  # balance, features, heat map, 5 columns


def test_train_form_is_prefilled_from_insights_and_built_from_the_catalog(
    client: TestClient, iris: Hub
) -> None:
    page = client.get("/datasets/iris/train?target=variety").text
    assert '<option value="multiclass" selected>' in page
    assert 'data-param="n_estimators"' in page and 'data-default="200"' in page
    assert 'name="drop" value="petal.width"' in page and "target leakage" not in page
    assert 'name="drop" value="variety"' not in page
    fields = client.get("/ui/model-fields?task=regression&model=ridge").text
    assert 'data-param="alpha"' in fields and "Logistic" not in fields
    fallback = client.get("/ui/model-fields?task=text&model=ridge").text
    assert '<option value="ridge" selected>' not in fallback


def test_unknown_things_are_readable_error_pages(client: TestClient, iris: Hub) -> None:
    missing = client.get("/datasets/nope")
    assert missing.status_code == 404 and "Not found" in missing.text
    assert "nope" in missing.text and "<html" in missing.text
    bad_target = client.get("/datasets/iris/train?target=colour")
    assert bad_target.status_code == 422 and "colour" in bad_target.text
    as_api = client.get("/datasets/nope", headers={"Accept": "application/json"})
    assert as_api.headers["content-type"] == "application/problem+json"
    assert client.get("/models/nope").status_code == 404
    assert client.get("/jobs/12345").status_code == 404


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[tuple[TestClient, Hub]]:
    settings = Settings(data_dir=tmp_path / "s", auth_enabled=True, workers=0)
    with (
        Hub.open(settings) as hub,
        TestClient(create_app(hub=hub), headers=HTML, base_url="http://localhost") as c,
    ):
        yield c, hub


def _sign_in(client: TestClient, token: str) -> None:
    r = client.post("/ui/session", json={"key": token}, headers=SCRIPT)
    assert r.status_code == 204, r.text


def test_signed_out_browsers_go_to_sign_in_and_api_clients_get_401(
    secured: tuple[TestClient, Hub],
) -> None:
    client, _ = secured
    page = client.get("/models?x=1", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"] == "/sign-in?next=/models%3Fx%3D1"
    assert "Sign in" in client.get("/sign-in").text
    api = client.get("/models", headers={"Accept": "application/json"})
    assert api.status_code == 401 and "API key" in api.json()["detail"]


def test_sign_in_sets_a_strict_httponly_cookie_that_the_policy_accepts(
    secured: tuple[TestClient, Hub],
) -> None:
    client, hub = secured
    _, token = hub.keys.create("ops", ["read", "train"])
    bad = client.post("/ui/session", json={"key": "mlh_nope_nope"}, headers=SCRIPT)
    assert bad.status_code == 401
    no_header = client.post("/ui/session", json={"key": token})
    assert no_header.status_code == 422 and "X-Requested-With" in no_header.json()["detail"]
    r = client.post("/ui/session", json={"key": token}, headers=SCRIPT)
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "mlharbor_session=" in cookie
    page = client.get("/datasets")
    assert page.status_code == 200 and "Signed in as" in page.text and "ops" in page.text
    # A change made with the cookie alone needs the script header (no cross-site forms).
    body = {"name": "t", "records": [{"a": 1, "b": 2}, {"a": 3, "b": 4}]}
    forged = client.post("/api/v1/datasets/from-records", json=body)
    assert forged.status_code == 403 and "X-Requested-With" in forged.json()["detail"]
    made = client.post("/api/v1/datasets/from-records", json=body, headers=SCRIPT)
    assert made.status_code == 201
    client.delete("/ui/session", headers=SCRIPT)
    assert client.get("/datasets", follow_redirects=False).status_code == 303


def test_cookie_keys_keep_their_scopes(secured: tuple[TestClient, Hub]) -> None:
    client, hub = secured
    _, reader = hub.keys.create("reader", ["read"])
    _sign_in(client, reader)
    page = client.get("/datasets").text
    assert "Add a dataset" not in page and 'href="/settings"' not in page
    settings = client.get("/settings")
    assert settings.status_code == 403 and "Not allowed" in settings.text
    assert "admin" in settings.text
    train = client.post(
        "/api/v1/datasets/from-records",
        json={"name": "t", "records": [{"a": 1}]},
        headers=SCRIPT,
    )
    assert train.status_code == 403
    _, admin = hub.keys.create("root", ["admin"])
    _sign_in(client, admin)
    keys = client.get("/settings")
    assert keys.status_code == 200 and "reader" in keys.text and "Revoke" in keys.text


def test_a_websocket_signed_in_by_cookie_must_come_from_this_site(
    secured: tuple[TestClient, Hub],
) -> None:
    from starlette.websockets import WebSocketDisconnect

    client, hub = secured
    _, token = hub.keys.create("ops", ["read"])
    _sign_in(client, token)
    with (
        pytest.raises(WebSocketDisconnect) as refused,
        client.websocket_connect(
            "ws://localhost/api/v1/jobs/1/events", headers={"Origin": "https://evil.example"}
        ) as ws,
    ):
        ws.receive_json()
    assert refused.value.code == 4403
    with (
        pytest.raises(WebSocketDisconnect) as missing,
        client.websocket_connect(
            "ws://localhost/api/v1/jobs/1/events", headers={"Origin": "http://localhost"}
        ) as ws,
    ):
        ws.receive_json()
    assert missing.value.code == 4404  # authorised; the job just does not exist
