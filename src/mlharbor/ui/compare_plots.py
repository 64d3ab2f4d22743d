"""Evaluation plots of several versions overlaid: ROC and precision–recall curves for
classifiers, residuals and predicted-vs-actual for regressors; one colour per version."""

from __future__ import annotations

import json
from typing import Any

from mlharbor.errors import HarborError
from mlharbor.ui.charts import figure
from mlharbor.ui.plots import PALETTE, TITLES, _diagonal, _legend

#: What is overlaid, per task family, in this order.
OVERLAID = {
    "classification": ("roc_curve", "pr_curve"),
    "regression": ("residuals", "predicted_vs_actual"),
}
DASHES = ("solid", "dot", "dash", "longdash", "dashdot")
AXES = {
    "roc_curve": ("False positive rate", "True positive rate"),
    "pr_curve": ("Recall", "Precision"),
    "residuals": ("Predicted", "Actual − predicted"),
    "predicted_vs_actual": ("Actual", "Predicted"),
}


def _curves(name: str, data: dict[str, Any], version: int, i: int) -> list[dict[str, Any]]:
    colour = PALETTE[i % len(PALETTE)]
    out = []
    for j, c in enumerate(data.get("curves") or []):
        if name == "roc_curve":
            x, y, label = c["fpr"], c["tpr"], f"AUC {c['auc']:.3f}"
        else:
            x, y, label = c["recall"], c["precision"], f"AP {c['average_precision']:.3f}"
        many = len(data["curves"]) > 1
        out.append(
            {
                "type": "scatter",
                "mode": "lines",
                "x": x,
                "y": y,
                "name": f"v{version}{' ' + str(c['label']) if many else ''} ({label})",
                "line": {"color": colour, "width": 2, "dash": DASHES[j % len(DASHES)]},
            }
        )
    return out


def _points(name: str, data: dict[str, Any], version: int, i: int) -> list[dict[str, Any]]:
    x, y = (
        (data["predicted"], data["residual"])
        if name == "residuals"
        else (data["actual"], data["predicted"])
    )
    return [
        {
            "type": "scattergl" if len(x) > 2000 else "scatter",
            "mode": "markers",
            "x": x,
            "y": y,
            "name": f"v{version}",
            "marker": {"color": PALETTE[i % len(PALETTE)], "size": 5, "opacity": 0.55},
        }
    ]


def overlay(name: str, runs: list[tuple[int, dict[str, Any]]]) -> dict[str, Any]:
    """One figure with every version's ``name`` artifact, as Plotly JSON."""
    draw = _curves if name in ("roc_curve", "pr_curve") else _points
    traces = [t for i, (version, data) in enumerate(runs) for t in draw(name, data, version, i)]
    if name == "roc_curve":
        traces.insert(0, _diagonal())
    x, y = AXES[name]
    bounded = name in ("roc_curve", "pr_curve")
    return figure(
        traces,
        height=360,
        **_legend(
            xaxis={"title": {"text": x}, **({"range": [0, 1]} if bounded else {})},
            yaxis={"title": {"text": y}, **({"range": [0, 1.02]} if bounded else {})},
        ),
    )


def compare_plots(hub: Any, name: str, versions: list[Any]) -> list[dict[str, Any]]:
    """``{"name", "title", "figure" | "reason"}`` per overlaid plot of ``versions``."""
    regression = all(v.task == "regression" for v in versions)
    family = "regression" if regression else "classification"
    plots: list[dict[str, Any]] = []
    for artifact in OVERLAID[family]:
        runs, missing = [], []
        for v in versions:
            if artifact not in v.artifacts or "json" not in v.artifacts[artifact]:
                missing.append(f"v{v.version}")
                continue
            try:
                data = json.loads(hub.models.read_artifact(name, v.version, artifact, "json"))
            except HarborError:
                missing.append(f"v{v.version}")
                continue
            if data.get("available", True):
                runs.append((v.version, data))
            else:
                missing.append(f"v{v.version}")
        title = TITLES[artifact]
        if not runs:
            plots.append({"name": artifact, "title": title, "reason": "no version has this plot"})
            continue
        note = f"not available for {', '.join(missing)}" if missing else ""
        plots.append(
            {"name": artifact, "title": title, "figure": overlay(artifact, runs), "note": note}
        )
    return plots
