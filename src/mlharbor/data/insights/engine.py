"""The entry point: a whole-dataset profile, with the target in view, as JSON-ready data."""

from __future__ import annotations

import datetime as dt
import math
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import numpy as np
import pyarrow as pa

from mlharbor.data.insights import FORMAT_VERSION
from mlharbor.data.insights._frame import make_frame
from mlharbor.data.insights.associations import compute_associations
from mlharbor.data.insights.columns import describe_column, describe_columns
from mlharbor.data.insights.quality import quality_warnings
from mlharbor.data.insights.target import analyse_target, measure_features
from mlharbor.data.schema import DatasetSchema
from mlharbor.errors import InvalidInputError

MAX_EXACT_ROWS = 50_000
MIN_SAMPLE_ROWS = 1_000

EXACT_FIGURES = [
    "table",
    "columns (missing, distinct, top values, numeric statistics, outliers, histograms, "
    "dates, text lengths, boolean balance)",
    "target.class_balance",
    "target.distribution",
    "warnings (except target_leakage and highly_correlated)",
]
ESTIMATED_FIGURES = [
    "associations",
    "target.features (mutual information)",
    "columns.text.words and columns.text.top_tokens (on up to 20,000 of the sampled rows)",
    "warnings of kind target_leakage and highly_correlated",
]


def compute_insights(
    table: pa.Table,
    schema: DatasetSchema,
    target: str | None = None,
    *,
    max_exact_rows: int = MAX_EXACT_ROWS,
    seed: int = 0,
) -> dict[str, Any]:
    """Profile a dataset: table and column statistics, associations, target and warnings.

    Parameters
    ----------
    table : pyarrow.Table
        The dataset version, as stored.
    schema : DatasetSchema
        Its inferred (or user-corrected) schema; its columns must be the table's.
    target : str, optional
        The column to predict. Adds the task it implies, its balance or distribution and
        each feature's information about it, ranked.
    max_exact_rows : int
        Above this many rows, associations, mutual information and text tokens are
        estimated on a seeded random sample of this size. Counts and per-column statistics
        are always exact.
    seed : int
        Seed of the sample and of the chance baseline of mutual information.

    Returns
    -------
    dict
        JSON-ready (strict JSON: no NaN or infinity) with keys ``format_version``,
        ``table``, ``columns``, ``associations``, ``target`` (``None`` without a target),
        ``warnings``, ``sampling`` and ``timing``.

    Raises
    ------
    NotFoundError
        ``target`` is not a column; the message lists the columns.
    InvalidInputError
        The table has no rows or no columns, repeated column names, or does not match
        ``schema``; or ``max_exact_rows`` is too small.

    Examples
    --------
    >>> import pyarrow as pa
    >>> from mlharbor.data.schema import infer_schema
    >>> t = pa.table({"x": [1.0, 2.0, 3.0, 4.0], "y": ["a", "b", "a", "b"]})
    >>> insights = compute_insights(t, infer_schema(t), target="y")
    >>> insights["target"]["task"]
    'binary'
    """
    if max_exact_rows < MIN_SAMPLE_ROWS:
        raise InvalidInputError(
            f"max_exact_rows must be at least {MIN_SAMPLE_ROWS}, not {max_exact_rows}"
        )
    if target is not None:
        schema.column(target)
    started = time.perf_counter()
    frame = make_frame(table, schema)
    sample = frame.sample(max_exact_rows, seed)
    index = None if target is None else schema.names.index(target)
    # The sampled figures (NumPy on up to 50,000 rows, holding one core) are drawn on a thread
    # of their own while polars computes the whole-table statistics on the others. Feature
    # informativeness needs the target's task, so that thread describes the target column
    # first (after the associations, which do not need it).
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="insights") as pool:
        drawn = pool.submit(compute_associations, sample)
        measured = None
        if index is not None:
            target_index = index
            measured = pool.submit(
                lambda: measure_features(sample, describe_column(frame, target_index), seed)
            )
        columns, rows = describe_columns(frame, sample)
        associations = drawn.result()
        features = None if measured is None else measured.result()
    table_stats = _table_stats(table, rows, columns)
    target_info = None
    if index is not None:
        columns[index]["is_target"] = True
        target_info = analyse_target(frame, sample, columns[index], seed, measured=features)
    warnings = quality_warnings(frame, table_stats, columns, target_info, associations)
    for col in columns:
        col.pop("fingerprint")
        col.setdefault("is_target", False)
    sampled = sample.n_rows < frame.n_rows
    result = {
        "format_version": FORMAT_VERSION,
        "table": table_stats,
        "columns": columns,
        "associations": associations,
        "target": target_info,
        "warnings": warnings,
        "sampling": {
            "n_rows": frame.n_rows,
            "sample_rows": sample.n_rows,
            "sampled": sampled,
            "seed": seed,
            "max_exact_rows": max_exact_rows,
            "exact": EXACT_FIGURES if sampled else [*EXACT_FIGURES, *ESTIMATED_FIGURES],
            "estimated": ESTIMATED_FIGURES if sampled else [],
            "note": (
                f"associations, mutual information and text tokens were measured on a "
                f"random sample of {sample.n_rows:,} of the {frame.n_rows:,} rows (seed "
                f"{seed}); every count and per-column statistic uses all rows"
                if sampled
                else f"every figure uses all {frame.n_rows:,} rows"
            ),
        },
        "timing": {"seconds": time.perf_counter() - started},
    }
    ready: dict[str, Any] = json_ready(result)
    return ready


def _table_stats(
    table: pa.Table, row: dict[str, int], columns: list[dict[str, Any]]
) -> dict[str, Any]:
    n_rows, n_cols = table.num_rows, len(columns)
    missing = sum(col["n_missing"] for col in columns)
    return {
        "n_rows": n_rows,
        "n_columns": n_cols,
        "memory_bytes": table.nbytes,
        "duplicate_rows": n_rows - row["unique_rows"],
        "duplicate_rows_share": (n_rows - row["unique_rows"]) / n_rows,
        "missing_cells": missing,
        "missing_cells_share": missing / (n_rows * n_cols),
        "rows_with_missing": row["incomplete_rows"],
        "semantic_types": dict(Counter(col["semantic_type"] for col in columns)),
    }


def json_ready(value: Any) -> Any:
    """``value`` made of JSON types only: NaN and infinities become ``None``."""
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating | Decimal):
        value = float(value)
        return value if math.isfinite(value) else None
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)
