"""A real small or read-only file system for storage-error tests: a tmpfs mount.

Tests run as root, and root writes through ``chmod``; a tmpfs of a few hundred KiB fills
up for real (``ENOSPC``) and remounted read-only refuses writes for real (``EROFS``). Where
mounting is not permitted the tests are skipped.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def _mount(*args: str) -> None:
    done = subprocess.run(["mount", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise OSError(done.stderr.strip() or f"mount {' '.join(args)} failed")


@contextmanager
def tmpfs(path: Path, size: str = "512k") -> Iterator[Path]:
    """Mount a tmpfs of ``size`` at ``path`` (skip the test if not permitted)."""
    path.mkdir(parents=True, exist_ok=True)
    try:
        _mount("-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path))
    except (OSError, FileNotFoundError) as exc:
        pytest.skip(f"cannot mount a tmpfs here: {exc}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def read_only(path: Path) -> None:
    """Remount the tmpfs at ``path`` read-only."""
    _mount("-o", "remount,ro", str(path))


def fill(path: Path) -> None:
    """Write to ``path`` until its file system has no space left."""
    with open(path / "ballast", "wb", buffering=0) as fh:
        for block in (65536, 4096, 512, 1):
            try:
                while True:
                    fh.write(b"\0" * block)
            except OSError:
                continue
