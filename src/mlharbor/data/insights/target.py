"""The target in view: the task it implies, its balance, and what each feature tells of it.

Each feature's information about the target is its mutual information in bits (the
"information gain" of a split on its bins), measured on the sample: numbers and dates in 20
equal-frequency bins, categories by value with the rare tail folded, a missing value as a
category of its own (that a value is missing often says something). Because finer splits
look informative by chance, each figure also comes chance-adjusted, against the same
feature with the target shuffled; features are ranked by that adjusted figure.

How well a feature predicts the target *on its own* is also measured, cross-validated
(:func:`alone_score`): a one-feature lookup model (the target's mean or class shares per
bin or category, learned on four fifths of the rows and scored on the fifth) gives an AUC
(binary), a balanced accuracy (multiclass) or an R² (regression). Only a near-perfect
figure, or a feature that is the target relabelled, suggests a leak: a merely strong
feature (iris petal width, at a balanced accuracy of 0.96) is what a model is for.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from mlharbor.data.insights._encode import average_ranks, contingency, quantile_codes
from mlharbor.data.insights._frame import CATEGORY_TYPES, NUMERIC_TYPES, Frame
from mlharbor.data.schema import ColumnSchema, Role, SemanticType
from mlharbor.data.tasks import Task

MAX_CLASSES_LISTED = 50
MAX_SIDE_FEATURES = 2
ALONE_FOLDS = 5
#: Rows per bin of a numeric feature in the one-feature model (between 20 and 100 bins).
ROWS_PER_BIN = 20
COPY_AGREEMENT = 0.99
_NOT_FEATURES = frozenset({SemanticType.TEXT, SemanticType.IDENTIFIER, SemanticType.CONSTANT})
REGRESSION_BINS = 10


#: Features ranked by information, features left out (and why), and the baseline.
Informativeness = tuple[list[dict[str, Any]], list[dict[str, str]], dict[str, Any]]


def analyse_target(
    frame: Frame,
    sample: Frame,
    column: dict[str, Any],
    seed: int = 0,
    *,
    measured: Informativeness | None = None,
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
    measured : tuple, optional
        :func:`measure_features` of the same sample, target and seed, if already measured.

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
    features, skipped, baseline = measured or _informativeness(sample, i, classification, seed)
    out.update(features=features, skipped=skipped, baseline=dict(baseline))
    out["sample_rows"] = out["baseline"].pop("rows")
    return out


def measure_features(
    sample: Frame, column: dict[str, Any], seed: int = 0
) -> Informativeness | None:
    """What each feature of ``sample`` tells of the target ``column`` (the sampled part of
    :func:`analyse_target`), or ``None`` when the target cannot be learned.

    It needs only the target's own statistics, so it can run while the other columns are
    still being described.
    """
    i = sample.schema.names.index(column["name"])
    task, classification, _ = infer_task(sample.schema.columns, sample.schema.columns[i], column)
    if task is None:
        return None
    return _informativeness(sample, i, classification, seed)


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
    outcome = y if classification is not None else sample.float_values(i)[keep]
    bins = int(np.clip(len(y) // ROWS_PER_BIN, 20, 100))
    shuffled = np.random.default_rng(seed).permutation(y)
    entropy = _entropy(np.bincount(y))
    features: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    folds = fold_numbers(len(y), seed)  # the same folds for every feature
    for j, col in enumerate(sample.schema.columns):
        if j == i:
            continue
        x = _feature_codes(sample, j, col)
        if isinstance(x, str):
            skipped.append({"column": col.name, "reason": x})
            continue
        x = x[keep]
        fine = _fine_codes(sample, j, col, bins)
        alone = alone_score(
            x if fine is None else fine[keep], outcome, classification, seed=seed, folds=folds
        )
        if classification is not None:
            alone["copy"] = is_relabelled_copy(x, y)
        else:
            # The binned model caps R² below 1 even for the target itself; a rank
            # correlation sees a rescaled copy of the target whole.
            rho = (
                rank_correlation(sample.float_values(j)[keep], outcome)
                if fine is not None
                else None
            )
            alone["rank_correlation"] = rho
            alone["copy"] = rho is not None and abs(rho) >= COPY_AGREEMENT
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
                "alone": alone,
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


def _fine_codes(sample: Frame, j: int, col: ColumnSchema, bins: int) -> np.ndarray | None:
    """Finer bins of a numeric feature for the one-feature model (``None``: keep the codes)."""
    if col.semantic_type not in (SemanticType.NUMERIC, SemanticType.DATETIME):
        return None
    typed = sample.data.get_column(sample.typed(j))
    if not (typed.dtype.is_numeric() or typed.dtype in (pl.Datetime, pl.Date)):
        return None
    values = sample.float_values(j)
    present = ~np.isnan(values)
    codes = np.full(values.shape, -1, dtype=np.int64)
    kept = values[present]
    distinct = np.unique(kept)
    if len(distinct) <= bins:
        codes[present] = np.searchsorted(distinct, kept)
    elif len(kept):
        # Edges at quantiles of the rows and of the distinct values: a value most rows share
        # (0, or -1 for "never") would otherwise swallow its neighbours into its bin.
        levels = np.linspace(0, 1, bins + 1)[1:-1]
        edges = np.unique(np.r_[np.quantile(kept, levels), np.quantile(distinct, levels)])
        codes[present] = np.searchsorted(edges, kept, side="left")
    codes[~present] = codes.max() + 1
    return codes


def fold_numbers(n: int, seed: int = 0) -> np.ndarray:
    """The cross-validation fold (0..ALONE_FOLDS-1) of each of ``n`` rows, seeded."""
    folds = np.empty(n, dtype=np.int64)
    folds[np.random.default_rng(seed).permutation(n)] = np.arange(n) % ALONE_FOLDS
    return folds


def alone_score(
    x: np.ndarray,
    y: np.ndarray,
    classification: str | None,
    *,
    seed: int = 0,
    folds: np.ndarray | None = None,
) -> dict[str, Any]:
    """How well codes ``x`` alone predict ``y``, cross-validated.

    Parameters
    ----------
    x : ndarray of int
        A feature's codes (bins or categories, missing as a code of its own), 0..k-1.
    y : ndarray
        Class codes 0..c-1 (classification) or the target's values (regression).
    classification : {"binary", "multiclass"} or None
    seed : int
        Seed of the fold assignment.
    folds : ndarray of int, optional
        ``fold_numbers(len(y), seed)``, when the caller scores many features on one target.

    Returns
    -------
    dict
        ``{"metric": "auc" | "balanced_accuracy" | "r2", "score": float | None}``.
    """
    n = len(y)
    metric = {"binary": "auc", "multiclass": "balanced_accuracy"}.get(classification or "", "r2")
    if n < 2 * ALONE_FOLDS or not len(x):
        return {"metric": metric, "score": None}
    if folds is None:
        folds = fold_numbers(n, seed)
    k = int(x.max()) + 1
    if classification is None:
        y = y.astype(np.float64)
        present = ~np.isnan(y)
        x, y, folds = x[present], y[present], folds[present]
        predicted = np.empty(len(y))
        for f in range(ALONE_FOLDS):
            train, test = folds != f, folds == f
            sums = np.bincount(x[train], weights=y[train], minlength=k)
            counts = np.bincount(x[train], minlength=k)
            prior = float(y[train].mean()) if train.any() else 0.0
            # One pseudo-row at the training mean: an unseen or tiny bin falls back to it.
            predicted[test] = ((sums + prior) / (counts + 1))[x[test]]
        spread = float(np.sum((y - y.mean()) ** 2))
        score = 1 - float(np.sum((y - predicted) ** 2)) / spread if spread > 0 else None
        return {"metric": metric, "score": score}
    c = int(y.max()) + 1
    rows = [np.flatnonzero(folds == f) for f in range(ALONE_FOLDS)]
    # Each fold's training table is the whole table less the fold's own: one count of the
    # (feature code, class) pairs per fold instead of one per training set.
    cells = x.astype(np.int64) * c + y
    per_fold = [np.bincount(cells[r], minlength=k * c) for r in rows]
    whole = np.sum(per_fold, axis=0)
    lookups = []
    for f in range(ALONE_FOLDS):
        table = (whole - per_fold[f]).reshape(k, c).astype(np.float64)
        class_counts = table.sum(axis=0)
        prior = class_counts / max(class_counts.sum(), 1)
        lookups.append((table + prior) / (table.sum(axis=1, keepdims=True) + 1))
    if classification == "binary":
        if c < 2:  # the sample holds one class only: nothing to rank
            return {"metric": metric, "score": None}
        # Every row of fold f with code v scores lookups[f][v, 1]: the fold's own table
        # counts the positives and negatives behind each score, so no row is visited.
        scores = np.concatenate([lookup[:, 1] for lookup in lookups])
        counts = np.concatenate([table.reshape(k, c) for table in per_fold])
        return {"metric": metric, "score": _auc_counted(scores, counts[:, 1], counts[:, 0])}
    shares = np.empty((n, c))
    for f, r in enumerate(rows):
        shares[r] = lookups[f][x[r]]
    hits = shares.argmax(axis=1) == y
    score = float(np.mean([hits[y == v].mean() for v in np.unique(y)]))
    return {"metric": metric, "score": score}


def _auc_counted(scores: np.ndarray, pos: np.ndarray, neg: np.ndarray) -> float | None:
    """ROC AUC of groups of rows sharing a score (``pos`` and ``neg`` rows in each):
    the Mann-Whitney U over n_pos * n_neg, ties counting half."""
    n_pos, n_neg = int(pos.sum()), int(neg.sum())
    if not n_pos or not n_neg:
        return None
    values, index = np.unique(scores, return_inverse=True)
    pos_at = np.bincount(index, weights=pos, minlength=len(values))
    neg_at = np.bincount(index, weights=neg, minlength=len(values))
    below = np.cumsum(neg_at) - neg_at
    u = float(np.sum(pos_at * (below + neg_at / 2)))
    return float(u / (n_pos * n_neg))


def rank_correlation(a: np.ndarray, b: np.ndarray) -> float | None:
    """Spearman's correlation over the rows where both are present (``None`` if constant)."""
    both = ~(np.isnan(a) | np.isnan(b))
    if both.sum() < 3:
        return None
    ra, rb = average_ranks(a[both]), average_ranks(b[both])
    if ra.std() == 0 or rb.std() == 0:
        return None
    return float(np.corrcoef(ra, rb)[0, 1])


def is_relabelled_copy(x: np.ndarray, y: np.ndarray) -> bool:
    """Whether codes ``x`` and ``y`` say the same thing under other names (both ways).

    Each value of the feature goes with one class and each class with one value, in at
    least ``COPY_AGREEMENT`` of the rows: ``cancel_flag`` = 1 exactly when ``churn`` = yes.
    """
    table = contingency(x, y)
    n = table.sum()
    if n == 0 or min(table.shape) < 2:
        return False
    forward = table.max(axis=1).sum() / n
    backward = table.max(axis=0).sum() / n
    return bool(forward >= COPY_AGREEMENT and backward >= COPY_AGREEMENT)


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
