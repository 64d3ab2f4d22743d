"""The MLflow scoring route served beside FastAPI's router answers exactly as the router did.

Each request is sent to the app and to the same app without :class:`InvocationsRoute` (so
through FastAPI's router, as before), and the two answers compared: status, body, content
type and the headers a client reads. Auth, Host and Origin refusals, body limits and bad
input are among them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from starlette.testclient import TestClient

from mlharbor.api import invocations
from mlharbor.api.app import create_app
from mlharbor.api.invocations import InvocationsRoute
from mlharbor.hub import Hub

from ..serving.mixed import register

URL = "/api/v1/models/churn/champion/invocations"
REQUEST_ID = {"x-request-id": "same-id"}
#: Headers a client reads, besides the body.
COMPARED = ("content-type", "x-mlharbor-backend", "allow", "x-request-id")


def _without_fast_route(app: FastAPI) -> FastAPI:
    app.user_middleware = [m for m in app.user_middleware if m.cls is not InvocationsRoute]
    return app


@pytest.fixture
def clients(sqlite_hub: Hub, tmp_path: Path) -> Iterator[tuple[TestClient, TestClient, Any]]:
    features = register(sqlite_hub, tmp_path, "churn", "churn", lineage=True)
    sqlite_hub.models.set_alias("churn", "champion", 1)
    sqlite_hub.settings.max_predict_rows = 40
    sqlite_hub.settings.max_json_body_bytes = 1 << 20
    fast = TestClient(create_app(hub=sqlite_hub), base_url="http://localhost")
    router = TestClient(
        _without_fast_route(create_app(hub=sqlite_hub)), base_url="http://localhost"
    )
    yield fast, router, features


def _answer(client: TestClient, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
    headers = {**REQUEST_ID, **kwargs.pop("headers", {})}
    r = client.request(method, url, headers=headers, **kwargs)
    try:
        body: Any = r.json()
    except json.JSONDecodeError:
        body = r.text
    return {
        "status": r.status_code,
        "body": body,
        **{h: r.headers.get(h) for h in COMPARED},
    }


def _requests(features: Any) -> list[tuple[str, str, dict[str, Any]]]:
    split = features.head(20).to_dict("split")
    split.pop("index", None)
    one = {"columns": split["columns"], "data": split["data"][:1]}
    records = features.head(5).to_dict("records")
    wrong_type = [{**records[0], "age": "old"}]
    deep: Any = 1
    for _ in range(80):
        deep = [deep]
    return [
        ("one row", URL, {"json": {"dataframe_split": one}}),
        ("20 rows", URL, {"json": {"dataframe_split": split}}),
        ("records", URL, {"json": {"dataframe_records": records}}),
        ("instances", URL, {"json": {"instances": records}}),
        ("inputs", URL, {"json": {"inputs": features.head(5).to_dict("list")}}),
        ("version", "/api/v1/models/churn/1/invocations", {"json": {"instances": records}}),
        (
            "csv",
            URL,
            {
                "content": features.head(5).to_csv(index=False),
                "headers": {"content-type": "text/csv"},
            },
        ),
        ("unseen category", URL, {"json": {"instances": [{**records[0], "city": "oslo"}]}}),
        ("extra column", URL, {"json": {"instances": [{**records[0], "extra": 1}]}}),
        ("text/plain", URL, {"content": "a", "headers": {"content-type": "text/plain"}}),
        (
            "latin-1",
            URL,
            {"content": "{}", "headers": {"content-type": "application/json; charset=latin-1"}},
        ),
        ("not json", URL, {"content": "{", "headers": {"content-type": "application/json"}}),
        ("empty", URL, {"content": "", "headers": {"content-type": "application/json"}}),
        ("no data", URL, {"json": {"dataframe_split": {"columns": ["age"]}}}),
        ("unknown shape", URL, {"json": {"frames": []}}),
        ("unknown field", URL, {"json": {"dataframe_split": split, "params": {"x": 1}}}),
        ("missing column", URL, {"json": {"instances": [{"age": 30.0}]}}),
        ("wrong type", URL, {"json": {"instances": wrong_type}}),
        (
            "infinity",
            URL,
            {
                "content": json.dumps({"instances": [{**records[0], "age": float("inf")}]}),
                "headers": {"content-type": "application/json"},
            },
        ),
        ("too deep", URL, {"json": {"instances": deep}}),
        ("too many rows", URL, {"json": {"instances": records * 9}}),
        (
            "ghost model",
            "/api/v1/models/ghost/champion/invocations",
            {"json": {"instances": records}},
        ),
        ("ghost version", "/api/v1/models/churn/9/invocations", {"json": {"instances": records}}),
        ("over the body limit", URL, {"content": b"[" + b" " * (2 << 20) + b"]"}),
        (
            "cross-origin",
            URL,
            {"json": {"instances": records}, "headers": {"origin": "https://evil.example"}},
        ),
        (
            "cross-site fetch",
            URL,
            {"json": {"instances": records}, "headers": {"sec-fetch-site": "cross-site"}},
        ),
        (
            "foreign host",
            URL,
            {"json": {"instances": records}, "headers": {"host": "evil.example"}},
        ),
        (
            "same origin",
            URL,
            {"json": {"instances": records}, "headers": {"origin": "http://localhost"}},
        ),
        ("NUL in query", URL + "?a=%00", {"json": {"instances": records}}),
        ("trailing slash", URL + "/", {"json": {"instances": records}}),
        (
            "percent-encoded",
            "/api/v1/models/ch%75rn/champion/invocations",
            {"json": {"instances": records}},
        ),
        (
            "slash in name",
            "/api/v1/models/ch%2Furn/champion/invocations",
            {"json": {"instances": records}},
        ),
    ]


def test_every_answer_is_the_routers(
    clients: tuple[TestClient, TestClient, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    fast, router, features = clients
    served = []
    original = invocations.mlflow_invocation

    async def counted(*args: Any) -> Any:
        served.append(args[1:3])
        return await original(*args)

    monkeypatch.setattr(invocations, "mlflow_invocation", counted)
    statuses = {}
    for what, url, kwargs in _requests(features):
        expected = _answer(router, "POST", url, **kwargs)
        assert _answer(fast, "POST", url, **kwargs) == expected, what
        statuses[what] = expected["status"]
    assert statuses["20 rows"] == 200 and statuses["one row"] == 200
    assert all(s < 500 for s in statuses.values()), statuses
    assert statuses["cross-origin"] == 403 and statuses["foreign host"] == 400
    assert statuses["too many rows"] == statuses["over the body limit"] == 413
    assert statuses["text/plain"] == 415 and statuses["ghost model"] == 404
    # The fast route answered what reached the handler; the router's app never used it.
    assert ("churn", "champion") in served and ("churn", "1") in served
    assert ("ghost", "champion") in served


def test_other_methods_still_go_through_the_router(
    clients: tuple[TestClient, TestClient, Any],
) -> None:
    fast, router, _ = clients
    for method in ("GET", "PUT", "DELETE"):
        expected = _answer(router, method, URL)
        assert expected["status"] == 405
        assert _answer(fast, method, URL) == expected


def test_auth_is_enforced_on_the_fast_route(
    clients: tuple[TestClient, TestClient, Any], sqlite_hub: Hub
) -> None:
    fast, router, features = clients
    sqlite_hub.settings.auth_enabled = True
    _, reader = sqlite_hub.keys.create("reader", ["read"])
    _, predictor = sqlite_hub.keys.create("predictor", ["predict"])
    body = {"json": {"instances": features.head(3).to_dict("records")}}
    cases = {
        "no key": {},
        "bad key": {"authorization": "Bearer mlh_nope_nope"},
        "read key": {"authorization": f"Bearer {reader}"},
        "predict key": {"x-api-key": predictor},
        "session cookie without script header": {"cookie": "mlharbor_session=abc"},
    }
    seen = {}
    for what, headers in cases.items():
        expected = _answer(router, "POST", URL, headers=headers, **body)
        assert _answer(fast, "POST", URL, headers=headers, **body) == expected, what
        seen[what] = expected["status"]
    assert seen == {
        "no key": 401,
        "bad key": 401,
        "read key": 403,
        "predict key": 200,
        "session cookie without script header": 403,
    }


def test_the_fast_route_is_counted_logged_and_labelled_as_before(
    clients: tuple[TestClient, TestClient, Any], sqlite_hub: Hub
) -> None:
    fast, _, features = clients
    assert sqlite_hub.predlog is not None
    logged = sqlite_hub.predlog.logged
    r = fast.post(URL, json={"instances": features.head(7).to_dict("records")})
    assert r.status_code == 200 and len(r.json()["predictions"]) == 7
    assert sqlite_hub.predlog.logged == logged + 1
    metrics = fast.get("/metrics").text
    assert 'mlharbor_predictions_total{model="churn"} 7.0' in metrics
    assert 'route="/api/v1/models/{name}/{ref}/invocations",status="200"' in metrics
