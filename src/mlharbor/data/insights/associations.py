"""How strongly columns go together: Pearson and Spearman between numbers, Cramér's V
between categories, the correlation ratio between a category and a number.

These figures are computed on the seeded sample: their estimates settle long before a
million rows, and the pairwise work grows with the square of the number of columns.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from mlharbor.data.insights._encode import average_ranks, contingency
from mlharbor.data.insights._frame import CATEGORY_TYPES, NUMERIC_TYPES, Frame
from mlharbor.data.schema import SemanticType

MAX_COLUMNS = 60
TOP_PAIRS = 20


def compute_associations(sample: Frame) -> dict[str, Any]:
    """Association matrices and the strongest pairs among the columns of ``sample``.

    Parameters
    ----------
    sample : Frame
        The rows to measure on (the whole table when it is small).

    Returns
    -------
    dict
        ``pearson`` and ``spearman`` (numeric columns), ``cramers_v`` (categorical columns),
        ``matrix`` (every included column, each pair with the measure that suits it, all on
        0..1 for a heat map), ``top_pairs`` and ``skipped`` (columns left out, and why).
    """
    numeric, categorical, skipped = _pick_columns(sample)
    nums = {name: sample.float_values(i) for i, name in numeric}
    cats = {name: sample.category_codes(i) for i, name in categorical}
    pearson = _correlations(nums, rank=False)
    spearman = _correlations(nums, rank=True)
    cat_names = list(cats)
    cramers = {
        (a, b): cramers_v(contingency(cats[a], cats[b]))
        for k, a in enumerate(cat_names)
        for b in cat_names[k + 1 :]
    }
    etas = {(c, n): correlation_ratio(cats[c], nums[n]) for c in cats for n in nums if c != n}
    # A column both ordinal and categorical (integer codes) is shown once, as a category.
    kinds = {name: "numeric" for name in nums} | {name: "categorical" for name in cats}
    names = [name for name in sample.schema.names if name in kinds]
    pairs = _pairs(names, kinds, pearson, spearman, cramers, etas)
    strength = {frozenset((p["columns"][0], p["columns"][1])): p["strength"] for p in pairs}
    return {
        "sample_rows": sample.n_rows,
        "columns": names,
        "kinds": [kinds[n] for n in names],
        "matrix": _matrix(names, lambda a, b: strength.get(frozenset((a, b)))),
        "pearson": _named_matrix(list(nums), pearson),
        "spearman": _named_matrix(list(nums), spearman),
        "cramers_v": _named_matrix(list(cats), cramers),
        "top_pairs": pairs[:TOP_PAIRS],
        "skipped": skipped,
        "methods": {
            "numeric-numeric": "absolute Spearman rank correlation",
            "categorical-categorical": "Cramér's V (bias-corrected)",
            "categorical-numeric": "correlation ratio (eta)",
        },
    }


def _pick_columns(
    sample: Frame,
) -> tuple[list[tuple[int, str]], list[tuple[int, str]], list[dict[str, str]]]:
    numeric, categorical, skipped = [], [], []
    for i, col in enumerate(sample.schema.columns):
        kind = col.semantic_type
        typed_type = sample.dtypes[sample.typed(i)]
        if kind in NUMERIC_TYPES and typed_type.is_numeric():
            numeric.append((i, col.name))
        if kind in CATEGORY_TYPES:
            categorical.append((i, col.name))
        elif kind not in NUMERIC_TYPES:
            reason = {
                SemanticType.TEXT: "free text",
                SemanticType.IDENTIFIER: "an identifier",
                SemanticType.CONSTANT: "a single value",
                SemanticType.DATETIME: "a date",
            }.get(kind, str(kind))
            skipped.append({"column": col.name, "reason": reason})
    for group in (numeric, categorical):
        for _, name in group[MAX_COLUMNS:]:
            skipped.append({"column": name, "reason": f"more than {MAX_COLUMNS} columns"})
    return numeric[:MAX_COLUMNS], categorical[:MAX_COLUMNS], skipped


def _correlations(
    nums: dict[str, np.ndarray], *, rank: bool
) -> dict[tuple[str, str], float | None]:
    names = list(nums)
    present = {n: ~np.isnan(v) for n, v in nums.items()}
    complete = {n: bool(p.all()) for n, p in present.items()}
    ranked = {n: average_ranks(v) for n, v in nums.items()} if rank else nums
    # A complete column is centred once for all its pairs with other complete columns.
    centred = {n: _centred(ranked[n]) for n in names if complete[n]}
    out: dict[tuple[str, str], float | None] = {}
    for k, a in enumerate(names):
        for b in names[k + 1 :]:
            if complete[a] and complete[b]:
                out[(a, b)] = _pearson_centred(centred[a], centred[b])
                continue
            # Ranks stay those within each column: re-ranking every pair's shared rows
            # would cost a sort per pair for a difference far below the sampling error.
            both = present[a] & present[b]
            out[(a, b)] = _pearson(ranked[a][both], ranked[b][both])
    return out


def _pearson(x: np.ndarray, y: np.ndarray) -> float | None:
    if len(x) < 3:
        return None
    return _pearson_centred(_centred(x), _centred(y))


def _centred(x: np.ndarray) -> tuple[np.ndarray, float]:
    """``x`` less its mean, and its sum of squares."""
    x = x - x.mean()
    # Elementwise sums, not BLAS dot products: these are single vectors, and a threaded BLAS
    # on a busy machine spends more time waking threads than multiplying.
    return x, float(np.sum(x * x))


def _pearson_centred(a: tuple[np.ndarray, float], b: tuple[np.ndarray, float]) -> float | None:
    (x, xx), (y, yy) = a, b
    if len(x) < 3:
        return None
    denominator = math.sqrt(xx * yy)
    if denominator == 0:
        return None
    return max(-1.0, min(1.0, float(np.sum(x * y)) / denominator))


def cramers_v(table: np.ndarray) -> float | None:
    """Bias-corrected Cramér's V (Bergsma 2013) of a contingency table."""
    table = table[table.sum(axis=1) > 0][:, table.sum(axis=0) > 0]
    n = table.sum()
    r, k = table.shape
    if n < 2 or r < 2 or k < 2:
        return None
    expected = table.sum(axis=1, keepdims=True) @ table.sum(axis=0, keepdims=True) / n
    chi2 = float(((table - expected) ** 2 / expected).sum())
    phi2 = max(0.0, chi2 / n - (k - 1) * (r - 1) / (n - 1))
    r_corr = r - (r - 1) ** 2 / (n - 1)
    k_corr = k - (k - 1) ** 2 / (n - 1)
    denominator = min(k_corr - 1, r_corr - 1)
    if denominator <= 0:
        return None
    return min(1.0, math.sqrt(phi2 / denominator))


def correlation_ratio(codes: np.ndarray, values: np.ndarray) -> float | None:
    """Eta: the share of a number's spread explained by a category, as a square root."""
    both = (codes >= 0) & ~np.isnan(values)
    codes, values = codes[both], values[both]
    if len(values) < 3:
        return None
    counts = np.bincount(codes)
    sums = np.bincount(codes, weights=values)
    seen = counts > 0
    means = sums[seen] / counts[seen]
    grand = values.mean()
    total = float(((values - grand) ** 2).sum())
    if total == 0:
        return None
    between = float((counts[seen] * (means - grand) ** 2).sum())
    return min(1.0, math.sqrt(between / total))


Pairs = dict[tuple[str, str], float | None]


def _pairs(
    names: list[str],
    kinds: dict[str, str],
    pearson: Pairs,
    spearman: Pairs,
    cramers: Pairs,
    etas: Pairs,
) -> list[dict[str, Any]]:
    pairs = []
    for k, a in enumerate(names):
        for b in names[k + 1 :]:
            key = (a, b) if (a, b) in pearson or (a, b) in cramers else (b, a)
            pair: dict[str, Any] = {"columns": [a, b]}
            if kinds[a] == kinds[b] == "numeric":
                rho = spearman.get(key)
                pair.update(method="spearman", value=rho, pearson=pearson.get(key))
                pair["strength"] = None if rho is None else abs(rho)
            elif kinds[a] == kinds[b] == "categorical":
                pair.update(method="cramers_v", value=cramers.get(key))
                pair["strength"] = pair["value"]
            else:
                cat, num = (a, b) if kinds[a] == "categorical" else (b, a)
                pair.update(method="correlation_ratio", value=etas.get((cat, num)))
                pair["strength"] = pair["value"]
            if pair["strength"] is not None:
                pairs.append(pair)
    pairs.sort(key=lambda p: -p["strength"])
    return pairs


def _named_matrix(names: list[str], values: dict[tuple[str, str], float | None]) -> dict[str, Any]:
    return {
        "columns": names,
        "matrix": _matrix(names, lambda a, b: values.get((a, b), values.get((b, a)))),
    }


def _matrix(
    names: list[str], value: Callable[[str, str], float | None]
) -> list[list[float | None]]:
    return [[1.0 if a == b else value(a, b) for b in names] for a in names]
