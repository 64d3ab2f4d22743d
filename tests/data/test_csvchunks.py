"""Parsing a CSV file in line-aligned chunks on several threads, and the files it leaves alone."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from mlharbor.data.convert import convert_file
from mlharbor.data.csvchunks import ChunkedCsv, can_chunk
from mlharbor.data.ingest import csv_options, read_table, sniff_csv

from .factories import write
from .test_convert import mixed_csv


def chunked(path: Path, chunk_bytes: int, workers: int) -> tuple[pa.Table, ChunkedCsv, list]:
    dialect = sniff_csv(path)
    read, parse, convert = csv_options(dialect)
    seen: list[tuple[int, int]] = []
    reader = ChunkedCsv(
        path,
        read,
        parse,
        convert,
        chunk_bytes=chunk_bytes,
        workers=workers,
        on_bytes=lambda done, total: seen.append((done, total)),
    )
    return pa.concat_tables(list(reader)), reader, seen


@pytest.mark.parametrize("workers", [1, 3])
def test_chunks_come_back_in_file_order_with_every_row_once(tmp_path: Path, workers: int) -> None:
    path = write(tmp_path, "mixed.csv", mixed_csv(5000))
    table, reader, seen = chunked(path, chunk_bytes=1000, workers=workers)
    assert table.num_rows == 5000
    assert table.column("f0").to_pylist() == list(range(5000))  # no row lost, doubled or moved
    assert reader.hexdigest() == hashlib.sha256(path.read_bytes()).hexdigest()
    assert seen[-1] == (path.stat().st_size, path.stat().st_size)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)


def test_a_last_line_without_a_line_end_is_kept(tmp_path: Path) -> None:
    path = write(tmp_path, "tail.csv", "a,b\n" + "1,x\n" * 500 + "2,y")
    table, _, _ = chunked(path, chunk_bytes=256, workers=2)
    assert table.num_rows == 501 and table.column("f1")[-1].as_py() == "y"


def test_which_files_are_cut_into_chunks(tmp_path: Path) -> None:
    plain = write(tmp_path, "plain.csv", "a,b\n1,2\n")
    assert can_chunk(plain, "utf-8", compressed=False, multiline=False)
    assert can_chunk(plain, "cp1252", compressed=False, multiline=False)
    assert not can_chunk(plain, "utf-16", compressed=False, multiline=False)
    assert not can_chunk(plain, "utf-8", compressed=True, multiline=False)
    assert not can_chunk(plain, "utf-8", compressed=False, multiline=True)
    old_mac = write(tmp_path, "cr.csv", "a,b\r1,2\r")
    assert not can_chunk(old_mac, "utf-8", compressed=False, multiline=False)


def convert(tmp_path: Path, path: Path) -> pa.Table:
    convert_file(path, tmp_path / "out.parquet", block_bytes=2048)
    return pq.read_table(tmp_path / "out.parquet")


def test_a_value_spanning_lines_below_the_sniffed_head_is_read_whole(tmp_path: Path) -> None:
    # The head (64 KiB) shows no quoted line break, so the file is cut into chunks; the one
    # further down then fails to parse in its chunk and the whole-file reader takes over.
    rows = "".join(f'{i},"plain {i}"\n' for i in range(8000))
    text = "id,note\n" + rows + '8000,"two\nlines"\n' + '8001,"last"\n'
    stored = convert(tmp_path, write(tmp_path, "late-quote.csv", text))
    assert stored.num_rows == 8002
    assert stored.column("note")[8000].as_py() == "two\nlines"
    assert stored.equals(read_table(tmp_path / "late-quote.csv").table)


def test_lone_carriage_returns_and_overlong_lines_are_read_right(tmp_path: Path) -> None:
    cr = write(tmp_path, "cr.csv", "a,b\r" + "".join(f"{i},{i * 2}\r" for i in range(3000)))
    stored = convert(tmp_path, cr)
    assert stored.num_rows == 3000 and stored.column("b")[-1].as_py() == 5998
    # One column, one line longer than a chunk: cutting it would make two valid rows of it.
    long = write(tmp_path, "long.csv", "text\n" + "short\n" * 500 + "x" * 5000 + "\nend\n")
    stored = convert(tmp_path, long)
    assert stored.num_rows == 502
    assert stored.column("text")[500].as_py() == "x" * 5000


def test_a_western_encoded_file_is_chunked_and_decoded(tmp_path: Path) -> None:
    body = "city,n\n" + "".join(f"Zürich {i % 7},{i}\n" for i in range(6000))
    path = write(tmp_path, "cp.csv", body.encode("cp1252"))
    stored = convert(tmp_path, path)
    assert stored.column("city")[1].as_py() == "Zürich 1" and stored.num_rows == 6000
    whole = pacsv.read_csv(path, read_options=pacsv.ReadOptions(encoding="cp1252"))
    assert stored.column("city").to_pylist() == whole.column("city").to_pylist()
