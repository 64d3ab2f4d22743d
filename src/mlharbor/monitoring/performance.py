"""Performance once labels arrive: the model's metrics over time windows, against the
metrics it was registered with, and a flag when the main metric drops past a threshold."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime
from typing import Any

import numpy as np
import polars as pl

from mlharbor.data.tasks import Task
from mlharbor.monitoring.logs import join_labels, parse_since, parse_span, read_labels, read_log
from mlharbor.monitoring.service import MAX_WINDOWS, MonitoringService, _between, _windows
from mlharbor.monitoring.sketch import as_labels

#: The metric watched per task: higher is better for both.
MAIN_METRIC = {"regression": "r2"}
MIN_LABELS = 10


def main_metric(task: str) -> str:
    return MAIN_METRIC.get(task, "accuracy")


def performance(
    service: MonitoringService,
    name: str,
    ref: int | str = "latest",
    *,
    since: str | None = None,
    window: str | None = None,
    until: datetime | None = None,
) -> dict[str, Any]:
    """Metrics of a model version on its labelled, logged predictions.

    Returns the whole-span metrics, one row per window (when ``window`` is given), the
    registered baseline and whether the main metric dropped by more than the threshold.
    """
    version = service.registry.get_version(name, ref)
    until = until or datetime.now(UTC)
    start = parse_since(since, until, service.settings.monitor_window)
    traffic = read_log(service.artifacts, version.model, version.version, start, until)
    labels = read_labels(service.artifacts, version.model)
    labelled = join_labels(traffic, labels)
    metric = main_metric(version.task)
    baseline = (version.metrics.get("test") or {}).get(metric)
    threshold = service.settings.performance_drop_threshold
    overall = _metrics(labelled, version)
    windows = []
    if window:
        step = parse_span(window, what="window")
        if (until - start) / step > MAX_WINDOWS:
            raise_too_many(window)
        for lo, hi in _windows(start, until, step):
            part = _between(labelled, lo, hi)
            row = {"start": lo.isoformat(), "end": hi.isoformat(), **_metrics(part, version)}
            row["dropped"] = _dropped(row, metric, baseline, threshold)
            windows.append(row)
    return {
        "model": version.model,
        "version": version.version,
        "since": start.isoformat(),
        "until": until.isoformat(),
        "n_predictions": traffic.height,
        "metric": metric,
        "baseline": baseline,
        "drop_threshold": threshold,
        "current": overall,
        "dropped": _dropped(overall, metric, baseline, threshold),
        "windows": windows,
    }


def dataset_performance(
    service: MonitoringService, name: str, ref: int | str, dataset: str
) -> dict[str, Any]:
    """Metrics of a model version on a labelled dataset (``NAME`` or ``NAME@VERSION``) that
    holds the model's target column, against the metrics it was registered with."""
    from mlharbor.errors import InvalidInputError
    from mlharbor.models.signature import prepare_input

    version = service.registry.get_version(name, ref)
    data = service.dataset_version(dataset)
    frame = service.datasets.read_table(data).to_pandas()
    target = version.target
    if not target or target not in frame.columns:
        raise InvalidInputError(
            f"dataset {data.dataset!r} has no column {target!r}, the target of model "
            f"{version.model!r}: a labelled dataset must hold it",
            field="dataset",
        )
    frame = frame.loc[frame[target].notna()]
    pipeline = service.registry.load_pipeline(version.model, version.version)
    features = prepare_input(frame.drop(columns=[target]), version.signature)
    labelled = pl.DataFrame(
        {
            "_label": [str(v) for v in frame[target].tolist()],
            "_prediction": pl.Series(list(pipeline.predict(features))),
        },
        strict=False,
    )
    if hasattr(pipeline, "predict_proba") and version.task != "regression":
        labelled = labelled.with_columns(
            pl.Series("_probabilities", pipeline.predict_proba(features).tolist())
        )
    if version.task == "regression":
        labelled = labelled.with_columns(pl.Series("_label", frame[target].astype(float)))
    metric = main_metric(version.task)
    baseline = (version.metrics.get("test") or {}).get(metric)
    threshold = service.settings.performance_drop_threshold
    current = _metrics(labelled, version)
    return {
        "model": version.model,
        "version": version.version,
        "dataset": {"dataset": data.dataset, "version": data.version},
        "metric": metric,
        "baseline": baseline,
        "drop_threshold": threshold,
        "current": current,
        "dropped": _dropped(current, metric, baseline, threshold),
    }


def raise_too_many(window: str) -> None:
    from mlharbor.errors import InvalidInputError

    raise InvalidInputError(
        f"{window} windows over this span make more than {MAX_WINDOWS}; choose a longer window",
        field="window",
    )


def _dropped(row: dict[str, Any], metric: str, baseline: float | None, threshold: float) -> bool:
    value = (row.get("metrics") or {}).get(metric)
    if value is None or baseline is None or row["n_labelled"] < MIN_LABELS:
        return False
    return bool(baseline - value > threshold)


def _metrics(labelled: pl.DataFrame, version: Any) -> dict[str, Any]:
    if labelled.is_empty():
        return {"n_labelled": 0, "metrics": {}}
    from mlharbor.models.metrics import compute_metrics  # scikit-learn: once labels exist

    task = Task(version.task)
    if task == Task.REGRESSION:
        actual = labelled.get_column("_label").cast(pl.Float64, strict=False).to_numpy()
        predicted = labelled.get_column("_prediction").cast(pl.Float64, strict=False).to_numpy()
        ok = np.isfinite(actual) & np.isfinite(predicted)
        metrics = compute_metrics(task, actual[ok], predicted[ok])
        return {"n_labelled": int(ok.sum()), "metrics": _rounded(metrics)}
    y_true = as_labels(labelled.get_column("_label").cast(pl.Float64, strict=False))
    if y_true.null_count() > labelled.get_column("_label").null_count():
        y_true = labelled.get_column("_label")  # labels that are not numbers stay text
    y_pred = as_labels(_plain_series(labelled.get_column("_prediction")))
    true = np.asarray(y_true.to_list(), dtype=object)
    pred = np.asarray(y_pred.to_list(), dtype=object)
    classes = version.signature.get("classes")
    names = as_labels(pl.Series(classes)).to_list() if classes else sorted(set(true) | set(pred))
    proba = decision = None
    if "_probabilities" in labelled.columns and classes:
        proba = np.asarray(labelled.get_column("_probabilities").to_list(), dtype=float)
    elif len(names) == 2:
        decision = (pred == names[1]).astype(float)  # hard labels as scores
    with warnings.catch_warnings():
        # A window may hold labels of only some classes: the metrics are still defined.
        warnings.simplefilter("ignore", UserWarning)
        metrics = compute_metrics(task, true, pred, classes=names, proba=proba, decision=decision)
    metrics.pop("threshold", None)
    return {"n_labelled": len(true), "metrics": _rounded(metrics)}


def _plain_series(series: pl.Series) -> pl.Series:
    if series.dtype == pl.Boolean:
        return series.cast(pl.Utf8)
    return series


def _rounded(metrics: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 6) for k, v in metrics.items()}
