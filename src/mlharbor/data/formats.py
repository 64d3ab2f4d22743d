"""Reading the formats other than CSV: Parquet, JSON, JSON Lines and Excel, within limits.

Each reader refuses a file past :class:`~mlharbor.data.limits.ReadLimits` as early as it can
tell: Parquet by its footer and then row group by row group, JSON by a nesting scan before
it is parsed, Excel by the inflated size of its zip members before openpyxl opens it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.json as pajson
import pyarrow.parquet as pq

from mlharbor.data.ingest import (
    ReadResult,
    SourceFormat,
    check_names,
    records_to_table,
    short,
)
from mlharbor.data.limits import (
    ReadLimits,
    check_json_depth,
    check_rows,
    too_many_bytes,
    too_many_rows,
)
from mlharbor.errors import InvalidInputError


def read_parquet(path: Path, limits: ReadLimits) -> ReadResult:
    """Read a Parquet file row group by row group, refused as soon as it is too large."""
    try:
        parquet = pq.ParquetFile(path)
        meta = parquet.metadata
        # The footer's counts are checked first; the data as it is read, in case they lie.
        check_rows(meta.num_rows, limits.max_rows)
        declared = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
        if declared > limits.max_decompressed_bytes:
            raise too_many_bytes(limits.max_decompressed_bytes)
        if meta.num_columns > limits.max_columns:
            check_names(parquet.schema_arrow.names, [], limits.max_columns)
        groups, rows, size = [], 0, 0
        for i in range(meta.num_row_groups):
            group = parquet.read_row_group(i)
            rows, size = rows + group.num_rows, size + group.nbytes
            check_rows(rows, limits.max_rows)
            if size > limits.max_decompressed_bytes:
                raise too_many_bytes(limits.max_decompressed_bytes)
            groups.append(group)
        table = pa.concat_tables(groups) if groups else parquet.schema_arrow.empty_table()
    except (pa.ArrowException, OSError) as exc:
        raise InvalidInputError(f"the Parquet file could not be read: {short(str(exc))}")
    return ReadResult(table, SourceFormat.PARQUET)


def read_json(path: Path, limits: ReadLimits) -> ReadResult:
    check_json_depth(path, limits.max_json_depth, per_line=False)
    try:
        with open(path, "rb") as fh:
            data = json.load(fh)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"the JSON file is not valid JSON: {exc}")
    if isinstance(data, list):
        check_rows(len(data), limits.max_rows)
    return ReadResult(records_to_table(data), SourceFormat.JSON)


def read_jsonl(path: Path, limits: ReadLimits) -> ReadResult:
    check_json_depth(path, limits.max_json_depth, per_line=True)
    try:
        table = pajson.read_json(path)
        if not any(pa.types.is_struct(t) or pa.types.is_list(t) for t in table.schema.types):
            return ReadResult(table, SourceFormat.JSONL)
    except pa.ArrowInvalid:
        pass
    records = []
    with open(path, encoding="utf-8", errors="replace") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise InvalidInputError(f"line {number} is not valid JSON: {exc.msg}", line=number)
            if len(records) > limits.max_rows:
                raise too_many_rows(limits.max_rows)
    return ReadResult(records_to_table(records), SourceFormat.JSONL)


def read_excel(path: Path, limits: ReadLimits) -> ReadResult:
    import zipfile

    import pandas as pd

    try:
        with zipfile.ZipFile(path) as archive:
            # zipfile never inflates a member past its declared size, so the sum is a bound.
            inflated = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError) as exc:
        raise InvalidInputError(f"the Excel file could not be read: {short(str(exc))}")
    if inflated > limits.max_decompressed_bytes:
        raise too_many_bytes(limits.max_decompressed_bytes)
    try:
        sheets = pd.ExcelFile(path, engine="openpyxl")
        # One row more than the limit tells that it is over, without reading the rest.
        frame = pd.read_excel(sheets, sheet_name=sheets.sheet_names[0], nrows=limits.max_rows + 1)
    except Exception as exc:  # openpyxl raises many kinds for a broken workbook
        raise InvalidInputError(f"the Excel file could not be read: {short(str(exc))}")
    check_rows(len(frame), limits.max_rows)
    notes = []
    if len(sheets.sheet_names) > 1:
        notes.append(f"read the first sheet {sheets.sheet_names[0]!r} of {len(sheets.sheet_names)}")
    frame.columns = ["" if str(c).startswith("Unnamed: ") else str(c) for c in frame.columns]
    frame = frame.convert_dtypes(dtype_backend="pyarrow")
    table = pa.Table.from_pandas(frame, preserve_index=False)
    return ReadResult(table, SourceFormat.EXCEL, notes)


READERS: dict[SourceFormat, Callable[[Path, ReadLimits], ReadResult]] = {
    SourceFormat.PARQUET: read_parquet,
    SourceFormat.JSON: read_json,
    SourceFormat.JSONL: read_jsonl,
    SourceFormat.EXCEL: read_excel,
}
