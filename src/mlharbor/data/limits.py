"""Limits on what a received file may expand into: decompressed bytes, rows, JSON nesting.

A few megabytes of gzip can decompress to gigabytes, and a few kilobytes of brackets can
keep a recursive JSON parser busy for a minute. Each limit here is checked while the file is
read, so a hostile file is refused as soon as it crosses one, before it is read whole.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mlharbor.errors import InvalidInputError, PayloadTooLargeError


@dataclass(frozen=True)
class ReadLimits:
    """How large a file may turn out to be once read (the settings of the same names)."""

    max_columns: int = 10_000
    max_rows: int = 100_000_000
    max_decompressed_bytes: int = 20 << 30
    max_json_depth: int = 64


def too_many_rows(limit: int) -> PayloadTooLargeError:
    """The error for a file with more than ``limit`` rows."""
    return PayloadTooLargeError(
        f"the file has more than {limit:,} rows; the limit is {limit:,} "
        "(setting MLHARBOR_MAX_ROWS)",
        limit=limit,
        setting="MLHARBOR_MAX_ROWS",
    )


def too_many_bytes(limit: int) -> PayloadTooLargeError:
    """The error for a file that decompresses to more than ``limit`` bytes."""
    return PayloadTooLargeError(
        f"the file decompresses to more than {limit:,} bytes; the limit is {limit:,} "
        "(setting MLHARBOR_MAX_DECOMPRESSED_BYTES)",
        limit=limit,
        setting="MLHARBOR_MAX_DECOMPRESSED_BYTES",
    )


def check_rows(n_rows: int, limit: int) -> None:
    """Raise the 413 error if ``n_rows`` is over ``limit``."""
    if n_rows > limit:
        raise too_many_rows(limit)


class Bounded(io.RawIOBase):
    """The bytes of ``source`` as a parser reads them, refused past ``limit``.

    It also counts the double quotes it passes (a CSV file with an odd number of them may
    end inside a quoted value), at the cost of one ``bytes.count`` per read.
    """

    def __init__(self, source: Any, limit: int, *, owns: Any = None) -> None:
        self.source, self.limit, self.owns = source, limit, owns
        self.n_bytes = self.n_quotes = 0

    @property
    def name(self) -> str:
        """The source's name, when it has one (a file object's attribute, which TextIOWrapper
        passes on)."""
        return str(getattr(self.source, "name", ""))

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        # Never ask for more than one byte past the limit: a bomb is not inflated first.
        room = self.limit + 1 - self.n_bytes
        data: bytes = self.source.read(min(size, room) if size is not None and size >= 0 else room)
        self.n_bytes += len(data)
        if self.n_bytes > self.limit:
            raise too_many_bytes(self.limit)
        self.n_quotes += data.count(b'"')
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self.source.close()
        if self.owns is not None:  # the file under a decompressor
            self.owns.close()
        super().close()


# ---------------------------------------------------------------- JSON nesting

SCAN_BYTES = 8 << 20
_STRUCTURE = b'"[]{}\n'
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in _STRUCTURE)
_NOT_OPEN_OR_NEWLINE = bytes(b for b in range(256) if b not in b"[{\n")
_STRING = re.compile(rb'"[^"\n]*"')
_DELTA = bytes(1 if chr(b) in "[{" else 255 if chr(b) in "]}" else 0 for b in range(256))


def check_json_depth(path: Path, limit: int, *, per_line: bool) -> None:
    """Refuse a JSON (or, ``per_line``, JSON Lines) file nested deeper than ``limit``.

    A bracket-depth scan over the bytes in linear time, without recursion: escaped
    backslashes and quotes are dropped, then strings (which never span a line in JSON), and
    the brackets left are summed. In JSON Lines each line starts again at depth 0, and a
    block none of whose lines has more than ``limit`` opening brackets is passed at once.

    Raises
    ------
    InvalidInputError
        "nested deeper than N levels (line L)", with the line where the limit is crossed.
    """
    depth, line = 0, 1
    with open(path, "rb") as fh:
        for block in _line_blocks(fh):
            if not (per_line and _shallow_lines(block, limit)):
                depth, over = _scan_block(block, depth, limit, per_line)
                if over is not None:
                    line += over
                    raise InvalidInputError(
                        f"the JSON is nested deeper than {limit} levels (line {line}); "
                        "the limit is the setting MLHARBOR_MAX_JSON_DEPTH",
                        line=line,
                        setting="MLHARBOR_MAX_JSON_DEPTH",
                    )
            line += block.count(b"\n")


def _line_blocks(fh: Any) -> Iterator[bytes]:
    """The file in blocks of whole lines (a line longer than a block is read whole)."""
    size = SCAN_BYTES
    while True:
        start = fh.tell()
        block = fh.read(size)
        if not block:
            return
        cut = len(block) if len(block) < size else block.rfind(b"\n") + 1
        if cut == 0:
            fh.seek(start)
            size *= 2
            continue
        fh.seek(start + cut)
        size = SCAN_BYTES
        yield block if cut == len(block) else block[:cut]


def _shallow_lines(block: bytes, limit: int) -> bool:
    """Whether no line of ``block`` has more than ``limit`` opening brackets.

    A line cannot be nested deeper than it has openers, so such a block needs no exact scan.
    Deleting every other byte leaves a short string of openers and line feeds, searched in
    one pass: this passes ordinary JSON Lines at a fraction of the cost of parsing them.
    """
    marks = block.translate(None, _NOT_OPEN_OR_NEWLINE)
    return re.search(rb"(?m)^[^\n]{%d}" % (limit + 1), marks) is None


def _scan_block(block: bytes, depth: int, limit: int, per_line: bool) -> tuple[int, int | None]:
    """The depth after ``block`` (whole lines), and how many lines in it the limit is crossed
    (``None``: not crossed)."""
    # A backslash escapes the next byte: pairs first, then the quotes they do not escape.
    plain = block.replace(b"\\\\", b"").replace(b'\\"', b"")
    # Most strings hold no bracket: their quotes meet once the rest is gone. Dropping each
    # "" pair (an empty string, or two strings merged) leaves far fewer for the regex.
    marks = plain.translate(None, _NOT_STRUCTURE).replace(b'""', b"")
    marks = _STRING.sub(b"", marks)
    steps = np.frombuffer(marks.translate(_DELTA), np.int8).astype(np.int64)
    levels = np.cumsum(steps)
    newline = np.frombuffer(marks, np.uint8) == ord("\n")
    if per_line:
        index = np.arange(len(levels))
        last = np.maximum.accumulate(np.where(newline, index, -1)) if len(levels) else index
        levels = levels - np.where(last >= 0, levels[np.maximum(last, 0)], 0)
    else:
        levels = levels + depth
    over = np.flatnonzero(levels > limit)
    if len(over):
        return depth, int(np.count_nonzero(newline[: over[0]]))
    return (int(levels[-1]) if len(levels) and not per_line else 0), None
