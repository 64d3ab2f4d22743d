"""Reference profiles of model versions: their training data and validation predictions.

Built when a version is registered (from the frame it was trained on), stored as JSON in
the artifact store, and for versions registered before this existed built on demand from
the dataset version the registry recorded.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from mlharbor.monitoring.sketch import (
    SEMANTIC_KINDS,
    ColumnKind,
    profile_column,
    profile_table,
)

if TYPE_CHECKING:  # a dataset drift report reads stored profiles and never needs pandas
    import pandas as pd

PREFIX = "monitoring/reference"
#: Most rows profiled: quantile sketches and top-k counts are stable well before this.
MAX_ROWS = 1_000_000
MAX_PREDICTION_ROWS = 50_000


def reference_key(version_id: int) -> str:
    """Where the reference profile of a model version is stored."""
    return f"{PREFIX}/{version_id}.json"


def input_kinds(signature: dict[str, Any]) -> dict[str, ColumnKind | None]:
    """Kinds of the model's input columns; identifiers and constants are left out."""
    kinds: dict[str, ColumnKind | None] = {}
    for column in signature.get("inputs", []):
        semantic = column.get("semantic_type")
        if semantic and semantic not in SEMANTIC_KINDS:
            continue
        kinds[str(column["name"])] = SEMANTIC_KINDS.get(semantic) if semantic else None
    return kinds


def prediction_kind(task: str) -> ColumnKind:
    return ColumnKind.NUMERIC if task == "regression" else ColumnKind.CATEGORICAL


def build_reference(
    frame: pd.DataFrame,
    *,
    model: str,
    version: int,
    task: str,
    target: str | None,
    signature: dict[str, Any],
    settings: dict[str, Any] | None = None,
    pipeline: Any = None,
    dataset_version_id: int | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """The reference profile of a model version trained on ``frame``.

    Inputs are profiled on the whole frame (up to ``MAX_ROWS`` sampled rows); predictions
    on the validation split that training held out (recomputed from its seed and size),
    or on a sample when that split cannot be recovered.
    """
    if len(frame) > MAX_ROWS:
        frame = frame.sample(MAX_ROWS, random_state=seed)
    profile = profile_table(frame, input_kinds(signature))
    out: dict[str, Any] = {
        **profile,
        "model": model,
        "version": version,
        "task": task,
        "dataset_version_id": dataset_version_id,
        "created_at": datetime.now(UTC).isoformat(),
        "prediction": None,
    }
    if pipeline is not None:
        rows, source = validation_rows(frame, target, task, settings or {}, seed)
        if len(rows):
            from mlharbor.models.signature import prepare_input

            predictions = pipeline.predict(prepare_input(rows, signature))
            series = pl.Series("_prediction", _labels(predictions))
            out["prediction"] = profile_column(series, prediction_kind(task))
            out["prediction_source"] = source
    return out


def _labels(values: np.ndarray) -> list[Any]:
    return [v.item() if isinstance(v, np.generic) else v for v in values]


def validation_rows(
    frame: pd.DataFrame, target: str | None, task: str, settings: dict[str, Any], seed: int
) -> tuple[pd.DataFrame, str]:
    """The rows training held out for validation, and how they were found."""
    test_size = settings.get("test_size")
    n_test = settings.get("n_test")
    if target and target in frame.columns and test_size and n_test:
        rows = frame.loc[frame[target].notna()].reset_index(drop=True)
        try:
            from sklearn.model_selection import train_test_split

            from mlharbor.models.problem import target_values  # the split's own labels
            from mlharbor.models.tasks import Task

            y = target_values(rows[target], Task(task))
            _, test = train_test_split(
                np.arange(len(rows)),
                test_size=test_size,
                random_state=settings.get("seed", 0),
                stratify=y if task != "regression" else None,
            )
            if len(test) == n_test:
                test = test[:MAX_PREDICTION_ROWS]
                return rows.iloc[np.sort(test)], f"validation split ({len(test)} rows)"
        except (ValueError, KeyError):
            pass
    sample = frame.sample(min(len(frame), MAX_PREDICTION_ROWS), random_state=seed)
    return sample, f"sample of the training data ({len(sample)} rows)"


def encode(reference: dict[str, Any]) -> bytes:
    return json.dumps(reference, separators=(",", ":"), allow_nan=False).encode()


def decode(data: bytes) -> dict[str, Any]:
    reference: dict[str, Any] = json.loads(data)
    return reference
