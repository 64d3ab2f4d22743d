"""The datasets REST API, end to end over a real server."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pandas as pd
import pyarrow.parquet as pq
import pytest
from sqlalchemy import select

from mlharbor.config import Settings
from mlharbor.hub import Hub
from mlharbor.store.db import transaction
from mlharbor.store.orm import ModelVersion, RegisteredModel

from ..data.factories import TITANIC_LIKE, frame
from .conftest import LiveServer, serve


def upload(api: httpx.Client, filename: str, content: bytes | str, **form: str) -> httpx.Response:
    data = content.encode() if isinstance(content, str) else content
    return api.post("/api/v1/datasets", files={"file": (filename, data)}, data=form)


def assert_nothing_stored(hub: Hub) -> None:
    rows, total = hub.datasets.list()
    assert total == 0 and rows == []
    root = Path(hub.settings.resolved_artifact_uri())
    assert not list(root.rglob("*.parquet")), "a partial dataset file was left behind"
    assert not list((root / ".tmp").iterdir())
    staging = hub.settings.data_dir / "uploads"
    assert not staging.exists() or not list(staging.iterdir())


def test_upload_titanic_gives_a_versioned_dataset_with_a_schema(api: httpx.Client) -> None:
    r = upload(api, "titanic.csv", TITANIC_LIKE)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["dataset"] == "titanic" and body["version"] == 1 and body["created"]
    assert body["n_rows"] == 120 and body["n_columns"] == 8
    types = {c["name"]: c["semantic_type"] for c in body["columns"]}
    assert types["PassengerId"] == "identifier"
    assert types["Survived"] == "boolean"
    assert types["Pclass"] == "integer_categorical"
    assert types["Sex"] == "categorical"
    assert types["Name"] == "text"
    assert types["Fare"] == "numeric"
    assert len(body["content_hash"]) == 64


def test_same_content_twice_is_one_version_and_new_content_is_the_next(api: httpx.Client) -> None:
    first = upload(api, "d.csv", "a,b\n1,2\n3,4\n", name="sales")
    again = upload(api, "other-name.csv", "a,b\n1,2\n3,4\n", name="sales")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["version"] == 1 and again.json()["created"] is False
    changed = upload(api, "d.csv", "a,b\n1,2\n3,5\n", name="sales")
    assert changed.status_code == 201 and changed.json()["version"] == 2
    listing = api.get("/api/v1/datasets").json()
    assert listing["count"] == 1
    assert [v["version"] for v in listing["data"][0]["versions"]] == [1, 2]


@pytest.mark.parametrize(
    ("name", "content", "status", "words"),
    [
        ("empty.csv", b"", 422, "empty"),
        ("header.csv", b"a,b,c\n", 422, "no data rows"),
        ("garbage.bin", bytes(range(256)) * 4, 415, "not supported"),
        ("photo.csv", b"\x89PNG\r\n\x1a\n" + bytes(64), 415, "PNG image"),
        ("ragged.csv", b"a,b\n1,2\n3\n", 422, "line 3 has 1 fields"),
        ("quote.csv", b'x,y\n1,"open\n2,3\n', 422, "line 2 opens a quoted value"),
        ("notes.docx", b"PK\x03\x04" + bytes(64), 415, "ZIP archive"),
    ],
)
def test_bad_uploads_get_a_clear_4xx_and_store_nothing(
    live: LiveServer, name: str, content: bytes, status: int, words: str
) -> None:
    with live.client() as api:
        r = upload(api, name, content)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert words.lower() in r.json()["detail"].lower()
    assert_nothing_stored(live.hub)


def test_upload_over_the_limit_is_413_and_stores_nothing(tmp_path: Path) -> None:
    from mlharbor.config import Settings

    settings = Settings(
        data_dir=tmp_path / "d", max_upload_bytes=10_000, max_json_body_bytes=10_000
    )
    with Hub.open(settings) as hub:
        for live in serve(hub):
            with live.client() as api:
                r = upload(api, "big.csv", "a,b\n" + "1,2\n" * 10_000)
                assert r.status_code == 413
                assert "limit" in r.json()["detail"]
                # A streamed body with no declared length is cut off too.
                chunks = (b"[" + b'{"a": 1},' * 1000 for _ in range(400))
                r = api.post(
                    "/api/v1/datasets/from-records",
                    content=chunks,
                    headers={"content-type": "application/json"},
                )
                assert r.status_code == 413
            assert_nothing_stored(hub)


@pytest.fixture
def private_ok(settings: Settings) -> Iterator[LiveServer]:
    """A live server allowed to fetch URLs on loopback (``MLHARBOR_URL_ALLOW_PRIVATE``):
    the test servers here listen on 127.0.0.1, which is refused by default."""
    with Hub.open(settings.model_copy(update={"url_allow_private": True})) as hub:
        yield from serve(hub)


def test_url_ingest_from_a_real_http_server(private_ok: LiveServer) -> None:
    payload = frame().to_csv(index=False).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path != "/exports/customers.csv":
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/csv")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        api = private_ok.client()
        r = api.post("/api/v1/datasets/from-url", json={"url": f"{base}/exports/customers.csv"})
        assert r.status_code == 201, r.text
        assert r.json()["dataset"] == "customers" and r.json()["n_rows"] == 50
        assert r.json()["source"].startswith("url:http://127.0.0.1")
        missing = api.post("/api/v1/datasets/from-url", json={"url": f"{base}/nope.csv"})
        assert missing.status_code == 422 and "404" in missing.json()["detail"]
        unreachable = api.post("/api/v1/datasets/from-url", json={"url": "http://127.0.0.1:9/x"})
        assert unreachable.status_code == 422
        assert "could not reach" in unreachable.json()["detail"]
    finally:
        api.close()
        server.shutdown()


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("file:///etc/passwd", "only http and https"),
        ("ftp://example.com/x.csv", "only http and https"),
        ("/etc/passwd", "only http and https"),
        ("http://127.0.0.1:9/unreachable.csv", "127.0.0.1, a loopback address"),
    ],
)
def test_bad_urls_are_refused(live: LiveServer, url: str, words: str) -> None:
    with live.client() as api:
        r = api.post("/api/v1/datasets/from-url", json={"url": url, "name": "x"})
    assert r.status_code == 422, r.text
    assert words in r.json()["detail"]
    assert_nothing_stored(live.hub)


def test_records_ingest_and_preview_are_typed_json(api: httpx.Client) -> None:
    records = [
        {"when": "2024-05-01", "amount": 12.5, "ok": True, "note": None},
        {"when": "2024-05-02", "amount": float("nan"), "ok": False, "note": "late"},
    ]
    body = json.dumps({"name": "payments", "records": records}).replace("NaN", "null")
    r = api.post(
        "/api/v1/datasets/from-records", content=body, headers={"content-type": "application/json"}
    )
    assert r.status_code == 201, r.text
    preview = api.get("/api/v1/datasets/payments/preview", params={"rows": 5}).json()
    assert preview["columns"] == ["when", "amount", "ok", "note"]
    assert preview["rows"][0] == {"when": "2024-05-01", "amount": 12.5, "ok": True, "note": None}
    assert preview["rows"][1]["amount"] is None
    bad = api.post("/api/v1/datasets/from-records", json={"name": "p", "records": []})
    assert bad.status_code == 422 and "no records" in bad.json()["detail"]


def test_download_round_trips_as_parquet_and_csv(api: httpx.Client) -> None:
    df = frame()
    upload(api, "people.csv", df.to_csv(index=False))
    parquet = api.get("/api/v1/datasets/people/download")
    assert parquet.status_code == 200
    table = pq.read_table(io.BytesIO(parquet.content))
    assert table.num_rows == 50 and table.column_names == list(df.columns)
    csv = api.get("/api/v1/datasets/people/download", params={"format": "csv"})
    back = pd.read_csv(io.StringIO(csv.text))
    pd.testing.assert_frame_equal(back, df, check_dtype=False)


def test_get_unknown_dataset_or_version_names_it(api: httpx.Client) -> None:
    r = api.get("/api/v1/datasets/nothing-here")
    assert r.status_code == 404 and "'nothing-here'" in r.json()["detail"]
    upload(api, "x.csv", "a\n1\n2\n")
    r = api.get("/api/v1/datasets/x/versions/7")
    assert r.status_code == 404 and "versions are: 1" in r.json()["detail"]


def test_schema_override_changes_type_and_role(api: httpx.Client) -> None:
    upload(api, "t.csv", TITANIC_LIKE)
    r = api.patch(
        "/api/v1/datasets/t/versions/1/schema",
        json={"columns": {"Pclass": {"semantic_type": "numeric"}, "Name": {"role": "ignore"}}},
    )
    assert r.status_code == 200, r.text
    cols = {c["name"]: c for c in r.json()["columns"]}
    assert cols["Pclass"]["semantic_type"] == "numeric" and cols["Pclass"]["overridden"]
    assert cols["Name"]["role"] == "ignore"
    again = api.get("/api/v1/datasets/t/versions/1").json()
    assert {c["name"]: c["role"] for c in again["columns"]}["Name"] == "ignore"
    bad = api.patch(
        "/api/v1/datasets/t/versions/1/schema", json={"columns": {"Nope": {"role": "ignore"}}}
    )
    assert bad.status_code == 404 and "'Nope'" in bad.json()["detail"]
    bad = api.patch(
        "/api/v1/datasets/t/versions/1/schema",
        json={"columns": {"Age": {"semantic_type": "colour"}}},
    )
    assert bad.status_code == 422 and "semantic_type" in bad.json()["detail"]


def test_delete_is_refused_while_a_model_uses_the_dataset(live: LiveServer) -> None:
    hub = live.hub
    with live.client() as api:
        upload(api, "train.csv", TITANIC_LIKE)
        version = hub.datasets.get_version("train")
        with transaction(hub.sessions) as session:
            model = RegisteredModel(name="survival")
            session.add(model)
            session.flush()
            session.add(
                ModelVersion(
                    model_id=model.id,
                    version=1,
                    dataset_version_id=version.id,
                    task="binary",
                    target="Survived",
                    estimator="random_forest",
                    params={},
                    metrics={},
                    artifacts={},
                    signature={},
                    lineage={},
                    artifact_key="models/x",
                    content_hash="0",
                )
            )
        r = api.delete("/api/v1/datasets/train")
        assert r.status_code == 409 and "survival v1" in r.json()["detail"]
        with transaction(hub.sessions) as session:
            session.delete(session.scalar(select(RegisteredModel)))
        assert api.delete("/api/v1/datasets/train").status_code == 204
        assert api.get("/api/v1/datasets/train").status_code == 404
    assert_nothing_stored(hub)


def test_a_restarted_hub_has_every_dataset(sqlite_settings) -> None:  # type: ignore[no-untyped-def]
    with Hub.open(sqlite_settings) as hub:
        for live in serve(hub):
            with live.client() as api:
                upload(api, "kept.csv", TITANIC_LIKE)
    with Hub.open(sqlite_settings) as hub:
        v = hub.datasets.get_version("kept")
        assert v.n_rows == 120
        assert hub.datasets.read_table(v).num_rows == 120


def test_health_readiness_and_docs(api: httpx.Client) -> None:
    assert api.get("/healthz").json() == {"status": "ok", "checks": {}}
    ready = api.get("/readyz").json()
    assert ready["status"] == "ok" and ready["checks"] == {"database": "ok", "artifacts": "ok"}
    spec = api.get("/openapi.json").json()
    assert "/api/v1/datasets" in spec["paths"]
    assert api.get("/docs").status_code == 200


def test_validation_errors_are_problem_json(api: httpx.Client) -> None:
    r = api.get("/api/v1/datasets", params={"limit": 0})
    assert r.status_code == 422
    assert r.json()["code"] == "invalid_input" and "limit" in r.json()["detail"]
    assert r.headers["x-request-id"]


def test_insights_are_computed_once_and_cached(live: LiveServer) -> None:
    with live.client() as api:
        upload(api, "titanic.csv", TITANIC_LIKE)
        first = api.get("/api/v1/datasets/titanic/insights", params={"target": "Survived"})
        assert first.status_code == 200, first.text
        body = first.json()
        assert body["table"]["n_rows"] == 120
        assert body["target"]["task"] == "binary"
        flagged = {w["column"] for w in body["warnings"] if w["kind"] == "identifier"}
        assert "PassengerId" in flagged
        again = api.get("/api/v1/datasets/titanic/insights", params={"target": "Survived"})
        assert again.json() == body  # served from the cache, timing included
        assert len(list(Path(live.hub.settings.resolved_artifact_uri()).rglob("*.json"))) == 1
        report = api.get(
            "/api/v1/datasets/titanic/insights/report",
            params={"target": "Survived", "download": "true"},
        )
        assert report.headers["content-type"].startswith("text/html")
        assert "attachment" in report.headers["content-disposition"]
        assert "PassengerId" in report.text and "http://" not in report.text
        bad = api.get("/api/v1/datasets/titanic/insights", params={"target": "Nope"})
        assert bad.status_code == 404 and "'Nope'" in bad.json()["detail"]
        # A type override invalidates the cache.
        api.patch(
            "/api/v1/datasets/titanic/versions/1/schema",
            json={"columns": {"PassengerId": {"semantic_type": "numeric"}}},
        )
        fresh = api.get("/api/v1/datasets/titanic/insights", params={"target": "Survived"}).json()
        assert "PassengerId" not in {
            w["column"] for w in fresh["warnings"] if w["kind"] == "identifier"
        }
