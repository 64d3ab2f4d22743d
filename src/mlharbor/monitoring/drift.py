"""Drift reports: two profiles in, a verdict per column and for the dataset out.

The test follows the column's kind and the sample size, as common practice does (Evidently,
NannyML): KS for numeric and chi-square for categorical columns when either side has at
most ``small_sample`` rows, normed Wasserstein and Jensen–Shannon distance above. A small
sample drifts when its p-value is below ``alpha``. A large one drifts when its effect size,
*after taking off the distance that sampling noise alone would give at these sizes*, is
above the threshold, and the difference is also significant (see :mod:`.stats`).

Whatever the sample size, a numeric or categorical column also drifts when the difference
is significant and its PSI reaches ``psi`` (0.25, the usual "significant shift" level), and
a categorical one when a significant share of its rows above ``new_category`` holds
categories the reference never saw: a column half made of unseen values is not "no drift".

The dataset verdict (:func:`grade`) has three levels: ``ok`` when nothing drifted, ``warn``
when any column or the predictions drifted, ``bad`` when the drifted share reaches
``share`` or one of the model's ``important`` most important inputs drifted.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlharbor.monitoring import stats
from mlharbor.monitoring.sketch import ColumnKind

CHART_LABELS = 20
NEW_LABELS = 20
#: Most threads comparing columns at once.
MAX_THREADS = 4


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
    psi: float = 0.25
    important: int = 3

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
            important=settings.drift_important_features,
        )


def compare_profiles(
    reference: dict[str, Any],
    current: dict[str, Any],
    thresholds: DriftThresholds | None = None,
    *,
    columns: list[str] | None = None,
    importance: dict[str, float] | None = None,
    compared: Mapping[str, dict[str, Any] | None] | None = None,
) -> dict[str, Any]:
    """Compare the columns two profiles share and give the dataset verdict.

    Parameters
    ----------
    reference, current : dict
        From :func:`mlharbor.monitoring.sketch.profile_table`.
    thresholds : DriftThresholds, optional
    columns : list of str, optional
        Only these columns (default: every column of the reference).
    importance : dict, optional
        The model's importance of each input column (see :func:`grade`).
    compared : mapping, optional
        Columns already compared (:func:`compare_column` of these two profiles' columns),
        by name: they are not compared again.

    Returns
    -------
    dict
        ``{"dataset": {...verdict...}, "columns": [per-column results], "missing_columns"}``.
    """
    limits = thresholds or DriftThresholds()
    names = columns if columns is not None else list(reference["columns"])
    pairs = []
    absent = []
    for name in names:
        ref = reference["columns"].get(name)
        cur = current["columns"].get(name)
        if ref is None:
            continue
        if cur is None:
            absent.append(name)
            continue
        pairs.append((name, ref, cur))
    done = compared or {}
    fresh = iter(_compare_columns([pair for pair in pairs if pair[0] not in done], limits))
    results = [
        result
        for result in (done[name] if name in done else next(fresh) for name, _, _ in pairs)
        if result is not None
    ]
    report = {
        "dataset": {
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
    return grade(report, limits, importance=importance)


def _compare_columns(
    pairs: list[tuple[str, dict[str, Any], dict[str, Any]]], limits: DriftThresholds
) -> list[dict[str, Any] | None]:
    """:func:`compare_column` of each (name, reference, current), in order.

    Columns are compared on threads: most of the time goes to NumPy's random draws (the
    chi-square Monte Carlo and the noise bootstrap of categorical columns), which release the
    GIL, and each column seeds its own generator, so the results do not depend on the order.
    """
    if len(pairs) < 2:
        return [compare_column(name, ref, cur, limits) for name, ref, cur in pairs]
    workers = min(len(pairs), os.cpu_count() or 1, MAX_THREADS)
    # The dearest columns start first: one column's Monte Carlo can take longer than all
    # the others together, and started last it would run alone while the other cores idle.
    order = sorted(range(len(pairs)), key=lambda k: -comparison_cost(pairs[k][1], pairs[k][2]))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="drift") as pool:
        pending = {
            k: pool.submit(compare_column, pairs[k][0], pairs[k][1], pairs[k][2], limits)
            for k in order
        }
        return [pending[k].result() for k in range(len(pairs))]


def comparison_cost(ref: dict[str, Any], cur: dict[str, Any]) -> int:
    """A rough cost of comparing one column (only its order among the others matters):
    categorical counts cost per cell, and far more where rare cells call for the Monte
    Carlo of the chi-square test (see :func:`stats.compare_categorical`)."""
    if "vocabulary" in ref and "vocabulary" in cur:
        ref, cur = ref["vocabulary"], cur["vocabulary"]
    cells = [*(ref.get("counts") or {}).values(), *(cur.get("counts") or {}).values()]
    if not cells:
        return 0
    draws = stats.MONTE_CARLO if min(cells) < 10 else stats.BOOTSTRAP
    return len(cells) * draws


def grade(
    report: dict[str, Any],
    limits: DriftThresholds | None = None,
    *,
    importance: dict[str, float] | None = None,
    prediction: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Set the dataset verdict of ``report`` from its columns (and the predictions' drift).

    Parameters
    ----------
    report : dict
        From :func:`compare_profiles`; its ``dataset`` entry is updated in place.
    limits : DriftThresholds, optional
    importance : dict, optional
        ``{column: importance}`` (the version's permutation importance). Drifted columns
        are listed most important first; one among the ``limits.important`` most important
        inputs (with a positive importance) makes the verdict ``bad``.
    prediction : dict, optional
        The predictions' drift result; its drift makes the verdict at least ``warn``.

    Returns
    -------
    dict
        ``report``, its ``dataset`` holding ``status`` (``ok``/``warn``/``bad``),
        ``drifted`` (``status == "bad"``), ``drifted_columns`` (most important first),
        ``drifted_detail``, ``important_drifted`` and ``why`` (the sentences behind it).
    """
    limits = limits or DriftThresholds()
    results = report["columns"]
    ranks = _ranks(importance or {})
    for r in results:
        r["importance_rank"] = ranks.get(r["column"])
    drifted = [r for r in results if r["drifted"]]
    # Most important first; without importances, the largest effect first.
    drifted.sort(key=lambda r: (ranks.get(r["column"], len(ranks) + 1), -(r["effect"] or 0)))
    share = len(drifted) / len(results) if results else 0.0
    top = {c for c, rank in ranks.items() if rank <= limits.important}
    important = [r["column"] for r in drifted if r["column"] in top]
    output = bool(prediction and prediction.get("drifted"))
    why = []
    if results and share >= limits.share:
        why.append(
            f"{len(drifted)} of {len(results)} input columns drifted ({share:.0%}), at or "
            f"above the {limits.share:.0%} share that counts as dataset drift"
        )
    if important:
        why.append(
            f"among the {limits.important} inputs the model relies on most, "
            f"{_names(important)} drifted"
        )
    status = "bad" if why else "warn" if drifted or output else "ok"
    if status == "warn" and drifted:
        why.append(
            f"{len(drifted)} of {len(results)} input columns drifted ({share:.0%}), below the "
            f"{limits.share:.0%} share"
            + (", none of them among the model's most important inputs" if ranks else "")
        )
    if output:
        why.append("the predictions drifted: " + _short_reason(prediction or {}))
    report["dataset"].update(
        status=status,
        drifted=status == "bad",
        n_columns=len(results),
        n_drifted=len(drifted),
        share=round(share, 6),
        share_threshold=limits.share,
        drifted_columns=[r["column"] for r in drifted],
        drifted_detail=[
            {
                "column": r["column"],
                "importance_rank": ranks.get(r["column"]),
                "important": r["column"] in top,
                "reason": r["reason"],
            }
            for r in drifted
        ],
        important_drifted=important,
        important_threshold=limits.important,
        has_importance=bool(ranks),
        prediction_drifted=output,
        why=why,
    )
    return report


def _ranks(importance: dict[str, float]) -> dict[str, int]:
    """1 for the most important column; columns of no positive importance are not ranked."""
    order = sorted((v, c) for c, v in importance.items() if v is not None and v > 0)
    return {c: rank for rank, (_, c) in enumerate(reversed(order), start=1)}


def _names(columns: list[str], most: int = 5) -> str:
    shown = ", ".join(columns[:most])
    return shown + (f" and {len(columns) - most} more" if len(columns) > most else "")


def _short_reason(result: dict[str, Any]) -> str:
    psi = result.get("psi")
    text: str = result.get("reason", "")
    if psi is not None and "PSI" not in text:
        text += f"; PSI {psi:.3g}"
    return text


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
        out |= _verdict(comparison, small, limits.numeric, limits.alpha, limits.psi)
        out["chart"] = {"type": "histogram", **stats.histograms(ref, cur)}
    elif kind == ColumnKind.CATEGORICAL:
        if not ref["n"] or not cur["n"]:
            return None
        small = min(ref["n"], cur["n"]) <= limits.small_sample
        labels, counts = stats.aligned_counts(ref, cur)
        comparison = stats.compare_categorical(counts, small=small)
        out |= _verdict(comparison, small, limits.categorical, limits.alpha, limits.psi)
        out["chart"] = _bars(labels, counts)
        out["new_categories"] = new = _new_categories(ref, cur, limits)
        if new["flagged"] and comparison.p_value < limits.alpha:
            out["reason"] += f"; {new['share']:.0%} of rows hold categories never seen in training"
            out["drifted"] = True
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


def _verdict(
    c: stats.Comparison,
    small: bool,
    threshold: float,
    alpha: float,
    psi_threshold: float | None = None,
) -> dict[str, Any]:
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
    if psi_threshold is not None and significant and c.psi >= psi_threshold:
        reason += f"; PSI {c.psi:.3g} >= {psi_threshold}"
        drifted = True
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
