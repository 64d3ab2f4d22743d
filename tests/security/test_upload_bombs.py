"""Hostile and awkward uploads against a live server: bombs, deep JSON, odd CSV, bad types.

Each refusal is a problem+json 4xx that names the limit or the line, comes back quickly, and
leaves nothing behind: no dataset, no Parquet file, no staged upload.
"""

from __future__ import annotations

import bz2
import gzip
import io
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mlharbor.config import Settings
from mlharbor.hub import Hub

from ..api.conftest import LiveServer, serve
from ..api.test_datasets_api import assert_nothing_stored, upload

UPLOAD_LIMIT = 8 << 20  # so the default decompressed limit is 160 MiB


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveServer]:
    settings = Settings(data_dir=tmp_path / "data", workers=1, max_upload_bytes=UPLOAD_LIMIT)
    with Hub.open(settings) as hub:
        yield from serve(hub)


@pytest.fixture
def api(live: LiveServer) -> Iterator[httpx.Client]:
    with live.client() as client:
        yield client


def gzip_bomb(size: int) -> bytes:
    """A CSV that gzips to a few MB and inflates to ``size`` bytes (repeated gzip members)."""
    block = b"1,2,3,4,5,6,7,8\n" * (1 << 20)  # 16 MiB
    member = gzip.compress(block, compresslevel=9)
    out = io.BytesIO()
    out.write(gzip.compress(b"a,b,c,d,e,f,g,h\n"))
    for _ in range(size // len(block)):
        out.write(member)
    return out.getvalue()


def refused(r: httpx.Response, status: int, *words: str) -> dict[str, object]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    for word in words:
        assert word in body["detail"], body["detail"]
    return body


def test_gzip_bomb_upload_is_413_quickly_and_stores_nothing(live: LiveServer) -> None:
    bomb = gzip_bomb(2 << 30)  # 2 GiB inflated
    assert 1_000_000 < len(bomb) < UPLOAD_LIMIT
    with live.client() as api:
        start = time.monotonic()
        r = upload(api, "sales.csv.gz", bomb)
        elapsed = time.monotonic() - start
    refused(r, 413, f"{20 * UPLOAD_LIMIT:,} bytes", "MLHARBOR_MAX_DECOMPRESSED_BYTES")
    assert elapsed < 30, f"the bomb took {elapsed:.1f} s to refuse"
    assert_nothing_stored(live.hub)


def test_row_limit_is_413_naming_the_setting(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "d", workers=1, max_rows=1000)
    with Hub.open(settings) as hub:
        for live in serve(hub):
            with live.client() as api:
                body = "a,b\n" + "1,2\n" * 1001
                refused(upload(api, "rows.csv.gz", gzip.compress(body.encode())), 413)
                r = upload(api, "rows.csv", body)
                refused(r, 413, "more than 1,000 rows", "MLHARBOR_MAX_ROWS")
                ok = upload(api, "rows.csv", "a,b\n" + "1,2\n" * 1000)
                assert ok.status_code == 201
                hub.datasets.delete("rows")
            assert_nothing_stored(hub)


def test_xlsx_zip_bomb_is_413(live: LiveServer) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        for i in range(2):
            archive.writestr(f"xl/worksheets/sheet{i}.xml", b" " * (100 << 20))
    with live.client() as api:
        r = upload(api, "book.xlsx", buf.getvalue())
    refused(r, 413, "MLHARBOR_MAX_DECOMPRESSED_BYTES")
    assert_nothing_stored(live.hub)


def test_bzip2_is_refused_as_unsupported(live: LiveServer) -> None:
    with live.client() as api:
        r = upload(api, "data.csv.bz2", bz2.compress(b"a,b\n" + b"1,2\n" * 10_000))
    refused(r, 415)
    assert_nothing_stored(live.hub)


@pytest.mark.parametrize("name", ["deep.json", "deep.jsonl"])
def test_deep_json_is_422_with_the_line_quickly(live: LiveServer, name: str) -> None:
    deep = '{"a":' * 10_000 + "1" + "}" * 10_000
    body = f'[{{"a": 1}},\n{deep}]' if name == "deep.json" else f'{{"a": 1}}\n{deep}\n'
    with live.client() as api:
        start = time.monotonic()
        r = upload(api, name, body)
        assert time.monotonic() - start < 5
    refused(r, 422, "nested deeper than 64 levels (line 2)")
    assert_nothing_stored(live.hub)


def test_duplicate_column_names_are_renamed_with_a_warning(api: httpx.Client) -> None:
    r = upload(api, "dupes.csv", "a,b,a\n1,2,3\n4,5,6\n")
    assert r.status_code == 201, r.text
    body = r.json()
    assert [c["name"] for c in body["columns"]] == ["a", "b", "a.1"]
    assert any(n.startswith("warning: duplicate column names") for n in body["notes"])
    preview = api.get("/api/v1/datasets/dupes/preview").json()
    assert preview["rows"][0] == {"a": 1, "b": 2, "a.1": 3}


def test_unclosed_quote_is_422_naming_its_line(live: LiveServer) -> None:
    text = 'id,comment\n1,fine\n2,"never closed\n3,swallowed\n4,too\n'
    with live.client() as api:
        r = upload(api, "quotes.csv", text)
    body = refused(r, 422, "line 3", "never closed")
    assert body["line"] == 3
    assert_nothing_stored(live.hub)


def test_a_5000_column_csv_keeps_every_column(api: httpx.Client) -> None:
    names = [f"sensor_reading_{i:05d}" for i in range(5000)]
    rows = "".join(",".join(str((r + i) % 7) for i in range(5000)) + "\n" for r in range(4))
    r = upload(api, "wide.csv", ",".join(names) + "\n" + rows)
    assert r.status_code == 201, r.text
    assert r.json()["n_columns"] == 5000
    assert [c["name"] for c in r.json()["columns"]] == names


def test_schema_override_the_data_cannot_satisfy_is_422(api: httpx.Client) -> None:
    text = "note,amount,flag,when\n" + "".join(
        f"free text {i},{i}.5,{'yes' if i % 2 else 'no'},2024-01-{1 + i % 28:02d}\n"
        for i in range(30)
    )
    assert upload(api, "o.csv", text).status_code == 201
    url = "/api/v1/datasets/o/versions/1/schema"
    r = api.patch(url, json={"columns": {"note": {"semantic_type": "numeric"}}})
    body = refused(r, 422, "'note'", "30 value(s) are not numbers", "'free text 0'")
    assert body["column"] == "note" and body["n_invalid"] == 30
    for semantic in ("boolean", "datetime"):
        r = api.patch(url, json={"columns": {"note": {"semantic_type": semantic}}})
        refused(r, 422, "'note'", f"cannot be {semantic}")
    # Nothing was changed by the refused requests.
    cols = {c["name"]: c for c in api.get("/api/v1/datasets/o/versions/1").json()["columns"]}
    assert not cols["note"]["overridden"]
    # Types the values do take are accepted.
    ok = api.patch(
        url,
        json={
            "columns": {
                "amount": {"semantic_type": "numeric"},
                "flag": {"semantic_type": "boolean"},
                "when": {"semantic_type": "datetime"},
                "note": {"semantic_type": "categorical"},
            }
        },
    )
    assert ok.status_code == 200, ok.text
