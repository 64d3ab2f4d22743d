"""Reading every kind of file a user uploads, and refusing the ones that are not tables."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from mlharbor.data.ingest import read_table
from mlharbor.data.limits import ReadLimits
from mlharbor.errors import InvalidInputError, UnsupportedFormatError

from .factories import TITANIC_LIKE, frame, gzip_csv, write


def test_titanic_like_csv_reads_with_types(tmp_path: Path) -> None:
    result = read_table(write(tmp_path, "titanic.csv", TITANIC_LIKE))
    t = result.table
    assert t.num_rows == 120
    assert t.column_names[:3] == ["PassengerId", "Survived", "Pclass"]
    assert pa.types.is_integer(t.schema.field("Pclass").type)
    assert t.column("Name")[0].as_py() == "Passenger 1, Mr. John"  # quoted comma kept
    assert t.column("Age").null_count > 0  # empty cells are missing, not ""


def test_semicolon_csv_with_decimal_comma(tmp_path: Path) -> None:
    text = "name;price;qty\nchair;12,50;3\ntable;199,99;1\nlamp;5,00;10\n"
    result = read_table(write(tmp_path, "eu.csv", text))
    assert result.table.column("price").to_pylist() == [12.5, 199.99, 5.0]
    assert any("semicolon" in n for n in result.notes)
    assert any("decimal comma" in n for n in result.notes)


def test_tsv(tmp_path: Path) -> None:
    result = read_table(write(tmp_path, "x.tsv", "a\tb\n1\tx\n2\ty\n"))
    assert result.table.column_names == ["a", "b"]


def test_latin1_text_is_decoded(tmp_path: Path) -> None:
    content = "cidade,café\nSão Paulo,açúcar\nBrasília,pão\n".encode("latin-1")
    result = read_table(write(tmp_path, "latin.csv", content))
    assert result.table.column_names == ["cidade", "café"]
    assert result.table.column("cidade").to_pylist() == ["São Paulo", "Brasília"]
    assert any("encoding" in n or "UTF-8" in n for n in result.notes)


def test_latin1_after_a_long_ascii_head_is_decoded(tmp_path: Path) -> None:
    body = "name,n\n" + "plain,1\n" * 20_000 + "Ærø,2\n"
    result = read_table(write(tmp_path, "late.csv", body.encode("latin-1")))
    assert result.table.column("name").to_pylist()[-1] == "Ærø"


def test_utf8_bom_is_not_part_of_the_first_name(tmp_path: Path) -> None:
    result = read_table(write(tmp_path, "bom.csv", "\ufeffid,value\n1,2\n".encode()))
    assert result.table.column_names == ["id", "value"]


def test_quoted_values_spanning_lines(tmp_path: Path) -> None:
    text = 'id,review\n1,"good\nvery good"\n2,"bad"\n'
    result = read_table(write(tmp_path, "reviews.csv", text))
    assert result.table.column("review").to_pylist() == ["good\nvery good", "bad"]


def test_gzip_compressed_csv(tmp_path: Path) -> None:
    assert read_table(gzip_csv(tmp_path)).table.num_rows == 50


def test_parquet_json_jsonl_and_excel(tmp_path: Path) -> None:
    df = frame()
    df.to_parquet(tmp_path / "d.parquet")
    (tmp_path / "d.json").write_text(df.to_json(orient="records"))
    (tmp_path / "d.jsonl").write_text(df.to_json(orient="records", lines=True))
    df.to_excel(tmp_path / "d.xlsx", index=False)
    for name in ("d.parquet", "d.json", "d.jsonl", "d.xlsx"):
        result = read_table(tmp_path / name)
        assert result.table.num_rows == 50, name
        assert result.table.column_names == list(df.columns), name
        assert result.table.column("city").to_pylist() == df["city"].tolist(), name


def test_json_with_mixed_and_nested_values_keeps_them_as_text(tmp_path: Path) -> None:
    records = [{"a": 1, "b": {"x": 1}}, {"a": "two", "b": [1, 2]}]
    result = read_table(write(tmp_path, "mixed.json", json.dumps(records)))
    assert result.table.column("a").to_pylist() == ["1", "two"]
    assert json.loads(result.table.column("b")[0].as_py()) == {"x": 1}


def test_empty_column_names_are_named_and_noted(tmp_path: Path) -> None:
    result = read_table(write(tmp_path, "idx.csv", ",a,b\n0,1,2\n1,3,4\n"))
    assert result.table.column_names == ["column_1", "a", "b"]
    assert any("column_1" in n for n in result.notes)


def test_ten_thousand_columns(tmp_path: Path) -> None:
    header = ",".join(f"c{i}" for i in range(10_000))
    row = ",".join(str(i % 7) for i in range(10_000))
    result = read_table(write(tmp_path, "wide.csv", f"{header}\n{row}\n{row}\n"))
    assert result.table.num_columns == 10_000


@pytest.mark.parametrize(
    ("name", "content", "error", "words"),
    [
        ("empty.csv", b"", InvalidInputError, "empty"),
        ("blank.csv", b"  \n\n", InvalidInputError, "empty"),
        ("header.csv", b"a,b,c\n", InvalidInputError, "no data rows"),
        ("garbage.csv", bytes(range(256)) * 10, UnsupportedFormatError, "binary"),
        ("image.csv", b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, UnsupportedFormatError, "PNG"),
        ("ragged.csv", b"a,b,c\n1,2,3\n4,5,6\n7,8,9,10\n", InvalidInputError, "line 4"),
        ("doc.xml", b"<a/>", UnsupportedFormatError, ".xml"),
        ("bad.json", b'[{"a": 1},', InvalidInputError, "not valid JSON"),
        ("scalars.json", b"[1, 2, 3]", InvalidInputError, "record 1 is int"),
        ("bad.jsonl", b'{"a": 1}\n{"a": \n', InvalidInputError, "line 2"),
        ("fake.parquet", b"not parquet at all", InvalidInputError, "not a valid parquet"),
        ("old.xls", b"\xd0\xcf\x11\xe0" + b"\x00" * 64, UnsupportedFormatError, "legacy Office"),
    ],
)
def test_bad_files_get_a_message_naming_the_problem(
    tmp_path: Path, name: str, content: bytes, error: type[Exception], words: str
) -> None:
    with pytest.raises(error) as info:
        read_table(write(tmp_path, name, content))
    assert words.lower() in str(info.value).lower()


def test_column_limit_is_a_setting(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="the limit is 5"):
        read_table(
            write(tmp_path, "w.csv", "a,b,c,d,e,f\n1,2,3,4,5,6\n"), limits=ReadLimits(max_columns=5)
        )


def test_ragged_row_error_reports_the_physical_line(tmp_path: Path) -> None:
    text = 'a,b\n1,"x\ny"\n2,z\n3,w,extra\n'
    with pytest.raises(InvalidInputError, match="line 5 has 3 fields but the header has 2"):
        read_table(write(tmp_path, "r.csv", text))


def test_frame_round_trip_values(tmp_path: Path) -> None:
    df = frame()
    result = read_table(write(tmp_path, "f.csv", df.to_csv(index=False)))
    back = result.table.to_pandas()
    pd.testing.assert_series_equal(back["income"], df["income"], check_dtype=False)


def test_parquet_with_nested_columns_is_typed_and_the_nested_column_ignored(
    tmp_path: Path,
) -> None:
    import pyarrow.parquet as pq

    from mlharbor.data.schema import infer_schema

    table = pa.table(
        {"id": [1, 2, 3], "tags": [["a"], ["b", "c"], None], "meta": [{"k": 1}, {"k": 2}, {"k": 3}]}
    )
    pq.write_table(table, tmp_path / "n.parquet")
    schema = infer_schema(read_table(tmp_path / "n.parquet").table)
    roles = {c.name: c.role for c in schema.columns}
    assert roles == {"id": "feature", "tags": "ignore", "meta": "ignore"}
    assert schema.column("tags").n_missing == 1
