"""Artifact storage over fsspec: a local folder by default, any fsspec URL by setting.

Every write is atomic (written under a temporary name, then renamed into place) and
content-hashed (SHA-256). Keys are made by mlharbor, never taken from a request, and are
checked so that no key can leave the store's root. A store that is full, read-only or not
writable raises :class:`~mlharbor.errors.StorageUnavailableError` naming the store and what
was being done, never a bare ``OSError``.
"""

from __future__ import annotations

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
from fsspec.implementations.local import LocalFileSystem

from mlharbor.errors import NotFoundError, storage_error

_KEY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*(/[A-Za-z0-9_][A-Za-z0-9_.\-]*)*$")
CHUNK = 1 << 20


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
    """Content-hashed, atomically written files under one root URL."""

    def __init__(self, uri: str) -> None:
        self.fs, root = fsspec.core.url_to_fs(uri)
        self.root = root.rstrip("/")
        self.is_local = isinstance(self.fs, LocalFileSystem)
        protocol = self.fs.protocol if isinstance(self.fs.protocol, str) else self.fs.protocol[0]
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

        On a local store the path is inside the store's root, so committing is a rename.
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
            with open(staged, "rb") as fh:
                os.fsync(fh.fileno())
            os.replace(staged, target)
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

    def get_bytes(self, key: str) -> bytes:
        """The whole content of ``key``."""
        with self.open(key) as fh:
            return fh.read()

    def open(self, key: str) -> IO[bytes]:
        """Open ``key`` for reading; raise ``NotFoundError`` if it is missing."""
        try:
            with self._classified(f"reading {key}"):
                return self.fs.open(self._path(key), "rb")
        except FileNotFoundError:
            raise NotFoundError(f"artifact {key!r} is missing from the store")

    def exists(self, key: str) -> bool:
        return bool(self.fs.exists(self._path(key)))

    def list(self, prefix: str) -> list[str]:
        """Keys of every file under the folder ``prefix`` (none if it does not exist)."""
        path = self._path(prefix)
        if not self.fs.exists(path):
            return []
        start = len(self.root) + 1
        return sorted(p[start:] if p.startswith(self.root) else p for p in self.fs.find(path))

    def delete(self, key: str) -> None:
        """Remove ``key`` if it exists."""
        path = self._path(key)
        with self._classified(f"deleting {key}"):
            if self.fs.exists(path):
                self.fs.rm(path)

    def delete_prefix(self, prefix: str) -> None:
        """Remove everything under the folder ``prefix``."""
        path = self._path(prefix)
        if self.is_local:
            shutil.rmtree(path, ignore_errors=True)
            return
        with self._classified(f"deleting {prefix}/"):
            if self.fs.exists(path):
                self.fs.rm(path, recursive=True)
