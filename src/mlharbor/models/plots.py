"""PNG images of the evaluation artifacts, drawn from the same data the JSON carries.

Figures are built as plain ``matplotlib.figure.Figure`` objects on the Agg canvas, never
through ``pyplot``, so drawing keeps no global state and is safe in worker threads.
matplotlib (about 0.4 s) is imported on the first drawing, so a job process can start
training before it has: see :func:`mlharbor.jobs.starter.start_attempt_server`.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import numpy as np

from mlharbor.forks import in_fork

SIZE = (6.0, 4.5)
DPI = 100
#: Charts laid out by matplotlib's tight layout; the rest use :data:`MARGINS`.
TIGHT = frozenset({"confusion_matrix", "feature_importance"})
MARGINS = {"left": 0.16, "right": 0.97, "bottom": 0.12, "top": 0.93}


def render(name: str, data: dict[str, Any]) -> bytes:
    """The PNG image of artifact ``name`` drawn from its ``data``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    available = data.get("available", True)
    # The tight layout costs a second full draw; only charts whose labels are the user's
    # (column names, class labels) or free text need it, the others fit fixed margins.
    fitted = name in TIGHT or not available
    fig = Figure(figsize=SIZE, dpi=DPI, layout="tight" if fitted else None)
    if not fitted:
        fig.subplots_adjust(**MARGINS)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    if available:
        DRAW[name](ax, data)
    else:
        ax.axis("off")
        ax.text(
            0.5,
            0.5,
            f"{name.replace('_', ' ')}:\n{data.get('reason', 'not available')}",
            ha="center",
            va="center",
            wrap=True,
        )
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def render_all(charts: dict[str, dict[str, Any]]) -> dict[str, bytes]:
    """The PNG image of each artifact in ``charts`` (name → data)."""
    return {name: render(name, data) for name, data in charts.items()}


def render_in_background(charts: dict[str, dict[str, Any]]) -> Callable[[], dict[str, bytes]]:
    """Start drawing ``charts`` in a forked child process; returns what waits for them.

    Drawing is pure Python under the GIL, so a thread would not overlap it with the model
    fits that follow; a child process does (on another core, or with its own share of a
    busy one). Only for a job process (single-threaded apart from idle helpers): forking a
    process whose other threads hold locks is unsafe. Where ``fork`` is missing, or the
    child fails, the charts are drawn here instead (see :func:`mlharbor.forks.in_fork`).
    """
    if not charts:
        return lambda: {}
    return in_fork(lambda: render_all(charts))


def warm_up() -> None:
    """Draw one throw-away chart, so fonts and the renderer are loaded before a job needs
    them (the job fork server calls this once; see :mod:`mlharbor.jobs.warm`)."""
    render("learning_curve", {"scoring": "score", **_WARM_CURVE})


_WARM_CURVE = {
    "train_sizes": [1, 2],
    "train_mean": [1.0, 1.0],
    "train_std": [0.0, 0.0],
    "valid_mean": [0.5, 0.7],
    "valid_std": [0.1, 0.1],
}


def _roc(ax: Any, data: dict[str, Any]) -> None:
    for curve in data["curves"]:
        ax.plot(curve["fpr"], curve["tpr"], label=f"{curve['label']} (AUC {curve['auc']:.3f})")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1)
    ax.set(
        xlabel="False positive rate",
        ylabel="True positive rate",
        title="ROC curve",
        xlim=(0, 1),
        ylim=(0, 1.02),
    )
    ax.legend(loc="lower right", fontsize="small")


def _pr(ax: Any, data: dict[str, Any]) -> None:
    for curve in data["curves"]:
        label = f"{curve['label']} (AP {curve['average_precision']:.3f})"
        ax.plot(curve["recall"], curve["precision"], label=label)
    ax.set(
        xlabel="Recall",
        ylabel="Precision",
        title="Precision-recall curve",
        xlim=(0, 1),
        ylim=(0, 1.02),
    )
    ax.legend(loc="lower left", fontsize="small")


def _confusion(ax: Any, data: dict[str, Any]) -> None:
    matrix = np.asarray(data["matrix"])
    labels = [str(label) for label in data["labels"]]
    image = ax.imshow(np.asarray(data["normalized"]), cmap="Blues", vmin=0, vmax=1)
    ax.figure.colorbar(image, ax=ax, label="share of the true class")
    ticks = range(len(labels))
    ax.set_xticks(ticks, labels, rotation=45, ha="right")
    ax.set_yticks(ticks, labels)
    if len(labels) <= 15:
        for i, j in np.ndindex(matrix.shape):
            ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize="small")
    ax.set(xlabel="Predicted", ylabel="True", title="Confusion matrix")


def _importance(ax: Any, data: dict[str, Any]) -> None:
    rows = data["features"][:20][::-1]
    names = [row["feature"] for row in rows]
    ax.barh(
        names,
        [row["importance_mean"] for row in rows],
        xerr=[row["importance_std"] for row in rows],
        color="tab:blue",
    )
    ax.set(
        xlabel=f"Drop in {data['scoring']} when the column is shuffled",
        title="Permutation feature importance",
    )


def _learning(ax: Any, data: dict[str, Any]) -> None:
    sizes = np.asarray(data["train_sizes"])
    for key, label in (("train", "training"), ("valid", "cross-validation")):
        mean, std = np.asarray(data[f"{key}_mean"]), np.asarray(data[f"{key}_std"])
        ax.plot(sizes, mean, marker="o", label=label)
        ax.fill_between(sizes, mean - std, mean + std, alpha=0.2)
    ax.set(xlabel="Training rows", ylabel=data["scoring"], title="Learning curve")
    ax.legend(loc="best", fontsize="small")


def _calibration(ax: Any, data: dict[str, Any]) -> None:
    for curve in data["curves"]:
        ax.plot(curve["prob_pred"], curve["prob_true"], marker="o", label=str(curve["label"]))
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1)
    ax.set(
        xlabel="Mean predicted probability",
        ylabel="Observed frequency",
        title="Calibration curve",
        xlim=(0, 1),
        ylim=(0, 1),
    )
    ax.legend(loc="upper left", fontsize="small")


def _predicted_vs_actual(ax: Any, data: dict[str, Any]) -> None:
    actual, predicted = np.asarray(data["actual"]), np.asarray(data["predicted"])
    ax.scatter(actual, predicted, s=10, alpha=0.6)
    if len(actual):
        lo, hi = (
            float(min(actual.min(), predicted.min())),
            float(max(actual.max(), predicted.max())),
        )
        ax.plot([lo, hi], [lo, hi], linestyle="--", color="grey", linewidth=1)
    ax.set(xlabel="Actual", ylabel="Predicted", title="Predicted vs actual")


def _residuals(ax: Any, data: dict[str, Any]) -> None:
    ax.scatter(data["predicted"], data["residual"], s=10, alpha=0.6)
    ax.axhline(0, linestyle="--", color="grey", linewidth=1)
    ax.set(xlabel="Predicted", ylabel="Actual - predicted", title="Residuals")


DRAW: dict[str, Callable[[Any, dict[str, Any]], None]] = {
    "roc_curve": _roc,
    "pr_curve": _pr,
    "confusion_matrix": _confusion,
    "feature_importance": _importance,
    "learning_curve": _learning,
    "calibration": _calibration,
    "predicted_vs_actual": _predicted_vs_actual,
    "residuals": _residuals,
}
