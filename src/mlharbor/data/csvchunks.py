"""Parsing a plain CSV file on several threads: line-aligned chunks, parsed in parallel, in order.

Arrow's streaming CSV reader parses one block at a time, so a streamed ingest used about one
core while ``pyarrow.csv.read_csv`` (which holds the whole table in memory) uses all of them.
Here the file is cut into chunks at line ends, each chunk is parsed by ``read_csv`` on a
worker thread with the column types already known, and the tables come back in file order,
so memory holds only the chunks in flight.

Cutting at line ends is only safe when no value spans lines and a line end is a ``\\n`` byte
that cannot be part of another character: :func:`can_chunk` says when that holds, and any
other file goes through Arrow's streaming reader. A value with a line break further down
than the sniffed head makes a chunk's rows fail to parse, and the caller then falls back to
the whole-file reader, as it does for the streaming reader.
"""

from __future__ import annotations

import codecs
import hashlib
import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv

#: Bytes per parsed chunk: small enough to keep a few in flight per core, big enough that a
#: chunk's parse dwarfs handing it to a thread.
CHUNK_BYTES = 4 << 20
#: How far into the file the header's line end is looked for.
MAX_HEADER_BYTES = 16 << 20

# Single-byte encodings and UTF-8: a 0x0A byte is always a line feed in them.
_SAFE_CODECS = {"utf-8", "utf-8-sig", "ascii", "cp1252", "latin-1", "iso8859-15", "cp1250"}


def can_chunk(path: Path, encoding: str, compressed: bool, multiline: bool) -> bool:
    """Whether ``path`` can be cut at ``\\n`` bytes into chunks that parse on their own."""
    if compressed or multiline:
        return False
    try:
        if codecs.lookup(encoding).name not in _SAFE_CODECS:
            return False
    except LookupError:
        return False
    with open(path, "rb") as fh:
        head = fh.read(1 << 16)
    # Lines ended by a lone carriage return would not be cut at all.
    return b"\n" in head or b"\r" not in head


class ChunkedCsv:
    """The data rows of a CSV file as Arrow tables, parsed on ``workers`` threads, in order.

    The file's bytes (header included) are hashed as they are read when ``hashing`` is set,
    and ``on_bytes(done, total)`` is called as chunks are read.
    """

    def __init__(
        self,
        path: Path,
        read: pacsv.ReadOptions,
        parse: pacsv.ParseOptions,
        convert: pacsv.ConvertOptions,
        *,
        hashing: bool = True,
        on_bytes: Callable[[int, int], None] | None = None,
        chunk_bytes: int = CHUNK_BYTES,
        workers: int | None = None,
    ) -> None:
        self.path, self.parse_options, self.convert_options = path, parse, convert
        self.read_options = pacsv.ReadOptions(
            column_names=read.column_names,
            encoding=read.encoding,
            use_threads=False,  # one chunk per thread: the threads are ours
            block_size=chunk_bytes + 1,
        )
        self.digest = hashlib.sha256() if hashing else None
        self.on_bytes, self.chunk_bytes = on_bytes, chunk_bytes
        self.workers = workers or min(4, os.cpu_count() or 1)
        self.done = self.total = 0
        #: Double quotes in the bytes read so far (an odd count may mean an unclosed quote).
        self.n_quotes = 0

    def hexdigest(self) -> str | None:
        """The SHA-256 of the whole file, once every chunk was read (else ``None``)."""
        if self.digest is None or self.done != self.total:
            return None
        return self.digest.hexdigest()

    def __iter__(self) -> Iterator[pa.Table]:
        fd = os.open(self.path, os.O_RDONLY)
        try:
            self.total = os.fstat(fd).st_size
            with ThreadPoolExecutor(self.workers, thread_name_prefix="csv-parse") as pool:
                pending: deque[Future[pa.Table]] = deque()
                try:
                    for chunk in self._chunks(fd):
                        pending.append(pool.submit(self._parse, chunk))
                        if len(pending) > self.workers:
                            yield pending.popleft().result()
                    while pending:
                        yield pending.popleft().result()
                finally:
                    for future in pending:
                        future.cancel()
        finally:
            os.close(fd)

    def _parse(self, chunk: memoryview) -> pa.Table:
        return pacsv.read_csv(
            pa.py_buffer(chunk), self.read_options, self.parse_options, self.convert_options
        )

    def _chunks(self, fd: int) -> Iterator[memoryview]:
        """Line-aligned chunks of the data rows (everything after the header line)."""
        offset = self._header_end(fd)
        while offset < self.total:
            data = os.pread(fd, self.chunk_bytes, offset)
            if not data:
                raise EOFError("the file shrank while it was read")
            end = len(data)
            if offset + end < self.total:
                end = data.rfind(b"\n") + 1
                if end == 0:  # a line longer than a chunk: Arrow's reader copes with it
                    raise pa.ArrowInvalid("a line longer than a chunk")
            chunk = memoryview(data)[:end]
            self.n_quotes += data.count(b'"', 0, end)
            self._read(chunk)
            offset += end
            yield chunk

    def _header_end(self, fd: int) -> int:
        head = os.pread(fd, MAX_HEADER_BYTES, 0)
        end = head.find(b"\n") + 1
        if end == 0:
            if len(head) < self.total:
                raise pa.ArrowInvalid("the header line is longer than the chunked reader reads")
            end = len(head)
        self.n_quotes += head.count(b'"', 0, end)
        self._read(memoryview(head)[:end])
        return end

    def _read(self, data: memoryview) -> None:
        if self.digest is not None:
            self.digest.update(data)
        self.done += len(data)
        if self.on_bytes is not None:
            self.on_bytes(self.done, self.total)
