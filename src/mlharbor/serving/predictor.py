"""Online and batch prediction: models loaded once, input checked against the signature,
answers in the user's labels with class probabilities.

Two caches keep the database and the artifact store off the request path:

- alias and version resolutions (``name@ref`` → version record), kept ``ref_ttl`` seconds.
  A move made through this process's registry clears them at once; another replica's move
  is seen within ``ref_ttl`` (and the one query that reads it again: the
  others serve the expired resolution meanwhile, instead of all querying at once).
- loaded pipelines, keyed by version id, least recently used evicted beyond ``capacity``.
  Concurrent first requests for one version load it once.

Every prediction, online or batch, passes through :meth:`Predictor.predict`, so whatever
needs to see them (the prediction log) hooks in one place.

After each load the heap is collected once and frozen (``gc.freeze``): a loaded model and
the libraries behind it are ~300,000 objects that live as long as the process, and every
full collection walked them all, ~170 ms with the GIL held, stalling every request in
flight. Frozen, the collector walks only what requests allocate. An eviction unfreezes, so
the evicted model's cycles are collected before the next freeze.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd

from mlharbor.models.signature import prepare_input
from mlharbor.registry import ModelRegistry, ModelVersionRecord
from mlharbor.serving.fast import LoadedModel, Prediction
from mlharbor.serving.onnx import OnnxModel, build_onnx
from mlharbor.serving.predlog import PredictionLog

log = logging.getLogger(__name__)
#: Requests of up to this many rows are "small" (see Predictor.is_cheap); bigger ones are
#: judged by their recent CPU time per row.
INLINE_ROWS = 8
#: A request runs on the event loop when the model's recent ones of its size took at most
#: this much CPU.
INLINE_SECONDS = 0.002

__all__ = ["LoadedModel", "Prediction", "Predictor", "Source"]


class Source:
    """Where a prediction came from, for whatever logs predictions."""

    ONLINE = "online"
    BATCH = "batch"


@dataclass
class _Ref:
    version: ModelVersionRecord
    expires: float


class Predictor:
    """Predict with registered models, keeping up to ``capacity`` of them loaded.

    Parameters
    ----------
    registry : ModelRegistry
    capacity : int, default=16
        Most pipelines kept in memory.
    ref_ttl : float, default=2.0
        Seconds an alias resolution is trusted before the database is asked again.
    validation_rows : callable, optional
        Rows of a version's own dataset; when given, a pipeline that converts to ONNX and
        agrees with scikit-learn on them is served with onnxruntime.
    log : PredictionLog, optional
        Where every prediction is recorded.
    """

    def __init__(
        self,
        registry: ModelRegistry,
        capacity: int = 16,
        ref_ttl: float = 2.0,
        validation_rows: Callable[[ModelVersionRecord], pd.DataFrame | None] | None = None,
        *,
        log: PredictionLog | None = None,
    ) -> None:
        self.registry = registry
        self.log = log
        self.validation_rows = validation_rows
        self.capacity = capacity
        self.ref_ttl = ref_ttl
        self._models: OrderedDict[int, LoadedModel] = OrderedDict()
        self._refs: dict[tuple[str, str], _Ref] = {}
        #: Resolutions being read again from the database; meanwhile the expired one serves.
        self._refreshing: set[tuple[str, str]] = set()
        self._loading: dict[int, threading.Lock] = {}
        #: Bumped by every move of a model's aliases: a resolution read from the database
        #: before a move must not be cached after it.
        self._moves: dict[str, int] = {}
        self._lock = threading.Lock()
        registry.on_change(self.forget)

    @property
    def size(self) -> int:
        """How many models are loaded."""
        return len(self._models)

    def forget(self, name: str) -> None:
        """Drop the cached resolutions of ``name`` (an alias moved, a version was added)."""
        with self._lock:
            self._moves[name] = self._moves.get(name, 0) + 1
            for key in [k for k in self._refs if k[0] == name]:
                del self._refs[key]

    def resolve(self, name: str, ref: int | str) -> ModelVersionRecord:
        """The version ``ref`` names, from the cache while it is fresh.

        Raises
        ------
        NotFoundError
            No such model, version or alias (never cached, so a new model is found at once).
        """
        key = (name, str(ref))
        hit = self._refs.get(key)
        now = time.monotonic()
        if hit is not None and (hit.expires > now or key in self._refreshing):
            return hit.version
        with self._lock:
            # One caller reads an expired resolution again; the others go on with it for
            # that query's time, rather than all querying at once from the threadpool.
            if hit is not None and key in self._refreshing:
                return hit.version
            self._refreshing.add(key)
            moves = self._moves.get(name, 0)
        try:
            version = self.registry.get_version(name, ref)
        finally:
            with self._lock:
                self._refreshing.discard(key)
        with self._lock:
            if self._moves.get(name, 0) == moves:
                self._refs[key] = _Ref(version, now + self.ref_ttl)
        return version

    def is_cheap(self, name: str, ref: int | str, rows: int) -> bool:
        """Whether predicting ``rows`` rows with ``name`` at ``ref`` needs no I/O and lately
        took under :data:`INLINE_SECONDS` of CPU: cheap enough to run on the event loop
        rather than pay a threadpool hop.

        CPU time, not wall time: under concurrency, wall time counts the waits for the GIL
        and for a core, so a busy moment sent bursts of requests to the threadpool, where
        they contended for the GIL with each other and with the event loop (which made them
        slower still, and kept the next ones there too).
        """
        key = (name, str(ref))
        hit = self._refs.get(key)
        if hit is None or (hit.expires <= time.monotonic() and key not in self._refreshing):
            return False
        loaded = self._models.get(hit.version.id)
        if loaded is None:
            return False
        if rows <= INLINE_ROWS:
            return loaded.small_seconds < INLINE_SECONDS
        return loaded.row_seconds * rows < INLINE_SECONDS

    def load(self, version: ModelVersionRecord) -> LoadedModel:
        """The loaded model of ``version``, from the cache or the store (once per version)."""
        with self._lock:
            loaded = self._models.get(version.id)
            if loaded is not None:
                self._models.move_to_end(version.id)
                return loaded
            gate = self._loading.setdefault(version.id, threading.Lock())
        with gate:
            with self._lock:
                loaded = self._models.get(version.id)
            if loaded is None:
                pipeline = self.registry.load_pipeline(version.model, version.version)
                loaded = LoadedModel(version, pipeline, self._onnx(version, pipeline))
                with self._lock:
                    self._models[version.id] = loaded
                    self._loading.pop(version.id, None)
                    evicted = len(self._models) > self.capacity
                    while len(self._models) > self.capacity:
                        self._models.popitem(last=False)
                settle_heap(evicted)
        return loaded

    def _onnx(self, version: ModelVersionRecord, pipeline: Any) -> OnnxModel | None:
        if self.validation_rows is None:
            return None
        rows = self.validation_rows(version)
        if rows is not None:
            names = [str(c["name"]) for c in version.signature.get("inputs", [])]
            rows = prepare_input(rows, version.signature) if names else None
        proba = hasattr(pipeline, "predict_proba") and version.task != "regression"
        model, reason = build_onnx(pipeline, version, rows, proba)
        log.info(
            "model %s version %s served by %s: %s",
            version.model,
            version.version,
            "onnxruntime" if model else "scikit-learn",
            reason,
        )
        return model

    def predict(
        self,
        name: str,
        ref: int | str,
        rows: pd.DataFrame | Iterable[dict[str, Any]] | dict[str, list[Any]],
        *,
        drop: Iterable[str] = (),
        source: str = Source.ONLINE,
        request_id: str | None = None,
    ) -> Prediction:
        """Predict ``rows`` (a frame or records) with model ``name`` at ``ref``.

        Parameters
        ----------
        name, ref : str
            The registered model and a version number or alias.
        rows : DataFrame, iterable of dict, or dict of lists
            Rows as a frame, as records, or column by column (equal lengths).
        drop : iterable of str
            Columns to remove first (Mini-ML-Platform's ``columns_to_drop``).
        source : str, default="online"
            ``Source.ONLINE`` or ``Source.BATCH``, for the prediction log.
        request_id : str, optional
            The id the call is logged under (a fresh one when not given).

        Every call is recorded in the prediction log (when the predictor has one).

        Raises
        ------
        NotFoundError
            No such model, version or alias.
        InvalidInputError
            A column the model needs is missing, or values do not fit its type.
        """
        started = time.perf_counter()
        loaded = self.load(self.resolve(name, ref))
        ready = time.thread_time()  # a first call's loading is not what is_cheap asks about
        online = source == Source.ONLINE
        if isinstance(rows, list) and len(rows) == 1 and isinstance(rows[0], dict) and not drop:
            result, features = loaded.predict_record(rows[0], started, online=online)
        elif isinstance(rows, dict) and not drop:
            result, features = loaded.predict_columns(rows, started, online=online)
        else:
            if isinstance(rows, pd.DataFrame):
                frame = rows
            else:
                frame = pd.DataFrame(rows if isinstance(rows, dict) else list(rows))
            result, features = loaded.predict_frame(
                frame, started, drop=list(drop), prepare=prepare_input, online=online
            )
        spent, rows_in = time.thread_time() - ready, len(result.predictions)
        if rows_in <= INLINE_ROWS:
            loaded.note_small(spent)
        elif online:
            loaded.note_rows(rows_in, spent)
        if self.log is not None:
            request_id = self.log.record(
                result.model,
                result.version,
                features,
                result.predictions,
                result.probabilities,
                request_id=request_id,
                latency_seconds=result.seconds,
                source=source,
            )
            result = replace(result, request_id=request_id)
        return result


def settle_heap(evicted: bool = False) -> None:
    """Collect once, then freeze what survives: the long-lived heap (models, libraries) is
    no longer walked by every full collection. After an eviction the frozen objects are
    released first, so that the evicted model's reference cycles are collected too."""
    if evicted:
        gc.unfreeze()
    gc.collect()
    gc.freeze()
