"""The short form of the insights that the ML-Hub WebSocket sends back."""

from __future__ import annotations

from typing import Any


def summarize_insights(insights: dict[str, Any]) -> dict[str, Any]:
    """Cut a full insights result down to the headline figures.

    ML-Hub's prototype answered with the target's class balance and each feature's
    information gain; this keeps those, plus the task and the warnings as sentences.

    Parameters
    ----------
    insights : dict
        A result of ``compute_insights``.

    Returns
    -------
    dict
        ``n_rows``, ``n_columns``, ``target``, ``task``, ``task_reason``,
        ``class_balance`` (class -> share, classification only), ``target_distribution``
        (regression only), ``information_gain`` (feature -> bits, best first),
        ``information_gain_adjusted`` (feature -> chance-adjusted share of the target's
        uncertainty, same order), ``warnings`` (messages) and ``sampled``.

    Examples
    --------
    >>> import pyarrow as pa
    >>> from mlharbor.data.schema import infer_schema
    >>> from mlharbor.data.insights import compute_insights
    >>> t = pa.table({"x": [1, 2, 3, 4, 5, 6], "y": ["a", "a", "b", "b", "a", "b"]})
    >>> summarize_insights(compute_insights(t, infer_schema(t), target="y"))["class_balance"]
    {'a': 0.5, 'b': 0.5}
    """
    target = insights.get("target") or {}
    features = target.get("features", [])
    balance = target.get("class_balance")
    distribution = target.get("distribution")
    return {
        "n_rows": insights["table"]["n_rows"],
        "n_columns": insights["table"]["n_columns"],
        "target": target.get("column"),
        "task": target.get("task"),
        "task_reason": target.get("reason"),
        "class_balance": (
            {str(c["value"]): c["share"] for c in balance["classes"]} if balance else None
        ),
        "target_distribution": (
            {k: distribution.get(k) for k in ("min", "p25", "median", "mean", "p75", "max", "std")}
            if distribution
            else None
        ),
        "information_gain": {f["column"]: f["mutual_information"] for f in features},
        "information_gain_adjusted": {f["column"]: f["adjusted"] for f in features},
        "warnings": [w["message"] for w in insights["warnings"]],
        "sampled": insights["sampling"]["sampled"],
    }
