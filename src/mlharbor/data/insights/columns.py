"""Per-column statistics, by semantic type, in two parallel passes over the whole table.

Every figure here is exact. The first pass builds one polars expression per statistic for
every column and evaluates them all in a single ``select``, so polars spreads the columns over
the cores; the second pass needs the first's quartiles and ranges (outliers, histograms).
Only the top tokens of free text are counted on the sample.
"""

from __future__ import annotations

import bisect
import itertools
import math
from typing import Any

import numpy as np
import polars as pl

from mlharbor.data.insights._frame import NUMERIC_TYPES, Frame
from mlharbor.data.schema import ColumnSchema, SemanticType

TOP_VALUES = 10
MANY_STRINGS = 5_000
HASH_SEED = 29
TOP_TOKENS = 20
TOKEN_ROWS = 20_000
BINS = 20
QUANTILES = {"p05": 0.05, "p25": 0.25, "median": 0.5, "p75": 0.75, "p95": 0.95}
_TOKEN = r"[^\W\d_]{2,}"
_STOPWORD_TEXT = (
    "the a an and or of to in on for is are was were be been it its this that with as at by "
    "from but not no so if than then there their they we you he she his her i me my our your "
    "have has had do does did will would can could should just very also"
)
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())


def describe_columns(frame: Frame, sample: Frame) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Statistics of every column of ``frame``; top tokens of text from ``sample``.

    Parameters
    ----------
    frame : Frame
        The whole dataset, raw and typed.
    sample : Frame
        The seeded sample used for the figures that are estimated.

    Returns
    -------
    columns : list of dict
        One JSON-ready description per column, in table order.
    rows : dict
        ``unique_rows`` and ``incomplete_rows`` (rows with a missing value), counted in the
        same pass.
    """
    schema = frame.schema
    exprs = [e for i, col in enumerate(schema.columns) for e in _first_pass(frame, i, col)]
    first, runs = _first_row(frame, frame.data.select([*exprs, *_row_exprs(frame)]))
    plans = [_second_pass(frame, i, col, first, runs) for i, col in enumerate(schema.columns)]
    second_exprs = [e for plan in plans for e in plan[0]]
    second_exprs += [
        e for i, col in enumerate(schema.columns) for e in _fetch_top_strings(frame, i, col, first)
    ]
    second = frame.data.select(second_exprs).row(0, named=True) if second_exprs else {}
    for plan in plans:
        second.update(plan[2])
    tokens = _top_tokens(sample)
    columns = [
        _assemble(frame, i, col, first, second, plans[i][1], tokens.get(i))
        for i, col in enumerate(schema.columns)
    ]
    return columns, {key: first[key] for key in ("unique_rows", "incomplete_rows")}


def describe_column(frame: Frame, i: int) -> dict[str, Any]:
    """The statistics of column ``i`` alone, as :func:`describe_columns` gives them (text
    columns without their sampled top tokens)."""
    col = frame.schema.columns[i]
    first, runs = _first_row(frame, frame.data.select(_first_pass(frame, i, col)))
    exprs, edges, counted = _second_pass(frame, i, col, first, runs)
    exprs += _fetch_top_strings(frame, i, col, first)
    second = frame.data.select(exprs).row(0, named=True) if exprs else {}
    second.update(counted)
    return _assemble(frame, i, col, first, second, edges, None)


def _row_exprs(frame: Frame) -> list[pl.Expr]:
    raw = [pl.col(frame.raw(i)) for i in range(len(frame.schema.columns))]
    # One 64-bit hash per row, folded from the per-column hashes that the fingerprints use
    # too (polars computes each once); two distinct rows collide with odds near n^2/2^64.
    # Folded pairwise, so a wide table makes a shallow expression tree for polars to plan.
    hashes = [col.hash(seed=17) for col in raw]
    while len(hashes) > 1:
        pairs = zip(hashes[::2], hashes[1::2], strict=False)
        folded = [a * 0x9E3779B97F4A7C15 + b for a, b in pairs]
        hashes = folded + hashes[len(folded) * 2 :]
    row_hash = hashes[0]
    return [
        row_hash.n_unique().alias("unique_rows"),
        pl.any_horizontal([c.is_null() for c in raw]).sum().alias("incomplete_rows"),
    ]


def _first_pass(frame: Frame, i: int, col: ColumnSchema) -> list[pl.Expr]:
    raw_name, typed_name = frame.raw(i), frame.typed(i)
    raw, typed = pl.col(raw_name), pl.col(typed_name)
    raw_type, typed_type = frame.dtypes[raw_name], frame.dtypes[typed_name]
    kind = col.semantic_type
    exprs = [raw.null_count().alias(f"{i}.missing"), raw.hash(seed=17).sum().alias(f"{i}.hash")]
    if raw_type.is_numeric() or raw_type.is_temporal():
        # One sort gives the distinct values, their runs and the quantiles: far cheaper
        # than hashing a million distinct floats into groups.
        runs = raw.drop_nulls().sort().rle()
        exprs += _distinct_and_top(runs, i)
    elif _hashed(frame, i, col):
        # Grouping many distinct strings is slow; their 64-bit hashes sort fast, and the
        # strings behind the top hashes are fetched in the second pass.
        runs = raw.drop_nulls().hash(seed=HASH_SEED).sort().rle()
        exprs += _distinct_and_top(runs, i)
        exprs.append(raw.str.contains(r"^\s*$").sum().alias(f"{i}.empty"))
        if kind not in (SemanticType.TEXT, SemanticType.DATETIME):
            numbers = raw.str.strip_chars().cast(pl.Float64, strict=False).is_not_null().sum()
            exprs.append(numbers.alias(f"{i}.numeric_like"))
    else:
        # Few distinct values: fetch them all with their counts, and test each value once.
        counts = raw.drop_nulls().value_counts(name="n")
        exprs.append(counts.implode().alias(f"{i}.counts"))
    if raw_type.is_float():
        exprs.append(raw.is_infinite().sum().alias(f"{i}.infinite"))
    # A constant number (or a one-row column) still has a value worth showing as such.
    numeric = kind in NUMERIC_TYPES or (kind == SemanticType.CONSTANT and raw_type.is_numeric())
    if numeric and typed_type.is_numeric():
        exprs += _numeric_exprs(typed, i, quantiles=not _from_runs(frame, i))
    elif kind == SemanticType.DATETIME and typed_type in (pl.Datetime, pl.Date):
        exprs += _datetime_exprs(raw, typed, typed_type, i)
    elif kind == SemanticType.TEXT and raw_type == pl.String:
        # Texts have few distinct lengths: they are counted once, and the statistics and the
        # histogram of lengths come from the counts (_length_stats), where an eager select
        # would measure every text again for each statistic.
        lengths = raw.str.len_chars().drop_nulls().value_counts(name="n")
        exprs.append(lengths.implode().alias(f"{i}{_LENGTHS}"))
    elif kind == SemanticType.BOOLEAN and typed_type == pl.Boolean:
        exprs += [
            typed.sum().alias(f"{i}.true"),
            typed.count().alias(f"{i}.bool_present"),
        ]
    return exprs


def _distinct_and_top(runs: pl.Expr, i: int) -> list[pl.Expr]:
    # The runs come back whole, as one list, and are counted afterwards (_first_row): an eager
    # select shares no subexpressions, so a count and a top-k of the runs would each sort
    # the column again.
    return [runs.implode().alias(f"{i}{_RUNS}")]


_RUNS = ".runs"
_LENGTHS = ".lengths"
#: Storage types whose statistics are counted from their sorted runs (see ``_from_runs``).
_RUN_TYPES = frozenset({pl.Float64, pl.Int64, pl.Int32})

#: A column's runs: its distinct values in ascending order, and how many rows hold each.
Runs = tuple[np.ndarray, np.ndarray]


def _from_runs(frame: Frame, i: int) -> bool:
    """Whether a numeric column's quantiles, outliers and histogram are counted from the
    runs of its sorted values (the column as stored is the column as typed), rather than by
    polars expressions that would each pass over every row again."""
    name = frame.raw(i)
    return frame.typed(i) == name and frame.dtypes[name] in _RUN_TYPES


def _first_row(frame: Frame, result: pl.DataFrame) -> tuple[dict[str, Any], dict[int, Runs]]:
    """The first pass's one row as a dict, each column's runs turned into its distinct
    count and top values (without making Python objects of a million runs), and the runs
    of the columns whose other statistics are counted from them."""
    names = [name for name in result.columns if name.endswith(_RUNS)]
    measured = [name for name in result.columns if name.endswith(_LENGTHS)]
    row: dict[str, Any] = result.drop(names + measured).row(0, named=True)
    kept: dict[int, Runs] = {}
    for name in measured:
        stats, length_runs = _length_stats(result.get_column(name))
        row.update({f"{name.removesuffix(_LENGTHS)}.len_{k}": v for k, v in stats.items()})
        if length_runs is not None:
            kept[int(name.removesuffix(_LENGTHS))] = length_runs
    for name in names:
        i = name.removesuffix(_RUNS)
        lists = result.get_column(name)
        distinct = int(lists.list.len()[0] or 0)
        row[f"{i}.distinct"] = distinct
        counted = f"{i}.mean" in row and _from_runs(frame, int(i))
        if not distinct:
            row[f"{i}.top"] = []
            if counted:  # every value missing: no quantiles, as polars gives none
                row.update({f"{i}.{key}": None for key in QUANTILES})
            continue
        table = lists.explode().struct.unnest()
        lengths = table.get_column("len").to_numpy()
        row[f"{i}.top"] = table[_top_runs(lengths)].to_dicts()
        if counted:
            runs = (table.get_column("value").to_numpy(), lengths)
            row.update({f"{i}.{key}": value for key, value in _run_quantiles(runs).items()})
            kept[int(i)] = runs
    return row, kept


def _top_runs(lengths: np.ndarray, k: int = TOP_VALUES) -> np.ndarray:
    """Positions of the ``k`` longest runs; ties go to the smaller value (the earlier run, as
    runs come in ascending order), so the same data always shows the same top values."""
    k = min(k, len(lengths))
    # The k-th longest length is the largest t that at least k runs reach. Counted, not
    # selected: np.partition degrades badly on a million lengths that are nearly all 1.
    # (As int64: polars' 64-bit-index build gives uint64 lengths, which bincount refuses.)
    reaching = np.cumsum(np.bincount(lengths.astype(np.int64, copy=False))[::-1])[::-1]
    threshold = np.flatnonzero(reaching >= k)[-1]
    longer = np.flatnonzero(lengths > threshold)
    tied = np.flatnonzero(lengths == threshold)[: k - len(longer)]
    return np.concatenate([longer, tied])


def _run_quantiles(runs: Runs, quantiles: dict[str, float] = QUANTILES) -> dict[str, float]:
    """The ``quantiles`` of the values the runs hold, as polars computes a "linear" quantile:
    position (n - 1) q in the sorted values, interpolated between its two neighbours."""
    values, lengths = runs
    ends = np.cumsum(lengths, dtype=np.int64)
    n = int(ends[-1])
    out = {}
    for name, q in quantiles.items():
        position = (n - 1) * q
        lo, hi = math.floor(position), math.ceil(position)
        # The run holding sorted position p is the first whose end passes p.
        below, above = np.searchsorted(ends, [lo, hi], side="right")
        a, b = float(values[below]), float(values[above])
        out[name] = a if a == b else a + (b - a) * (position - lo)
    return out


def _length_stats(counted: pl.Series) -> tuple[dict[str, Any], Runs | None]:
    """Minimum, maximum, mean and median of text lengths from each length's count, as
    polars gives them for the lengths themselves (``None`` when every text is missing), and
    the lengths as runs (ascending) for their histogram."""
    if not (counted.list.len()[0] or 0):
        return dict.fromkeys(("min", "max", "mean", "median")), None
    table = counted.explode().struct.unnest().sort(by=pl.first())
    values = table.to_series(0).to_numpy().astype(np.int64)
    held = table.get_column("n").to_numpy().astype(np.int64)
    # The sum of integers is exact in any order, so the mean is polars' to the last bit.
    mean = int((values * held).sum()) / int(held.sum())
    median = _run_quantiles((values, held), {"median": 0.5})["median"]
    stats = {"min": int(values[0]), "max": int(values[-1]), "mean": mean, "median": median}
    return stats, (values, held)


def _numeric_exprs(x: pl.Expr, i: int, *, quantiles: bool) -> list[pl.Expr]:
    exprs = [
        x.min().alias(f"{i}.min"),
        x.max().alias(f"{i}.max"),
        x.mean().alias(f"{i}.mean"),
        x.std().alias(f"{i}.std"),
        x.skew().alias(f"{i}.skew"),
        x.kurtosis().alias(f"{i}.kurtosis"),
        (x == 0).sum().alias(f"{i}.zeros"),
        (x < 0).sum().alias(f"{i}.negatives"),
    ]
    if not quantiles:  # counted from the column's runs (_run_quantiles)
        return exprs
    # A selection per quantile, not a sort: an eager select does not share subexpressions, so
    # a sorted column would be sorted again for each of them (five sorts of a million values).
    # Nulls are dropped first: polars interpolates between the same two values either way,
    # but counts its position from the nulls, which changes the last bit of the fraction.
    present = x.drop_nulls()
    exprs += [present.quantile(q, "linear").alias(f"{i}.{name}") for name, q in QUANTILES.items()]
    return exprs


def _datetime_exprs(raw: pl.Expr, t: pl.Expr, dtype: pl.DataType, i: int) -> list[pl.Expr]:
    exprs = [
        t.min().alias(f"{i}.dt_min"),
        t.max().alias(f"{i}.dt_max"),
        (raw.is_not_null() & t.is_null()).sum().alias(f"{i}.unparsed"),
    ]
    if dtype == pl.Datetime:
        # Integer remainders of the epoch: several times cheaper than extracting fields.
        micros = t.dt.epoch("us")
        exprs += [
            (micros % (step * 1_000_000) != 0).any().alias(f"{i}.g_{unit}")
            for unit, step in (("hour", 86_400), ("minute", 3_600), ("second", 60))
        ]
        exprs.append((micros % 1_000_000 != 0).any().alias(f"{i}.g_subsecond"))
    return exprs


def _calendar_exprs(t: pl.Expr, i: int, first: dict[str, Any]) -> list[pl.Expr]:
    """Whether days and months vary, for the granularity: only when no finer unit does
    (``_datetime`` reads the finest that varies), as extracting calendar fields costs
    several times the epoch remainders."""
    if any(first.get(f"{i}.g_{unit}") for unit in ("subsecond", "second", "minute", "hour")):
        return []
    return [
        (t.dt.month() != 1).any().alias(f"{i}.g_month"),
        (t.dt.day() != 1).any().alias(f"{i}.g_day"),
    ]


def _second_pass(
    frame: Frame, i: int, col: ColumnSchema, first: dict[str, Any], runs: dict[int, Runs]
) -> tuple[list[pl.Expr], list[float] | None, dict[str, Any]]:
    """Outlier counts and histogram expressions, with the histogram's bin edges; or, for a
    column with its runs at hand, the outliers and histogram already counted from them."""
    typed = pl.col(frame.typed(i))
    if f"{i}.p25" in first and first[f"{i}.p25"] is not None:
        q1, q3 = first[f"{i}.p25"], first[f"{i}.p75"]
        lo, hi = q1 - 1.5 * (q3 - q1), q3 + 1.5 * (q3 - q1)
        integral = frame.dtypes[frame.typed(i)].is_integer()
        low, high = first[f"{i}.min"], first[f"{i}.max"]
        if i in runs:
            values, held = runs[i]
            counted = {
                f"{i}.outliers": int(held[(values < lo) | (values > hi)].sum()),
                f"{i}.hist_counts": _run_histogram(runs[i], low, high, integral),
            }
            return [], bin_edges(low, high, integral), counted
        outliers = ((typed < lo) | (typed > hi)).sum().alias(f"{i}.outliers")
        hist, edges = histogram(typed, low, high, integral, i)
        return [outliers, hist], edges, {}
    if first.get(f"{i}.dt_min") is not None:
        epoch = typed.cast(pl.Datetime("us")).dt.epoch("s")
        lo, hi = (_epoch_seconds(first[f"{i}.dt_{end}"]) for end in ("min", "max"))
        hist, edges = histogram(epoch, lo, hi, False, i)
        return [hist, *_calendar_exprs(typed, i, first)], edges, {}
    if first.get(f"{i}.len_min") is not None:
        low, high = first[f"{i}.len_min"], first[f"{i}.len_max"]
        counted = {f"{i}.hist_counts": _run_histogram(runs[i], low, high, True)}
        return [], bin_edges(low, high, True), counted
    return [], None, {}


def _fetch_top_strings(
    frame: Frame, i: int, col: ColumnSchema, first: dict[str, Any]
) -> list[pl.Expr]:
    if not _hashed(frame, i, col) or not first[f"{i}.top"]:
        return []
    raw = pl.col(frame.raw(i))
    hashes = [entry["value"] for entry in first[f"{i}.top"]]
    found = raw.filter(raw.hash(seed=HASH_SEED).is_in(hashes)).unique().implode()
    return [found.alias(f"{i}.top_strings")]


def _hashed(frame: Frame, i: int, col: ColumnSchema) -> bool:
    """Whether the column's values are counted by their hashes (many distinct strings)."""
    return frame.dtypes[frame.raw(i)] == pl.String and col.n_distinct > MANY_STRINGS


def histogram(
    x: pl.Expr, lo: float, hi: float, integral: bool, i: int, bins: int = BINS
) -> tuple[pl.Expr, list[float]]:
    """An expression counting ``x`` into equal-width bins over [lo, hi], and the bin edges.

    Integers spanning fewer values than ``bins`` get one bin per value, centred on it.
    """
    edges = bin_edges(lo, hi, integral, bins)
    if integral and hi - lo < bins:
        index = x - lo
    elif hi == lo:
        index = x * 0
    else:
        index = ((x - lo) / ((hi - lo) / bins)).floor().clip(0, bins - 1)
    counts = index.cast(pl.Int32).drop_nulls().value_counts(name="n").implode()
    return counts.alias(f"{i}.hist"), edges


def bin_edges(lo: float, hi: float, integral: bool, bins: int = BINS) -> list[float]:
    """The edges of :func:`histogram`'s bins."""
    if integral and hi - lo < bins:
        return [lo - 0.5 + k for k in range(int(hi - lo) + 2)]
    if hi == lo:
        return [lo, hi]
    width = (hi - lo) / bins
    return [lo + k * width for k in range(bins)] + [hi]


def _run_histogram(runs: Runs, lo: float, hi: float, integral: bool, bins: int = BINS) -> list[int]:
    """:func:`histogram`'s counts, from a column's runs (the same arithmetic per value).

    The runs are sorted and a value's bin never decreases with the value, so each bin's
    runs are one slice, found by bisection: a few hundred values are binned, not a million.
    """
    values, lengths = runs
    n = len(bin_edges(lo, hi, integral, bins)) - 1
    if hi == lo:
        return [int(lengths.sum())]
    width = (hi - lo) / bins

    def index(value: Any) -> int:
        if integral and hi - lo < bins:
            return int(value - lo)
        position: float = (value - lo) / width
        return min(max(math.floor(position), 0), bins - 1)

    starts = [bisect.bisect_left(values, b, key=index) for b in range(n)] + [len(values)]
    held = np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)])
    return [int(held[end] - held[start]) for start, end in itertools.pairwise(starts)]


def _epoch_seconds(value: Any) -> float:
    seconds: float = pl.Series([value]).cast(pl.Datetime("us")).dt.epoch("s")[0]
    return seconds


def _top_tokens(sample: Frame) -> dict[int, dict[str, Any]]:
    """Words per value and the most frequent words (stop words left out) of free text."""
    text = [
        i
        for i, col in enumerate(sample.schema.columns)
        if col.semantic_type == SemanticType.TEXT and sample.dtypes[sample.raw(i)] == pl.String
    ]
    if not text:
        return {}
    head = TOP_TOKENS + len(_STOPWORDS)
    # Word frequencies settle within a few thousand texts; tokenising is the costly part.
    rows = sample.data.head(TOKEN_ROWS)
    exprs = []
    for i in text:
        values = pl.col(sample.raw(i)).drop_nulls()
        words = values.str.count_matches(r"\S+")
        exprs += [
            values.str.to_lowercase().str.extract_all(_TOKEN).explode().drop_nulls()
            .value_counts(sort=True, name="n").head(head).implode().alias(f"{i}.tokens"),
            words.mean().alias(f"{i}.words_mean"),
            words.max().alias(f"{i}.words_max"),
        ]  # fmt: skip
    row = rows.select(exprs).row(0, named=True)
    out = {}
    for i in text:
        pairs = [tuple(d.values()) for d in row[f"{i}.tokens"] or []]
        tokens = [{"token": t, "count": n} for t, n in pairs if t not in _STOPWORDS]
        out[i] = {
            "words": {"mean": row[f"{i}.words_mean"], "max": row[f"{i}.words_max"]},
            "top_tokens": tokens[:TOP_TOKENS],
        }
    return out


def _assemble(
    frame: Frame,
    i: int,
    col: ColumnSchema,
    first: dict[str, Any],
    second: dict[str, Any],
    edges: list[float] | None,
    tokens: dict[str, Any] | None,
) -> dict[str, Any]:
    n = frame.n_rows
    if f"{i}.counts" in first:
        first.update(_from_counts(first.pop(f"{i}.counts"), i, col, frame))
    missing, distinct = first[f"{i}.missing"], first[f"{i}.distinct"]
    present = n - missing
    top = sorted(_value_count(d) for d in first[f"{i}.top"] or [])
    top.sort(key=lambda vc: -vc[1])
    if f"{i}.top_strings" in second:
        strings = pl.Series(second[f"{i}.top_strings"], dtype=pl.String)
        by_hash = dict(zip(strings.hash(seed=HASH_SEED).to_list(), strings, strict=True))
        top = [(by_hash.get(h), count) for h, count in top]
    out: dict[str, Any] = {
        "name": col.name,
        "semantic_type": str(col.semantic_type),
        "storage_type": col.storage_type,
        "role": str(col.role),
        "evidence": col.evidence,
        "n_missing": missing,
        "missing_share": missing / n,
        "n_present": present,
        "n_distinct": distinct,
        "distinct_share": distinct / present if present else 0.0,
        "top_values": [
            {"value": value, "count": count, "share": count / present} for value, count in top
        ],
        "fingerprint": first[f"{i}.hash"],
    }
    for key in ("empty", "numeric_like", "infinite"):
        if f"{i}.{key}" in first:
            out[f"n_{key}"] = first[f"{i}.{key}"]
    if f"{i}.mean" in first:
        out["numeric"] = _numeric(i, first, second, present)
    if f"{i}.dt_min" in first:
        out["datetime"] = _datetime(i, {**first, **second})
    if f"{i}.len_min" in first:
        out["text"] = {
            "length": {k: first[f"{i}.len_{k}"] for k in ("min", "max", "mean", "median")},
            **(tokens or {"words": None, "top_tokens": []}),
        }
    if f"{i}.true" in first:
        n_true, n_bool = first[f"{i}.true"], first[f"{i}.bool_present"]
        out["boolean"] = {
            "n_true": n_true,
            "n_false": n_bool - n_true,
            "true_share": n_true / n_bool if n_bool else None,
            "n_unmapped": present - n_bool,
        }
    if edges is not None and (f"{i}.hist" in second or f"{i}.hist_counts" in second):
        counts = second.get(f"{i}.hist_counts") or [0] * (len(edges) - 1)
        for d in second.get(f"{i}.hist") or []:
            index, count = tuple(d.values())
            counts[index] += count
        out["histogram"] = {
            "of": "length" if "text" in out else "value",
            "bin_edges": edges,
            "counts": counts,
        }
        if "datetime" in out:
            out["histogram"]["bin_edges"] = [_iso_from_epoch(e) for e in edges]
    return out


def _from_counts(
    entries: list[dict[str, Any]], i: int, col: ColumnSchema, frame: Frame
) -> dict[str, Any]:
    """Distinct count, top values and string checks from every (value, count) pair."""
    pairs = sorted(_value_count(entry) for entry in entries)
    pairs.sort(key=lambda vc: -vc[1])
    out: dict[str, Any] = {
        f"{i}.distinct": len(pairs),
        f"{i}.top": [{"value": v, "len": c} for v, c in pairs[:TOP_VALUES]],
    }
    if frame.dtypes[frame.raw(i)] == pl.String:
        values = pl.Series([v for v, _ in pairs], dtype=pl.String)
        counts = pl.Series([c for _, c in pairs], dtype=pl.Int64)
        out[f"{i}.empty"] = counts.filter(values.str.contains(r"^\s*$")).sum()
        if col.semantic_type not in (SemanticType.TEXT, SemanticType.DATETIME):
            numbers = values.str.strip_chars().cast(pl.Float64, strict=False).is_not_null()
            out[f"{i}.numeric_like"] = counts.filter(numbers).sum()
    return out


def _value_count(entry: dict[str, Any]) -> tuple[Any, int]:
    """(value, count) from a run (``value``, ``len``) or a value count (name, ``n``)."""
    if "len" in entry:
        return entry["value"], entry["len"]
    count = entry.pop("n")
    return next(iter(entry.values())), count


def _numeric(i: int, first: dict[str, Any], second: dict[str, Any], present: int) -> dict[str, Any]:
    stats = {k: first[f"{i}.{k}"] for k in ("min", "max", "mean", "std", "skew", "kurtosis")}
    stats.update({name: first[f"{i}.{name}"] for name in QUANTILES})
    q1, q3 = stats["p25"], stats["p75"]
    iqr = None if q1 is None else q3 - q1
    outliers = second.get(f"{i}.outliers", 0)
    stats.update(
        iqr=iqr,
        n_zeros=first[f"{i}.zeros"],
        zeros_share=first[f"{i}.zeros"] / present if present else 0.0,
        n_negative=first[f"{i}.negatives"],
        negative_share=first[f"{i}.negatives"] / present if present else 0.0,
        n_outliers=outliers,
        outliers_share=outliers / present if present else 0.0,
        outlier_bounds=None if iqr is None else [q1 - 1.5 * iqr, q3 + 1.5 * iqr],
    )
    return stats


def _datetime(i: int, first: dict[str, Any]) -> dict[str, Any]:
    lo, hi = first[f"{i}.dt_min"], first[f"{i}.dt_max"]
    granularity = "year"
    for unit in ("subsecond", "second", "minute", "hour", "day", "month"):
        if first.get(f"{i}.g_{unit}"):
            granularity = unit
            break
    span = None if lo is None else _epoch_seconds(hi) - _epoch_seconds(lo)
    return {
        "min": lo,
        "max": hi,
        "span_days": None if span is None else span / 86_400,
        "granularity": granularity if lo is not None else None,
        "n_unparsed": first[f"{i}.unparsed"],
    }


def _iso_from_epoch(seconds: float) -> str:
    if not math.isfinite(seconds):
        return str(seconds)
    whole = pl.Series([int(seconds * 1_000_000)]).cast(pl.Datetime("us"))
    text: str = whole[0].isoformat()
    return text
