"""Views over registered versions: a model's summary for the list, versions side by side.

Both the REST API (``GET /api/v1/models``, ``GET /api/v1/models/{name}/compare``) and the
web pages use them, so that the list and the comparison say the same in JSON and on screen.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from mlharbor.errors import InvalidInputError, NotFoundError
from mlharbor.registry import ModelVersionRecord, RegisteredModelRecord

#: Fragments of metric names where smaller is better.
LOWER_IS_BETTER = ("loss", "error", "mae", "mse", "rmse", "mape")
#: Keys of a version's metrics that are settings of the version, not measurements: the
#: decision threshold is chosen, not scored, so it is never ranked or averaged.
SETTINGS = ("threshold",)
#: The metric a model is summarised by, per task, in order of preference.
MAIN_METRICS = {
    "binary": ("roc_auc", "pr_auc", "accuracy"),
    "multiclass": ("f1_macro", "accuracy", "roc_auc_ovr"),
    "regression": ("rmse", "mae", "r2"),
}
#: How many versions one comparison takes.
MAX_COMPARED = 6


class Scored(Protocol):
    """What :func:`main_metric` reads of a version: its record or its public schema."""

    @property
    def task(self) -> str: ...
    @property
    def metrics(self) -> dict[str, Any]: ...
    @property
    def lineage(self) -> dict[str, Any]: ...


def lower_is_better(metric: str) -> bool:
    """Whether smaller values of ``metric`` are better (losses and errors)."""
    return any(part in metric for part in LOWER_IS_BETTER) and metric != "r2"


def main_metric(version: Scored) -> tuple[str, float] | None:
    """The metric a version is summarised by (test split), when it has one."""
    test = (version.metrics or {}).get("test") or {}
    ranked = (version.lineage or {}).get("metric")
    for name in (ranked, *MAIN_METRICS.get(version.task, ())):
        if name and isinstance(test.get(name), int | float):
            return name, float(test[name])
    return None


def model_summary(model: RegisteredModelRecord) -> dict[str, Any]:
    """What the models list shows of a model: versions, task, algorithm, main metric.

    The version summarised is the champion when there is one, else the latest; ``changed_at``
    is when that version was registered (a new champion shows as a change).
    """
    versions = {v.version: v for v in model.versions}
    number = model.aliases.get("champion") or model.latest_version
    shown = versions.get(number) if number is not None else None
    metric = main_metric(shown) if shown else None
    return {
        "n_versions": len(model.versions),
        "summary_version": shown.version if shown else None,
        "summary_alias": "champion" if "champion" in model.aliases else "latest",
        "task": shown.task if shown else None,
        "algorithm": shown.estimator if shown else None,
        "main_metric": (
            {
                "name": metric[0],
                "value": metric[1],
                "lower_is_better": lower_is_better(metric[0]),
            }
            if metric
            else None
        ),
        "changed_at": shown.created_at.isoformat() if shown else None,
    }


def parse_versions(text: str | list[str]) -> list[int]:
    """``"1,2"`` (or ``["1", "2"]``) as version numbers; a clear 422 for anything else."""
    parts = [p.strip().lstrip("vV") for p in ([text] if isinstance(text, str) else text)]
    items = [x.strip().lstrip("vV") for p in parts for x in p.split(",") if x.strip()]
    try:
        numbers = list(dict.fromkeys(int(x) for x in items))
    except ValueError:
        raise InvalidInputError(
            f"versions must be version numbers separated by commas, e.g. 1,2; got {text!r}",
            field="versions",
        ) from None
    if not 2 <= len(numbers) <= MAX_COMPARED:
        raise InvalidInputError(
            f"choose between 2 and {MAX_COMPARED} different versions to compare; "
            f"got {len(numbers)}",
            field="versions",
        )
    return numbers


def _row(name: str, values: list[Any], **extra: Any) -> dict[str, Any]:
    keys = [json.dumps(v, sort_keys=True, default=str) for v in values]
    return {"name": name, "values": values, "differs": len(set(keys)) > 1, **extra}


def _metric_rows(versions: list[ModelVersionRecord]) -> list[dict[str, Any]]:
    rows = []
    for split in ("test", "cv"):
        tables = [(v.metrics or {}).get(split) or {} for v in versions]
        names = [n for n in dict.fromkeys(n for t in tables for n in t) if n not in SETTINGS]
        for name in names:
            cells = [t.get(name) for t in tables]
            values = [c.get("mean") if isinstance(c, dict) else c for c in cells]
            spread = [c.get("std") if isinstance(c, dict) else None for c in cells]
            lower = lower_is_better(name)
            scored = [x for x in values if isinstance(x, int | float)]
            target = (min if lower else max)(scored) if len(scored) > 1 else None
            best = [i for i, x in enumerate(values) if target is not None and x == target]
            rows.append(
                _row(
                    name,
                    values,
                    split=split,
                    std=spread if split == "cv" else None,
                    lower_is_better=lower,
                    best=best,
                )
            )
    return rows


def _settings(version: ModelVersionRecord) -> dict[str, Any]:
    test = (version.metrics or {}).get("test") or {}
    return {k: test[k] for k in SETTINGS if k in test}


def compare_versions(model: RegisteredModelRecord, numbers: list[int]) -> dict[str, Any]:
    """Versions of ``model`` side by side: metrics with the best marked, parameters, data
    version, lineage and settings, each row saying whether the versions differ."""
    have = {v.version: v for v in model.versions}
    unknown = [n for n in numbers if n not in have]
    if unknown:
        listed = ", ".join(str(n) for n in sorted(have)) or "none"
        raise NotFoundError(
            f"model {model.name!r} has no version {', '.join(map(str, unknown))}; "
            f"its versions: {listed}",
            field="versions",
        )
    versions = [have[n] for n in sorted(numbers)]  # oldest first, however ticked
    params = [v.params or {} for v in versions]
    names = sorted({k for p in params for k in p})
    lineage = [v.lineage or {} for v in versions]
    settings = [(line.get("settings") or {}) for line in lineage]
    data_rows = [
        _row(
            "dataset",
            [
                f"{line['dataset']} v{line.get('dataset_version')}" if line.get("dataset") else None
                for line in lineage
            ],
        ),
        _row("dataset_hash", [(line.get("dataset_hash") or "")[:16] or None for line in lineage]),
        _row("fitted_on", [s.get("fitted_on") for s in settings]),
        _row("n_train", [s.get("n_train") for s in settings]),
        _row("n_test", [s.get("n_test") for s in settings]),
        _row("cv_folds", [s.get("cv_folds") for s in settings]),
        _row("seed", [s.get("seed") for s in settings]),
        _row("model", [line.get("model") for line in lineage]),
        _row("estimator", [v.estimator for v in versions]),
        _row("task", [v.task for v in versions]),
        _row("target", [v.target for v in versions]),
        _row("dropped", [sorted((line.get("dropped") or {}).keys()) for line in lineage]),
        _row("train_seconds", [round(v.train_seconds, 2) for v in versions]),
    ]
    setting_rows = [
        _row(k, [_settings(v).get(k) for v in versions])
        for k in SETTINGS
        if any(k in _settings(v) for v in versions)
    ]
    return {
        "model": model.name,
        "versions": [
            {
                "version": v.version,
                "aliases": v.aliases,
                "task": v.task,
                "estimator": v.estimator,
                "created_at": v.created_at.isoformat(),
                "job_id": v.job_id,
                "settings": _settings(v),
            }
            for v in versions
        ],
        "metrics": _metric_rows(versions),
        "settings": setting_rows,
        "params": [_row(n, [p.get(n) for p in params]) for n in names],
        "lineage": data_rows,
    }
