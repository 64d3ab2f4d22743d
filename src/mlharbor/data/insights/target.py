"""The target in view: the task it implies, its balance, and what each feature tells of it.

Each feature's information about the target is its mutual information in bits (the
"information gain" of a split on its bins), measured on the sample: numbers and dates in 20
equal-frequency bins, categories by value with the rare tail folded, a missing value as a
category of its own (that a value is missing often says something). Because finer splits
look informative by chance, each figure also comes chance-adjusted, against the same
feature with the target shuffled; features are ranked by that adjusted figure.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from mlharbor.data.insights._encode import (
    contingency,
    quantile_codes,
)
from mlharbor.data.insights._frame import CATEGORY_TYPES, NUMERIC_TYPES, Frame
from mlharbor.data.schema import ColumnSchema, Role, SemanticType
from mlharbor.data.tasks import Task

MAX_CLASSES_LISTED = 50
MAX_SIDE_FEATURES = 2
_NOT_FEATURES = frozenset({SemanticType.TEXT, SemanticType.IDENTIFIER, SemanticType.CONSTANT})
REGRESSION_BINS = 10


def analyse_target(
    frame: Frame, sample: Frame, column: dict[str, Any], seed: int = 0
) -> dict[str, Any]:
    """The task, balance or distribution, and ranked feature informativeness of a target.

    Parameters
    ----------
    frame : Frame
        The whole dataset (class balance is exact).
    sample : Frame
        The rows on which mutual information is measured.
    column : dict
        The target's entry from the per-column statistics.
    seed : int
        Seed of the shuffle that measures information gained by chance.

    Returns
    -------
    dict
        ``task`` (or ``None`` when the column cannot be learned, with ``reason`` saying why),
        ``classification`` (``binary``/``multiclass``/``None``), ``class_balance`` or
        ``distribution``, and ``features`` ranked by information about the target.
    """
    i = frame.schema.names.index(column["name"])
    col = frame.schema.columns[i]
    task, classification, reason = infer_task(frame.schema.columns, col, column)
    out: dict[str, Any] = {
        "column": col.name,
        "semantic_type": str(col.semantic_type),
        "task": None if task is None else str(task),
        "classification": classification,
        "reason": reason,
        "n_missing": column["n_missing"],
        "missing_share": column["missing_share"],
    }
    if task is None:
        out["features"], out["skipped"] = [], []
        return out
    if classification is not None:
        out["class_balance"] = _class_balance(frame, i)
    else:
        out["distribution"] = {
            **column.get("numeric", {}),
            "histogram": column.get("histogram"),
        }
    features, skipped, baseline = _informativeness(sample, i, classification, seed)
    out.update(features=features, skipped=skipped, baseline=baseline)
    out["sample_rows"] = baseline.pop("rows")
    return out


def infer_task(
    columns: list[ColumnSchema], col: ColumnSchema, stats: dict[str, Any]
) -> tuple[Task | None, str | None, str]:
    """The task implied by a target column, whether it is a classification, and why."""
    kind, distinct, present = col.semantic_type, stats["n_distinct"], stats["n_present"]
    if present == 0:
        return None, None, "every value of the target is missing"
    if distinct == 1:
        value = stats["top_values"][0]["value"]
        return None, None, f"the target has a single value ({value!r}): there is nothing to learn"
    text = [c.name for c in columns if c.semantic_type == SemanticType.TEXT and c is not col]
    if kind == SemanticType.BOOLEAN or distinct == 2:
        shares = ", ".join(f"{v['value']!r}: {v['share']:.0%}" for v in stats["top_values"][:2])
        task, classification = Task.BINARY, "binary"
        reason = f"the target has exactly 2 distinct values ({shares})"
    elif kind in CATEGORY_TYPES:
        task, classification = Task.MULTICLASS, "multiclass"
        reason = f"the target is {kind.replace('_', ' ')} with {distinct} distinct values"
    elif kind == SemanticType.NUMERIC:
        return (
            Task.REGRESSION,
            None,
            f"the target is numeric with {distinct} distinct values "
            f"({distinct / present:.0%} of the rows that have one)",
        )
    elif kind == SemanticType.IDENTIFIER:
        return None, None, "every value of the target is different: it identifies rows"
    elif kind == SemanticType.TEXT:
        return None, None, "the target is free text; it needs categories or numbers"
    else:
        return None, None, f"a {kind} column cannot be a target"
    if text:
        named = ", ".join(map(repr, text))
        others = [
            c.name
            for c in columns
            if c is not col and c.semantic_type not in _NOT_FEATURES and c.role == Role.FEATURE
        ]
        if len(others) <= MAX_SIDE_FEATURES:
            # The text is what there is to learn from: a text classifier's job.
            task = Task.TEXT
            reason += f", and the features are mainly free text ({named})"
        else:
            reason += f"; {named} is free text, usable through text features"
    return task, classification, reason


def _class_balance(frame: Frame, i: int) -> dict[str, Any]:
    counts = (
        frame.data.get_column(frame.raw(i)).drop_nulls().value_counts(sort=True, name="n").rows()
    )
    total = sum(n for _, n in counts)
    classes = [{"value": v, "count": n, "share": n / total} for v, n in counts]
    majority, minority = counts[0][1], counts[-1][1]
    return {
        "n_classes": len(counts),
        "classes": classes[:MAX_CLASSES_LISTED],
        "n_classes_not_listed": max(0, len(counts) - MAX_CLASSES_LISTED),
        "majority_share": majority / total,
        "minority_share": minority / total,
        "imbalance_ratio": majority / minority,
    }


def _informativeness(
    sample: Frame, i: int, classification: str | None, seed: int
) -> tuple[list[dict[str, Any]], list[dict[str, str]], dict[str, Any]]:
    if classification is not None:
        y = sample.category_codes(i)
    else:
        y = quantile_codes(sample.float_values(i), REGRESSION_BINS)
    keep = y >= 0
    y = y[keep]
    shuffled = np.random.default_rng(seed).permutation(y)
    entropy = _entropy(np.bincount(y))
    features, skipped = [], []
    for j, col in enumerate(sample.schema.columns):
        if j == i:
            continue
        x = _feature_codes(sample, j, col)
        if isinstance(x, str):
            skipped.append({"column": col.name, "reason": x})
            continue
        x = x[keep]
        mi, accuracy = _mutual_information(x, y)
        chance, _ = _mutual_information(x, shuffled)
        room = entropy - chance
        features.append(
            {
                "column": col.name,
                "mutual_information": mi,
                "normalized": mi / entropy if entropy > 0 else None,
                "adjusted": max(0.0, (mi - chance) / room) if room > 0 else None,
                "rule_accuracy": accuracy if classification is not None else None,
                "categories": int(x.max()) + 1 if len(x) else 0,
            }
        )
    features.sort(key=lambda f: (-(f["adjusted"] or 0.0), -f["mutual_information"]))
    for rank, feature in enumerate(features, start=1):
        feature["rank"] = rank
    counts = np.bincount(y) if len(y) else np.zeros(1)
    baseline = {
        "rows": int(keep.sum()),
        "entropy_bits": entropy,
        "majority_accuracy": float(counts.max() / counts.sum()) if len(y) else None,
        "target_bins": None if classification is not None else REGRESSION_BINS,
    }
    return features, skipped, baseline


def _feature_codes(sample: Frame, j: int, col: ColumnSchema) -> np.ndarray | str:
    """A feature's codes with missing as a code of its own, or why it is left out."""
    kind = col.semantic_type
    typed = sample.data.get_column(sample.typed(j))
    if kind in (SemanticType.NUMERIC, SemanticType.DATETIME) and (
        typed.dtype.is_numeric() or typed.dtype in (pl.Datetime, pl.Date)
    ):
        codes = quantile_codes(sample.float_values(j))
    elif kind in CATEGORY_TYPES or kind in NUMERIC_TYPES:
        codes = sample.category_codes(j)
    else:
        return {
            SemanticType.TEXT: "free text (see the text statistics)",
            SemanticType.IDENTIFIER: "an identifier",
            SemanticType.CONSTANT: "a single value",
        }.get(kind, f"a {kind} column")
    missing = codes < 0
    if missing.any():
        codes = codes.copy()
        codes[missing] = codes.max() + 1
    return codes


def _mutual_information(x: np.ndarray, y: np.ndarray) -> tuple[float, float | None]:
    """Mutual information in bits, and the accuracy of predicting y by x's majority class."""
    table = contingency(x, y)
    n = table.sum()
    if n == 0:
        return 0.0, None
    p = table / n
    px, py = p.sum(axis=1, keepdims=True), p.sum(axis=0, keepdims=True)
    nz = p > 0
    mi = float((p[nz] * np.log2(p[nz] / (px @ py)[nz])).sum())
    return max(0.0, mi), float(table.max(axis=1).sum() / n)


def _entropy(counts: np.ndarray) -> float:
    p = counts[counts > 0] / max(counts.sum(), 1)
    return float(-(p * np.log2(p)).sum())
