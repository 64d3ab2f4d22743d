"""Turning a received file into a stored Parquet file and its schema, in one streaming pass.

A CSV file is read once: its raw bytes are hashed as the parser consumes them, each block of
rows is typed with the types found in the file's first block, and a second thread encodes
every block into the Parquet file while the next ones are parsed. Type inference sees the
exact missing counts and a bounded sample of the rows (:class:`SchemaSampler`), so memory
stays at a few blocks whatever the size of the file.

When the first block's types do not hold for a later block (a column of integers that turns
into text further down, say) or the file is not what its head promised (bytes that are not
UTF-8, a ragged row), the fast pass gives up and the file is read whole by
:func:`~mlharbor.data.ingest.read_table`'s reader, which infers types over the whole file
and reports the precise problem.
"""

from __future__ import annotations

import codecs
import gzip
import hashlib
import io
import os
import queue
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from mlharbor.data.ingest import (
    BytesRead,
    CsvDialect,
    ReadResult,
    SourceFormat,
    _read_csv,
    check_names,
    check_table,
    csv_notes,
    csv_options,
    detect_format,
    read_table,
    sniff_csv,
)
from mlharbor.data.schema import DatasetSchema, SchemaSampler, infer_schema
from mlharbor.errors import InvalidInputError

#: Bytes of CSV per parsed block: big enough for well-filled row groups, small enough that
#: only a few are in memory at once.
BLOCK_BYTES = 8 << 20
#: Rows per Parquet row group (blocks are gathered until they reach it).
ROW_GROUP_ROWS = 131_072
#: LZ4 costs ~40% less CPU than zstd level 1 to write (and to read back), for files ~35%
#: larger; the write is a third of an ingest's work, so it sets the pace.
COMPRESSION = "lz4"
COMPRESSION_LEVEL: int | None = None


@dataclass
class Converted:
    """What converting a file produced: its hash, shape, format, schema and notes."""

    sha256: str
    format: SourceFormat
    n_rows: int
    n_columns: int
    schema: DatasetSchema
    notes: list[str] = field(default_factory=list)
    #: SHA-256 of the Parquet file written.
    parquet_sha256: str = ""


def convert_file(
    path: Path,
    out: Path,
    filename: str | None = None,
    *,
    max_columns: int = 10_000,
    sha256: str | None = None,
    on_bytes: BytesRead | None = None,
    block_bytes: int = BLOCK_BYTES,
) -> Converted:
    """Read ``path`` (any supported format) and write it to ``out`` as Parquet.

    Parameters
    ----------
    path : Path
        The received file; it is not modified.
    out : Path
        Where the Parquet file is written (a staging path: the caller commits or discards it).
    filename : str, optional
        The name the user gave the file (its extension helps detect the format).
    max_columns : int
        The widest table accepted.
    sha256 : str, optional
        The file's SHA-256 if already known; otherwise it is computed while reading.
    on_bytes : callable, optional
        Called with ``(bytes_read, total_bytes)`` while a text file is parsed.
    block_bytes : int
        Bytes of CSV parsed per block.

    Raises
    ------
    InvalidInputError, UnsupportedFormatError
        As :func:`~mlharbor.data.ingest.read_table`; ``out`` may then hold a partial file.
    """
    fmt = detect_format(path, filename)
    if fmt is SourceFormat.CSV:
        dialect = sniff_csv(path)
        fast = _stream_csv(path, out, dialect, max_columns, sha256, on_bytes, block_bytes)
        if fast is not None:
            return fast
        result = _read_csv(path, dialect)
        result.table = check_table(result.table, result.notes, max_columns)
    else:
        result = read_table(path, filename, max_columns=max_columns)
    return _convert_table(result, path, out, sha256)


def write_table(table: pa.Table, out: Path) -> str:
    """Write an Arrow table as Parquet with the settings ingest uses; return its SHA-256."""
    with ParquetSink(out, table.schema) as sink:
        for batch in table.to_batches(max_chunksize=ROW_GROUP_ROWS):
            sink.put(batch)
    return sink.sha256


def _convert_table(result: ReadResult, path: Path, out: Path, sha256: str | None) -> Converted:
    """The slow path: a table read whole, written and typed (both release the GIL)."""
    if sha256 is None:
        hasher = _Hasher(path)
        hasher.start()
    table = result.table
    try:
        with ParquetSink(out, table.schema) as sink:
            for batch in table.to_batches(max_chunksize=ROW_GROUP_ROWS):
                sink.put(batch)
            schema = infer_schema(table, result.notes)  # while the last groups are written
    finally:
        if sha256 is None:
            hasher.join()
    digest = sha256 or hasher.hexdigest
    return Converted(digest, result.format, table.num_rows, table.num_columns, schema, result.notes)


class _Hasher(threading.Thread):
    """SHA-256 of a file on a thread of its own (hashlib releases the GIL)."""

    def __init__(self, path: Path) -> None:
        super().__init__(name="hash-file", daemon=True)
        self.path, self.hexdigest = path, ""

    def run(self) -> None:
        digest = hashlib.sha256()
        with open(self.path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
        self.hexdigest = digest.hexdigest()


# ---------------------------------------------------------------- streaming CSV


class _HashingReader(io.RawIOBase):
    """The raw bytes of a file, hashed and counted as they are read.

    ``read`` hands Arrow each chunk as one ``bytes`` object, which Arrow wraps without a copy.
    """

    def __init__(self, path: Path, hashing: bool, report: BytesRead | None) -> None:
        self.raw = open(path, "rb", buffering=0)  # noqa: SIM115 - closed with this reader
        self.total = os.fstat(self.raw.fileno()).st_size
        self.digest = hashlib.sha256() if hashing else None
        self.report, self.done = report, 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size if size >= 0 else self.total)
        if data and self.digest is not None:
            self.digest.update(data)
        self.done += len(data)
        if self.report is not None:
            self.report(self.done, self.total)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self.raw.close()
        super().close()


def _open_text(reader: _HashingReader, dialect: CsvDialect) -> io.RawIOBase | gzip.GzipFile:
    source: io.RawIOBase | gzip.GzipFile = (
        gzip.GzipFile(fileobj=reader, mode="rb") if dialect.compressed else reader
    )
    if dialect.encoding == "utf-8-sig":
        source.read(len(codecs.BOM_UTF8))
    return source


def _stream_csv(
    path: Path,
    out: Path,
    dialect: CsvDialect,
    max_columns: int,
    sha256: str | None,
    on_bytes: BytesRead | None,
    block_bytes: int,
) -> Converted | None:
    """Convert a CSV file block by block; ``None`` if it needs the whole-file reader."""
    notes = csv_notes(dialect)
    if not dialect.header:
        raise InvalidInputError("the file has no header row")
    # The header alone tells the names and the width: refuse a bad one before parsing.
    names = check_names(list(dialect.header), notes, max_columns)
    read, parse, convert = csv_options(dialect)
    read.block_size = block_bytes
    try:
        types = _first_block_types(path, dialect, read, parse, convert)
        if types is None:
            return None
        convert.column_types = types
        schema = pa.schema([f.with_name(n) for f, n in zip(types, names, strict=True)])
        with _HashingReader(path, sha256 is None, on_bytes) as raw:
            sampler = SchemaSampler(schema)
            with ParquetSink(out, schema) as sink:
                for batch in pacsv.open_csv(_open_text(raw, dialect), read, parse, convert):
                    batch = pa.RecordBatch.from_arrays(batch.columns, schema=schema)
                    sink.put(batch)
                    sampler.add(batch)
                sink.flush()
                # Typed while the writer encodes the last row groups.
                schema_info = sampler.infer(notes) if sampler.n_rows else None
            complete = raw.done == raw.total
            digest = raw.digest.hexdigest() if raw.digest is not None and complete else None
    except (pa.ArrowInvalid, UnicodeDecodeError, EOFError, gzip.BadGzipFile):
        return None  # the whole-file reader says what is wrong, or manages where this cannot
    if sampler.n_rows == 0:
        raise InvalidInputError(f"the file has a header ({len(names)} columns) but no data rows")
    if sha256 is None:
        sha256 = digest or _hash_now(path)
    assert schema_info is not None
    return Converted(
        sha256, SourceFormat.CSV, sampler.n_rows, len(names), schema_info, notes, sink.sha256
    )


def _hash_now(path: Path) -> str:
    hasher = _Hasher(path)
    hasher.run()
    return hasher.hexdigest


def _first_block_types(
    path: Path,
    dialect: CsvDialect,
    read: pacsv.ReadOptions,
    parse: pacsv.ParseOptions,
    convert: pacsv.ConvertOptions,
) -> pa.Schema | None:
    """The types Arrow infers from the first block; typed blocks parse ~25% faster after."""
    first_read = pacsv.ReadOptions(
        column_names=read.column_names,
        skip_rows=read.skip_rows,
        encoding=read.encoding,
        block_size=min(read.block_size, 1 << 20),
        use_threads=False,  # no read-ahead: only the first block is parsed
    )
    with _HashingReader(path, False, None) as raw:
        reader = pacsv.open_csv(_open_text(raw, dialect), first_read, parse, convert)
        schema = reader.schema
    if any(_not_text(t) for t in schema.types):
        return None  # bytes that are not valid text: the whole-file reader re-decodes
    if any(pa.types.is_null(t) for t in schema.types):
        return None  # empty in the first block: only the whole file tells the type
    return schema


def _not_text(typ: pa.DataType) -> bool:
    return pa.types.is_binary(typ) or pa.types.is_large_binary(typ)


# ---------------------------------------------------------------- Parquet


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
        if not (pa.types.is_string(typ) or pa.types.is_large_string(typ) or _not_text(typ)):
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
    return distinct <= len(column) // 10
