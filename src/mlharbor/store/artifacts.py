"""Artifact storage over fsspec: a local folder by default, any fsspec URL by setting.

Every write is atomic and content-hashed (SHA-256): on a folder the file is written under a
temporary name and renamed into place; on S3 it is one PUT (or one multipart upload, aborted
on failure), and S3 makes an object readable only once its upload is complete, so a reader
never sees part of a file. The hash is recorded with the object (S3 user metadata
``sha256``; on a folder the ``user.sha256`` extended attribute where the file system has
them) and whole-object reads check it, raising :class:`ArtifactCorruptError` on a mismatch.
Keys are made by mlharbor, never taken from a request, and are checked so that no key can
leave the store's root. A store that is full, read-only or not writable raises
:class:`~mlharbor.errors.StorageUnavailableError` naming the store and what was being done,
never a bare ``OSError``. On S3, throttling (``SlowDown``, 503) is retried by botocore's
adaptive mode, and listings are never cached, since other processes write the same bucket.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import fsspec
from fsspec.asyn import sync
from fsspec.implementations.local import LocalFileSystem

from mlharbor.errors import ConflictError, NotFoundError, storage_error

_KEY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*(/[A-Za-z0-9_][A-Za-z0-9_.\-]*)*$")
CHUNK = 1 << 20
#: Read-ahead of a streamed download: memory per download stays at about this.
STREAM_BLOCK = 8 << 20
#: botocore's retries for S3: adaptive mode backs off on throttling (SlowDown, 503).
S3_RETRIES = {"max_attempts": 5, "mode": "adaptive"}
_XATTR = "user.sha256"


class ArtifactCorruptError(ConflictError):
    """A stored object's content does not match the SHA-256 recorded when it was written."""

    code = "artifact_corrupt"


@dataclass(frozen=True)
class StoredArtifact:
    """Where an artifact was stored, its SHA-256 and its size in bytes."""

    key: str
    sha256: str
    size: int


def check_key(key: str) -> str:
    """Return ``key`` if it is a safe relative key, else raise ``ValueError``."""
    if not _KEY.match(key) or ".." in key.split("/"):
        raise ValueError(f"invalid artifact key {key!r}")
    return key


def store_options(uri: str, endpoint_url: str | None = None) -> dict[str, object]:
    """fsspec options for ``uri``: for S3, the endpoint (MinIO, moto), retries and no
    listing cache (another process may have written a key since a listing was made)."""
    if not uri.startswith(("s3://", "s3a://")):
        return {}
    options: dict[str, object] = {
        "config_kwargs": {"retries": dict(S3_RETRIES)},
        "use_listings_cache": False,
    }
    if endpoint_url:
        options["client_kwargs"] = {"endpoint_url": endpoint_url}
    return options


def hash_file(path: str | os.PathLike[str]) -> tuple[str, int]:
    """SHA-256 hex digest and size of a local file, read in chunks."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


class ArtifactStore:
    """Content-hashed, atomically written files under one root URL.

    Parameters
    ----------
    uri : str
        A folder or an fsspec URL (``s3://bucket/prefix``).
    endpoint_url : str, optional
        The S3-compatible endpoint (MinIO, moto); default: AWS, or ``AWS_ENDPOINT_URL``.
    """

    def __init__(self, uri: str, *, endpoint_url: str | None = None) -> None:
        self.fs, root = fsspec.core.url_to_fs(uri, **store_options(uri, endpoint_url))
        self.root = root.rstrip("/")
        self.is_local = isinstance(self.fs, LocalFileSystem)
        protocol = self.fs.protocol if isinstance(self.fs.protocol, str) else self.fs.protocol[0]
        self.is_s3 = protocol in ("s3", "s3a")
        # How errors name the store; no user:password@ part of a URL goes into a message.
        shown = self.root if self.is_local else f"{protocol}://{self.root.split('@')[-1]}"
        self.where = f"the artifact store at {shown}"
        if self.is_local:
            with self._classified("creating its folder"):
                Path(self.root, ".tmp").mkdir(parents=True, exist_ok=True)

    @contextmanager
    def _classified(self, doing: str) -> Iterator[None]:
        """Turn a full, read-only or forbidden disk into a ``StorageUnavailableError``."""
        try:
            yield
        except OSError as exc:
            # An error about a file elsewhere (the upload being read) names that file.
            named = exc.filename is None or str(exc.filename).startswith(self.root)
            error = storage_error(exc, self.where if named else None, doing)
            if error is None:
                raise
            raise error from exc

    def _path(self, key: str) -> str:
        return f"{self.root}/{check_key(key)}"

    def local_path(self, key: str) -> Path | None:
        """The file's path on this machine when the store is local, else ``None``."""
        return Path(self._path(key)) if self.is_local else None

    @contextmanager
    def staging(self, suffix: str = "", *, what: str = "a new file") -> Iterator[Path]:
        """A temporary local path for building a file that :meth:`commit` then moves in.

        On a local store the path is inside the store's root, so committing is a rename; on
        a remote store it is in the system's temporary folder.
        The path is removed if it was not committed.
        """
        base = Path(self.root, ".tmp") if self.is_local else None
        with self._classified(f"writing {what}"):
            fd, name = tempfile.mkstemp(prefix="stage-", suffix=suffix, dir=base)
            os.close(fd)
            path = Path(name)
            try:
                yield path
            finally:
                path.unlink(missing_ok=True)

    def commit(self, key: str, staged: Path, sha256: str | None = None) -> StoredArtifact:
        """Move a staged local file to ``key`` atomically, hashing it unless given the hash."""
        with self._classified(f"writing {key}"):
            return self._commit(key, staged, sha256)

    def _commit(self, key: str, staged: Path, sha256: str | None) -> StoredArtifact:
        target = self._path(key)
        if sha256 is None:
            sha256, size = hash_file(staged)
        else:
            size = staged.stat().st_size
        if self.is_local:
            Path(target).parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(OSError):  # a file system without user xattrs
                os.setxattr(staged, _XATTR, sha256.encode())
            with open(staged, "rb") as fh:
                os.fsync(fh.fileno())
            os.replace(staged, target)
        elif self.is_s3:
            # One PUT, or a multipart upload that s3fs aborts on failure: either way the key
            # is readable only once the whole object is there, so no temporary key or copy.
            self.fs.put_file(str(staged), target, Metadata={"sha256": sha256})
        else:
            temp = f"{target}.tmp-{uuid.uuid4().hex}"
            self.fs.put_file(str(staged), temp)
            self.fs.mv(temp, target)
        return StoredArtifact(key, sha256, size)

    def put_bytes(self, key: str, data: bytes) -> StoredArtifact:
        """Store ``data`` at ``key`` atomically."""
        with self.staging(what=key) as staged:
            staged.write_bytes(data)
            return self.commit(key, staged, hashlib.sha256(data).hexdigest())

    def recorded_sha256(self, key: str) -> str | None:
        """The SHA-256 recorded when ``key`` was written, if the store keeps one."""
        path = self._path(key)
        try:
            with self._classified(f"reading {key}"):
                if self.is_local:
                    return os.getxattr(path, _XATTR).decode()
                if self.is_s3:
                    meta = self.fs.metadata(path, refresh=True)
                    return meta.get("sha256") or None
        except FileNotFoundError:
            raise NotFoundError(f"artifact {key!r} is missing from the store")
        except OSError:  # no xattr on this file or file system
            return None
        return None

    def _check(self, key: str, digest: str, expected: str | None) -> None:
        if expected and digest != expected:
            raise ArtifactCorruptError(
                f"{key} in {self.where} does not match its recorded hash (SHA-256 "
                f"{expected[:12]}…, read {digest[:12]}…); it was changed or damaged in the store",
                key=key,
            )

    def get_bytes(self, key: str, sha256: str | None = None) -> bytes:
        """The whole content of ``key``, checked against ``sha256`` or the recorded hash.

        Raises
        ------
        NotFoundError
            If ``key`` is missing.
        ArtifactCorruptError
            If the content does not match the hash.
        """
        chunks = self._read(key, sha256, whole=True)
        return b"".join(chunks)

    def iter_chunks(self, key: str, sha256: str | None = None) -> Iterator[bytes]:
        """The content of ``key`` in chunks of at most 1 MiB, for a streamed download.

        Memory stays at a chunk or two whatever the size. The content is hashed as it goes
        and checked at the end (the last chunk is held back until it is), so a damaged object
        ends the stream with :class:`ArtifactCorruptError` instead of completing it.
        """
        return self._read(key, sha256, whole=False)

    def _read(self, key: str, sha256: str | None, *, whole: bool) -> Iterator[bytes]:
        # Checks that the key exists before the first chunk is asked for, so a missing key
        # is a NotFoundError where the call is made, not later inside a response stream.
        chunks, expected = self._chunks(key, whole)
        expected = sha256 or expected

        def checked() -> Iterator[bytes]:
            digest = hashlib.sha256()
            held = b""
            with self._classified(f"reading {key}"):
                for chunk in chunks:
                    digest.update(chunk)
                    if held:
                        yield held
                    held = chunk
            self._check(key, digest.hexdigest(), expected)
            if held:
                yield held

        return checked()

    def _chunks(self, key: str, whole: bool) -> tuple[Iterator[bytes], str | None]:
        """The content's chunks and the hash recorded with that very content.

        On S3 both come from one GET, so an object replaced meanwhile cannot pair one
        version's bytes with another's hash (a HEAD then a GET could).
        """
        path = self._path(key)
        fh: IO[bytes]
        if self.is_local:
            # The hash is read from the open file, not its path: a rename committed meanwhile
            # must not pair this file's bytes with the next version's hash.
            try:
                with self._classified(f"reading {key}"):
                    fh = open(path, "rb")  # noqa: SIM115 - closed by the generator below
            except FileNotFoundError:
                raise NotFoundError(f"artifact {key!r} is missing from the store")
            try:
                recorded: str | None = os.getxattr(fh.fileno(), _XATTR).decode()
            except OSError:  # no xattr on this file or file system
                recorded = None
        elif not self.is_s3:
            recorded = self.recorded_sha256(key)
            fh = self.open(key, block_size=STREAM_BLOCK)
        if not self.is_s3:

            def local() -> Iterator[bytes]:
                with fh:
                    if whole:
                        yield fh.read()
                        return
                    while chunk := fh.read(CHUNK):
                        yield chunk

            return local(), recorded
        bucket, name, _ = self.fs.split_path(path)
        try:
            with self._classified(f"reading {key}"):
                answer = self.fs.call_s3("get_object", Bucket=bucket, Key=name)
        except FileNotFoundError:
            raise NotFoundError(f"artifact {key!r} is missing from the store")
        body = answer["Body"]

        def remote() -> Iterator[bytes]:
            try:
                if whole:
                    yield sync(self.fs.loop, body.read)
                    return
                while chunk := sync(self.fs.loop, body.read, CHUNK):
                    yield chunk
            finally:
                body.close()

        return remote(), (answer.get("Metadata") or {}).get("sha256")

    def open(self, key: str, *, block_size: int | None = None) -> IO[bytes]:
        """Open ``key`` for reading; raise ``NotFoundError`` if it is missing.

        Not hash-checked: readers of Parquet seek, so only whole reads can be checked
        (:meth:`get_bytes`, :meth:`iter_chunks`).
        """
        extra = {"block_size": block_size} if block_size and not self.is_local else {}
        try:
            with self._classified(f"reading {key}"):
                fh: IO[bytes] = self.fs.open(self._path(key), "rb", **extra)
                return fh
        except FileNotFoundError:
            raise NotFoundError(f"artifact {key!r} is missing from the store")

    def exists(self, key: str) -> bool:
        return bool(self.fs.exists(self._path(key)))

    def list(self, prefix: str) -> list[str]:
        """Keys of every object under the folder ``prefix`` (none if there is none)."""
        path = self._path(prefix)
        try:
            with self._classified(f"listing {prefix}/"):
                found = self.fs.find(path)
        except FileNotFoundError:
            return []
        start = len(self.root) + 1
        keys = (p[start:] if p.startswith(self.root) else p for p in found)
        # find() on a file's own key returns the file: only what is *under* the folder.
        return sorted(k for k in keys if k.startswith(f"{prefix.rstrip('/')}/"))

    def delete(self, key: str) -> None:
        """Remove ``key`` if it exists."""
        path = self._path(key)
        with self._classified(f"deleting {key}"), contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(path)

    def delete_prefix(self, prefix: str) -> None:
        """Remove everything under the folder ``prefix`` (on S3, in batched deletes)."""
        path = self._path(prefix)
        if self.is_local:
            shutil.rmtree(path, ignore_errors=True)
            return
        with self._classified(f"deleting {prefix}/"):
            keys = self.fs.find(path)
            keys = [k for k in keys if k.startswith(f"{path}/")]
            if keys:
                self.fs.rm(keys)
