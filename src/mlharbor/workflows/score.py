"""The ``score`` job: a model version applied to a stored dataset, in chunks.

The result is a new dataset (a version of its own name) holding the input columns, the
prediction and, for classifiers, one probability column per class; it downloads as CSV or
Parquet like any dataset. Chunks run in this process for small data and fan out on the job
executor (Dask when configured) for large data; every chunk goes through
:meth:`Predictor.predict` with ``source="batch"`` (see :mod:`mlharbor.serving.scoring`), so
the prediction log sees them.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mlharbor.config import Settings
from mlharbor.errors import InvalidInputError
from mlharbor.serving.scoring import score_frame
from mlharbor.workflows.requests import ScoreRequest

SCORE = "score"
#: Below this many rows, starting processes for the chunks costs more than scoring them here.
PARALLEL_MIN_ROWS = 200_000


def check_score_request(hub: Any, request: ScoreRequest) -> ScoreRequest:
    """Check before queuing: the model and dataset exist and the dataset has every column
    the model needs. Pins the model version, so moving the alias mid-job changes nothing."""
    data = hub.datasets.get_version(request.dataset, request.dataset_version)
    model = hub.models.get_version(request.model, request.ref)
    columns = {c.name for c in data.schema.columns}
    needed = [str(c["name"]) for c in model.signature.get("inputs", [])]
    missing = [c for c in needed if c not in columns]
    if missing:
        raise InvalidInputError(
            f"dataset {data.dataset!r} version {data.version} lacks the column(s) "
            f"{', '.join(map(repr, missing))} that model {model.model!r} version "
            f"{model.version} needs",
            missing=missing,
        )
    request.ref = str(model.version)
    request.dataset, request.dataset_version = data.dataset, data.version
    request.output = request.output or f"{data.dataset}-scored-{model.model}"
    return request


def score_chunk(task: dict[str, Any]) -> pd.DataFrame:
    """Score one chunk (a task of the executor's ``map``): prediction and probability columns."""
    hub = _hub(task["settings"])
    version = hub.datasets.get_version(task["dataset"], task["dataset_version"])
    table = hub.datasets.read_table(version)
    frame = table.slice(task["start"], task["stop"] - task["start"]).to_pandas()
    return score_frame(hub.predictor, task["model"], task["ref"], frame)


def run_scoring(hub: Any, request: ScoreRequest, ctx: Any, fan_out: bool) -> dict[str, Any]:
    """Score ``request.dataset`` with the model in chunks and store the result as a dataset."""
    started = time.perf_counter()
    data = hub.datasets.get_version(request.dataset, request.dataset_version)
    table = hub.datasets.read_table(data)
    rows = table.num_rows
    bounds = [(s, min(s + request.chunk_rows, rows)) for s in range(0, rows, request.chunk_rows)]
    common = {
        "settings": hub.settings,
        "model": request.model,
        "ref": request.ref,
        "dataset": data.dataset,
        "dataset_version": data.version,
    }
    ctx.progress(0.02, f"{rows:,} rows in {len(bounds)} chunk(s)")
    parts: list[pd.DataFrame] = []
    wave = max(1, os.cpu_count() or 1) if fan_out else 1
    for first in range(0, len(bounds), wave):
        ctx.check_cancelled()
        batch = bounds[first : first + wave]
        if fan_out:
            tasks = [{**common, "start": s, "stop": e} for s, e in batch]
            parts.extend(ctx.compute.map(score_chunk, tasks))
        else:
            s, e = batch[0]
            frame = table.slice(s, e - s).to_pandas()
            parts.append(score_frame(hub.predictor, request.model, request.ref, frame))
        for i, (s, e) in enumerate(batch, start=first):
            ctx.event("chunk", {"chunk": i + 1, "chunks": len(bounds), "rows": e - s})
        done = first + len(batch)
        ctx.progress(0.05 + 0.85 * done / len(bounds), f"scored {done} of {len(bounds)} chunks")
    predicted = pa.Table.from_pandas(
        pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(), preserve_index=False
    )
    for name in predicted.column_names:
        table = table.append_column(name, predicted.column(name))
    ctx.progress(0.92, "storing the scored dataset")
    stored = _store(hub, table, request, data)
    return {
        "dataset": stored.version.dataset,
        "dataset_version": stored.version.version,
        "rows": rows,
        "chunks": len(bounds),
        "model": request.model,
        "model_version": int(request.ref),
        "input": {"dataset": data.dataset, "version": data.version},
        "columns": predicted.column_names,
        "seconds": round(time.perf_counter() - started, 3),
    }


def score_job(ctx: Any, params: dict[str, Any]) -> dict[str, Any]:
    """The ``score`` job: a model version applied to a dataset version, stored as a dataset."""
    from mlharbor.hub import Hub

    request = ScoreRequest.from_params(params)
    with Hub.open(ctx.settings, migrate=False) as hub:
        check_score_request(hub, request)
        rows = hub.datasets.get_version(request.dataset, request.dataset_version).n_rows
        fan_out = bool(ctx.settings.dask_address) or rows >= PARALLEL_MIN_ROWS
        return run_scoring(hub, request, ctx, fan_out and rows > request.chunk_rows)


def _store(hub: Any, table: pa.Table, request: ScoreRequest, data: Any) -> Any:
    with tempfile.TemporaryDirectory(prefix="mlharbor-score-") as tmp:
        path = Path(tmp) / "scored.parquet"
        pq.write_table(table, path)
        return hub.datasets.ingest_file(
            path,
            name=request.output,
            filename="scored.parquet",
            source=f"scored: {data.dataset} v{data.version} by {request.model} v{request.ref}",
        )


_hubs: dict[str, Any] = {}


def _hub(settings: Settings) -> Any:
    """One hub per process and database, so a process scoring many chunks loads once."""
    from mlharbor.hub import Hub

    key = settings.resolved_database_url()
    if key not in _hubs:
        _hubs[key] = Hub.open(settings, migrate=False)
    return _hubs[key]
