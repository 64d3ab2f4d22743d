"""Diagnostic job kinds: ``noop``, ``sleep`` and ``demo_cv``.

They exist to test and measure the job system itself (overhead, cancel, timeouts, Dask
fan-out), not to do user work.
"""

from __future__ import annotations

import time
from typing import Any

from mlharbor.errors import InvalidInputError
from mlharbor.jobs.context import JobContext


def noop(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Do nothing; measures the job system's own overhead."""
    return {"ok": True}


def sleep(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Sleep ``seconds`` in ``steps`` steps, reporting progress and honouring cancel."""
    seconds = float(params.get("seconds", 1.0))
    steps = max(1, int(params.get("steps", 10)))
    if seconds < 0:
        raise InvalidInputError("seconds must not be negative", field="seconds")
    for step in range(steps):
        ctx.check_cancelled()
        time.sleep(seconds / steps)
        ctx.progress((step + 1) / steps, f"slept {step + 1} of {steps} steps")
    return {"slept": seconds}


def _fold_score(task: dict[str, Any]) -> float:
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import StratifiedKFold

    X, y = load_breast_cancer(return_X_y=True)
    folds = StratifiedKFold(task["folds"], shuffle=True, random_state=task["seed"])
    train, test = list(folds.split(X, y))[task["fold"]]
    model = RandomForestClassifier(
        n_estimators=task["n_estimators"], random_state=task["seed"], n_jobs=1
    )
    model.fit(X[train], y[train])
    return float(model.score(X[test], y[test]))


def cross_validation_tasks(
    folds: int = 5, n_estimators: int = 100, seed: int = 0
) -> list[dict[str, Any]]:
    """The per-fold tasks of the demo cross-validation (picklable, plain dicts)."""
    return [
        {"fold": i, "folds": folds, "n_estimators": n_estimators, "seed": seed}
        for i in range(folds)
    ]


def demo_cv(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Cross-validate a random forest on scikit-learn's breast-cancer data, a fold per task."""
    folds = int(params.get("folds", 5))
    if not 2 <= folds <= 20:
        raise InvalidInputError("folds must be between 2 and 20", field="folds")
    tasks = cross_validation_tasks(
        folds, int(params.get("n_estimators", 100)), int(params.get("seed", 0))
    )
    ctx.progress(0.0, f"{len(tasks)} folds on {ctx.compute.name}")
    scores = ctx.compute.map(_fold_score, tasks)
    for i, score in enumerate(scores):
        ctx.event("fold", {"fold": i, "accuracy": score})
    return {"scores": scores, "mean": sum(scores) / len(scores), "executor": ctx.compute.name}
