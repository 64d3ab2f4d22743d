"""Reading a file into an Arrow table: format, encoding, delimiter and decimal detection.

Every reader either returns a table with usable column names or raises an
``InvalidInputError`` (or its 413/415 subclasses) whose message says what is wrong and where.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import itertools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv

from mlharbor.data.limits import (
    Bounded,
    ReadLimits,
    check_rows,
)
from mlharbor.errors import InvalidInputError, UnsupportedFormatError

HEAD_BYTES = 1 << 16
#: How far into a file its header line is looked for (10,000 long column names fit).
MAX_HEADER_BYTES = 16 << 20
BytesRead = Callable[[int, int], None]


class SourceFormat(StrEnum):
    CSV = "csv"
    PARQUET = "parquet"
    JSON = "json"
    JSONL = "jsonl"
    EXCEL = "xlsx"


EXTENSIONS = {
    ".csv": SourceFormat.CSV,
    ".tsv": SourceFormat.CSV,
    ".txt": SourceFormat.CSV,
    ".tab": SourceFormat.CSV,
    ".parquet": SourceFormat.PARQUET,
    ".pq": SourceFormat.PARQUET,
    ".json": SourceFormat.JSON,
    ".jsonl": SourceFormat.JSONL,
    ".ndjson": SourceFormat.JSONL,
    ".xlsx": SourceFormat.EXCEL,
}
_MAGIC = (
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"%PDF", "a PDF document"),
    (b"\x7fELF", "an executable program"),
    (b"\xd0\xcf\x11\xe0", "a legacy Office file (.xls/.doc); save it as .xlsx or CSV"),
    (b"Rar!", "a RAR archive"),
    (b"7z\xbc\xaf", "a 7-Zip archive"),
    (b"BZh", "a bzip2 archive"),
    (b"\xfd7zXZ\x00", "an xz archive"),
    (b"\x28\xb5\x2f\xfd", "a Zstandard archive"),
)
SUPPORTED = "CSV/TSV (optionally gzip-compressed), Parquet, JSON, JSON Lines or Excel .xlsx"


@dataclass
class ReadResult:
    """A table read from a file, the format it was in, and remarks for the user."""

    table: pa.Table
    format: SourceFormat
    notes: list[str] = field(default_factory=list)


def detect_format(path: Path, filename: str | None = None) -> SourceFormat:
    """Decide a file's format from its first bytes and, where they do not tell, its name."""
    with open(path, "rb") as fh:
        head = fh.read(HEAD_BYTES)
    if not head:
        raise InvalidInputError("the file is empty")
    suffix = Path(filename or path.name).suffix.lower()
    if head.startswith(b"PAR1"):
        return SourceFormat.PARQUET
    if head.startswith(b"PK\x03\x04"):
        if suffix in ("", ".xlsx", ".xlsm"):
            return SourceFormat.EXCEL
        raise UnsupportedFormatError(
            f"the file is a ZIP archive, not {suffix or 'a table'}; upload {SUPPORTED}"
        )
    for magic, what in _MAGIC:
        if head.startswith(magic):
            raise UnsupportedFormatError(f"the file is {what}, not a table; upload {SUPPORTED}")
    if head.startswith(b"\x1f\x8b"):
        return (
            SourceFormat.CSV
            if suffix in ("", ".gz", ".csv", ".tsv", ".txt")
            else (_unsupported(suffix))
        )
    if suffix in EXTENSIONS:
        fmt = EXTENSIONS[suffix]
        if fmt in (SourceFormat.PARQUET, SourceFormat.EXCEL):
            raise InvalidInputError(f"the file is named {suffix} but is not a valid {fmt} file")
        return fmt
    if suffix and suffix not in (".gz",):
        _unsupported(suffix)
    stripped = head.lstrip(codecs.BOM_UTF8).lstrip()
    if stripped.startswith(b"["):
        return SourceFormat.JSON
    if stripped.startswith(b"{"):
        first = stripped.split(b"\n", 1)[0].strip()
        return SourceFormat.JSONL if first.endswith(b"}") else SourceFormat.JSON
    return SourceFormat.CSV


def _unsupported(suffix: str) -> SourceFormat:
    raise UnsupportedFormatError(f"files ending in {suffix} are not supported; upload {SUPPORTED}")


def read_table(
    path: Path,
    filename: str | None = None,
    *,
    limits: ReadLimits | None = None,
    on_bytes: BytesRead | None = None,
) -> ReadResult:
    """Read a CSV/TSV, Parquet, JSON, JSON Lines or Excel file into an Arrow table.

    Parameters
    ----------
    path : Path
        The local file.
    filename : str, optional
        The name the user gave the file (its extension helps detect the format).
    limits : ReadLimits, optional
        The widest and longest table accepted, and what a file may expand into.
    on_bytes : callable, optional
        Called with ``(bytes_read, total_bytes)`` while a text file is parsed.

    Raises
    ------
    InvalidInputError
        The file is empty, has no data rows, ragged rows, an unclosed quote, JSON nested too
        deep, too many columns, or cannot be parsed; the message says which and where.
    PayloadTooLargeError
        More rows than ``limits.max_rows``, or it decompresses past
        ``limits.max_decompressed_bytes``; it is not read further.
    UnsupportedFormatError
        The file is not a table (an image, an archive, an unknown extension...).
    """
    limits = limits or ReadLimits()
    fmt = detect_format(path, filename)
    if fmt is SourceFormat.CSV:
        result = read_csv_table(path, limits=limits, on_bytes=on_bytes)
    else:
        from mlharbor.data import formats  # it builds on this module

        result = formats.READERS[fmt](path, limits)
    result.table = check_table(result.table, result.notes, limits.max_columns, limits.max_rows)
    return result


def check_table(
    table: pa.Table, notes: list[str], max_columns: int, max_rows: int | None = None
) -> pa.Table:
    """Give every column a unique usable name and check the size; notes record renames."""
    names = check_names(table.column_names, notes, max_columns)
    table = table.rename_columns(names)
    if table.num_rows == 0:
        raise InvalidInputError(
            f"the file has a header ({table.num_columns} columns) but no data rows"
        )
    if max_rows is not None:
        check_rows(table.num_rows, max_rows)
    return table


def check_names(names: list[str | None], notes: list[str], max_columns: int) -> list[str]:
    """Usable, unique column names for ``names`` (notes record renames); check the width."""
    if not names:
        raise InvalidInputError("the file has no columns")
    if len(names) > max_columns:
        raise InvalidInputError(
            f"the file has {len(names):,} columns; the limit is {max_columns:,} "
            "(setting MLHARBOR_MAX_COLUMNS)"
        )
    return _name_columns([str(n) if n is not None else "" for n in names], notes)


def _name_columns(names: list[str], notes: list[str]) -> list[str]:
    cleaned = [n.strip() for n in names]
    for i, name in enumerate(cleaned):
        if not name:
            cleaned[i] = f"column_{i + 1}"
            notes.append(f"column {i + 1} had no name; it is called {cleaned[i]!r}")
    return dedupe_names(cleaned, notes)


def dedupe_names(names: list[str], notes: list[str]) -> list[str]:
    """Rename repeated column names as pandas does (``a``, ``a.1``, ``a.2``...).

    A new name never takes one that is already a column's (with ``a, a, a.1`` the second
    ``a`` becomes ``a.2``). A note tells the user which columns were renamed.
    """
    taken = set(names)
    if len(taken) == len(names):
        return names
    seen: dict[str, int] = {}
    renamed: dict[str, list[str]] = {}
    out = []
    for name in names:
        if name not in seen:
            seen[name] = 0
            out.append(name)
            continue
        k = seen[name]
        while True:
            k += 1
            candidate = f"{name}.{k}"
            if candidate not in taken:
                break
        seen[name] = k
        taken.add(candidate)
        renamed.setdefault(name, [name]).append(candidate)
        out.append(candidate)
    desc = "; ".join(
        f"{name!r} {len(new)} times, now {', '.join(map(repr, new))}"
        for name, new in list(renamed.items())[:5]
    )
    more = f" (and {len(renamed) - 5} more names)" if len(renamed) > 5 else ""
    notes.append(f"warning: duplicate column names were renamed: {desc}{more}")
    return out


# ---------------------------------------------------------------- CSV


@dataclass
class CsvDialect:
    encoding: str
    delimiter: str
    decimal: str
    header: list[str]
    header_lines: int
    compressed: bool
    multiline: bool = False
    #: Arrow's block size must hold the longest line: at least this.
    min_block: int = 0


class _Counting(io.RawIOBase):
    """A reader that reports how many bytes of the underlying file were consumed."""

    def __init__(self, raw: io.BufferedIOBase, total: int, report: BytesRead) -> None:
        self.raw, self.total, self.report, self.done = raw, total, report, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self.raw.readinto(buffer)
        self.done += n
        self.report(self.done, self.total)
        return n


def open_bytes(
    path: Path, compressed: bool, limit: int, report: BytesRead | None = None
) -> Bounded:
    """The file's (decompressed) bytes, refused past ``limit`` as they are read."""
    raw: Any = open(path, "rb")  # noqa: SIM115 - closed with the returned reader
    if report is not None:
        raw = io.BufferedReader(_Counting(raw, path.stat().st_size, report), 1 << 20)
    if compressed:
        return Bounded(gzip.GzipFile(fileobj=raw, mode="rb"), limit, owns=raw)
    return Bounded(raw, limit)


def _read_head(fh: Any) -> tuple[bytes, bool]:
    """The first bytes of a file, its whole first line however long, and whether that is all.

    A header longer than ``HEAD_BYTES`` (thousands of columns) is read to its end, with
    ``HEAD_BYTES`` more after it for the guesses made from the first rows.
    """
    head = fh.read(HEAD_BYTES)
    chunk = head
    while chunk and b"\n" not in chunk and b"\r" not in chunk and len(head) < MAX_HEADER_BYTES:
        chunk = fh.read(len(head))
        head += chunk
    if len(head) > HEAD_BYTES:
        head += fh.read(HEAD_BYTES)
    return head, not fh.read(1)


def sniff_csv(path: Path, limit: int = ReadLimits.max_decompressed_bytes) -> CsvDialect:
    """Detect the encoding, delimiter, decimal mark and header of a delimited text file."""
    with open(path, "rb") as fh:
        compressed = fh.read(2) == b"\x1f\x8b"
    try:
        with open_bytes(path, compressed, limit) as fh:
            head, at_end = _read_head(fh)
    except (OSError, EOFError) as exc:
        raise InvalidInputError(f"the gzip-compressed file is damaged: {exc}")
    if b"\x00" in head:
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            raise UnsupportedFormatError("UTF-16 text is not supported; save the file as UTF-8")
        raise UnsupportedFormatError(f"the file is binary, not text; upload {SUPPORTED}")
    encoding, text = _decode_head(head)
    if not text.strip():
        raise InvalidInputError("the file is empty (only white space)")
    lines = text.splitlines()
    if not at_end and len(lines) > 1:
        lines = lines[:-1]  # the last line of a partial read may be cut
    delimiter = _guess_delimiter(lines[:200])
    header_rows = list(csv.reader(io.StringIO("\n".join(lines[:1])), delimiter=delimiter))
    header = header_rows[0] if header_rows else []
    decimal = _guess_decimal(lines[1:200], delimiter)
    # Fewer records than lines means quoted values span lines; the parser must know.
    n_records = sum(1 for _ in csv.reader(io.StringIO("\n".join(lines)), delimiter=delimiter))
    multiline = n_records < len(lines)
    min_block = 4 * max(len(line.encode("utf-8", errors="replace")) for line in lines[:200])
    return CsvDialect(encoding, delimiter, decimal, header, 1, compressed, multiline, min_block)


def _decode_head(head: bytes) -> tuple[str, str]:
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig", head[len(codecs.BOM_UTF8) :].decode("utf-8", errors="ignore")
    try:
        return "utf-8", codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    # Short samples fit several code pages equally well; Western files (cp1252) are by far the
    # most common non-UTF-8 CSVs, so prefer it whenever it is among the plausible ones.
    candidates = [m.encoding for m in from_bytes(head)]
    western = {"cp1252", "latin_1", "iso8859_15", "ascii", "utf_8"}
    encoding = "cp1252" if not candidates or western & set(candidates) else candidates[0]
    return encoding, head.decode(encoding, errors="replace")


def _guess_delimiter(lines: list[str]) -> str:
    best, best_score = ",", (0.0, 0)
    for delim in (",", ";", "\t", "|"):
        try:
            counts = [len(row) for row in csv.reader(lines, delimiter=delim) if row]
        except csv.Error:  # a field over csv's size limit: not the delimiter of a long line
            continue
        if not counts:
            continue
        mode = max(set(counts), key=counts.count)
        if mode < 2:
            continue
        score = (counts.count(mode) / len(counts), mode)
        if score > best_score:
            best, best_score = delim, score
    return best


_DECIMAL_COMMA = re.compile(r"^-?\d{1,3}(\.\d{3})*,\d+$|^-?\d+,\d+$")
_DECIMAL_POINT = re.compile(r"^-?\d+\.\d+$")


def _guess_decimal(lines: list[str], delimiter: str) -> str:
    if delimiter == ",":
        return "."
    comma = point = 0
    for row in csv.reader(lines, delimiter=delimiter):
        for value in row:
            value = value.strip()
            comma += bool(_DECIMAL_COMMA.match(value))
            point += bool(_DECIMAL_POINT.match(value))
    return "," if comma > point else "."


def csv_notes(dialect: CsvDialect) -> list[str]:
    """What the user should know about how a delimited text file was read."""
    notes: list[str] = []
    if dialect.encoding not in ("utf-8", "utf-8-sig"):
        notes.append(f"text encoding detected as {dialect.encoding}; converted to UTF-8")
    if dialect.delimiter != ",":
        name = {";": "semicolon", "\t": "tab", "|": "pipe"}[dialect.delimiter]
        notes.append(f"columns are separated by {name}s")
    if dialect.decimal == ",":
        notes.append("numbers use a decimal comma")
    return notes


def csv_options(
    dialect: CsvDialect,
) -> tuple[pacsv.ReadOptions, pacsv.ParseOptions, pacsv.ConvertOptions]:
    """Arrow's read, parse and convert options for a sniffed dialect (columns ``f0``...)."""
    read = pacsv.ReadOptions(
        column_names=[f"f{i}" for i in range(len(dialect.header))],
        skip_rows=dialect.header_lines,
        encoding="utf8" if dialect.encoding in ("utf-8", "utf-8-sig") else dialect.encoding,
        block_size=max(1 << 20, dialect.min_block),
    )
    parse = pacsv.ParseOptions(delimiter=dialect.delimiter, newlines_in_values=dialect.multiline)
    convert = pacsv.ConvertOptions(
        decimal_point=dialect.decimal, strings_can_be_null=True, quoted_strings_can_be_null=True
    )
    return read, parse, convert


def read_csv_table(
    path: Path,
    dialect: CsvDialect | None = None,
    on_bytes: BytesRead | None = None,
    *,
    limits: ReadLimits | None = None,
) -> ReadResult:
    """Read a whole delimited text file, types inferred over all of it; errors say where."""
    limits = limits or ReadLimits()
    dialect = dialect or sniff_csv(path, limits.max_decompressed_bytes)
    notes = csv_notes(dialect)
    if not dialect.header:
        raise InvalidInputError("the file has no header row")
    read, parse, convert = csv_options(dialect)
    try:
        with open_bytes(path, dialect.compressed, limits.max_decompressed_bytes, on_bytes) as fh:
            if dialect.encoding == "utf-8-sig":
                fh.read(len(codecs.BOM_UTF8))
            table = pacsv.read_csv(fh, read, parse, convert)
            quotes = fh.n_quotes
    except pa.ArrowInvalid as exc:
        text = str(exc)
        if "Expected" in text and "columns" in text:
            error = find_bad_record(path, dialect, limits)
            if error is not None:
                raise error
            if not dialect.multiline:  # a quoted value spans lines after the sniffed head
                dialect.multiline = True
                return read_csv_table(path, dialect, limits=limits)
            raise InvalidInputError(f"the CSV file could not be parsed: {short(text)}")
        if "UTF8" in text or "UTF-8" in text:
            return _read_csv_as(path, dialect, "cp1252", notes, limits)
        raise InvalidInputError(f"the CSV file could not be parsed: {short(text)}")
    check_quotes(quotes, path, dialect, limits)
    check_rows(table.num_rows, limits.max_rows)
    if dialect.encoding.startswith("utf-8") and any(
        pa.types.is_binary(t) or pa.types.is_large_binary(t) for t in table.schema.types
    ):
        # Arrow reads invalid UTF-8 as bytes: the body is in another encoding than the head.
        return _read_csv_as(path, dialect, "cp1252", notes, limits)
    table = table.rename_columns(dialect.header)
    return ReadResult(table, SourceFormat.CSV, notes)


def _read_csv_as(
    path: Path, dialect: CsvDialect, encoding: str, notes: list[str], limits: ReadLimits
) -> ReadResult:
    """Re-read a file whose head looked like UTF-8 but whose body is not."""
    dialect.encoding = encoding
    notes.insert(0, f"the file is not valid UTF-8; read it as {encoding}")
    read = pacsv.ReadOptions(
        skip_rows=1,
        column_names=[f"f{i}" for i in range(len(dialect.header))],
        encoding=encoding,
        block_size=max(1 << 20, dialect.min_block),
    )
    parse = pacsv.ParseOptions(delimiter=dialect.delimiter, newlines_in_values=dialect.multiline)
    convert = pacsv.ConvertOptions(decimal_point=dialect.decimal, strings_can_be_null=True)
    try:
        with open_bytes(path, dialect.compressed, limits.max_decompressed_bytes) as fh:
            table = pacsv.read_csv(fh, read, parse, convert)
            quotes = fh.n_quotes
    except pa.ArrowInvalid as exc:
        raise InvalidInputError(f"the CSV file could not be parsed: {short(str(exc))}")
    check_quotes(quotes, path, dialect, limits)
    check_rows(table.num_rows, limits.max_rows)
    return ReadResult(table.rename_columns(dialect.header), SourceFormat.CSV, notes)


def check_quotes(quotes: int, path: Path, dialect: CsvDialect, limits: ReadLimits) -> None:
    """Refuse a file that ends inside a quoted value, given how many quotes it has.

    Arrow reads an unclosed quote as a value running to the end of the file; an even
    number of quotes rules that out at no cost, an odd one (a stray quote inside a value
    also makes one) is checked record by record.
    """
    if quotes % 2:
        error = find_bad_record(path, dialect, limits)
        if error is not None:
            raise error


#: Read after the last line: it ends up inside a value only if the file ends inside quotes.
_END_MARK = "\ue000end of file\ue000"


def find_bad_record(
    path: Path, dialect: CsvDialect, limits: ReadLimits
) -> InvalidInputError | None:
    """The first ragged row (with its line), or a quote still open at the end of the file
    (with the line where it opened); ``None`` if the file has neither."""
    expected = len(dialect.header)
    codec = "utf-8-sig" if dialect.encoding == "utf-8-sig" else dialect.encoding
    # A quote left open makes one value of the rest of the file: let csv read it whole.
    csv.field_size_limit(max(csv.field_size_limit(), min(limits.max_decompressed_bytes, 2**31 - 1)))
    with open_bytes(path, dialect.compressed, limits.max_decompressed_bytes) as raw:
        text = io.TextIOWrapper(raw, encoding=codec, errors="replace", newline="")
        reader = csv.reader(itertools.chain(text, [_END_MARK]), delimiter=dialect.delimiter)
        ended = 0  # the line the previous record ended on
        for row in reader:
            start, ended = ended + 1, reader.line_num
            if row == [_END_MARK]:
                return None
            if row and row[-1].endswith(_END_MARK):
                line = start + sum(_line_breaks(value) for value in row[:-1])
                return InvalidInputError(
                    f"line {line} opens a quoted value that is never closed: the quote "
                    "runs to the end of the file",
                    line=line,
                )
            if row and len(row) != expected and start > 1:
                sample = dialect.delimiter.join(row)[:80]
                return InvalidInputError(
                    f"line {ended} has {len(row)} fields but the header has {expected}: {sample!r}",
                    line=ended,
                )
    return None


def _line_breaks(value: str) -> int:
    return value.count("\n") + value.count("\r") - value.count("\r\n")


def short(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


# ---------------------------------------------------------------- JSON records


def records_to_table(records: Any) -> pa.Table:
    """Build a table from JSON records (a list of objects) or columns (an object of lists)."""
    if isinstance(records, dict) and records and all(isinstance(v, list) for v in records.values()):
        lengths = {len(v) for v in records.values()}
        if len(lengths) > 1:
            raise InvalidInputError("the columns of the JSON object have different lengths")
        columns = {str(k): v for k, v in records.items()}
    elif isinstance(records, list):
        if not records:
            raise InvalidInputError("the JSON array is empty: there are no records")
        columns = {}
        for i, rec in enumerate(records):
            if not isinstance(rec, dict):
                raise InvalidInputError(
                    f"record {i + 1} is {type(rec).__name__}, not an object of column values"
                )
            for key in rec:
                columns.setdefault(str(key), None)
        columns = {k: [rec.get(k) for rec in records] for k in columns}
    else:
        raise InvalidInputError(
            "JSON data must be an array of objects (records) or an object of column arrays"
        )
    return pa.table({name: _to_array(values) for name, values in columns.items()})


def _to_array(values: list[Any]) -> pa.Array:
    if any(isinstance(v, dict | list) for v in values):
        return pa.array([None if v is None else json.dumps(v) for v in values], pa.string())
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        # Mixed kinds of value (numbers and text) in one column: keep them all as text.
        return pa.array([None if v is None else str(v) for v in values], pa.string())
