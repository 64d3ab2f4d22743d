"""Online prediction: models loaded once, input checked against the signature, answers in
the user's labels with class probabilities.

The cache is keyed by model version id, so moving an alias serves the new version on the
next request while the old one ages out of the cache.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mlharbor.models.signature import prepare_input
from mlharbor.registry import ModelRegistry, ModelVersionRecord
from mlharbor.serving.predlog import PredictionLog


@dataclass(frozen=True)
class Prediction:
    """Predictions for a batch of rows and which model version made them."""

    model: str
    version: int
    predictions: list[Any]
    classes: list[Any] | None
    probabilities: list[list[float]] | None
    ignored_columns: list[str]
    seconds: float
    #: The id this call was logged under in the prediction log (labels refer to it).
    request_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "model": self.model,
            "version": self.version,
            "predictions": self.predictions,
        }
        if self.probabilities is not None:
            out["classes"] = self.classes
            out["probabilities"] = self.probabilities
        if self.ignored_columns:
            out["ignored_columns"] = self.ignored_columns
        if self.request_id is not None:
            out["request_id"] = self.request_id
        return out


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class Predictor:
    """Predict with registered models, keeping up to ``capacity`` of them loaded."""

    def __init__(
        self, registry: ModelRegistry, capacity: int = 16, *, log: PredictionLog | None = None
    ) -> None:
        self.registry = registry
        self.capacity = capacity
        self.log = log
        self._models: OrderedDict[int, Any] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def size(self) -> int:
        """How many models are loaded."""
        return len(self._models)

    def load(self, version: ModelVersionRecord) -> Any:
        """The fitted pipeline of ``version``, from the cache or the store."""
        with self._lock:
            if version.id in self._models:
                self._models.move_to_end(version.id)
                return self._models[version.id]
        pipeline = self.registry.load_pipeline(version.model, version.version)
        with self._lock:
            self._models[version.id] = pipeline
            while len(self._models) > self.capacity:
                self._models.popitem(last=False)
        return pipeline

    def predict(
        self,
        name: str,
        ref: int | str,
        rows: pd.DataFrame | Iterable[dict[str, Any]],
        *,
        drop: Iterable[str] = (),
        source: str = "online",
        request_id: str | None = None,
    ) -> Prediction:
        """Predict ``rows`` (a frame or records) with model ``name`` at ``ref``.

        Every call is recorded in the prediction log (when the predictor has one) under
        ``request_id`` (a fresh one when not given), tagged with ``source`` (online, batch).

        Raises
        ------
        NotFoundError
            No such model, version or alias.
        InvalidInputError
            A column the model needs is missing, or values do not fit its type.
        """
        started = time.perf_counter()
        version = self.registry.get_version(name, ref)
        frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
        inputs = {str(c["name"]) for c in version.signature.get("inputs", [])}
        drop = list(drop)
        ignored = [
            str(c) for c in frame.columns if inputs and str(c) not in inputs and str(c) not in drop
        ]
        features = prepare_input(frame, version.signature, drop=drop)
        pipeline = self.load(version)
        predictions = [_plain(v) for v in pipeline.predict(features)]
        classes = probabilities = None
        if hasattr(pipeline, "predict_proba") and version.task != "regression":
            proba = pipeline.predict_proba(features)
            classes = [_plain(c) for c in pipeline.classes_]
            probabilities = [[_plain(round(float(p), 6)) for p in row] for row in proba]
        seconds = time.perf_counter() - started
        if self.log is not None:
            request_id = self.log.record(
                version.model,
                version.version,
                features,
                predictions,
                probabilities,
                request_id=request_id,
                latency_seconds=seconds,
                source=source,
            )
        return Prediction(
            version.model,
            version.version,
            predictions,
            classes,
            probabilities,
            ignored,
            seconds,
            request_id,
        )
