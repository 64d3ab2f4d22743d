"""Bounded work per request: body sizes, JSON depth, and integers past their column's range.

Each attack worked against the server before: a prediction body as large as an upload parsed
on the event loop, JSON nested 10,000 deep (500, or a WebSocket dropped without a close
frame), ids past 32 bits (500 on PostgreSQL).
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.sync.client import connect

from mlharbor.api.middleware import is_upload
from mlharbor.api.single import create_model_app
from mlharbor.hub import Hub
from mlharbor.limits import json_depth

from ..api.conftest import LiveServer, free_port, serve
from ..api.test_predict import train

SAMPLES = Path(__file__).parents[2] / "samples"
DEEP = b"[" * 10_000 + b"]" * 10_000
PREDICT = "/api/v1/models/iris/latest/predict"
BIG_NUMBERS = ("99999999999999999999999", "-5e22", "2147483648", "9223372036854775808")


def records(n: int) -> bytes:
    row = {"sepal.length": 5.1, "sepal.width": 3.5, "petal.length": 1.4, "petal.width": 0.2}
    return json.dumps({"records": [row] * n}).encode()


@pytest.fixture
def live(hub: Hub) -> Iterator[LiveServer]:
    """A live server over SQLite and over PostgreSQL (as tests/api's fixture)."""
    yield from serve(hub)


@pytest.fixture
def live_sqlite(sqlite_hub: Hub) -> Iterator[LiveServer]:
    yield from serve(sqlite_hub)


@pytest.fixture
def small_limits(sqlite_hub: Hub) -> Iterator[LiveServer]:
    """A live server whose non-upload bodies may be 1 MiB at most."""
    sqlite_hub.settings.max_json_body_bytes = 1 << 20
    yield from serve(sqlite_hub)


def serve_app(app: FastAPI) -> Iterator[str]:
    """Any app on a live uvicorn on loopback; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def raw_request(url: str, head: str, body: bytes) -> tuple[int, dict[str, Any]]:
    """Send a request head and part of a body on a socket; the status and JSON answer."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head.encode() + b"\r\n\r\n" + body)
        data = b""
        while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    status = int(data.split(b" ", 2)[1])
    return status, json.loads(data.split(b"\r\n\r\n", 1)[1])


# --- body sizes -------------------------------------------------------------------------------


def test_a_40_mb_prediction_is_refused_before_its_body_is_read(live_sqlite: LiveServer) -> None:
    psutil = pytest.importorskip("psutil")
    rss = psutil.Process().memory_info().rss  # the server runs in this process
    head = (
        f"POST {PREDICT} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {40 << 20}"
    )
    started = time.monotonic()
    status, problem = raw_request(live_sqlite.url, head, b'{"records": [')
    assert time.monotonic() - started < 5  # answered on the headers, not after 40 MB
    assert status == 413 and problem["code"] == "payload_too_large"
    assert "33,554,432 bytes" in problem["detail"]
    assert "MLHARBOR_MAX_JSON_BODY_BYTES" in problem["detail"]
    assert psutil.Process().memory_info().rss - rss < 16 << 20
    mlflow = head.replace(PREDICT, "/api/v1/models/iris/latest/invocations")
    status, error = raw_request(live_sqlite.url, mlflow, b"{")
    assert status == 413 and error["error_code"] == "BAD_REQUEST"
    assert "MLHARBOR_MAX_JSON_BODY_BYTES" in error["message"]


def test_a_streamed_body_over_the_limit_is_413_and_nothing_is_stored(
    small_limits: LiveServer,
) -> None:
    chunks = (b'{"name": "streamed", "records": [' + b'{"a": 1},' * 150_000 + b'{"a": 1}]}',)
    with small_limits.client() as api:
        # A generator: sent chunked, with no Content-Length to refuse on.
        r = api.post(
            "/api/v1/datasets/from-records",
            content=iter(chunks),
            headers={"content-type": "application/json"},
        )
        assert r.status_code == 413, r.text
        assert "1,048,576 bytes" in r.json()["detail"]
        assert api.get("/api/v1/datasets").json()["count"] == 0


def test_uploads_keep_their_own_limit(small_limits: LiveServer) -> None:
    csv = b"a,b\n" + b"1,2\n" * 400_000  # 1.6 MB: over the JSON limit, far under the upload one
    with small_limits.client() as api:
        up = api.post("/api/v1/datasets", files={"file": ("big.csv", csv, "text/csv")})
        assert up.status_code == 201, up.text
        big = api.post(PREDICT, content=csv, headers={"content-type": "text/csv"})
        assert big.status_code == 413 and "MLHARBOR_MAX_JSON_BODY_BYTES" in big.json()["detail"]


def test_the_upload_table_names_every_multipart_route(live_sqlite: LiveServer) -> None:
    with live_sqlite.client() as api:
        doc = api.get("/openapi.json").json()
    for path, operations in doc["paths"].items():
        concrete = re.sub(r"\{[^}]+\}", "x", path)
        for method, op in operations.items():
            multipart = "multipart/form-data" in op.get("requestBody", {}).get("content", {})
            assert is_upload(method.upper(), concrete) == multipart, (method, path)


def test_the_server_answers_while_a_big_body_parses(live_sqlite: LiveServer) -> None:
    body = records(150_000)  # about 13 MB: under the limit, parsed in a worker thread
    answers: list[float] = []
    done = threading.Event()

    def probe() -> None:
        with live_sqlite.client() as api:
            while not done.is_set():
                started = time.monotonic()
                assert api.get("/healthz").status_code == 200
                answers.append(time.monotonic() - started)
                time.sleep(0.01)

    prober = threading.Thread(target=probe)
    prober.start()
    try:
        with live_sqlite.client() as api:
            r = api.post(PREDICT, content=body, headers={"content-type": "application/json"})
    finally:
        done.set()
        prober.join()
    # The body was parsed (the row limit is 100,000), then refused: the route did its work.
    assert r.status_code == 413 and "MLHARBOR_MAX_PREDICT_ROWS" in r.json()["detail"]
    assert answers and max(answers) < 10


# --- JSON depth -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "ctype"),
    [
        (PREDICT, "application/json"),
        (PREDICT, "text/plain"),  # parsed as JSON by the route, not seen as JSON before it
        ("/api/v1/models/iris/latest/invocations", "application/json"),
        ("/api/v1/jobs", "application/json"),
        ("/api/v1/datasets/from-records", "application/json"),
        ("/api/v1/keys", None),  # FastAPI parses a body without a content type as JSON
        ("/api/v1/models/iris/aliases/champion", "application/vnd.api+json"),
    ],
)
def test_json_nested_10_000_deep_is_a_clear_4xx(
    live_sqlite: LiveServer, path: str, ctype: str | None
) -> None:
    headers = {"content-type": ctype} if ctype else {}
    method = "PUT" if "/aliases/" in path else "POST"
    with live_sqlite.client() as api:
        r = api.request(method, path, content=DEEP, headers=headers)
        assert r.status_code in (400, 422), r.text
        text = r.json().get("detail") or r.json().get("message")
        assert "nested deeper than 64 levels" in text
        assert api.get("/healthz").status_code == 200


def test_depth_up_to_the_limit_is_accepted(live_sqlite: LiveServer) -> None:
    nested = {"name": "deep", "records": [{"a": 1, "b": [[[[[[1]]]]]]}]}
    assert json_depth(json.dumps(nested)) < 64
    with live_sqlite.client() as api:
        r = api.post("/api/v1/datasets/from-records", json=nested)
    assert r.status_code != 422 or "nested deeper" not in r.text


def test_single_model_server_refuses_deep_json(sqlite_hub: Hub) -> None:
    train(sqlite_hub)
    for url in serve_app(create_model_app(sqlite_hub.settings, "iris", hub=sqlite_hub)):
        with httpx.Client(base_url=url, timeout=60) as api:
            r = api.post("/invocations", content=DEEP, headers={"content-type": "application/json"})
            assert r.status_code == 400 and "nested deeper than 64 levels" in r.json()["message"]
            assert r.json()["error_code"] == "BAD_REQUEST"
            ok = api.post("/invocations", content=records(2))
            assert ok.status_code == 200 and len(ok.json()["predictions"]) == 2


def test_websocket_answers_deep_json_and_stays_open(live_sqlite: LiveServer) -> None:
    url = live_sqlite.url.replace("http://", "ws://") + "/ws"
    with connect(url) as ws:
        for deep in (DEEP.decode(), '{"type": "predict", "records": ' + "[" * 10_000):
            ws.send(deep)
            reply = json.loads(ws.recv(timeout=30))
            assert reply["ok"] is False and reply["error"]["code"] == "invalid_input"
            assert "nested deeper than 64 levels" in reply["error"]["message"]
        ws.send(DEEP)  # a binary frame too
        assert "nested deeper" in json.loads(ws.recv(timeout=30))["error"]["message"]
        ws.send(json.dumps({"type": "nope", "id": 1}))
        after = json.loads(ws.recv(timeout=30))
        assert after["id"] == 1 and after["error"]["code"] == "unknown_type"


def test_websocket_messages_over_the_size_limit_are_answered(live_sqlite: LiveServer) -> None:
    live_sqlite.hub.settings.max_ws_message_bytes = 1000
    url = live_sqlite.url.replace("http://", "ws://") + "/ws"
    with connect(url) as ws:
        ws.send(json.dumps({"type": "file", "args": ["é" * 600]}))  # 600 characters, 1,200 bytes
        reply = json.loads(ws.recv(timeout=30))
        assert reply["error"]["code"] == "payload_too_large"
        assert "MLHARBOR_MAX_WS_MESSAGE_BYTES" in reply["error"]["message"]
        ws.send(json.dumps({"type": "subscribe", "job": 99999999999999999999999, "id": 2}))
        missing = json.loads(ws.recv(timeout=30))
        assert missing["id"] == 2 and missing["error"]["code"] == "not_found"


# --- integers in paths and queries --------------------------------------------------------------

#: A value that exists (or is harmless) for each path parameter, so that only the parameter
#: under test is out of range.
EXISTING = {"name": "iris", "alias": "champion", "job_id": "1", "key_id": "1", "version": "1"}


def integer_parameters(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any], str]]:
    """(method, path, parameter, where) for every path parameter and every integer query
    parameter in the OpenAPI document: a version may hide in a string path parameter."""
    for path, operations in doc["paths"].items():
        for method, op in operations.items():
            for param in op.get("parameters", []):
                schema = param.get("schema", {})
                types = {schema.get("type")} | {s.get("type") for s in schema.get("anyOf", [])}
                if param["in"] == "path" or types & {"integer", "number"}:
                    yield method.upper(), path, param, param["in"]


def fill(path: str, name: str, value: str) -> str:
    for param in [p.strip("{}") for p in path.split("/") if p.startswith("{")]:
        default = "iris" if param == "ref" and "/datasets" in path else EXISTING.get(param, "1")
        path = path.replace("{" + param + "}", value if param == name else default)
    return path


@pytest.mark.timeout(600)
def test_no_integer_past_its_column_is_a_server_error(live: LiveServer) -> None:
    live.hub.datasets.ingest_file(SAMPLES / "iris.csv")
    train(live.hub)
    failures = []
    with live.client() as api:
        doc = api.get("/openapi.json").json()
        cases = list(integer_parameters(doc))
        assert len(cases) > 40  # the walk found the routes
        for method, path, param, where in cases:
            for number in BIG_NUMBERS:
                url = fill(path, param["name"], number) if where == "path" else fill(path, "", "")
                query = {param["name"]: number} if where == "query" else {}
                body = {} if method in ("POST", "PUT", "PATCH") else None
                r = api.request(method, url, params=query, json=body)
                if r.status_code >= 500 or r.status_code not in (400, 404, 405, 409, 413, 422):
                    failures.append(f"{method} {url} {query}: {r.status_code} {r.text[:200]}")
                elif r.status_code == 422 and where == "query":
                    assert param["name"] in r.json()["detail"], r.text
        # What the walk cannot see: a version in a query string the UI reads, and bodies.
        for url in ("/ui/datasets/iris?version=2147483648", "/api/v1/jobs/1/events?after=-5e22"):
            r = api.get(url)
            if r.status_code >= 500:
                failures.append(f"GET {url}: {r.status_code}")
        train_job = {"dataset": "iris", "target": "variety", "dataset_version": 2**40}
        r = api.post("/api/v1/jobs", json={"kind": "train", "params": train_job})
        assert r.status_code == 422 and "dataset_version" in r.json()["detail"], r.text
    assert not failures, "\n".join(failures)


_TEXT = st.text(alphabet='ab[]{}"\\\\ \u00e9', max_size=6)
_JSON = st.recursive(
    st.none() | st.integers() | _TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=3),
    max_leaves=40,
)


def _depth(value: object) -> int:
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    return 0


@settings(max_examples=400, deadline=None)
@given(value=_JSON, limit=st.integers(0, 8))
def test_the_depth_check_counts_only_structure(value: object, limit: int) -> None:
    """Small bodies are measured by removing bracket pairs, big ones by the scan: both agree
    with the parsed value's depth, brackets, quotes and backslashes in strings aside."""
    text = json.dumps(value, ensure_ascii=False)
    deepest = _depth(value)
    assert json_depth(text) == deepest
    found = json_depth(text, stop=limit)
    assert (found > limit) == (deepest > limit)
    if deepest <= limit:
        assert found >= deepest
