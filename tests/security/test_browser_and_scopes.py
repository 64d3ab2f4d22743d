"""Trust at the door, over a real server: which browser pages may act, which host names are
served, which scope each route needs (whatever the names in its path), and browser sessions
that end when signed out, revoked or expired."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.routing import APIRoute, APIWebSocketRoute
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from mlharbor.api.app import create_app
from mlharbor.api.auth import SESSION_COOKIE, declared_scopes
from mlharbor.config import Settings
from mlharbor.hub import Hub
from mlharbor.keys import Scope

from ..api.conftest import LiveServer, free_port, serve
from ..serving.mixed import register

EVIL = "https://evil.example"
SCRIPT = {"X-Requested-With": "fetch"}
#: Names a user may give a model, dataset or alias that an endpoint also has.
HAZARDS = ("predict", "labels", "invocations", "score", "versions", "aliases")
#: Framework routes that are not FastAPI routes, hence take no dependency: public by nature.
FRAMEWORK_PUBLIC = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc", "/static/ui"}
CSV = b"a,b,label\n1,x,yes\n2,y,no\n3,x,yes\n4,y,no\n"


def model_names(hub: Hub) -> list[str]:
    return sorted(m.name for m in hub.models.list_models())


def dataset_names(hub: Hub) -> list[str]:
    return sorted(d.name for d in hub.datasets.list()[0])


@contextmanager
def hub_at(tmp_path: Path, **settings: Any) -> Iterator[Hub]:
    with Hub.open(Settings(data_dir=tmp_path / "d", workers=0, **settings)) as hub:
        yield hub


@contextmanager
def live(hub: Hub) -> Iterator[LiveServer]:
    yield from serve(hub)


@contextmanager
def live_app(app: FastAPI, hub: Hub, **config: Any) -> Iterator[LiveServer]:
    """A live server with uvicorn options of our own (e.g. no proxy-header handling)."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", **config)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        assert thread.is_alive(), "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", hub)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def ws_close_code(url: str, headers: dict[str, str], port: int | None = None) -> int | None:
    """The close code a WebSocket gets before any message, or ``None`` if it stays open.

    With ``port``, the connection goes to that loopback port whatever host ``url`` names
    (as after DNS rebinding).
    """
    sock = socket.create_connection(("127.0.0.1", port)) if port else None
    try:
        with connect(url, additional_headers=headers, open_timeout=10, sock=sock) as ws:
            ws.recv(timeout=0.5)
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else None
    except TimeoutError:
        return None
    return None


def assert_cross_origin(response: httpx.Response) -> None:
    assert response.status_code == 403, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "cross_origin"
    assert "another site" in response.json()["detail"]


# Browser pages from other sites ------------------------------------------------------------


@pytest.mark.parametrize("auth", [False, True], ids=["auth-off", "auth-on"])
def test_another_site_cannot_upload_predict_delete_or_open_a_socket(
    tmp_path: Path, auth: bool
) -> None:
    with hub_at(tmp_path, auth_enabled=auth) as hub:
        record = register(hub, tmp_path, "churn", "churn").iloc[0].to_dict()
        _, admin = hub.keys.create("root", ["admin"])
        with live(hub) as server, server.client() as api:
            # What a signed-in browser would carry: its session cookie (auth on), and nothing
            # else. An API key in the header must not help a page from elsewhere either.
            headers = {"Origin": EVIL}
            if auth:
                signed = api.post("/ui/session", json={"key": admin}, headers=SCRIPT)
                headers["Cookie"] = f"{SESSION_COOKIE}={signed.cookies[SESSION_COOKIE]}"
            for extra in ({}, {"Authorization": f"Bearer {admin}"} if auth else {}):
                sent = {**headers, **extra}
                upload = api.post(
                    "/api/v1/models/planted/versions",
                    files={"file": ("m.skops", b"PK\x03\x04 not a model", "application/zip")},
                    headers=sent,
                )
                assert_cross_origin(upload)
                data = api.post(
                    "/api/v1/datasets", files={"file": ("d.csv", CSV, "text/csv")}, headers=sent
                )
                assert_cross_origin(data)
                predict = api.post(
                    "/api/v1/models/churn/latest/predict",
                    content=json.dumps([record]),
                    headers={**sent, "Content-Type": "text/plain"},
                )
                assert_cross_origin(predict)
                assert_cross_origin(api.delete("/api/v1/models/churn", headers=sent))
                assert_cross_origin(
                    api.post(
                        "/predict", content="{}", headers={**sent, "Content-Type": "text/plain"}
                    )
                )
                ws = server.url.replace("http://", "ws://")
                assert ws_close_code(f"{ws}/ws", sent) == 4403
                assert ws_close_code(f"{ws}/api/v1/jobs/1/events", sent) == 4403
        # Nothing happened: no model planted, no dataset stored, the model is still there.
        assert model_names(hub) == ["churn"]
        assert dataset_names(hub) == ["churn"]


def test_this_sites_pages_and_clients_without_origin_still_work(tmp_path: Path) -> None:
    with hub_at(tmp_path) as hub:
        record = register(hub, tmp_path, "churn", "churn").iloc[0].to_dict()
        with live(hub) as server, server.client() as api:
            own = {"Origin": server.url, "Sec-Fetch-Site": "same-origin"}
            made = api.post(
                "/api/v1/datasets", files={"file": ("d.csv", CSV, "text/csv")}, headers=own
            )
            assert made.status_code == 201, made.text
            answer = api.post("/api/v1/models/churn/latest/predict", json=[record], headers=own)
            assert answer.status_code == 200, answer.text
            # CLI, Python client, curl, MLflow: no Origin, no Sec-Fetch-Site.
            plain = api.post("/api/v1/models/churn/latest/invocations", json=[record])
            assert plain.status_code == 200, plain.text
            again = api.post("/api/v1/datasets", files={"file": ("e.csv", CSV, "text/csv")})
            assert again.status_code == 201, again.text
            url = server.url.replace("http://", "ws://") + "/ws"
            with connect(url, additional_headers={"Origin": server.url}) as ws:
                ws.send('{"type": "nope"}')
                assert "unknown message type" in ws.recv(timeout=10)
            # Reading is not refused from elsewhere: the browser keeps the answer from the page.
            assert api.get("/api/v1/datasets", headers={"Origin": EVIL}).status_code == 200


def test_a_browser_request_marked_cross_site_without_origin_is_refused(tmp_path: Path) -> None:
    with hub_at(tmp_path) as hub, live(hub) as server, server.client() as api:
        for site in ("cross-site", "same-site"):
            refused = api.post(
                "/api/v1/datasets",
                files={"file": ("d.csv", CSV, "text/csv")},
                headers={"Sec-Fetch-Site": site},
            )
            assert_cross_origin(refused)
            assert site in refused.json()["detail"]
        for site in ("same-origin", "none"):
            made = api.post(
                "/api/v1/datasets",
                files={"file": (f"{site}.csv", CSV, "text/csv")},
                headers={"Sec-Fetch-Site": site},
            )
            assert made.status_code == 201, made.text
        assert dataset_names(hub) == ["none", "same-origin"]


def test_sites_named_in_cors_origins_may_act(tmp_path: Path) -> None:
    dashboard = "https://dashboard.example"
    with hub_at(tmp_path, cors_origins=[dashboard]) as hub, live(hub) as server:
        with server.client() as api:
            made = api.post(
                "/api/v1/datasets",
                files={"file": ("d.csv", CSV, "text/csv")},
                headers={"Origin": dashboard},
            )
            assert made.status_code == 201, made.text
            assert made.headers["access-control-allow-origin"] == dashboard
            assert_cross_origin(
                api.delete("/api/v1/datasets/d", headers={"Origin": "https://other.example"})
            )
            # Another port or host name of the same machine is another origin.
            port = server.url.rsplit(":", 1)[1]
            others = (f"http://localhost:{port}", "http://127.0.0.1:1", "null", "file://")
            for origin in others:
                assert_cross_origin(api.delete("/api/v1/datasets/d", headers={"Origin": origin}))
        assert dataset_names(hub) == ["d"]


def test_host_names_the_server_does_not_answer_to_are_refused(tmp_path: Path) -> None:
    with hub_at(tmp_path, allowed_hosts=["hub.example"]) as hub, live(hub) as server:
        port = server.url.rsplit(":", 1)[1]
        with server.client() as api:
            for host in (f"evil.example:{port}", "127.0.0.1.evil.example", "hub.example.evil"):
                refused = api.get("/api/v1/datasets", headers={"Host": host})
                assert refused.status_code == 400, (host, refused.text)
                assert refused.headers["content-type"] == "application/problem+json"
                assert refused.json()["code"] == "host_not_allowed"
                assert "MLHARBOR_ALLOWED_HOSTS" in refused.json()["detail"]
            posted = api.post(
                "/api/v1/datasets",
                files={"file": ("d.csv", CSV, "text/csv")},
                headers={
                    "Host": f"rebound.example:{port}",
                    "Origin": f"http://rebound.example:{port}",
                },
            )
            assert posted.status_code == 400
            for host in (
                f"localhost:{port}",
                f"[::1]:{port}",
                f"hub.example:{port}",
                "HUB.example",
            ):
                assert api.get("/healthz", headers={"Host": host}).status_code == 200, host
            rebound = f"ws://evil.example:{port}/ws"
            assert ws_close_code(rebound, {}, port=int(port)) == 4400
        assert dataset_names(hub) == []
    with (
        hub_at(tmp_path / "any", allowed_hosts=["*"]) as hub,
        live(hub) as server,
        server.client() as api,
    ):
        assert api.get("/healthz", headers={"Host": "anything.example"}).status_code == 200


# Scopes, by route --------------------------------------------------------------------------


def iter_routes(routes: list[Any]) -> Iterator[Any]:
    """Every route of the app, including those of included routers."""
    for route in routes:
        original = getattr(route, "original_router", None)
        if original is not None:
            yield from iter_routes(original.routes)
        else:
            yield route


def declared(route: APIRoute | APIWebSocketRoute) -> Scope | None:
    checks = declared_scopes(route.dependant)
    assert len({c.scope for c in checks}) == 1, (route.path, checks)
    return checks[0].scope


def test_every_route_declares_its_scope(tmp_path: Path) -> None:
    with hub_at(tmp_path) as hub:
        app = create_app(hub=hub)
        seen = set()
        for route in iter_routes(app.routes):
            if isinstance(route, (APIRoute, APIWebSocketRoute)):
                declared(route)
                seen.add(route.path)
            else:
                assert route.path in FRAMEWORK_PUBLIC, route.path
    assert {"/ws", "/api/v1/jobs/{job_id}/events", "/settings", "/sign-in"} <= seen


def _fill(path: str, name: str) -> str:
    # Ids take numbers (a name there is a 422 after the scope check, which is fine).
    path = re.sub(r"\{(job_id|key_id)\}", "999", path)
    return re.sub(r"\{[^}]+\}", name, path)


def test_each_scope_reaches_exactly_its_routes_whatever_the_names(tmp_path: Path) -> None:
    with hub_at(tmp_path, auth_enabled=True) as hub:
        keys = {s: hub.keys.create(f"only-{s.value}", [s.value])[1] for s in Scope}
        routes = [
            r
            for r in iter_routes(create_app(hub=hub).routes)
            if isinstance(r, (APIRoute, APIWebSocketRoute))
        ]
        checked = 0
        with live(hub) as server, server.client() as api:
            for route in routes:
                needed = declared(route)
                names = HAZARDS if "{" in route.path else ("",)
                for name in names:
                    path = _fill(route.path, name)
                    for key in (None, *Scope):
                        headers = {"X-API-Key": keys[key]} if key else {}
                        allowed = needed is None or (key is not None and _allows(key, needed))
                        refused = 401 if key is None else 403
                        if isinstance(route, APIWebSocketRoute):
                            url = server.url.replace("http://", "ws://") + path
                            code = ws_close_code(url, headers)
                            assert (code not in (4401, 4403)) if allowed else code == 4000 + refused
                            checked += 1
                            continue
                        for method in route.methods - {"HEAD", "OPTIONS"}:
                            got = api.request(method, path, headers=headers).status_code
                            what = (method, path, key, needed, got)
                            assert (got not in (401, 403)) if allowed else got == refused, what
                            checked += 1
        # Nothing the walk sent changed anything: every body was missing or wrong.
        assert model_names(hub) == [] and dataset_names(hub) == []
        assert [k.name for k in hub.keys.list()] == [f"only-{s.value}" for s in Scope]
    assert checked > 1000


def _allows(key: Scope, needed: Scope) -> bool:
    return key is Scope.ADMIN or key is needed or (needed is Scope.READ and key is Scope.TRAIN)


def test_a_predict_key_cannot_touch_a_model_or_alias_named_like_an_endpoint(
    tmp_path: Path,
) -> None:
    with hub_at(tmp_path, auth_enabled=True) as hub:
        register(hub, tmp_path, "predict", "churn")
        register(hub, tmp_path, "labels", "churn")
        hub.models.set_alias("predict", "predict", 1)
        _, predictor = hub.keys.create("predictor", ["predict"])
        with live(hub) as server, server.client(headers={"X-API-Key": predictor}) as api:
            for method, path in (
                ("PUT", "/api/v1/models/predict/aliases/predict"),
                ("DELETE", "/api/v1/models/predict/aliases/predict"),
                ("DELETE", "/api/v1/models/predict"),
                ("DELETE", "/api/v1/models/labels"),
                ("DELETE", "/api/v1/models/labels/versions/1"),
            ):
                refused = api.request(method, path, json={"version": 1})
                assert refused.status_code == 403, (method, path, refused.text)
                assert "'train'" in refused.json()["detail"]
        assert model_names(hub) == ["labels", "predict"]
        assert hub.models.get_version("predict", "predict").version == 1


# Browser sessions --------------------------------------------------------------------------


def sign_in(api: httpx.Client, key: str) -> tuple[str, str]:
    """Sign in as a browser does; the cookie's value and its Set-Cookie header."""
    signed = api.post("/ui/session", json={"key": key}, headers=SCRIPT)
    assert signed.status_code == 204, signed.text
    return signed.cookies[SESSION_COOKIE], signed.headers["set-cookie"]


def as_browser(cookie: str) -> dict[str, str]:
    return {"Cookie": f"{SESSION_COOKIE}={cookie}", "Accept": "application/json"}


def test_a_session_ends_at_sign_out_and_never_holds_the_key(tmp_path: Path) -> None:
    with hub_at(tmp_path, auth_enabled=True) as hub, live(hub) as server:
        _, key = hub.keys.create("ops", ["read"])
        with server.client() as api:
            cookie, header = sign_in(api, key)
        prefix, secret = key.split("_")[1], key.split("_", 2)[2]
        assert key not in header and secret not in header and prefix not in cookie
        assert "httponly" in header.lower() and "samesite=strict" in header.lower()
        assert "secure" not in header.lower()  # plain http on loopback
        with server.client() as browser:
            assert browser.get("/api/v1/datasets", headers=as_browser(cookie)).status_code == 200
            out = browser.delete("/ui/session", headers={**as_browser(cookie), **SCRIPT})
            assert out.status_code == 204
            replayed = browser.get("/api/v1/datasets", headers=as_browser(cookie))
            assert replayed.status_code == 401 and "sign in again" in replayed.json()["detail"]
            # The key itself still works: signing out ends the session, not the key.
            assert browser.get("/api/v1/datasets", headers={"X-API-Key": key}).status_code == 200


def test_revoking_a_key_ends_its_sessions(tmp_path: Path) -> None:
    with hub_at(tmp_path, auth_enabled=True) as hub, live(hub) as server:
        info, key = hub.keys.create("ops", ["read"])
        _, other = hub.keys.create("other", ["read"])
        with server.client() as api:
            first, _ = sign_in(api, key)
            second, _ = sign_in(api, key)
            kept, _ = sign_in(api, other)
        hub.keys.revoke(info.id)
        with server.client() as browser:
            for cookie in (first, second):
                ended = browser.get("/api/v1/datasets", headers=as_browser(cookie))
                assert ended.status_code == 401 and "sign in again" in ended.json()["detail"]
            assert browser.get("/api/v1/datasets", headers=as_browser(kept)).status_code == 200


def test_an_expired_session_is_refused(tmp_path: Path) -> None:
    with hub_at(tmp_path, auth_enabled=True, session_ttl_seconds=1) as hub, live(hub) as server:
        _, key = hub.keys.create("ops", ["read"])
        with server.client() as api:
            cookie, header = sign_in(api, key)
            assert "max-age=1" in header.lower()
            assert api.get("/api/v1/datasets", headers=as_browser(cookie)).status_code == 200
            time.sleep(1.2)
            expired = api.get("/api/v1/datasets", headers=as_browser(cookie))
            assert expired.status_code == 401 and "expired" in expired.json()["detail"]


def test_the_cookie_is_secure_behind_a_trusted_tls_proxy_and_off_loopback(
    tmp_path: Path,
) -> None:
    proxied = {"X-Forwarded-Proto": "https"}
    for trust, expected in ((True, True), (False, False)):
        with hub_at(tmp_path / str(trust), auth_enabled=True, trust_proxy_headers=trust) as hub:
            _, key = hub.keys.create("ops", ["read"])
            # uvicorn's own proxy-header handling off: only the setting decides.
            with live_app(create_app(hub=hub), hub, proxy_headers=False) as server:
                with server.client(headers=proxied) as api:
                    _, header = sign_in(api, key)
                assert ("secure" in header.lower().split("; ")) is expected, (trust, header)
    with hub_at(tmp_path / "open", auth_enabled=True, host="0.0.0.0") as hub:
        _, key = hub.keys.create("ops", ["read"])
        with live(hub) as server, server.client() as api:
            _, header = sign_in(api, key)
        assert "secure" in header.lower().split("; ")


def test_behind_a_trusted_proxy_the_public_origin_may_act(tmp_path: Path) -> None:
    public = {
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "hub.example",
        "Origin": "https://hub.example",
    }
    for trust in (True, False):
        settings = {"allowed_hosts": ["hub.example"], "trust_proxy_headers": trust}
        with (
            hub_at(tmp_path / str(trust), **settings) as hub,
            live_app(create_app(hub=hub), hub, proxy_headers=False) as server,
            server.client() as api,
        ):
            sent = api.post(
                "/api/v1/datasets", files={"file": ("d.csv", CSV, "text/csv")}, headers=public
            )
            if trust:
                assert sent.status_code == 201, sent.text
            else:
                assert_cross_origin(sent)
