"""Drift reports: two profiles in, a verdict per column and for the dataset out.

The test follows the column's kind and the sample size, as common practice does (Evidently,
NannyML): KS for numeric and chi-square for categorical columns when either side has at
most ``small_sample`` rows, normed Wasserstein and Jensen–Shannon distance above. A small
sample drifts when its p-value is below ``alpha``. A large one drifts when its effect size,
*after taking off the distance that sampling noise alone would give at these sizes*, is
above the threshold, and the difference is also significant (see :mod:`.stats`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from mlharbor.monitoring import stats
from mlharbor.monitoring.sketch import ColumnKind

CHART_LABELS = 20
NEW_LABELS = 20


@dataclass(frozen=True)
class DriftThresholds:
    """Thresholds of the drift verdict; defaults follow common practice (Evidently's)."""

    numeric: float = 0.1
    categorical: float = 0.1
    alpha: float = 0.05
    small_sample: int = 1000
    share: float = 0.5
    missing: float = 0.05
    new_category: float = 0.01
    psi: float = 0.2

    @classmethod
    def from_settings(cls, settings: Any) -> DriftThresholds:
        """Read the ``drift_*`` settings."""
        return cls(
            numeric=settings.drift_numeric_threshold,
            categorical=settings.drift_categorical_threshold,
            alpha=settings.drift_alpha,
            small_sample=settings.drift_small_sample,
            share=settings.drift_share_threshold,
            missing=settings.drift_missing_threshold,
            new_category=settings.drift_new_category_threshold,
            psi=settings.drift_psi_threshold,
        )


def compare_profiles(
    reference: dict[str, Any],
    current: dict[str, Any],
    thresholds: DriftThresholds | None = None,
    *,
    columns: list[str] | None = None,
) -> dict[str, Any]:
    """Compare the columns two profiles share and give the dataset verdict.

    Parameters
    ----------
    reference, current : dict
        From :func:`mlharbor.monitoring.sketch.profile_table`.
    thresholds : DriftThresholds, optional
    columns : list of str, optional
        Only these columns (default: every column of the reference).

    Returns
    -------
    dict
        ``{"dataset": {...verdict...}, "columns": [per-column results], "missing_columns"}``.
    """
    limits = thresholds or DriftThresholds()
    names = columns if columns is not None else list(reference["columns"])
    results = []
    absent = []
    for name in names:
        ref = reference["columns"].get(name)
        cur = current["columns"].get(name)
        if ref is None:
            continue
        if cur is None:
            absent.append(name)
            continue
        result = compare_column(name, ref, cur, limits)
        if result is not None:
            results.append(result)
    drifted = [r["column"] for r in results if r["drifted"]]
    share = len(drifted) / len(results) if results else 0.0
    return {
        "dataset": {
            "drifted": bool(results) and share >= limits.share,
            "n_columns": len(results),
            "n_drifted": len(drifted),
            "share": round(share, 6),
            "share_threshold": limits.share,
            "drifted_columns": drifted,
            "missing_changed": [r["column"] for r in results if r["missing"]["changed"]],
            "new_categories": [
                r["column"] for r in results if r.get("new_categories", {}).get("flagged")
            ],
            "reference_rows": reference.get("n_rows"),
            "current_rows": current.get("n_rows"),
        },
        "columns": results,
        "missing_columns": absent,
        "thresholds": limits.__dict__,
    }


def compare_column(
    name: str, ref: dict[str, Any], cur: dict[str, Any], limits: DriftThresholds
) -> dict[str, Any] | None:
    """The verdict on one column, or ``None`` when either side has no values to compare."""
    kind = ColumnKind(ref["kind"])
    out: dict[str, Any] = {"column": name, "kind": kind.value}
    if kind == ColumnKind.NUMERIC:
        if not ref["n"] or not cur["n"]:
            return None
        small = min(ref["n"], cur["n"]) <= limits.small_sample
        comparison = stats.compare_numeric(ref, cur, small=small)
        out |= _verdict(comparison, small, limits.numeric, limits.alpha)
        out["chart"] = {"type": "histogram", **stats.histograms(ref, cur)}
    elif kind == ColumnKind.CATEGORICAL:
        if not ref["n"] or not cur["n"]:
            return None
        small = min(ref["n"], cur["n"]) <= limits.small_sample
        labels, counts = stats.aligned_counts(ref, cur)
        comparison = stats.compare_categorical(counts, small=small)
        out |= _verdict(comparison, small, limits.categorical, limits.alpha)
        out["chart"] = _bars(labels, counts)
        out["new_categories"] = _new_categories(ref, cur, limits)
    else:
        if not ref["length"]["n"] or not cur["length"]["n"]:
            return None
        small = min(ref["length"]["n"], cur["length"]["n"]) <= limits.small_sample
        length = stats.compare_numeric(ref["length"], cur["length"], small=small)
        labels, counts = stats.aligned_counts(ref["vocabulary"], cur["vocabulary"])
        vocab = stats.compare_categorical(counts, small=small)
        by_length = _verdict(length, small, limits.numeric, limits.alpha)
        by_vocab = _verdict(vocab, small, limits.categorical, limits.alpha)
        main = by_vocab if by_vocab["effect"] >= by_length["effect"] else by_length
        out |= main
        out["drifted"] = by_length["drifted"] or by_vocab["drifted"]
        out["method"] = f"text ({main['method']})"
        out["length"] = by_length
        out["vocabulary"] = by_vocab
        out["chart"] = {"type": "histogram", **stats.histograms(ref["length"], cur["length"])}
    out["missing"] = _missing(ref, cur, limits)
    out["reference_rows"] = ref["count"]
    out["current_rows"] = cur["count"]
    return out


def _verdict(c: stats.Comparison, small: bool, threshold: float, alpha: float) -> dict[str, Any]:
    significant = c.p_value < alpha
    if small:
        drifted = significant
        reason = f"p-value {c.p_value:.3g} {'<' if drifted else '>='} {alpha}"
        threshold = alpha
    else:
        drifted = significant and c.effect > threshold
        reason = (
            f"distance {c.distance:.3g} minus sampling noise {c.noise:.3g} = {c.effect:.3g} "
            f"{'>' if c.effect > threshold else '<='} {threshold}"
            + ("" if significant else f"; not significant (p={c.p_value:.3g})")
        )
    return {**c.to_dict(), "threshold": threshold, "drifted": bool(drifted), "reason": reason}


def _bars(labels: list[str], counts: np.ndarray) -> dict[str, Any]:
    shares = counts / counts.sum(axis=1, keepdims=True)
    order = np.argsort(-(shares[0] + shares[1]), kind="stable")[:CHART_LABELS]
    return {
        "type": "bars",
        "labels": ["(other)" if labels[i] == stats.OTHER else labels[i] for i in order],
        "reference": [round(float(shares[0, i]), 6) for i in order],
        "current": [round(float(shares[1, i]), 6) for i in order],
    }


def _new_categories(
    ref: dict[str, Any], cur: dict[str, Any], limits: DriftThresholds
) -> dict[str, Any]:
    # A label beyond the reference's top-k may be a known rare one: only a reference that
    # kept every label can call a label new.
    if ref.get("other"):
        return {"values": [], "share": 0.0, "flagged": False, "exact": False}
    new = {k: v for k, v in cur["counts"].items() if k not in ref["counts"]}
    share = sum(new.values()) / cur["n"] if cur["n"] else 0.0
    top = sorted(new.items(), key=lambda kv: -kv[1])[:NEW_LABELS]
    return {
        "values": [{"value": k, "share": round(v / cur["n"], 6)} for k, v in top],
        "n_new": len(new),
        "share": round(share, 6),
        "flagged": share > limits.new_category,
        "exact": True,
    }


def _missing(ref: dict[str, Any], cur: dict[str, Any], limits: DriftThresholds) -> dict[str, Any]:
    ra, ca = ref["missing"] / max(ref["count"], 1), cur["missing"] / max(cur["count"], 1)
    p_value = stats.proportion_test(ref["missing"], ref["count"], cur["missing"], cur["count"])
    return {
        "reference": round(ra, 6),
        "current": round(ca, 6),
        "changed": bool(abs(ca - ra) > limits.missing and p_value < limits.alpha),
        "p_value": round(p_value, 6),
    }
