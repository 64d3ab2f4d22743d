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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mlharbor.config import Settings
from mlharbor.errors import InvalidInputError
from mlharbor.jobs import JobContext
from mlharbor.jobs.params import JobParams
from mlharbor.serving.scoring import score_frame

if TYPE_CHECKING:
    from mlharbor.data.datasets import DatasetVersionInfo, IngestResult
    from mlharbor.workflows.services import CheckServices, ScoreServices

#: Opens the services in a process that scores chunks (cached there: see ``mlharbor.hub``).
OpenServices = Callable[[Settings], "ScoreServices"]

SCORE = "score"
#: Below this many rows, starting processes for the chunks costs more than scoring them here.
PARALLEL_MIN_ROWS = 200_000


@dataclass
class ScoreRequest(JobParams):
    """What a user asks for when scoring a dataset (the ``score`` job's parameters)."""

    what = "scoring"

    model: str
    dataset: str
    ref: str = "latest"
    dataset_version: int | None = None
    output: str | None = None
    chunk_rows: int = 50_000


def check_score_request(services: CheckServices, request: ScoreRequest) -> ScoreRequest:
    """Check before queuing: the model and dataset exist and the dataset has every column
    the model needs. Pins the model version, so moving the alias mid-job changes nothing."""
    if not 1_000 <= request.chunk_rows <= 1_000_000:
        raise InvalidInputError("chunk_rows must be between 1,000 and 1,000,000")
    data = services.datasets.get_version(request.dataset, request.dataset_version)
    model = services.models.get_version(request.model, request.ref)
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
    services = task["open_services"](task["settings"])
    version = services.datasets.get_version(task["dataset"], task["dataset_version"])
    table = services.datasets.read_table(version)
    frame = table.slice(task["start"], task["stop"] - task["start"]).to_pandas()
    return score_frame(services.predictor, task["model"], task["ref"], frame)


def run_scoring(
    services: ScoreServices,
    request: ScoreRequest,
    ctx: JobContext,
    open_services: OpenServices | None = None,
) -> dict[str, Any]:
    """Score ``request.dataset`` with the model in chunks and store the result as a dataset.

    With ``open_services``, the chunks fan out on the job's executor, each process opening
    the services with it; without, they are scored here one after the other.
    """
    fan_out = open_services is not None
    started = time.perf_counter()
    data = services.datasets.get_version(request.dataset, request.dataset_version)
    table = services.datasets.read_table(data)
    rows = table.num_rows
    bounds = [(s, min(s + request.chunk_rows, rows)) for s in range(0, rows, request.chunk_rows)]
    common = {
        "settings": services.settings,
        "open_services": open_services,
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
            parts.append(score_frame(services.predictor, request.model, request.ref, frame))
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
    stored = _store(services, table, request, data)
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


def score_job(
    ctx: JobContext, params: dict[str, Any], services: ScoreServices, open_services: OpenServices
) -> dict[str, Any]:
    """The ``score`` job: a model version applied to a dataset version, stored as a dataset."""
    request = ScoreRequest.from_params(params)
    check_score_request(services, request)
    rows = services.datasets.get_version(request.dataset, request.dataset_version).n_rows
    fan_out = bool(ctx.settings.dask_address) or rows >= PARALLEL_MIN_ROWS
    return run_scoring(
        services, request, ctx, open_services if fan_out and rows > request.chunk_rows else None
    )


def _store(
    services: ScoreServices, table: pa.Table, request: ScoreRequest, data: DatasetVersionInfo
) -> IngestResult:
    with tempfile.TemporaryDirectory(prefix="mlharbor-score-") as tmp:
        path = Path(tmp) / "scored.parquet"
        pq.write_table(table, path)
        return services.datasets.ingest_file(
            path,
            name=request.output,
            filename="scored.parquet",
            source=f"scored: {data.dataset} v{data.version} by {request.model} v{request.ref}",
        )
