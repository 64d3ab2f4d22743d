"""Plotly figures (plain ``{"data", "layout"}`` dicts) drawn from the insights' JSON.

The browser renders them with the plotly.js bundled in the ``plotly`` package; building
plain dicts keeps the server free of plotly's figure validation, which is slow.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

BLUE = "#2f6fd6"
ORANGE = "#e07b25"
GREY = "#9aa5b5"
#: Light for 0, deep blue for 1 (plotly's "Blues" runs the other way round).
SCALE = [[0.0, "#f3f7fd"], [0.5, "#7fa9e8"], [1.0, "#0b3f8f"]]
FONT = {"family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", "size": 12}


def figure(data: list[dict[str, Any]], height: int = 260, **layout: Any) -> dict[str, Any]:
    """A figure with the UI's common layout."""
    base: dict[str, Any] = {
        "height": height,
        "margin": {"l": 48, "r": 12, "t": 10, "b": 40},
        "font": FONT,
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "showlegend": False,
        "xaxis": {"automargin": True, "gridcolor": "#eef1f5"},
        "yaxis": {"automargin": True, "gridcolor": "#eef1f5"},
    }
    for key, value in layout.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = {**base[key], **value}
        else:
            base[key] = value
    return {"data": data, "layout": base}


def histogram(hist: dict[str, Any], title: str = "") -> dict[str, Any]:
    """A histogram from bin edges and counts."""
    edges, counts = hist["bin_edges"], hist["counts"]
    if edges and isinstance(edges[0], str):  # a date column's bins: ISO dates, widths in ms
        import pandas as pd

        stamps = [pd.Timestamp(e) for e in edges]
        centers = [(a + (b - a) / 2).isoformat() for a, b in pairwise(stamps)]
        widths = [(b - a).total_seconds() * 1000 for a, b in pairwise(stamps)]
        text = [f"{a} – {b}" for a, b in pairwise(edges)]
    else:
        centers = [(a + b) / 2 for a, b in pairwise(edges)]
        widths = [b - a for a, b in pairwise(edges)]
        text = [f"{a:.4g} – {b:.4g}" for a, b in pairwise(edges)]
    trace = {
        "type": "bar",
        "x": centers,
        "y": counts,
        "width": widths,
        "text": text,
        "hovertemplate": "%{text}<br>%{y} rows<extra></extra>",
        "textposition": "none",
        "marker": {"color": BLUE, "line": {"color": "#fff", "width": 0.5}},
    }
    label = f"{hist.get('of', 'value')}" if hist.get("of") else title
    return figure([trace], height=220, xaxis={"title": {"text": label}}, bargap=0)


def top_values(values: list[dict[str, Any]]) -> dict[str, Any]:
    """Horizontal bars of the most frequent values."""
    rows = values[:10][::-1]
    trace = {
        "type": "bar",
        "orientation": "h",
        "y": [_label(r["value"]) for r in rows],
        "x": [r["count"] for r in rows],
        "customdata": [round(100 * r["share"], 1) for r in rows],
        "hovertemplate": "%{y}: %{x} rows (%{customdata}%)<extra></extra>",
        "marker": {"color": BLUE},
    }
    return figure([trace], height=max(160, 26 * len(rows) + 50), yaxis={"type": "category"})


def missing_values(columns: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The share of missing values per column, or ``None`` when nothing is missing."""
    rows = [c for c in columns if c.get("n_missing")]
    if not rows:
        return None
    rows.sort(key=lambda c: c["missing_share"])
    trace = {
        "type": "bar",
        "orientation": "h",
        "y": [c["name"] for c in rows],
        "x": [100 * c["missing_share"] for c in rows],
        "customdata": [c["n_missing"] for c in rows],
        "hovertemplate": "%{y}: %{x:.1f}% missing (%{customdata} rows)<extra></extra>",
        "marker": {"color": ORANGE},
    }
    return figure(
        [trace],
        height=max(160, 24 * len(rows) + 60),
        xaxis={"title": {"text": "% missing"}, "range": [0, 100]},
        yaxis={"type": "category"},
    )


def association_heatmap(assoc: dict[str, Any]) -> dict[str, Any] | None:
    """The association matrix (|correlation|, correlation ratio, Cramér's V) as a heat map."""
    columns = assoc.get("columns") or []
    if len(columns) < 2:
        return None
    trace = {
        "type": "heatmap",
        "x": columns,
        "y": columns,
        "z": assoc["matrix"],
        "zmin": 0,
        "zmax": 1,
        "colorscale": SCALE,
        "hovertemplate": "%{y} × %{x}: %{z:.2f}<extra></extra>",
        "colorbar": {"thickness": 12, "len": 0.9},
    }
    size = min(560, max(300, 34 * len(columns) + 140))
    return figure(
        [trace],
        height=size,
        margin={"l": 110, "r": 10, "t": 10, "b": 110},
        yaxis={"autorange": "reversed", "type": "category"},
        xaxis={"type": "category", "tickangle": -40},
    )


def class_balance(balance: dict[str, Any]) -> dict[str, Any]:
    """Rows per class of a classification target."""
    classes = balance["classes"]
    trace = {
        "type": "bar",
        "x": [_label(c["value"]) for c in classes],
        "y": [c["count"] for c in classes],
        "customdata": [round(100 * c["share"], 1) for c in classes],
        "hovertemplate": "%{x}: %{y} rows (%{customdata}%)<extra></extra>",
        "marker": {"color": BLUE},
    }
    return figure([trace], xaxis={"type": "category"}, yaxis={"title": {"text": "rows"}})


def feature_association(features: list[dict[str, Any]]) -> dict[str, Any] | None:
    """How much each feature tells about the target (adjusted mutual information)."""
    if not features:
        return None
    rows = features[:20][::-1]
    trace = {
        "type": "bar",
        "orientation": "h",
        "y": [f["column"] for f in rows],
        "x": [round(100 * (f.get("adjusted") or 0), 1) for f in rows],
        "customdata": [round(f["mutual_information"], 3) for f in rows],
        "hovertemplate": "%{y}: %{x}% of the target's uncertainty"
        " (%{customdata} bits)<extra></extra>",
        "marker": {"color": BLUE},
    }
    return figure(
        [trace],
        height=max(180, 26 * len(rows) + 60),
        xaxis={"title": {"text": "% of the target explained"}, "rangemode": "tozero"},
        yaxis={"type": "category"},
    )


def column_chart(col: dict[str, Any]) -> dict[str, Any] | None:
    """The chart that best shows one column: its histogram, else its top values.

    Identifiers and constants get none: every value unique, or one value, shows nothing.
    """
    if col.get("semantic_type") in ("identifier", "constant"):
        return None
    if col.get("histogram") and col["histogram"].get("counts"):
        return histogram(col["histogram"])
    if col.get("top_values"):
        return top_values(col["top_values"])
    return None


def insights_charts(insights: dict[str, Any]) -> dict[str, Any]:
    """Every chart of the insights panel, keyed by what it shows."""
    target = insights.get("target") or {}
    charts: dict[str, Any] = {
        "missing": missing_values(insights["columns"]),
        "heatmap": association_heatmap(insights.get("associations") or {}),
        "features": feature_association(target.get("features") or []),
        "balance": None,
        "columns": {c["name"]: column_chart(c) for c in insights["columns"]},
    }
    if target.get("class_balance"):
        charts["balance"] = class_balance(target["class_balance"])
    elif (target.get("distribution") or {}).get("histogram"):
        charts["balance"] = histogram(target["distribution"]["histogram"])
    return charts


def _label(value: Any) -> str:
    text = "(missing)" if value is None else str(value)
    return text if len(text) <= 40 else text[:39] + "…"
