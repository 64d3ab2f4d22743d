"""A full, read-only or forbidden artifact store is a named 503/507, never a bare OSError."""

from __future__ import annotations

import errno
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mlharbor.config import Settings
from mlharbor.errors import StorageFullError, StorageUnavailableError, storage_error
from mlharbor.hub import Hub
from mlharbor.store.artifacts import ArtifactStore
from tests.api.conftest import LiveServer, serve
from tests.store.tmpfs import fill, read_only, tmpfs

CSV = b"x,y\n" + b"".join(f"{i},{i % 2}\n".encode() for i in range(200))


@pytest.fixture
def mount(tmp_path: Path) -> Iterator[Path]:
    with tmpfs(tmp_path / "store") as path:
        yield path


@pytest.fixture
def live(tmp_path: Path, mount: Path) -> Iterator[LiveServer]:
    """A live server whose artifact store is the small tmpfs."""
    settings = Settings(data_dir=tmp_path / "data", artifact_uri=str(mount), workers=1)
    with Hub.open(settings) as hub:
        yield from serve(hub)


def test_a_full_store_names_itself_and_what_was_written(mount: Path) -> None:
    store = ArtifactStore(str(mount))
    fill(mount)
    with pytest.raises(StorageFullError) as caught:
        store.put_bytes("models/3/model.skops", b"x" * 100_000)
    error = caught.value
    assert (error.status, error.code, error.errno) == (507, "storage_unavailable", errno.ENOSPC)
    assert error.message == (
        f"the artifact store at {mount} is full (no space left on the device) while writing "
        "models/3/model.skops; free space or give it a bigger volume"
    )
    assert isinstance(error, OSError)  # library callers catching OSError still do
    assert not store.exists("models/3/model.skops")
    assert list((mount / ".tmp").iterdir()) == []  # no staged leftovers


def test_a_read_only_store_is_unavailable_for_writes_but_still_read(mount: Path) -> None:
    store = ArtifactStore(str(mount))
    store.put_bytes("a/kept", b"kept")
    read_only(mount)
    assert store.get_bytes("a/kept") == b"kept"
    with pytest.raises(StorageUnavailableError) as caught:
        store.put_bytes("a/new", b"new")
    assert caught.value.status == 503
    assert caught.value.details == {"reason": "read_only"}
    assert caught.value.message == (
        f"the artifact store at {mount} is read-only while writing a/new; mount it read-write"
    )


@pytest.mark.parametrize(
    ("code", "reason", "status"),
    [
        (errno.ENOSPC, "no_space", 507),
        (errno.EDQUOT, "quota_exceeded", 507),
        (errno.EROFS, "read_only", 503),
        (errno.EACCES, "permission_denied", 503),
        (errno.EPERM, "permission_denied", 503),
    ],
)
def test_storage_errors_are_classified_by_errno(code: int, reason: str, status: int) -> None:
    error = storage_error(OSError(code, "boom", "/srv/data/x"))
    assert error is not None
    assert (error.status, error.details["reason"]) == (status, reason)
    assert error.message.startswith("the storage at /srv/data/x ")


def test_other_errors_are_not_storage_errors() -> None:
    assert storage_error(OSError(errno.ECONNRESET, "reset")) is None
    assert storage_error(ValueError("no")) is None
    assert storage_error(StorageFullError("already classified")) is None


def test_an_upload_to_a_full_store_is_507_and_stores_nothing(live: LiveServer, mount: Path) -> None:
    fill(mount)
    with httpx.Client(base_url=live.url, timeout=60) as api:
        response = api.post("/api/v1/datasets", files={"file": ("prices.csv", CSV)})
        assert response.status_code == 507
        assert response.headers["content-type"] == "application/problem+json"
        body = response.json()
        assert (body["code"], body["reason"], body["title"]) == (
            "storage_unavailable",
            "no_space",
            "Insufficient storage",
        )
        assert body["detail"].startswith(
            f"the artifact store at {mount} is full (no space left on the device) while writing"
        )
        assert api.get("/api/v1/datasets").json()["count"] == 0


def test_an_upload_to_a_read_only_store_is_503_and_readyz_says_why(
    live: LiveServer, mount: Path
) -> None:
    read_only(mount)
    with httpx.Client(base_url=live.url, timeout=60) as api:
        response = api.post("/api/v1/datasets", files={"file": ("prices.csv", CSV)})
        assert response.status_code == 503
        body = response.json()
        assert (body["code"], body["reason"]) == ("storage_unavailable", "read_only")
        assert f"the artifact store at {mount} is read-only" in body["detail"]
        ready = api.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["artifacts"] == "error: read_only"


def test_a_full_data_folder_is_named_when_an_upload_is_received(tmp_path: Path) -> None:
    # Uploads are received into the data folder before the store sees them.
    with tmpfs(tmp_path / "data", size="4m") as data:
        settings = Settings(data_dir=data, artifact_uri=str(tmp_path / "artifacts"), workers=1)
        with Hub.open(settings) as hub:
            fill(data)
            for live in serve(hub):
                with httpx.Client(base_url=live.url, timeout=60) as api:
                    big = CSV * 20
                    response = api.post("/api/v1/datasets", files={"file": ("p.csv", big)})
                assert response.status_code == 507, response.text
                body = response.json()
                assert body["code"] == "storage_unavailable"
                assert body["detail"].startswith(f"the data folder at {data.resolve()} is full")


def test_a_database_on_a_full_disk_is_named(tmp_path: Path) -> None:
    import sqlite3

    with tmpfs(tmp_path / "db", size="64k") as folder:
        conn = sqlite3.connect(folder / "meta.db")
        conn.execute("CREATE TABLE t (x BLOB)")
        with pytest.raises(sqlite3.OperationalError) as caught:
            for _ in range(100):
                conn.execute("INSERT INTO t VALUES (?)", (b"x" * 4096,))
                conn.commit()
        conn.close()
    error = storage_error(caught.value, "the metadata database")
    assert error is not None and error.status == 507
    assert error.message.startswith("the metadata database is full")
