"""The MLflow scoring route served beside FastAPI's router answers exactly as the router did.

Each request is sent to the app and to the same app without :class:`InvocationsRoute` (so
through FastAPI's router, as before), and the two answers compared: status, body, content
type and the headers a client reads. Auth, Host and Origin refusals, body limits and bad
input are among them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from starlette.testclient import TestClient

from mlharbor.api import invocations
from mlharbor.api.app import create_app
from mlharbor.api.invocations import InvocationsRoute
from mlharbor.api.single import create_model_app
from mlharbor.hub import Hub

from ..serving.mixed import register

URL = "/api/v1/models/churn/champion/invocations"
REQUEST_ID = {"x-request-id": "same-id"}
#: Headers a client reads, besides the body.
COMPARED = ("content-type", "x-mlharbor-backend", "allow", "x-request-id")


def _without_fast_route(app: FastAPI) -> FastAPI:
    app.user_middleware = [m for m in app.user_middleware if m.cls is not InvocationsRoute]
    return app


@dataclass
class Pair:
    """The same app with the fast route and without it (answering through the router)."""

    fast: TestClient
    router: TestClient
    features: Any
    #: The scoring route: the hub app's (model in the path) or serve-model's ``/invocations``.
    url: str


@pytest.fixture(params=["hub", "serve-model"])
def pair(request: pytest.FixtureRequest, sqlite_hub: Hub, tmp_path: Path) -> Iterator[Pair]:
    features = register(sqlite_hub, tmp_path, "churn", "churn", lineage=True)
    sqlite_hub.models.set_alias("churn", "champion", 1)
    sqlite_hub.settings.max_predict_rows = 40
    sqlite_hub.settings.max_json_body_bytes = 1 << 20
    with ExitStack() as stack:
        if request.param == "hub":
            apps = [create_app(hub=sqlite_hub) for _ in range(2)]
            url = URL
        else:
            apps = [create_model_app(sqlite_hub.settings, "churn", "champion", sqlite_hub)]
            apps.append(create_model_app(sqlite_hub.settings, "churn", "champion", sqlite_hub))
            url = "/invocations"
        _without_fast_route(apps[1])  # before its middleware stack is built
        fast, router = (TestClient(app, base_url="http://localhost") for app in apps)
        if request.param == "serve-model":
            # Its lifespan loads the model and sets the hub (the hub app is given it).
            for client in (fast, router):
                stack.enter_context(client)
        yield Pair(fast, router, features, url)


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


def _requests(features: Any, url: str) -> list[tuple[str, str, dict[str, Any]]]:
    """What a client may send to ``url``; with the hub's URL, to other models and versions
    too."""
    split = features.head(20).to_dict("split")
    split.pop("index", None)
    one = {"columns": split["columns"], "data": split["data"][:1]}
    records = features.head(5).to_dict("records")
    wrong_type = [{**records[0], "age": "old"}]
    deep: Any = 1
    for _ in range(80):
        deep = [deep]
    cases = [
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
    if url != URL:
        return [(what, u.replace(URL, url), kw) for what, u, kw in cases if u.startswith(URL)]
    return cases


def test_every_answer_is_the_routers(pair: Pair, monkeypatch: pytest.MonkeyPatch) -> None:
    served = []
    original = invocations.mlflow_invocation

    async def counted(*args: Any) -> Any:
        served.append(args[1:3])
        return await original(*args)

    monkeypatch.setattr(invocations, "mlflow_invocation", counted)
    statuses = {}
    for what, url, kwargs in _requests(pair.features, pair.url):
        expected = _answer(pair.router, "POST", url, **kwargs)
        assert _answer(pair.fast, "POST", url, **kwargs) == expected, what
        statuses[what] = expected["status"]
    assert statuses["20 rows"] == 200 and statuses["one row"] == 200
    assert all(s < 500 for s in statuses.values()), statuses
    assert statuses["cross-origin"] == 403 and statuses["foreign host"] == 400
    assert statuses["too many rows"] == statuses["over the body limit"] == 413
    assert statuses["text/plain"] == 415 and statuses["missing column"] == 400
    # The fast route answered what reached the handler; the router's app never used it.
    assert ("churn", "champion") in served
    if pair.url == URL:
        assert statuses["ghost model"] == 404
        assert ("churn", "1") in served and ("ghost", "champion") in served


def test_other_methods_still_go_through_the_router(pair: Pair) -> None:
    for method in ("GET", "PUT", "DELETE"):
        expected = _answer(pair.router, method, pair.url)
        assert expected["status"] == 405
        assert _answer(pair.fast, method, pair.url) == expected


def test_auth_is_enforced_on_the_fast_route(pair: Pair, sqlite_hub: Hub) -> None:
    sqlite_hub.settings.auth_enabled = True
    _, reader = sqlite_hub.keys.create("reader", ["read"])
    _, predictor = sqlite_hub.keys.create("predictor", ["predict"])
    body = {"json": {"instances": pair.features.head(3).to_dict("records")}}
    cases = {
        "no key": {},
        "bad key": {"authorization": "Bearer mlh_nope_nope"},
        "read key": {"authorization": f"Bearer {reader}"},
        "predict key": {"x-api-key": predictor},
        "session cookie without script header": {"cookie": "mlharbor_session=abc"},
    }
    seen = {}
    for what, headers in cases.items():
        expected = _answer(pair.router, "POST", pair.url, headers=headers, **body)
        assert _answer(pair.fast, "POST", pair.url, headers=headers, **body) == expected, what
        seen[what] = expected["status"]
    assert seen == {
        "no key": 401,
        "bad key": 401,
        "read key": 403,
        "predict key": 200,
        "session cookie without script header": 403,
    }


def test_the_fast_route_is_counted_logged_and_labelled_as_before(
    pair: Pair, sqlite_hub: Hub
) -> None:
    assert sqlite_hub.predlog is not None
    logged = sqlite_hub.predlog.logged
    r = pair.fast.post(pair.url, json={"instances": pair.features.head(7).to_dict("records")})
    assert r.status_code == 200 and len(r.json()["predictions"]) == 7
    assert sqlite_hub.predlog.logged == logged + 1
    metrics = pair.fast.get("/metrics").text
    assert 'mlharbor_predictions_total{model="churn"} 7.0' in metrics
    template = "/api/v1/models/{name}/{ref}/invocations" if pair.url == URL else "/invocations"
    assert f'route="{template}",status="200"' in metrics
