"""Converting a file to Parquet in one streaming pass, block by block, and when it falls back."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlharbor.data.convert import convert_file
from mlharbor.data.ingest import read_table
from mlharbor.data.limits import ReadLimits
from mlharbor.data.parquet import write_table
from mlharbor.data.schema import SchemaSampler, infer_schema
from mlharbor.errors import InvalidInputError
from mlharbor.hub import Hub

from .factories import TITANIC_LIKE, frame, write

BLOCK = 4096  # bytes per parsed block: the files below span many blocks


def mixed_csv(rows: int = 3000) -> str:
    lines = ["id,age,price,city,active,joined,note"]
    for i in range(rows):
        price = "" if i % 11 == 0 else f"{(i * 7919) % 1000 / 10:.1f}"
        lines.append(
            f"{i},{18 + i % 60},{price},{['Lisbon', 'Porto', 'Faro'][i % 3]},"
            f"{'true' if i % 2 else 'false'},2024-{1 + i % 12:02d}-{1 + i % 28:02d},"
            f'"note {i % 5}, short"'
        )
    return "\n".join(lines) + "\n"


def convert(tmp_path: Path, path: Path, **kwargs: object):  # type: ignore[no-untyped-def]
    out = tmp_path / "out.parquet"
    return convert_file(path, out, block_bytes=BLOCK, **kwargs), pq.read_table(out)  # type: ignore[arg-type]


def test_streamed_blocks_give_the_same_table_and_schema_as_reading_it_whole(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, "mixed.csv", mixed_csv())
    converted, stored = convert(tmp_path, path)
    whole = read_table(path).table
    assert stored.equals(whole)
    assert stored.schema.field("joined").type == pa.date32()
    assert converted.n_rows == 3000 and converted.n_columns == 7
    assert converted.schema.to_dict() == infer_schema(whole).to_dict()
    assert converted.schema.column("price").n_missing == 273
    assert converted.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    out = tmp_path / "out.parquet"
    assert converted.parquet_sha256 == hashlib.sha256(out.read_bytes()).hexdigest()
    assert pq.ParquetFile(out).metadata.num_row_groups >= 1


def test_a_column_whose_type_changes_after_the_first_block_is_read_as_the_whole_file_says(
    tmp_path: Path,
) -> None:
    text = "code,n\n" + "".join(f"{i},{i}\n" for i in range(3000)) + "A-17,3000\n"
    converted, stored = convert(tmp_path, write(tmp_path, "late.csv", text))
    assert stored.num_rows == 3001
    assert stored.schema.field("code").type == pa.string()
    assert stored.column("code")[-1].as_py() == "A-17"
    assert converted.schema.column("n").semantic_type == "identifier"


def test_latin1_bytes_after_the_first_block_are_decoded(tmp_path: Path) -> None:
    body = "name,n\n" + "plain,1\n" * 10_000 + "Ærø,2\n"  # beyond the sniffed 64 KiB
    converted, stored = convert(tmp_path, write(tmp_path, "late.csv", body.encode("latin-1")))
    assert stored.column("name").to_pylist()[-1] == "Ærø"
    assert any("not valid UTF-8" in n for n in converted.notes)


def test_a_ragged_row_after_the_first_block_reports_its_line(tmp_path: Path) -> None:
    text = "a,b\n" + "1,2\n" * 3000 + "3,4,5\n"
    with pytest.raises(InvalidInputError, match="line 3002 has 3 fields but the header has 2"):
        convert(tmp_path, write(tmp_path, "ragged.csv", text))


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("a,b,c\n", "no data rows"),
        ("a,b,c,d,e,f\n1,2,3,4,5,6\n", "the limit is 5"),
    ],
)
def test_bad_headers_are_refused(tmp_path: Path, content: str, words: str) -> None:
    with pytest.raises(InvalidInputError, match=words):
        convert(tmp_path, write(tmp_path, "bad.csv", content), limits=ReadLimits(max_columns=5))


def test_gzip_bom_and_multiline_files_stream(tmp_path: Path) -> None:
    gz = tmp_path / "data.csv.gz"
    with gzip.open(gz, "wt") as fh:
        fh.write(mixed_csv())
    converted, stored = convert(tmp_path, gz)
    assert stored.num_rows == 3000
    assert converted.sha256 == hashlib.sha256(gz.read_bytes()).hexdigest()
    bom = write(tmp_path, "bom.csv", ("\ufeff" + mixed_csv()).encode())
    assert convert(tmp_path, bom)[1].column_names[0] == "id"
    quoted = 'id,review\n1,"good\nvery good"\n' + "".join(f'{i},"ok"\n' for i in range(2, 2000))
    stored = convert(tmp_path, write(tmp_path, "q.csv", quoted))[1]
    assert stored.column("review")[0].as_py() == "good\nvery good" and stored.num_rows == 1999


def test_other_formats_are_written_too(tmp_path: Path) -> None:
    df = frame()
    df.to_parquet(tmp_path / "d.parquet")
    converted, stored = convert(tmp_path, tmp_path / "d.parquet")
    assert converted.format == "parquet" and stored.num_rows == 50
    assert stored.column("city").to_pylist() == df["city"].tolist()
    converted, _ = convert(tmp_path, write(tmp_path, "t.csv", TITANIC_LIKE))
    assert converted.schema.column("PassengerId").semantic_type == "identifier"


def test_the_sampler_counts_missing_values_exactly_and_types_from_spread_blocks() -> None:
    rng = np.random.default_rng(0)
    n = 50_000
    income = rng.normal(100, 10, n)
    income[::7] = np.nan
    table = pa.table(
        {
            "id": np.arange(n),
            "income": income,
            "plan": rng.choice(["free", "pro"], n),
            "level": rng.integers(1, 4, n),
        }
    )
    sampler = SchemaSampler(table.schema, max_exact_rows=1_000, block_rows=500, max_blocks=8)
    for batch in table.to_batches(max_chunksize=1_000):
        sampler.add(batch)
    schema = sampler.infer()
    assert schema.n_rows == n
    # At most 8 blocks of 500 rows are kept (halved each time there are more), at least 4.
    assert schema.sampled_rows is not None and 2_000 <= schema.sampled_rows <= 4_000
    assert schema.column("income").n_missing == len(range(0, n, 7))
    kinds = {c.name: c.semantic_type for c in schema.columns}
    assert kinds == {
        "id": "identifier",
        "income": "numeric",
        "plan": "categorical",
        "level": "integer_categorical",
    }
    exact = SchemaSampler(table.schema, max_exact_rows=n)
    for batch in table.to_batches(max_chunksize=7_000):
        exact.add(batch)
    assert exact.infer().to_dict() == infer_schema(table, max_exact_rows=n).to_dict()


def test_ingesting_a_file_twice_keeps_one_version_and_a_bad_file_leaves_nothing(
    hub: Hub, tmp_path: Path
) -> None:
    path = write(tmp_path, "sales.csv", mixed_csv(500))
    first = hub.datasets.ingest_file(path)
    again = hub.datasets.ingest_file(path)
    assert first.created and not again.created and again.version.version == 1
    assert first.version.content_hash == hashlib.sha256(path.read_bytes()).hexdigest()
    assert hub.datasets.read_table(first.version).equals(read_table(path).table)
    bad = write(tmp_path, "bad.csv", "a,b\n" + "1,2\n" * 3000 + "3\n")
    with pytest.raises(InvalidInputError, match="line 3002"):
        hub.datasets.ingest_file(bad)
    root = Path(hub.settings.resolved_artifact_uri())
    assert len(list(root.rglob("*.parquet"))) == 1 and not list((root / ".tmp").iterdir())
    assert [d.name for d in hub.datasets.list()[0]] == ["sales"]


def test_a_failing_parquet_writer_raises_in_the_caller_instead_of_hanging(tmp_path: Path) -> None:
    table = pa.table({"a": np.arange(600_000)})  # several row groups queued behind the failure
    with pytest.raises(FileNotFoundError):
        write_table(table, tmp_path / "missing-folder" / "x.parquet")
