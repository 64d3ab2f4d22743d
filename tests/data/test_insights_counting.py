"""Statistics counted by shortcuts equal the direct computation they replace, value for value.

The whole-table pass counts top values, histograms and boolean text from sorted runs and
distinct values instead of from every row; each shortcut is checked here against the
per-row arithmetic it stands for, on seeded random data with ties and edge ranges.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa
import pytest

from mlharbor.data.insights import columns
from mlharbor.data.insights._frame import MAX_BOOLEAN_WORDS, make_frame
from mlharbor.data.schema import BOOLEAN_TOKENS, ColumnSchema, DatasetSchema, SemanticType


def _top_by_sorting(lengths: np.ndarray, k: int = columns.TOP_VALUES) -> list[int]:
    """The k longest runs, ties to the earlier run: a stable sort by descending length."""
    order = np.argsort(-lengths.astype(np.int64), kind="stable")[:k]
    return sorted(order.tolist(), key=lambda i: (-int(lengths[i]), i))


@pytest.mark.parametrize("seed", range(20))
def test_top_runs_are_the_longest_with_ties_to_the_smaller_value(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 3_000))
    high = int(rng.choice([2, 5, 1_000]))  # mostly ties, some, or hardly any
    # uint32 as polars counts runs; uint64 in its 64-bit-index build.
    lengths = rng.integers(1, high, size=n).astype(np.uint64 if seed % 2 else np.uint32)
    got = columns._top_runs(lengths)
    assert sorted(got.tolist(), key=lambda i: (-int(lengths[i]), i)) == _top_by_sorting(lengths)


def test_top_runs_of_one_run_and_of_one_very_long_run() -> None:
    assert columns._top_runs(np.array([1_000_000], dtype=np.uint32)).tolist() == [0]
    lengths = np.ones(50, dtype=np.uint32)
    lengths[30] = 999_000
    assert columns._top_runs(lengths).tolist() == [30, *range(9)]


def _histogram_row_by_row(
    values: np.ndarray, lengths: np.ndarray, lo: float, hi: float, integral: bool
) -> list[int]:
    """:func:`columns.histogram`'s arithmetic applied to every value (the previous code)."""
    bins = columns.BINS
    n = len(columns.bin_edges(lo, hi, integral, bins)) - 1
    if integral and hi - lo < bins:
        index = values - lo
    elif hi == lo:
        index = np.zeros(len(values), dtype=np.int64)
    else:
        index = np.clip(np.floor((values - lo) / ((hi - lo) / bins)), 0, bins - 1)
    counts = np.bincount(index.astype(np.int32), weights=lengths, minlength=n)
    return [int(count) for count in counts]


@pytest.mark.parametrize("seed", range(30))
def test_run_histogram_counts_as_binning_every_value(seed: int) -> None:
    rng = np.random.default_rng(seed)
    shape = seed % 5
    if shape == 0:  # floats over many magnitudes
        raw = rng.lognormal(0, 3, size=5_000) * rng.choice([-1, 1], size=5_000)
    elif shape == 1:  # integers spanning fewer values than bins: one bin per value
        raw = rng.integers(-3, 12, size=5_000).astype(np.int64)
    elif shape == 2:  # integers spanning more
        raw = rng.integers(0, 10_000, size=5_000).astype(np.int64)
    elif shape == 3:  # values on the bin edges themselves
        raw = np.round(rng.uniform(0, 1, size=5_000) * 20) / 20
    else:  # one distinct value
        raw = np.full(100, 3.25)
    values, lengths = np.unique(raw, return_counts=True)
    lo, hi = values[0].item(), values[-1].item()
    integral = raw.dtype.kind == "i"
    got = columns._run_histogram((values, lengths), lo, hi, integral)
    assert got == _histogram_row_by_row(values, lengths, lo, hi, integral)


def _boolean_frame(values: list[str | None]) -> pl.Series:
    table = pa.table({"flag": pa.array(values, pa.large_string())})
    col = ColumnSchema(name="flag", storage_type="large_string", semantic_type=SemanticType.BOOLEAN)
    return make_frame(table, DatasetSchema(columns=[col], n_rows=len(values))).data.get_column("t0")


def _boolean_row_by_row(values: list[str | None]) -> pl.Series:
    text = pl.Series(values, dtype=pl.String)
    tokens = text.str.strip_chars().str.to_lowercase()
    return tokens.replace_strict(BOOLEAN_TOKENS, default=None, return_dtype=pl.Boolean)


@pytest.mark.parametrize(
    "words",
    [
        ["yes", "no"],
        [" Yes", "NO ", "y", "n", "maybe", "", " "],
        ["TRUE", "false", "T", "f", "1", "0"],
        ["nope", "sure"],  # nothing reads as a boolean
        [f"v{i}" for i in range(MAX_BOOLEAN_WORDS + 5)] + ["yes", "no"],  # too many: per row
    ],
)
def test_boolean_text_reads_as_mapping_every_row(words: list[str]) -> None:
    rng = np.random.default_rng(len(words))
    values: list[str | None] = [words[i] for i in rng.integers(0, len(words), size=2_000)]
    values[::7] = [None] * len(values[::7])
    got = _boolean_frame(values)
    assert got.dtype == pl.Boolean
    assert got.to_list() == _boolean_row_by_row(values).to_list()


@pytest.mark.parametrize("seed", range(20))
def test_text_length_statistics_from_counts_are_polars_own(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 4_000))
    lengths = rng.integers(0, int(rng.choice([3, 80, 100_000])), size=n)
    texts = pl.Series(["x" * int(k) for k in lengths], dtype=pl.String)
    if seed % 3 == 0:
        texts = texts.scatter(rng.integers(0, n, size=n // 4), None)
    measured = texts.str.len_chars()
    counted = pl.select(
        pl.lit(texts).str.len_chars().drop_nulls().value_counts(name="n").implode()
    ).to_series()
    stats, runs = columns._length_stats(counted)
    expected = {
        "min": measured.min(),
        "max": measured.max(),
        "mean": measured.mean(),
        "median": measured.median(),
    }
    assert stats == expected
    assert all(type(stats[k]) is type(expected[k]) for k in stats)
    if runs is not None:
        lo, hi = stats["min"], stats["max"]
        (by_rows,) = pl.select(columns.histogram(pl.lit(measured), lo, hi, True, 0)[0]).row(0)
        counts = [0] * (len(columns.bin_edges(lo, hi, True)) - 1)
        for entry in by_rows:
            index, count = tuple(entry.values())
            counts[index] += count
        assert columns._run_histogram(runs, lo, hi, True) == counts


def test_text_that_is_all_missing_has_no_length_statistics() -> None:
    counted = pl.select(
        pl.lit(pl.Series([None, None], dtype=pl.String))
        .str.len_chars()
        .drop_nulls()
        .value_counts(name="n")
        .implode()
    ).to_series()
    assert columns._length_stats(counted) == (dict.fromkeys(("min", "max", "mean", "median")), None)


@pytest.mark.parametrize(
    ("stamps", "granularity"),
    [
        (["2024-01-01 00:00:00.5", "2024-03-01 00:00:00"], "subsecond"),
        (["2024-01-01 00:00:07", "2024-03-01 00:00:00"], "second"),
        (["2024-01-01 00:07:00", "2024-03-01 00:00:00"], "minute"),
        (["2024-01-01 07:00:00", "2024-03-01 00:00:00"], "hour"),
        (["2024-01-07 00:00:00", "2024-03-01 00:00:00"], "day"),
        (["2024-01-01 00:00:00", "2024-03-01 00:00:00"], "month"),
        (["2024-01-01 00:00:00", "2026-01-01 00:00:00"], "year"),
    ],
)
@pytest.mark.parametrize("as_dates", [False, True])
def test_granularity_is_the_finest_unit_that_varies(
    stamps: list[str], granularity: str, as_dates: bool
) -> None:
    # Days and months are only read when no finer unit varies: each unit is checked here,
    # on timestamps and (from the day up) on dates.
    times = pa.array([np.datetime64(s, "us") for s in stamps * 3], pa.timestamp("us"))
    if as_dates:
        if granularity not in ("day", "month", "year"):
            return
        times = times.cast(pa.date32())
    table = pa.table({"when": times, "n": pa.array(range(len(times)), pa.float64())})
    schema = DatasetSchema(
        columns=[
            ColumnSchema(
                name="when", storage_type=str(times.type), semantic_type=SemanticType.DATETIME
            ),
            ColumnSchema(name="n", storage_type="double", semantic_type=SemanticType.NUMERIC),
        ],
        n_rows=len(times),
    )
    (when, _), _ = columns.describe_columns(*(2 * [make_frame(table, schema)]))
    assert when["datetime"]["granularity"] == granularity
