"""Integer codes for columns, the common ground of every association measure.

Categories beyond the most frequent ``max_categories - 1`` share one "other" code, so a
high-cardinality column cannot look informative merely by splitting the rows finely.
Missing values get the code -1.
"""

from __future__ import annotations

import numpy as np
import polars as pl

MAX_CATEGORIES = 50
NUMERIC_BINS = 20


def category_codes(series: pl.Series, max_categories: int = MAX_CATEGORIES) -> np.ndarray:
    """Codes 0..k-1 by decreasing frequency (the rare tail folded into one), -1 if missing."""
    strings = series.cast(pl.String)
    counts = strings.drop_nulls().value_counts(sort=True, name="n")
    values = counts.get_column(strings.name)
    folded = len(values) > max_categories
    if folded:
        values = values.head(max_categories - 1)
    codes = strings.replace_strict(
        values,
        pl.int_range(len(values), eager=True, dtype=pl.Int32),
        default=len(values) if folded else None,
        return_dtype=pl.Int32,
    )
    return codes.fill_null(-1).to_numpy()


def quantile_codes(values: np.ndarray, bins: int = NUMERIC_BINS) -> np.ndarray:
    """Codes of equal-frequency bins of a float array (NaN is missing, code -1).

    Columns with no more distinct values than ``bins`` keep one code per value.
    """
    present = ~np.isnan(values)
    codes = np.full(values.shape, -1, dtype=np.int32)
    if not present.any():
        return codes
    kept = values[present]
    distinct = np.unique(kept)
    if len(distinct) <= bins:
        codes[present] = np.searchsorted(distinct, kept)
        return codes
    edges = np.unique(np.quantile(kept, np.linspace(0, 1, bins + 1)[1:-1]))
    codes[present] = np.searchsorted(edges, kept, side="right")
    return codes


def average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks of ``values``, ties sharing the mean of their positions (NaN stays NaN).

    NumPy throughout: building a polars Series from an array imports ``numpy.ma``, about
    0.05 s of a command's start-up, for a few milliseconds of sorting.
    """
    present = ~np.isnan(values)
    if not present.all():
        ranks = np.full(len(values), np.nan)
        ranks[present] = average_ranks(values[present])
        return ranks
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    starts = np.r_[0, np.flatnonzero(np.diff(ordered)) + 1]
    ends = np.r_[starts[1:], len(values)]
    ranks = np.empty(len(values))
    ranks[order] = np.repeat((starts + ends + 1) / 2, ends - starts)
    return ranks


def float_values(series: pl.Series) -> np.ndarray:
    """The series as float64 with NaN for missing (datetimes as epoch seconds)."""
    if series.dtype.is_temporal():
        series = series.cast(pl.Datetime("us")).dt.epoch("s")
    elif series.dtype == pl.Boolean:
        series = series.cast(pl.Int8)
    return series.cast(pl.Float64).fill_null(np.nan).to_numpy()


def contingency(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The table of counts of code pairs, over rows where both are present."""
    both = (x >= 0) & (y >= 0)
    x, y = x[both].astype(np.int64), y[both].astype(np.int64)
    if not len(x):
        return np.zeros((0, 0))
    kx, ky = int(x.max()) + 1, int(y.max()) + 1
    return np.bincount(x * ky + y, minlength=kx * ky).reshape(kx, ky).astype(np.float64)
