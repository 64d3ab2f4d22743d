"""The prediction log: what every served model saw and answered, kept for monitoring.

:meth:`PredictionLog.record` is called on the request path and only puts a batch on a
bounded queue (dropping it, counted, when the queue is full: a slow store must never slow
or block predictions). A background thread gathers batches and writes them as Parquet files
in the artifact store, partitioned by model, version and day::

    predlog/<model>/v<version>/2026-11-23/part-<time>-<uuid>.parquet

Each row holds the input columns as the model saw them, ``_prediction``, ``_probabilities``
(list of floats in ``classes`` order, for classifiers), and ``_request_id``, ``_row``
(position in its request), ``_time``, ``_latency_ms`` and ``_source`` (online or batch).
:meth:`close` writes what is queued, so a clean shutdown loses nothing.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from mlharbor.store.artifacts import ArtifactStore
from mlharbor.values import plain

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)
PREFIX = "predlog"
_STOP = object()


@dataclass
class LoggedBatch:
    """One predict call, as queued for writing."""

    model: str
    version: int
    #: A frame, or ``{column: 1-D array}`` as the online fast path builds it.
    features: pd.DataFrame | Mapping[str, np.ndarray]
    predictions: Sequence[Any]
    probabilities: Sequence[Sequence[float]] | None
    request_id: str
    latency_ms: float
    source: str
    time: datetime
    rows: int


def partition(model: str, version: int, day: date | None = None) -> str:
    """The store prefix of a model version's log (of one day when given)."""
    base = f"{PREFIX}/{model}/v{version}"
    return base if day is None else f"{base}/{day.isoformat()}"


class PredictionLog:
    """Batches predictions off the request path and writes them as Parquet partitions.

    Parameters
    ----------
    artifacts : ArtifactStore
    sample_rate : float, default=1.0
        Share of predict calls logged (a whole call is kept or skipped).
    queue_size : int, default=10000
        Predict calls waiting to be written; past it, calls are dropped and counted.
    flush_seconds : float, default=5.0
        Longest a logged prediction waits before it is written.
    batch_rows : int, default=50000
        Rows gathered before a file is written early.
    max_queued_rows : int, default=1000000
        Rows waiting to be written; past it, calls are dropped too (bounds the memory).
    """

    def __init__(
        self,
        artifacts: ArtifactStore,
        *,
        sample_rate: float = 1.0,
        queue_size: int = 10_000,
        flush_seconds: float = 5.0,
        batch_rows: int = 50_000,
        max_queued_rows: int = 1_000_000,
    ) -> None:
        self.artifacts = artifacts
        self.max_queued_rows = max_queued_rows
        self._queued_rows = 0
        self.sample_rate = sample_rate
        self.flush_seconds = flush_seconds
        self.batch_rows = batch_rows
        self.logged = 0
        self.dropped = 0
        self.written_rows = 0
        self.write_errors = 0
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=queue_size)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False

    # ---- the request path ---------------------------------------------------------------

    def record(
        self,
        model: str,
        version: int,
        features: pd.DataFrame | Mapping[str, np.ndarray],
        predictions: Sequence[Any],
        probabilities: Sequence[Sequence[float]] | None = None,
        *,
        request_id: str | None = None,
        latency_seconds: float = 0.0,
        source: str = "online",
    ) -> str | None:
        """Queue one predict call for the log; never blocks.

        Returns the request id it was logged under (generated when not given), or ``None``
        when it was sampled out or dropped.
        """
        if self._closed or (self.sample_rate < 1.0 and random.random() >= self.sample_rate):
            return None
        request_id = request_id or uuid.uuid4().hex
        rows = len(predictions)
        batch = LoggedBatch(
            model,
            version,
            features,
            list(predictions),
            probabilities,
            request_id,
            latency_seconds * 1000,
            source,
            datetime.now(UTC),
            rows,
        )
        self._ensure_thread()
        with self._lock:
            full = self._queued_rows + rows > self.max_queued_rows
            if not full:
                try:
                    self._queue.put_nowait(batch)
                except queue.Full:
                    full = True
            if full:
                self.dropped += 1
                return None
            self._queued_rows += rows
            self.logged += 1
        return request_id

    @property
    def pending(self) -> int:
        """Predict calls queued and not yet written."""
        return self._queue.qsize()

    # ---- the writer ---------------------------------------------------------------------

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            with self._lock:
                if self._thread is None or not self._thread.is_alive():
                    self._thread = threading.Thread(
                        target=self._run, name="mlharbor-predlog", daemon=True
                    )
                    self._thread.start()

    def _run(self) -> None:
        pending: list[LoggedBatch] = []
        rows = 0
        deadline = time.monotonic() + self.flush_seconds
        while True:
            timeout = max(0.0, deadline - time.monotonic())
            try:
                item = self._queue.get(timeout=timeout)
            except queue.Empty:
                item = None
            stop = item is _STOP or isinstance(item, threading.Event)
            if isinstance(item, LoggedBatch):
                pending.append(item)
                rows += item.rows
                with self._lock:
                    self._queued_rows -= item.rows
            if stop or rows >= self.batch_rows or time.monotonic() >= deadline:
                self._write(pending)
                pending, rows = [], 0
                deadline = time.monotonic() + self.flush_seconds
            if isinstance(item, threading.Event):
                item.set()
            if item is _STOP:
                return

    def flush(self, timeout: float = 30.0) -> bool:
        """Write everything queued so far; True when done within ``timeout``."""
        if self._thread is None or not self._thread.is_alive():
            return self._queue.empty()
        done = threading.Event()
        self._queue.put(done)
        return done.wait(timeout)

    def close(self, timeout: float = 30.0) -> None:
        """Write what is queued and stop the writer (a clean shutdown loses nothing)."""
        self._closed = True
        if self._thread is not None and self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join(timeout)

    def _write(self, batches: list[LoggedBatch]) -> None:
        groups: dict[tuple[str, int, date], list[LoggedBatch]] = defaultdict(list)
        for b in batches:
            groups[(b.model, b.version, b.time.date())].append(b)
        for (model, version, day), group in groups.items():
            try:
                table = _to_table(group)
                key = (
                    f"{partition(model, version, day)}/part-"
                    f"{datetime.now(UTC):%H%M%S%f}-{uuid.uuid4().hex[:8]}.parquet"
                )
                with self.artifacts.staging(".parquet") as staged:
                    pq.write_table(table, staged, compression="zstd")
                    self.artifacts.commit(key, staged)
                with self._lock:
                    self.written_rows += table.num_rows
            except Exception:  # a broken store must not kill the writer thread
                log.exception("could not write %d logged predictions of %s", len(group), model)
                with self._lock:
                    self.write_errors += 1


def _to_table(batches: list[LoggedBatch]) -> pa.Table:
    """One table for a group of batches, built column by column.

    Built once per write, not once per batch: with one DataFrame (copy, six inserts, concat)
    per logged call, the writer thread cost more CPU than the predictions it logged, and on
    a small machine it took that time from the request path. No DataFrame at all: putting
    the columns in one (its blocks copied together) held the GIL for 15 ms a file.
    """
    import pandas as pd  # on the writer thread: importing the hub does not load it

    counts = [b.rows for b in batches]
    columns = {
        name: _uniform(values) if values.dtype == object else values
        for name, values in _features(batches).items()
    }
    predictions = [plain(v) for b in batches for v in b.predictions]
    columns["_prediction"] = _uniform(pd.Series(predictions, dtype=object))
    if any(b.probabilities is not None for b in batches):
        probabilities = [
            p
            for b, n in zip(batches, counts, strict=True)
            for p in (b.probabilities if b.probabilities is not None else [None] * n)
        ]
        columns["_probabilities"] = pd.Series(probabilities, dtype=object)
    repeat = np.repeat
    columns["_request_id"] = pd.Series(
        repeat(np.array([b.request_id for b in batches], dtype=object), counts), dtype=object
    )
    columns["_row"] = pd.Series(np.concatenate([np.arange(n, dtype=np.int64) for n in counts]))
    columns["_time"] = pd.Series(pd.DatetimeIndex([b.time for b in batches]).repeat(counts))
    columns["_latency_ms"] = pd.Series(repeat(np.array([b.latency_ms for b in batches]), counts))
    columns["_source"] = pd.Series(
        repeat(np.array([b.source for b in batches], dtype=object), counts), dtype=object
    )
    return pa.table({name: _arrow(values) for name, values in columns.items()})


#: Values of a Python-object column converted to Arrow in one call. The call holds the GIL
#: while it reads every object: a whole file's column at once (50,000 strings, ~10 ms)
#: stalled the server's requests for as long.
CHUNK_ROWS = 2_000


def _arrow(values: pd.Series) -> pa.Array | pa.ChunkedArray:
    """A column as Arrow; Python objects (text, lists) a chunk at a time, the GIL let go
    between chunks, text as ``large_string`` (pandas' own strings arrive so), one type for
    every file of a log."""
    if values.dtype != object:
        array = pa.Array.from_pandas(values)
        return array.cast(pa.large_string()) if array.type == pa.string() else array
    chunks: list[pa.Array] = []
    kind: pa.DataType | None = None
    for start in range(0, len(values), CHUNK_ROWS):
        part = values.iloc[start : start + CHUNK_ROWS]
        try:
            chunk = pa.Array.from_pandas(part, type=kind)
        except (pa.ArrowInvalid, pa.ArrowTypeError):  # unlike the chunks before: all at once
            return _arrow_at_once(values)
        if kind is None and chunk.type != pa.null():
            kind = pa.large_string() if chunk.type == pa.string() else chunk.type
            chunks = [c.cast(kind) for c in chunks]
            chunk = chunk.cast(kind)
        chunks.append(chunk)
        time.sleep(0)  # a request waiting for the GIL takes it here
    if kind is None:  # no value at all
        return pa.nulls(len(values))
    return pa.chunked_array([c.cast(kind) for c in chunks], type=kind)


def _arrow_at_once(values: pd.Series) -> pa.Array:
    array = pa.Array.from_pandas(values)
    return array.cast(pa.large_string()) if array.type == pa.string() else array


def _features(batches: list[LoggedBatch]) -> dict[str, pd.Series]:
    """The batches' input columns, by name."""
    import pandas as pd  # on the writer thread: importing the hub does not load it

    if all(not isinstance(b.features, pd.DataFrame) for b in batches):
        names = list(batches[0].features)
        if all(list(b.features) == names for b in batches):
            # Plain arrays, as the online fast path hands them over: one concatenation each.
            return {
                str(n): pd.Series(_concat([b.features[n] for b in batches]), copy=False)
                for n in names
            }
    frames = [
        b.features.reset_index(drop=True)
        if isinstance(b.features, pd.DataFrame)
        else pd.DataFrame(dict(b.features))
        for b in batches
    ]
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    return {str(name): frame.iloc[:, i] for i, name in enumerate(frame.columns)}


def _concat(arrays: list[np.ndarray]) -> Any:
    import pandas as pd

    values = np.concatenate(arrays) if len(arrays) > 1 else np.asarray(arrays[0])
    # Text stays object: pandas would copy it into Arrow strings only to convert it back.
    return pd.Series(values, dtype=object) if values.dtype == object else values


def _uniform(values: pd.Series) -> pd.Series:
    """An object column Arrow can store: numbers as numbers, anything mixed as text."""
    import pandas as pd  # on the writer thread: importing the hub does not load it

    kind = pd.api.types.infer_dtype(values, skipna=True)
    # Decided in C for the common cases; the per-value checks below are for mixed columns.
    if kind in ("string", "empty", "boolean"):
        return values
    if kind in ("integer", "floating", "mixed-integer-float", "decimal"):
        return pd.to_numeric(values)
    present = values.dropna()
    if present.map(lambda v: isinstance(v, bool)).all():
        return values
    if present.map(lambda v: isinstance(v, int | float) and not isinstance(v, bool)).all():
        return pd.to_numeric(values)
    return values.map(lambda v: None if v is None or v != v else str(v))
