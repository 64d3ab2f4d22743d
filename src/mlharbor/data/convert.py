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
import itertools
import os
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv

from mlharbor.data.csvchunks import ChunkedCsv, can_chunk
from mlharbor.data.ingest import (
    BytesRead,
    CsvDialect,
    ReadResult,
    SourceFormat,
    check_names,
    check_quotes,
    check_table,
    csv_notes,
    csv_options,
    detect_format,
    read_csv_table,
    read_table,
    sniff_csv,
)
from mlharbor.data.limits import Bounded, ReadLimits, check_rows
from mlharbor.data.parquet import ROW_GROUP_ROWS, ParquetSink, is_binary
from mlharbor.data.schema import DatasetSchema, SchemaSampler, infer_schema
from mlharbor.errors import InvalidInputError

#: Bytes of CSV per parsed block: big enough for well-filled row groups, small enough that
#: only a few are in memory at once.
BLOCK_BYTES = 4 << 20


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
    limits: ReadLimits | None = None,
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
    limits : ReadLimits, optional
        The widest and longest table accepted, and what the file may expand into.
    sha256 : str, optional
        The file's SHA-256 if already known; otherwise it is computed while reading.
    on_bytes : callable, optional
        Called with ``(bytes_read, total_bytes)`` while a text file is parsed.
    block_bytes : int
        Bytes of CSV parsed per block.

    Raises
    ------
    InvalidInputError, UnsupportedFormatError, PayloadTooLargeError
        As :func:`~mlharbor.data.ingest.read_table`; ``out`` may then hold a partial file.
    """
    limits = limits or ReadLimits()
    fmt = detect_format(path, filename)
    if fmt is SourceFormat.CSV:
        dialect = sniff_csv(path, limits.max_decompressed_bytes)
        fast = _stream_csv(path, out, dialect, limits, sha256, on_bytes, block_bytes)
        if fast is not None:
            return fast
        result = read_csv_table(path, dialect, limits=limits)
        result.table = check_table(result.table, result.notes, limits.max_columns, limits.max_rows)
    else:
        result = read_table(path, filename, limits=limits)
    return _convert_table(result, path, out, sha256)


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


def convert_batches(
    parts: Iterable[pa.Table | pa.RecordBatch], out: Path, *, max_columns: int
) -> Converted:
    """Write tables or record batches made by this process (a scored dataset) to ``out``
    as Parquet as they arrive, typed as a streamed CSV is; its hash is the file's.

    The parts must share the first one's schema. Memory is a few row groups and the
    schema's sample, whatever the number of rows.

    Raises
    ------
    InvalidInputError
        No rows, or more than ``max_columns`` columns.
    """
    notes: list[str] = []
    parts = iter(parts)
    first = next(parts, None)
    if first is None:
        raise InvalidInputError("there are no rows to store")
    names = check_names(first.schema.names, notes, max_columns)
    fields = [f.with_name(n) for f, n in zip(first.schema, names, strict=True)]
    schema = pa.schema(fields, metadata=first.schema.metadata)
    sampler = SchemaSampler(schema)
    with ParquetSink(out, schema) as sink:
        for part in itertools.chain([first], parts):
            for batch in part.to_batches() if isinstance(part, pa.Table) else [part]:
                batch = pa.RecordBatch.from_arrays(batch.columns, schema=schema)
                sink.put(batch)
                sampler.add(batch)
        sink.flush()
        inferred = sampler.infer(notes) if sampler.n_rows else None  # while the last is written
    if inferred is None:
        raise InvalidInputError("there are no rows to store")
    return Converted(
        sink.sha256,
        SourceFormat.PARQUET,
        sampler.n_rows,
        len(fields),
        inferred,
        notes,
        sink.sha256,
    )


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


def _open_text(reader: _HashingReader, dialect: CsvDialect, limit: int) -> Bounded:
    """The decompressed bytes Arrow parses, refused past ``limit`` and their quotes counted."""
    source: Any = gzip.GzipFile(fileobj=reader, mode="rb") if dialect.compressed else reader
    bounded = Bounded(source, limit)
    if dialect.encoding == "utf-8-sig":
        bounded.read(len(codecs.BOM_UTF8))
    return bounded


def _stream_csv(
    path: Path,
    out: Path,
    dialect: CsvDialect,
    limits: ReadLimits,
    sha256: str | None,
    on_bytes: BytesRead | None,
    block_bytes: int,
) -> Converted | None:
    """Convert a CSV file block by block; ``None`` if it needs the whole-file reader."""
    notes = csv_notes(dialect)
    if not dialect.header:
        raise InvalidInputError("the file has no header row")
    # The header alone tells the names and the width: refuse a bad one before parsing.
    names = check_names(list(dialect.header), notes, limits.max_columns)
    read, parse, convert = csv_options(dialect)
    read.block_size = max(block_bytes, dialect.min_block)
    try:
        types = _first_block_types(path, dialect, read, parse, convert, limits)
        if types is None:
            return None
        convert.column_types = types
        schema = pa.schema([f.with_name(n) for f, n in zip(types, names, strict=True)])
        sampler = SchemaSampler(schema)
        with _Rows(path, dialect, read, parse, convert, sha256 is None, on_bytes, limits) as rows:
            with ParquetSink(out, schema) as sink:
                for batch in rows:
                    batch = pa.RecordBatch.from_arrays(batch.columns, schema=schema)
                    sink.put(batch)
                    sampler.add(batch)
                    check_rows(sampler.n_rows, limits.max_rows)  # before the rest is read
                sink.flush()
                # Typed while the writer encodes the last row groups.
                schema_info = sampler.infer(notes) if sampler.n_rows else None
            digest = rows.hexdigest()
    except (pa.ArrowInvalid, UnicodeDecodeError, EOFError, gzip.BadGzipFile):
        return None  # the whole-file reader says what is wrong, or manages where this cannot
    check_quotes(rows.n_quotes, path, dialect, limits)
    if sampler.n_rows == 0:
        raise InvalidInputError(f"the file has a header ({len(names)} columns) but no data rows")
    if sha256 is None:
        sha256 = digest or _hash_now(path)
    assert schema_info is not None
    return Converted(
        sha256, SourceFormat.CSV, sampler.n_rows, len(names), schema_info, notes, sink.sha256
    )


class _Rows:
    """The data rows of a CSV file as record batches, its bytes hashed as they are read.

    Plain files are cut into chunks parsed on several threads (:mod:`.csvchunks`); the rest
    (compressed, values spanning lines, multi-byte encodings) go through Arrow's streaming
    reader, one block at a time.
    """

    def __init__(
        self,
        path: Path,
        dialect: CsvDialect,
        read: pacsv.ReadOptions,
        parse: pacsv.ParseOptions,
        convert: pacsv.ConvertOptions,
        hashing: bool,
        on_bytes: BytesRead | None,
        limits: ReadLimits,
    ) -> None:
        self.chunked: ChunkedCsv | None = None
        self.raw: _HashingReader | None = None
        self.text: Bounded | None = None
        self.limit = limits.max_decompressed_bytes
        if can_chunk(path, dialect.encoding, dialect.compressed, dialect.multiline):
            self.chunked = ChunkedCsv(
                path,
                read,
                parse,
                convert,
                hashing=hashing,
                on_bytes=on_bytes,
                chunk_bytes=read.block_size,
            )
        else:
            self.raw = _HashingReader(path, hashing, on_bytes)
            self.dialect, self.options = dialect, (read, parse, convert)

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        if self.chunked is not None:
            for table in self.chunked:
                yield from table.to_batches()
        else:
            assert self.raw is not None
            self.text = _open_text(self.raw, self.dialect, self.limit)
            yield from pacsv.open_csv(self.text, *self.options)

    @property
    def n_quotes(self) -> int:
        """The double quotes in the bytes parsed so far."""
        if self.chunked is not None:
            return self.chunked.n_quotes
        return self.text.n_quotes if self.text is not None else 0

    def hexdigest(self) -> str | None:
        """The SHA-256 of the whole file if it was hashed and read to its end."""
        if self.chunked is not None:
            return self.chunked.hexdigest()
        assert self.raw is not None
        complete = self.raw.done == self.raw.total
        return self.raw.digest.hexdigest() if self.raw.digest is not None and complete else None

    def __enter__(self) -> _Rows:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.raw is not None:
            self.raw.close()


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
    limits: ReadLimits,
) -> pa.Schema | None:
    """The types Arrow infers from the first block; typed blocks parse ~25% faster after."""
    first_read = pacsv.ReadOptions(
        column_names=read.column_names,
        skip_rows=read.skip_rows,
        encoding=read.encoding,
        block_size=max(min(read.block_size, 1 << 20), dialect.min_block),
        use_threads=False,  # no read-ahead: only the first block is parsed
    )
    with _HashingReader(path, False, None) as raw:
        text = _open_text(raw, dialect, limits.max_decompressed_bytes)
        reader = pacsv.open_csv(text, first_read, parse, convert)
        schema = reader.schema
    if any(is_binary(t) for t in schema.types):
        return None  # bytes that are not valid text: the whole-file reader re-decodes
    if any(pa.types.is_null(t) for t in schema.types):
        return None  # empty in the first block: only the whole file tells the type
    return schema
