"""Interactive versions of a model's evaluation artifacts, drawn from the artifacts' JSON
(the same data ``models/plots.py`` draws the PNGs from)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mlharbor.ui.charts import BLUE, GREY, ORANGE, SCALE, figure

PALETTE = [BLUE, ORANGE, "#2a9d6f", "#b2459e", "#c9a227", "#5b6ee1", "#d1495b", "#3aa5b8"]
TITLES = {
    "roc_curve": "ROC curve",
    "pr_curve": "Precision–recall curve",
    "confusion_matrix": "Confusion matrix",
    "feature_importance": "Feature importance",
    "learning_curve": "Learning curve",
    "calibration": "Calibration",
    "predicted_vs_actual": "Predicted vs actual",
    "residuals": "Residuals",
}


def _diagonal() -> dict[str, Any]:
    return {
        "type": "scatter",
        "mode": "lines",
        "x": [0, 1],
        "y": [0, 1],
        "line": {"dash": "dash", "color": GREY, "width": 1},
        "hoverinfo": "skip",
        "showlegend": False,
    }


def _line(x: list[float], y: list[float], name: str, i: int, **extra: Any) -> dict[str, Any]:
    return {
        "type": "scatter",
        "mode": "lines",
        "x": x,
        "y": y,
        "name": name,
        "line": {"color": PALETTE[i % len(PALETTE)], "width": 2},
        **extra,
    }


def _legend(**layout: Any) -> dict[str, Any]:
    return {"showlegend": True, "legend": {"orientation": "h", "y": -0.25}, **layout}


def roc(data: dict[str, Any]) -> dict[str, Any]:
    traces = [
        _line(c["fpr"], c["tpr"], f"{c['label']} (AUC {c['auc']:.3f})", i)
        for i, c in enumerate(data["curves"])
    ]
    return figure(
        [_diagonal(), *traces],
        height=340,
        **_legend(
            xaxis={"title": {"text": "False positive rate"}, "range": [0, 1]},
            yaxis={"title": {"text": "True positive rate"}, "range": [0, 1.02]},
        ),
    )


def pr(data: dict[str, Any]) -> dict[str, Any]:
    traces = [
        _line(c["recall"], c["precision"], f"{c['label']} (AP {c['average_precision']:.3f})", i)
        for i, c in enumerate(data["curves"])
    ]
    return figure(
        traces,
        height=340,
        **_legend(
            xaxis={"title": {"text": "Recall"}, "range": [0, 1]},
            yaxis={"title": {"text": "Precision"}, "range": [0, 1.02]},
        ),
    )


def confusion(data: dict[str, Any]) -> dict[str, Any]:
    labels = [str(label) for label in data["labels"]]
    trace = {
        "type": "heatmap",
        "x": labels,
        "y": labels,
        "z": data["normalized"],
        "zmin": 0,
        "zmax": 1,
        "colorscale": SCALE,
        "text": data["matrix"],
        "texttemplate": "%{text}" if len(labels) <= 15 else "",
        "hovertemplate": "true %{y}, predicted %{x}: %{text} rows"
        " (%{z:.0%} of the class)<extra></extra>",
        "colorbar": {"thickness": 12, "title": {"text": "share"}},
    }
    return figure(
        [trace],
        height=340,
        xaxis={"title": {"text": "Predicted"}, "type": "category"},
        yaxis={"title": {"text": "True"}, "type": "category", "autorange": "reversed"},
    )


def importance(data: dict[str, Any]) -> dict[str, Any]:
    rows = data["features"][:20][::-1]
    trace = {
        "type": "bar",
        "orientation": "h",
        "y": [r["feature"] for r in rows],
        "x": [r["importance_mean"] for r in rows],
        "error_x": {"type": "data", "array": [r["importance_std"] for r in rows]},
        "marker": {"color": BLUE},
        "hovertemplate": "%{y}: %{x:.4f}<extra></extra>",
    }
    return figure(
        [trace],
        height=max(240, 26 * len(rows) + 70),
        xaxis={"title": {"text": f"Drop in {data['scoring']} when shuffled"}},
        yaxis={"type": "category"},
    )


#: Up to this many training sizes, the learning curve is drawn as points with error bars:
#: a band and a line between two or three points suggest a trend they cannot show.
FEW_POINTS = 4


def _learning_points(data: dict[str, Any]) -> dict[str, Any]:
    sizes = data["train_sizes"]
    traces = []
    for i, (key, label) in enumerate((("train", "training"), ("valid", "cross-validation"))):
        mean, std = data[f"{key}_mean"], data[f"{key}_std"]
        traces.append(
            {
                "type": "scatter",
                "mode": "markers+text",
                "x": [str(int(s)) for s in sizes],
                "y": mean,
                "name": label,
                "marker": {"color": PALETTE[i], "size": 11, "symbol": ("circle", "diamond")[i]},
                "error_y": {"type": "data", "array": std, "color": PALETTE[i], "thickness": 1.5},
                "text": [f"{m:.3f}" for m in mean],
                "textposition": ("top right", "bottom right")[i],
                "cliponaxis": False,
                "hovertemplate": f"{label}: %{{y:.4f}} ± %{{error_y.array:.4f}}<br>"
                "%{x} training rows<extra></extra>",
            }
        )
    return figure(
        traces,
        height=340,
        **_legend(
            # One category per training size: the points sit evenly, not squeezed at an end.
            xaxis={"title": {"text": "Training rows"}, "type": "category"},
            yaxis={"title": {"text": data["scoring"]}},
        ),
    )


def learning(data: dict[str, Any]) -> dict[str, Any]:
    sizes = data["train_sizes"]
    if len(sizes) <= FEW_POINTS:
        return _learning_points(data)
    traces = []
    for i, (key, label) in enumerate((("train", "training"), ("valid", "cross-validation"))):
        mean, std = data[f"{key}_mean"], data[f"{key}_std"]
        color = PALETTE[i]
        # A point from one fit (the smaller training sizes) has no spread: its band is the point.
        spread = [s or 0.0 for s in std]
        upper = [m + s for m, s in zip(mean, spread, strict=False)]
        lower = [m - s for m, s in zip(mean, spread, strict=False)]
        traces.append(
            {
                "type": "scatter",
                "x": sizes + sizes[::-1],
                "y": upper + lower[::-1],
                "fill": "toself",
                "fillcolor": color,
                "opacity": 0.15,
                "line": {"width": 0},
                "hoverinfo": "skip",
                "showlegend": False,
            }
        )
        traces.append(_line(sizes, mean, label, i, mode="lines+markers"))
    return figure(
        traces,
        height=340,
        **_legend(
            xaxis={"title": {"text": "Training rows"}},
            yaxis={"title": {"text": data["scoring"]}},
        ),
    )


def calibration(data: dict[str, Any]) -> dict[str, Any]:
    traces = [
        _line(c["prob_pred"], c["prob_true"], str(c["label"]), i, mode="lines+markers")
        for i, c in enumerate(data["curves"])
    ]
    return figure(
        [_diagonal(), *traces],
        height=340,
        **_legend(
            xaxis={"title": {"text": "Mean predicted probability"}, "range": [0, 1]},
            yaxis={"title": {"text": "Observed frequency"}, "range": [0, 1]},
        ),
    )


def _scatter(x: list[float], y: list[float], hover: str) -> dict[str, Any]:
    return {
        "type": "scattergl" if len(x) > 2000 else "scatter",
        "mode": "markers",
        "x": x,
        "y": y,
        "marker": {"color": BLUE, "size": 6, "opacity": 0.6},
        "hovertemplate": hover,
    }


def predicted_vs_actual(data: dict[str, Any]) -> dict[str, Any]:
    actual, predicted = data["actual"], data["predicted"]
    traces = [_scatter(actual, predicted, "actual %{x:.4g}, predicted %{y:.4g}<extra></extra>")]
    if actual:
        lo, hi = min(min(actual), min(predicted)), max(max(actual), max(predicted))
        line = {"dash": "dash", "color": GREY, "width": 1}
        traces.append({"type": "scatter", "mode": "lines", "x": [lo, hi], "y": [lo, hi],
                       "line": line, "hoverinfo": "skip"})  # fmt: skip
    return figure(
        traces,
        height=340,
        xaxis={"title": {"text": "Actual"}},
        yaxis={"title": {"text": "Predicted"}},
    )


def residuals(data: dict[str, Any]) -> dict[str, Any]:
    trace = _scatter(
        data["predicted"], data["residual"], "predicted %{x:.4g}, residual %{y:.4g}<extra></extra>"
    )
    return figure(
        [trace],
        height=340,
        xaxis={"title": {"text": "Predicted"}},
        yaxis={"title": {"text": "Actual − predicted"}, "zeroline": True},
    )


DRAW: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "roc_curve": roc,
    "pr_curve": pr,
    "confusion_matrix": confusion,
    "feature_importance": importance,
    "learning_curve": learning,
    "calibration": calibration,
    "predicted_vs_actual": predicted_vs_actual,
    "residuals": residuals,
}


def evaluation_plot(name: str, data: dict[str, Any]) -> dict[str, Any]:
    """``{"name", "title", "figure" | "reason"}`` for one evaluation artifact."""
    title = TITLES.get(name, name.replace("_", " ").capitalize())
    if name not in DRAW or not data.get("available", True):
        return {"name": name, "title": title, "reason": data.get("reason", "not available")}
    return {"name": name, "title": title, "figure": DRAW[name](data)}
