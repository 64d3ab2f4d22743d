"""Files that are hostile, or just real: bombs, deep JSON, odd headers, unclosed quotes."""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import time
import zipfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlharbor.data.convert import convert_file
from mlharbor.data.ingest import dedupe_names, read_table
from mlharbor.data.limits import ReadLimits, check_json_depth
from mlharbor.errors import InvalidInputError, PayloadTooLargeError, UnsupportedFormatError

from .factories import write


def gzip_bomb(path: Path, size: int, line: bytes = b"1,2,3,4,5,6,7,8\n") -> Path:
    """A gzip file that inflates to about ``size`` bytes of one repeated line under a header.

    One gzip member of 16 MiB of lines is compressed once and written again and again (a gzip
    file may hold many members), so a bomb of gigabytes costs nothing to make.
    """
    block = line * ((16 << 20) // len(line))
    member = gzip.compress(block, compresslevel=9)
    with open(path, "wb") as fh:
        fh.write(gzip.compress(b"a,b,c,d,e,f,g,h\n"))
        for _ in range(max(1, size // len(block))):
            fh.write(member)
    return path


def convert(tmp_path: Path, path: Path, limits: ReadLimits) -> object:
    return convert_file(path, tmp_path / "out.parquet", limits=limits)


def test_gzip_bomb_stops_at_the_decompressed_limit_without_inflating_it_all(
    tmp_path: Path,
) -> None:
    bomb = gzip_bomb(tmp_path / "bomb.csv.gz", 2 << 30)  # 2 GiB inflated
    assert bomb.stat().st_size < 5_000_000
    limits = ReadLimits(max_decompressed_bytes=20_000_000)
    start = time.monotonic()
    with pytest.raises(PayloadTooLargeError) as info:
        convert(tmp_path, bomb, limits)
    assert time.monotonic() - start < 20
    assert "20,000,000 bytes" in str(info.value)
    assert "MLHARBOR_MAX_DECOMPRESSED_BYTES" in str(info.value)
    with pytest.raises(PayloadTooLargeError):
        read_table(bomb, limits=limits)  # the whole-file reader stops there too


def test_row_limit_applies_while_streaming_and_to_every_format(tmp_path: Path) -> None:
    limits = ReadLimits(max_rows=1000)
    rows = "a,b\n" + "".join(f"{i},{i * 2}\n" for i in range(1001))
    for path in (write(tmp_path, "plain.csv", rows), tmp_path / "rows.csv.gz"):
        if path.suffix == ".gz":
            path.write_bytes(gzip.compress(rows.encode()))
        with pytest.raises(PayloadTooLargeError, match="MLHARBOR_MAX_ROWS"):
            convert(tmp_path, path, limits)
    records = [{"a": i} for i in range(1001)]
    write(tmp_path, "r.json", json.dumps(records))
    write(tmp_path, "r.jsonl", "\n".join(json.dumps(r) for r in records))
    pq.write_table(pa.table({"a": list(range(1001))}), tmp_path / "r.parquet")
    for name in ("r.json", "r.jsonl", "r.parquet"):
        with pytest.raises(PayloadTooLargeError, match="more than 1,000 rows"):
            convert(tmp_path, tmp_path / name, limits)
    assert read_table(write(tmp_path, "ok.csv", "a\n1\n"), limits=limits).table.num_rows == 1


def test_parquet_whose_row_groups_inflate_past_the_limit_is_refused(tmp_path: Path) -> None:
    table = pa.table({"text": ["x" * 1000] * 20_000})  # 20 MB, compresses to almost nothing
    pq.write_table(table, tmp_path / "big.parquet", compression="zstd")
    assert (tmp_path / "big.parquet").stat().st_size < 1_000_000
    with pytest.raises(PayloadTooLargeError, match="decompresses to more than"):
        read_table(tmp_path / "big.parquet", limits=ReadLimits(max_decompressed_bytes=5_000_000))


def test_xlsx_zip_bomb_is_refused_before_openpyxl_inflates_it(tmp_path: Path) -> None:
    path = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/worksheets/sheet1.xml", b" " * 50_000_000)
    assert path.stat().st_size < 1_000_000
    with pytest.raises(PayloadTooLargeError, match="MLHARBOR_MAX_DECOMPRESSED_BYTES"):
        read_table(path, limits=ReadLimits(max_decompressed_bytes=10_000_000))


@pytest.mark.parametrize(("compress", "words"), [(bz2.compress, "bzip2"), (lzma.compress, "xz")])
def test_other_compressions_are_not_inflated_at_all(
    tmp_path: Path, compress: object, words: str
) -> None:
    path = write(tmp_path, "data.csv", compress(b"a,b\n" + b"1,2\n" * 100_000))  # type: ignore[operator]
    with pytest.raises(UnsupportedFormatError, match=words):
        read_table(path)


@pytest.mark.parametrize("name", ["deep.json", "deep.jsonl"])
def test_deep_json_is_refused_quickly_with_the_line(tmp_path: Path, name: str) -> None:
    deep = '{"a":' * 10_000 + "1" + "}" * 10_000
    body = f'[{{"a": 1}},\n{deep}]' if name.endswith(".json") else f'{{"a": 1}}\n{deep}\n'
    path = write(tmp_path, name, body)
    start = time.monotonic()
    with pytest.raises(InvalidInputError, match=r"nested deeper than 64 levels \(line 2\)"):
        read_table(path)
    assert time.monotonic() - start < 2


def test_json_depth_scan_ignores_brackets_in_strings_and_counts_escapes(tmp_path: Path) -> None:
    fine = {"text": "[[[[{{{{" * 50, "quote": 'say \\"[[[[" please', "nested": [[[1]]]}
    path = write(tmp_path, "f.jsonl", "\n".join(json.dumps(fine) for _ in range(3)) + "\n")
    check_json_depth(path, 64, per_line=True)
    check_json_depth(path, 4, per_line=True)
    with pytest.raises(InvalidInputError, match=r"\(line 1\)"):
        check_json_depth(path, 3, per_line=True)
    # Depth 64 is accepted, 65 is not.
    at_limit = write(tmp_path, "limit.json", "[" * 64 + "]" * 64)
    check_json_depth(at_limit, 64, per_line=False)
    over = write(tmp_path, "over.json", "\n" + "[" * 65 + "]" * 65)
    with pytest.raises(InvalidInputError, match=r"\(line 2\)"):
        check_json_depth(over, 64, per_line=False)


def test_duplicate_column_names_are_renamed_like_pandas_with_a_warning(tmp_path: Path) -> None:
    result = read_table(write(tmp_path, "d.csv", "a,b,a,a.1,a\n1,2,3,4,5\n6,7,8,9,10\n"))
    assert result.table.column_names == ["a", "b", "a.2", "a.1", "a.3"]
    assert result.table.column("a.2").to_pylist() == [3, 8]
    assert any("warning: duplicate column names" in n and "'a'" in n for n in result.notes)
    assert dedupe_names(["x", "y"], notes := []) == ["x", "y"] and notes == []
    converted = convert_file(write(tmp_path, "e.csv", "x,x\n1,2\n"), tmp_path / "o.parquet")
    assert converted.schema.names == ["x", "x.1"]
    assert any("duplicate column names" in n for n in converted.schema.notes)


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ('a,b\n1,"x\n2,y\n3,z\n', 2),  # the quote swallows the rest into column b
        ('a,b\n"1,x\n2,y\n3,z\n', 2),  # ... or into column a, and the row is short
        ('a,b\n1,x\n2,"multi\nline"\n3,"z\n', 5),  # a closed multi-line value before it
        ("a,b\n" + "".join(f"{i},v\n" for i in range(5000)) + '5000,"oops\n5001,w\n', 5002),
    ],
)
def test_an_unclosed_quote_is_refused_with_the_line_it_opens_on(
    tmp_path: Path, text: str, line: int
) -> None:
    path = write(tmp_path, "q.csv", text)
    for read in (lambda: read_table(path), lambda: convert(tmp_path, path, ReadLimits())):
        with pytest.raises(InvalidInputError, match=f"line {line} opens a quoted value") as info:
            read()
        assert info.value.details["line"] == line
    gz = tmp_path / "q.csv.gz"
    gz.write_bytes(gzip.compress(text.encode()))
    with pytest.raises(InvalidInputError, match=f"line {line} opens"):
        convert(tmp_path, gz, ReadLimits())


def test_a_stray_quote_inside_a_value_is_still_accepted(tmp_path: Path) -> None:
    result = read_table(write(tmp_path, "s.csv", 'tv,size\nSony,55" screen\nLG,42\n'))
    assert result.table.column("size").to_pylist() == ['55" screen', "42"]


@pytest.mark.parametrize("columns", [5_000])
def test_a_header_longer_than_64_kib_is_read_whole(tmp_path: Path, columns: int) -> None:
    names = [f"measurement_{i:05d}" for i in range(columns)]
    header = ",".join(names)
    assert len(header) > 1 << 16
    rows = "".join(",".join(str((r * i) % 97) for i in range(columns)) + "\n" for r in range(3))
    path = write(tmp_path, "wide.csv", header + "\n" + rows)
    converted = convert(tmp_path, path, ReadLimits())
    assert converted.n_columns == columns  # type: ignore[attr-defined]
    assert pq.read_table(tmp_path / "out.parquet").column_names == names
    assert read_table(path).table.column_names == names
    gz = tmp_path / "wide.csv.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    assert convert(tmp_path, gz, ReadLimits()).n_columns == columns  # type: ignore[attr-defined]


def test_ordinary_files_are_unchanged_by_the_limits(tmp_path: Path) -> None:
    buf = io.StringIO()
    for i in range(2000):
        buf.write(json.dumps({"id": i, "tags": ["a", "b"], "o": {"k": i}, "t": "[x]"}) + "\n")
    result = read_table(write(tmp_path, "ok.jsonl", buf.getvalue()))
    assert result.table.num_rows == 2000


def test_numeric_override_accepts_numbers_written_as_text_but_not_infinity() -> None:
    from mlharbor.data.schema import check_override, infer_schema

    table = pa.table({"x": [" 3 ", "1.5", None, "-2e3", "nan"], "y": ["1", "inf", "x", "2", "3"]})
    schema = infer_schema(table)
    check_override(table.column("x"), schema.column("x"), "numeric")
    with pytest.raises(InvalidInputError, match=r"2 value\(s\) are not numbers, e.g. 'inf', 'x'"):
        check_override(table.column("y"), schema.column("y"), "numeric")
