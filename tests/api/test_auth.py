"""Every non-public route needs a key with its scope once auth is on.

That every route declares its scope, and that no name changes it, is walked in
tests/security/test_browser_and_scopes.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from mlharbor.api.app import create_app
from mlharbor.config import Settings
from mlharbor.hub import Hub

#: A browser on this machine names the server so; the server answers only to names it serves.
LOCAL = "http://localhost"


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[tuple[TestClient, Hub]]:
    settings = Settings(data_dir=tmp_path / "d", auth_enabled=True)
    with Hub.open(settings) as hub, TestClient(create_app(hub=hub), base_url=LOCAL) as client:
        yield client, hub


def test_revoked_and_forged_keys_are_refused(secured: tuple[TestClient, Hub]) -> None:
    client, hub = secured
    info, token = hub.keys.create("ci", ["read"])
    assert client.get("/api/v1/datasets", headers={"X-API-Key": token}).status_code == 200
    forged = token[:-4] + "abcd"
    r = client.get("/api/v1/datasets", headers={"X-API-Key": forged})
    assert r.status_code == 401 and "not valid" in r.json()["detail"]
    hub.keys.revoke(info.id)
    r = client.get("/api/v1/datasets", headers={"X-API-Key": token})
    assert r.status_code == 401 and "revoked" in r.json()["detail"]


def test_keys_api_shows_the_secret_once_and_stores_a_hash(
    secured: tuple[TestClient, Hub],
) -> None:
    client, hub = secured
    _, admin = hub.keys.create("root", ["admin"])
    headers = {"X-API-Key": admin}
    r = client.post(
        "/api/v1/keys", json={"name": "dashboard", "scopes": ["predict"]}, headers=headers
    )
    assert r.status_code == 201, r.text
    secret = r.json()["key"]
    assert secret.startswith("mlh_")
    listing = client.get("/api/v1/keys", headers=headers).json()
    assert secret not in str(listing)
    assert [k["name"] for k in listing["data"]] == ["root", "dashboard"]
    bad = client.post("/api/v1/keys", json={"name": "x", "scopes": ["god"]}, headers=headers)
    assert bad.status_code == 422 and "scopes" in bad.json()["detail"]


def test_without_auth_the_loopback_server_is_open(tmp_path: Path) -> None:
    with (
        Hub.open(Settings(data_dir=tmp_path / "d")) as hub,
        TestClient(create_app(hub=hub), base_url=LOCAL) as client,
    ):
        assert client.get("/api/v1/datasets").status_code == 200


def test_metrics_count_requests_by_route(tmp_path: Path) -> None:
    with (
        Hub.open(Settings(data_dir=tmp_path / "d")) as hub,
        TestClient(create_app(hub=hub), base_url=LOCAL) as client,
    ):
        client.get("/api/v1/datasets/ghost")
        text = client.get("/metrics").text
    assert 'route="/api/v1/datasets/{ref}"' in text and 'status="404"' in text
    assert 'mlharbor_jobs{state="queued"} 0.0' in text
    assert "mlharbor_model_cache_models 0.0" in text


def test_access_log_lines_are_json_with_the_request_id(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import json
    import logging

    from mlharbor.api.observability import JsonFormatter

    with (
        Hub.open(Settings(data_dir=tmp_path / "d")) as hub,
        TestClient(create_app(hub=hub), base_url=LOCAL) as client,
        caplog.at_level(logging.INFO, logger="mlharbor"),
    ):
        client.get("/api/v1/datasets/ghost", headers={"X-Request-ID": "req-42"})
    lines = [
        json.loads(JsonFormatter().format(r)) for r in caplog.records if r.name == "mlharbor.access"
    ]
    assert lines and lines[-1]["request_id"] == "req-42" and lines[-1]["status"] == 404


def test_websocket_needs_a_key_with_the_train_scope(tmp_path: Path) -> None:
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    from .conftest import serve

    settings = Settings(data_dir=tmp_path / "d", auth_enabled=True)
    with Hub.open(settings) as hub:
        _, reader = hub.keys.create("reader", ["read"])
        _, trainer = hub.keys.create("trainer", ["train"])
        for live in serve(hub):
            url = live.url.replace("http://", "ws://") + "/ws"
            for headers, code in (({}, 4401), ({"X-API-Key": reader}, 4403)):
                with pytest.raises(ConnectionClosed) as info:  # noqa: SIM117
                    with connect(url, additional_headers=headers) as ws:
                        ws.recv(timeout=10)
                assert info.value.rcvd is not None and info.value.rcvd.code == code
            with connect(url, additional_headers={"Authorization": f"Bearer {trainer}"}) as ws:
                ws.send('{"type": "nope"}')
                assert "unknown message type" in ws.recv(timeout=10)


def test_scope_follows_the_endpoint_not_a_name_inside_the_path(
    secured: tuple[TestClient, Hub],
) -> None:
    client, hub = secured
    _, reader = hub.keys.create("reader", ["read"])
    _, trainer = hub.keys.create("trainer", ["train"])
    _, predictor = hub.keys.create("predictor", ["predict"])
    body = [{"a": 1, "b": "x"}]
    created = client.post(
        "/api/v1/datasets/from-records",
        json={"name": "predictions", "records": body},
        headers={"Authorization": f"Bearer {trainer}"},
    )
    assert created.status_code == 201, created.text
    for token in (reader, trainer):  # training starts from reading, so `train` reads too
        shown = client.get("/api/v1/datasets/predictions", headers={"X-API-Key": token})
        assert shown.status_code == 200, shown.text
    refused = client.get("/api/v1/datasets/predictions", headers={"X-API-Key": predictor})
    assert refused.status_code == 403
    assert "read" in refused.json()["detail"]


def test_labels_are_sent_with_a_predict_key(secured: tuple[TestClient, Hub]) -> None:
    client, hub = secured
    _, reader = hub.keys.create("reader", ["read"])
    _, predictor = hub.keys.create("predictor", ["predict"])
    body = {"labels": [{"request_id": "r1", "label": "yes"}]}
    refused = client.post("/api/v1/models/ghost/labels", json=body, headers={"X-API-Key": reader})
    assert refused.status_code == 403 and "predict" in refused.json()["detail"]
    # Allowed through, then told the model does not exist.
    sent = client.post("/api/v1/models/ghost/labels", json=body, headers={"X-API-Key": predictor})
    assert sent.status_code == 404 and "ghost" in sent.json()["detail"]
