"""Compact profiles of a table: what drift tests need, without the rows.

A profile keeps per column the missing count and, by kind:

* numeric: ``QUANTILES`` quantiles at the centres of equal-mass bins (a sketch: enough for the KS
  statistic, the Wasserstein distance, PSI bins and histograms), mean and standard deviation;
* categorical: the counts of the ``TOP_K`` most frequent values and the count of the rest;
* text: a numeric sketch of lengths and the counts of the most frequent tokens.

A reference profile is stored with every model version, so a drift report never re-reads
the training set. Profiles are plain JSON-ready dicts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl
import pyarrow as pa

if TYPE_CHECKING:  # pandas frames are accepted, but profiling Arrow data never imports pandas
    import pandas as pd

FORMAT_VERSION = 1
QUANTILES = 1001
TOP_K = 10_000
TOP_TOKENS = 2_000
#: Strings longer than this on average, with many distinct values, are profiled as text.
TEXT_MIN_MEAN_LENGTH = 40


class ColumnKind(StrEnum):
    """How a column is profiled and tested."""

    NUMERIC = "numeric"
    CATEGORICAL = "categorical"
    TEXT = "text"


#: Semantic types of :mod:`mlharbor.data.schema` mapped to a kind; the others (identifier,
#: constant) carry no distribution worth testing.
SEMANTIC_KINDS = {
    "numeric": ColumnKind.NUMERIC,
    "datetime": ColumnKind.NUMERIC,
    "integer_categorical": ColumnKind.CATEGORICAL,
    "categorical": ColumnKind.CATEGORICAL,
    "boolean": ColumnKind.CATEGORICAL,
    "text": ColumnKind.TEXT,
}


def to_polars(data: pl.DataFrame | pd.DataFrame | pa.Table) -> pl.DataFrame:
    """Any of our frame types as a polars DataFrame (no copy where Arrow allows)."""
    if isinstance(data, pl.DataFrame):
        return data
    if isinstance(data, pa.Table):
        frame = pl.from_arrow(data)
        assert isinstance(frame, pl.DataFrame)  # a table converts to a frame (arrays to a Series)
        return frame
    frame = data.copy(deep=False)
    frame.columns = [str(c) for c in frame.columns]
    # Mixed-type object columns (e.g. ints and strings) have no Arrow type: profile as text.
    for name in frame.columns:
        if frame[name].dtype == object:
            frame[name] = frame[name].map(lambda v: v if v is None or _nan(v) else str(v))
    return pl.from_pandas(frame)


def _nan(value: Any) -> bool:
    return isinstance(value, float) and value != value


def infer_kind(series: pl.Series) -> ColumnKind | None:
    """The kind of a column without a schema: by dtype, strings by length and variety."""
    dtype = series.dtype
    if dtype == pl.Boolean:
        return ColumnKind.CATEGORICAL
    if dtype.is_numeric() or dtype.is_temporal():
        return ColumnKind.NUMERIC
    if dtype in (pl.Utf8, pl.Categorical, pl.Enum):
        values = series.cast(pl.Utf8).drop_nulls()
        if values.len() == 0:
            return ColumnKind.CATEGORICAL
        mean = values.str.len_chars().mean()  # a number, typed by polars as any literal
        mean_len = float(mean) if isinstance(mean, int | float) else 0.0
        if mean_len >= TEXT_MIN_MEAN_LENGTH and values.n_unique() > 0.5 * values.len():
            return ColumnKind.TEXT
        return ColumnKind.CATEGORICAL
    return None


def profile_table(
    data: pl.DataFrame | pd.DataFrame | pa.Table,
    kinds: Mapping[str, ColumnKind | str | None] | None = None,
    *,
    on_column: Callable[[str, dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Profile every column of ``data`` (or those in ``kinds``).

    Parameters
    ----------
    data : polars, pandas or Arrow table
    kinds : mapping, optional
        Column name to kind; a column mapped to ``None`` is inferred from its dtype.
        Default: every column, inferred.
    on_column : callable, optional
        Called with each column's name and profile as soon as it is made. Categorical and
        text columns are profiled first: comparing their counts is what costs most.

    Returns
    -------
    dict
        ``{"format", "n_rows", "columns": {name: column profile}}``, columns in the order
        of ``kinds`` (or of the table).
    """
    frame = to_polars(data)
    names = list(kinds) if kinds is not None else frame.columns
    found: dict[str, ColumnKind] = {}
    for name in names:
        if name not in frame.columns:
            continue
        given = (kinds or {}).get(name)
        kind = ColumnKind(given) if given else infer_kind(frame.get_column(name))
        if kind is not None:
            found[name] = kind
    made: dict[str, Any] = {}
    for name in sorted(found, key=lambda n: found[n] == ColumnKind.NUMERIC):  # stable
        made[name] = profile_column(frame.get_column(name), found[name])
        if on_column is not None:
            on_column(name, made[name])
    columns = {name: made[name] for name in found}
    return {"format": FORMAT_VERSION, "n_rows": frame.height, "columns": columns}


def profile_column(series: pl.Series, kind: ColumnKind | str) -> dict[str, Any]:
    """One column's profile (see the module docstring)."""
    kind = ColumnKind(kind)
    if kind == ColumnKind.NUMERIC:
        values = numeric_values(series)
        missing = series.len() - len(values)
        return {"kind": kind.value, "count": series.len(), "missing": missing, **sketch(values)}
    if kind == ColumnKind.CATEGORICAL:
        text = as_labels(series)
        return {
            "kind": kind.value,
            "count": series.len(),
            "missing": text.null_count(),
            **top_counts(text.drop_nulls(), TOP_K),
        }
    text = series.cast(pl.Utf8, strict=False)
    present = text.drop_nulls()
    tokens = present.str.to_lowercase().str.extract_all(r"\w+").explode().drop_nulls()
    return {
        "kind": kind.value,
        "count": series.len(),
        "missing": text.null_count(),
        "length": sketch(present.str.len_chars().to_numpy().astype(np.float64)),
        "vocabulary": top_counts(tokens, TOP_TOKENS),
    }


def numeric_values(series: pl.Series) -> np.ndarray:
    """The finite values of a numeric (or temporal, as epoch units) column as float64."""
    if series.dtype.is_temporal():
        series = series.dt.epoch("s") if series.dtype != pl.Time else series.cast(pl.Int64)
    elif series.dtype == pl.Boolean:
        series = series.cast(pl.Int8)
    elif series.dtype == pl.Utf8:
        series = _numbers_or_times(series)
    elif not series.dtype.is_numeric():
        series = series.cast(pl.Float64, strict=False)
    values = series.drop_nulls().cast(pl.Float64).to_numpy()
    finite: np.ndarray = values[np.isfinite(values)]
    return finite


def _numbers_or_times(text: pl.Series) -> pl.Series:
    """Text of a numeric column as numbers, or, when it holds dates, as epoch seconds.

    Dates without a time arrive as text: ``datetime.date`` objects in a pandas frame, and
    ISO strings in JSON requests and in the prediction log. Read as numbers they would all
    be missing, and the column would silently drop out of every drift report.
    """
    numbers = text.cast(pl.Float64, strict=False)
    if numbers.null_count() == text.len() and text.null_count() < text.len():
        try:
            times = text.str.strip_chars().str.to_datetime(strict=False, time_zone="UTC")
        except pl.exceptions.PolarsError:  # a format polars cannot infer from the first value
            return numbers
        if times.null_count() < text.len():
            return times.dt.epoch("s")
    return numbers


def sketch(values: np.ndarray) -> dict[str, Any]:
    """Quantile sketch, mean and standard deviation of finite float values."""
    n = len(values)
    if n == 0:
        return {"n": 0, "quantiles": [], "mean": None, "std": None}
    ordered = np.sort(values)
    # Quantiles at the centres of QUANTILES equal-mass bins, never the minimum and maximum:
    # a single extreme value would otherwise stand for a whole bin's mass, and distances
    # on heavy-tailed columns would measure two samples' maxima, not their distributions.
    positions = np.minimum(((np.arange(QUANTILES) + 0.5) / QUANTILES * n).astype(np.int64), n - 1)
    return {
        "n": n,
        "quantiles": ordered[positions].tolist(),
        "mean": float(ordered.mean()),
        "std": float(ordered.std()),
    }


def as_labels(series: pl.Series) -> pl.Series:
    """Category labels as text, written the same whatever the storage type.

    Whole floats (integers read with gaps) are written as integers, so ``1`` and ``1.0``
    are one category in the training data and in production.
    """
    if series.dtype.is_float():
        finite = series.drop_nulls()
        finite = finite.filter(finite.is_finite())
        if finite.len() and bool((finite == finite.round(0)).all()):
            series = series.cast(pl.Int64, strict=False)
    if series.dtype == pl.Boolean:
        return series.cast(pl.Utf8)
    return series.cast(pl.Utf8, strict=False)


def top_counts(values: pl.Series, k: int) -> dict[str, Any]:
    """Counts of the ``k`` most frequent values, the count of the rest, and variety."""
    if values.len() == 0:
        return {"n": 0, "counts": {}, "other": 0, "distinct": 0}
    counts = values.value_counts(sort=True)
    labels, numbers = counts.columns[0], counts.columns[1]
    top = counts.head(k)
    kept = dict(zip(top[labels].to_list(), top[numbers].to_list(), strict=True))
    return {
        "n": values.len(),
        "counts": {str(key): int(v) for key, v in kept.items()},
        "other": int(values.len() - sum(kept.values())),
        "distinct": counts.height,
    }
