"""The artifact store's contract, on a local folder and on an S3 bucket (moto's server).

What callers rely on: a written key reads back whole and only whole (never a part, even while
it is being replaced), a damaged object is refused by name, listing and deletion work by
prefix and touch nothing beside it, downloads stream in bounded chunks, and S3 throttling is
retried instead of failing the request.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from mlharbor.errors import ConflictError, NotFoundError
from mlharbor.store.artifacts import CHUNK, ArtifactCorruptError, ArtifactStore
from tests.s3server import S3Server


def _boto(store: ArtifactStore):  # type: ignore[no-untyped-def]
    import boto3

    return boto3.client("s3", endpoint_url=store.fs.client_kwargs["endpoint_url"])


def _bucket(store: ArtifactStore) -> str:
    return store.root.split("/", 1)[0]


def raw_keys(store: ArtifactStore) -> list[str]:
    """Every object the backend holds, looked at without the store (staging included)."""
    if store.is_local:
        root = Path(store.root)
        return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    listed = _boto(store).list_objects_v2(Bucket=_bucket(store))
    return sorted(o["Key"] for o in listed.get("Contents", []))


def damage(store: ArtifactStore, key: str, data: bytes) -> None:
    """Change an object's bytes behind the store's back, keeping what was recorded with it."""
    if store.is_local:
        path = store.local_path(key)
        assert path is not None
        with open(path, "r+b") as fh:  # same file: its recorded hash stays
            fh.write(data)
            fh.truncate()
        return
    client, bucket = _boto(store), _bucket(store)
    name = f"{store.root.split('/', 1)[1]}/{key}"
    meta = client.head_object(Bucket=bucket, Key=name)["Metadata"]
    client.put_object(Bucket=bucket, Key=name, Body=data, Metadata=meta)


def test_a_written_key_reads_back_whole_with_its_hash(store: ArtifactStore) -> None:
    data = b"model bytes " * 1000
    stored = store.put_bytes("models/7/model.skops", data)
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert stored.size == len(data)
    assert store.exists("models/7/model.skops")
    assert store.get_bytes("models/7/model.skops") == data
    assert store.recorded_sha256("models/7/model.skops") == stored.sha256
    with store.open("models/7/model.skops") as fh:
        assert fh.read() == data
    # Nothing else was left behind: no temporary key beside it, no staged file.
    prefix = "" if store.is_local else f"{store.root.split('/', 1)[1]}/"
    assert raw_keys(store) == [f"{prefix}models/7/model.skops"]


def test_a_staged_file_is_committed_under_its_key_only(store: ArtifactStore) -> None:
    with store.staging(".parquet") as staged:
        staged.write_bytes(b"PAR1" + bytes(range(256)) * 100)
        stored = store.commit("datasets/churn/abc.parquet", staged)
    assert not staged.exists()
    assert store.get_bytes(stored.key)[:4] == b"PAR1"
    assert store.list("datasets") == ["datasets/churn/abc.parquet"]


def test_an_uncommitted_stage_leaves_nothing(store: ArtifactStore) -> None:
    with pytest.raises(RuntimeError), store.staging() as staged:
        staged.write_bytes(b"half")
        raise RuntimeError("the build failed")
    assert not staged.exists()
    assert raw_keys(store) == []


def test_a_missing_key_is_not_found_by_every_reader(store: ArtifactStore) -> None:
    for read in (store.get_bytes, store.open, lambda k: list(store.iter_chunks(k))):
        with pytest.raises(NotFoundError, match=r"artifact 'models/1/none' is missing"):
            read("models/1/none")
    assert not store.exists("models/1/none")


def test_a_damaged_object_is_refused_by_name(store: ArtifactStore) -> None:
    store.put_bytes("insights/3/profile.json", b'{"rows": 100}')
    damage(store, "insights/3/profile.json", b'{"rows": 999}')
    with pytest.raises(ArtifactCorruptError) as caught:
        store.get_bytes("insights/3/profile.json")
    assert isinstance(caught.value, ConflictError)  # a 409 problem, never a 500
    assert "insights/3/profile.json" in str(caught.value)
    assert "does not match its recorded hash" in str(caught.value)
    assert "changed or damaged in the store" in str(caught.value)


def test_a_hash_from_the_database_wins_over_the_recorded_one(store: ArtifactStore) -> None:
    stored = store.put_bytes("models/2/model.skops", b"v1")
    assert store.get_bytes("models/2/model.skops", stored.sha256) == b"v1"
    with pytest.raises(ArtifactCorruptError, match="does not match its recorded hash"):
        store.get_bytes("models/2/model.skops", hashlib.sha256(b"other").hexdigest())


def test_a_download_streams_in_bounded_chunks_and_is_checked(store: ArtifactStore) -> None:
    data = bytes(range(256)) * (12 * CHUNK // 256 + 7)  # 12 MiB and a bit
    store.put_bytes("datasets/big/x.parquet", data)
    chunks = list(store.iter_chunks("datasets/big/x.parquet"))
    assert b"".join(chunks) == data
    assert max(len(c) for c in chunks) <= CHUNK
    assert len(chunks) >= 13

    damage(store, "datasets/big/x.parquet", b"\0" * 10 + data[10:])
    got = []
    with pytest.raises(ArtifactCorruptError):
        got.extend(store.iter_chunks("datasets/big/x.parquet"))
    # The stream stops before its last chunk: a client never receives a complete-looking file.
    assert 0 < sum(map(len, got)) < len(data)


def test_listing_and_deleting_by_prefix_touch_only_that_prefix(store: ArtifactStore) -> None:
    for key in ("predlog/churn/1.parquet", "predlog/churn/d/2.parquet", "predlog/churner/3"):
        store.put_bytes(key, b"x")
    store.put_bytes("predlog/churn.txt", b"x")
    assert store.list("predlog/churn") == ["predlog/churn/1.parquet", "predlog/churn/d/2.parquet"]
    assert store.list("predlog/nobody") == []
    assert store.list("predlog/churn/1.parquet") == []  # a file is not a folder

    store.delete_prefix("predlog/churn")
    assert store.list("predlog/churn") == []
    assert store.list("predlog") == ["predlog/churn.txt", "predlog/churner/3"]
    store.delete_prefix("predlog/churn")  # again: nothing there, no error
    store.delete("predlog/churn.txt")
    store.delete("predlog/churn.txt")
    assert store.list("predlog") == ["predlog/churner/3"]


def test_a_reader_never_sees_part_of_an_object_being_replaced(store: ArtifactStore) -> None:
    versions = [bytes([n]) * (3 * CHUNK) for n in range(4)]
    store.put_bytes("models/9/model.skops", versions[0])
    done = threading.Event()

    def writer() -> None:
        for n in range(1, 4):
            store.put_bytes("models/9/model.skops", versions[n])
        done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    reads = 0
    while not done.is_set() or reads < 3:
        assert store.get_bytes("models/9/model.skops") in versions  # whole, and hash-checked
        reads += 1
    thread.join()
    assert store.get_bytes("models/9/model.skops") == versions[3]


def test_keys_cannot_leave_the_store(store: ArtifactStore) -> None:
    for key in ("../x", "a/../../x", "/etc/passwd", ".tmp/x", "a//b"):
        with pytest.raises(ValueError, match="invalid artifact key"):
            store.put_bytes(key, b"x")


class _Throttling(BaseHTTPRequestHandler):
    """A loopback proxy in front of moto that answers the first requests 503 SlowDown."""

    protocol_version = "HTTP/1.1"  # answers "Expect: 100-continue" as S3 does
    upstream = ""
    throttle = 0
    throttled = 0

    def _any(self) -> None:
        cls = type(self)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if cls.throttled < cls.throttle:
            cls.throttled += 1
            reply = b"<Error><Code>SlowDown</Code><Message>Reduce your rate</Message></Error>"
            self.send_response(503)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
        answer = httpx.request(
            self.command, cls.upstream + self.path, headers=headers, content=body, timeout=30
        )
        self.send_response(answer.status_code)
        for name, value in answer.headers.items():
            if name.lower() not in ("transfer-encoding", "content-encoding", "content-length"):
                self.send_header(name, value)
        length = answer.headers.get("content-length") if self.command == "HEAD" else None
        self.send_header("Content-Length", length or str(len(answer.content)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(answer.content)

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _any

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def throttling(s3_server: S3Server, s3_credentials: None) -> Iterator[type[_Throttling]]:
    handler = type("Throttling", (_Throttling,), {"upstream": s3_server.endpoint})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    handler.url = f"http://127.0.0.1:{server.server_address[1]}"  # type: ignore[attr-defined]
    yield handler
    server.shutdown()
    server.server_close()


def test_s3_throttling_is_retried_not_failed(
    s3_server: S3Server, throttling: type[_Throttling]
) -> None:
    bucket = s3_server.create_bucket("throttled-bucket")
    store = ArtifactStore(f"s3://{bucket}/root", endpoint_url=throttling.url)  # type: ignore[attr-defined]
    throttling.throttle = 2
    stored = store.put_bytes("models/1/model.skops", b"through the throttle")
    assert throttling.throttled == 2  # it was refused twice, and went through
    throttling.throttle = 4
    assert store.get_bytes("models/1/model.skops", stored.sha256) == b"through the throttle"
    assert throttling.throttled == 4
