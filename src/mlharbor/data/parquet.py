"""Parquet files: written from record batches as they arrive (on a thread of their own), and
read back a slice of rows at a time, decoding only the row groups that hold them."""

from __future__ import annotations

import hashlib
import io
import os
import queue
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

#: Rows per Parquet row group (blocks are gathered until they reach it).
ROW_GROUP_ROWS = 131_072
#: LZ4 costs ~40% less CPU than zstd level 1 to write (and to read back), for files ~35%
#: larger; the write is a third of an ingest's work, so it sets the pace.
COMPRESSION = "lz4"
COMPRESSION_LEVEL: int | None = None


def write_table(table: pa.Table, out: Path) -> str:
    """Write an Arrow table as Parquet with the settings ingest uses; return its SHA-256."""
    with ParquetSink(out, table.schema) as sink:
        for batch in table.to_batches(max_chunksize=ROW_GROUP_ROWS):
            sink.put(batch)
    return sink.sha256


class ParquetSink:
    """Writes record batches to a Parquet file on a thread of its own, as they arrive.

    Blocks are gathered into row groups of ``ROW_GROUP_ROWS``. Dictionary encoding is used
    for the columns that repeat values in the first rows (where it pays; for nearly-unique
    columns its hashing costs more than the whole plain encoding), and statistics are kept
    for non-text columns. The file's written parts are flushed to disk as it grows, so the
    final ``fsync`` before it is committed has little left to do.
    """

    def __init__(self, out: Path, schema: pa.Schema) -> None:
        self.out, self.schema = out, schema
        self._queue: queue.Queue[pa.Table | None] = queue.Queue(maxsize=2)
        self._pending: list[pa.RecordBatch] = []
        self._pending_rows = 0
        self._failure: BaseException | None = None
        #: SHA-256 of the file written, once closed.
        self.sha256 = ""
        self._thread = threading.Thread(target=self._run, name="parquet-writer", daemon=True)
        self._thread.start()

    def put(self, batch: pa.RecordBatch) -> None:
        """Queue a batch to be written (blocks while two row groups are waiting)."""
        if self._failure is not None:
            raise self._failure
        self._pending.append(batch)
        self._pending_rows += batch.num_rows
        if self._pending_rows >= ROW_GROUP_ROWS:
            self.flush()

    def flush(self) -> None:
        """Hand the gathered batches to the writer as a row group, however few rows."""
        if self._pending:
            self._queue.put(pa.Table.from_batches(self._pending, self.schema))
            self._pending, self._pending_rows = [], 0

    def close(self) -> None:
        """Write what is left and finish the file; re-raise a failure of the writer."""
        self.flush()
        self._queue.put(None)
        self._thread.join()
        if self._failure is not None:
            raise self._failure

    def __enter__(self) -> ParquetSink:
        return self

    def __exit__(self, kind: object, exc: BaseException | None, tb: object) -> None:
        if exc is None:
            self.close()
            return
        self._pending = []
        # Unblock and stop the writer; the caller's exception is the one that matters.
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        writer: pq.ParquetWriter | None = None
        try:
            with _HashingWriter(self.out) as sink:
                while (table := self._queue.get()) is not None:
                    if writer is None:
                        writer = pq.ParquetWriter(sink, self.schema, **_writer_options(table))
                    writer.write_table(table, row_group_size=max(table.num_rows, 1))
                    sink.sync()
                if writer is None:
                    writer = pq.ParquetWriter(sink, self.schema, compression=COMPRESSION)
                writer.close()
            self.sha256 = sink.digest.hexdigest()
        except BaseException as exc:  # re-raised in the caller's thread
            self._failure = exc
            while self._queue.get() is not None:
                pass


class _HashingWriter(io.RawIOBase):
    """A file the Parquet writer writes to, hashed as written (the store needs the hash)."""

    def __init__(self, path: Path) -> None:
        self.file = open(path, "wb", buffering=0)  # noqa: SIM115 - closed with this writer
        self.digest = hashlib.sha256()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        self.digest.update(view)
        done = 0
        while done < len(view):
            done += self.file.write(view[done:]) or 0
        return done

    def sync(self) -> None:
        """Flush what is written so far to disk: the final fsync then has little to do."""
        os.fdatasync(self.file.fileno())

    def close(self) -> None:
        self.file.close()
        super().close()


def _writer_options(table: pa.Table) -> dict[str, Any]:
    probe = table.slice(0, 16_384)
    dictionary, statistics = [], []
    for field_, column in zip(table.schema, probe.columns, strict=True):
        typ = field_.type
        if pa.types.is_nested(typ):
            continue
        if not (pa.types.is_string(typ) or pa.types.is_large_string(typ) or is_binary(typ)):
            statistics.append(field_.name)
        if pa.types.is_dictionary(typ) or _repeats(column):
            dictionary.append(field_.name)
    return {
        "compression": COMPRESSION,
        "compression_level": COMPRESSION_LEVEL,
        "use_dictionary": dictionary,
        "write_statistics": statistics,
    }


def _repeats(column: pa.ChunkedArray) -> bool:
    if len(column) < 100:
        return True
    try:
        distinct = pc.count_distinct(column, mode="all").as_py()
    except pa.ArrowNotImplementedError:
        return False
    return bool(distinct <= len(column) // 10)


def read_rows(
    parquet: pq.ParquetFile, start: int, stop: int, columns: list[str] | None = None
) -> pa.Table:
    """Rows ``start:stop`` of ``parquet`` (of ``columns`` only, if given), decoding only the
    row groups that hold them.

    Memory is the slice and a batch of at most its size, whatever the size of the file: a
    row group's leading rows before ``start`` are decoded a batch at a time and dropped.
    """
    meta = parquet.metadata
    groups: list[int] = []
    first, offset = 0, 0
    for i in range(meta.num_row_groups):
        n = meta.row_group(i).num_rows
        if offset < stop and offset + n > start:
            first = first if groups else offset
            groups.append(i)
        offset += n
    skip, wanted = start - first, max(0, stop - start)
    parts: list[pa.RecordBatch] = []
    if groups and wanted:
        batches = parquet.iter_batches(
            batch_size=min(wanted, 65_536), row_groups=groups, columns=columns
        )
        for batch in batches:
            if skip >= batch.num_rows:
                skip -= batch.num_rows
                continue
            parts.append(batch.slice(skip, wanted))
            skip, wanted = 0, wanted - parts[-1].num_rows
            if not wanted:
                break
    if parts:
        return pa.Table.from_batches(parts)
    empty = parquet.schema_arrow.empty_table()
    return empty.select(columns) if columns is not None else empty


def iter_slices(parquet: pq.ParquetFile, rows: int) -> Iterator[pa.Table]:
    """``parquet`` as consecutive tables of ``rows`` rows (the last may be shorter), read
    as they are consumed: memory is a slice or two, not the file."""
    pending: list[pa.RecordBatch] = []
    held = 0
    for batch in parquet.iter_batches(batch_size=rows):
        while batch.num_rows:
            part = batch.slice(0, rows - held)
            pending.append(part)
            held += part.num_rows
            batch = batch.slice(part.num_rows)
            if held == rows:
                yield pa.Table.from_batches(pending, schema=parquet.schema_arrow)
                pending, held = [], 0
    if pending:
        yield pa.Table.from_batches(pending, schema=parquet.schema_arrow)


def is_binary(typ: pa.DataType) -> bool:
    """Whether ``typ`` holds raw bytes (text that was not valid UTF-8 reads as such)."""
    return bool(pa.types.is_binary(typ) or pa.types.is_large_binary(typ))
