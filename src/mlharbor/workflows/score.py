"""The ``score`` job: a model version applied to a stored dataset, in chunks.

The result is a new dataset (a version of its own name) holding the input columns, the
prediction and, for classifiers, one probability column per class; it downloads as CSV or
Parquet like any dataset. Chunks run in this process for small data and fan out on the job
executor (Dask when configured) for large data. The input is read and the result written a
chunk at a time, and each fanned-out task reads only its own rows from the store, so memory
stays a few chunks whatever the size of the file. Every chunk goes through
:meth:`Predictor.predict` with ``source="batch"`` (see :mod:`mlharbor.serving.scoring`), so
the prediction log sees them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Iterator
from contextlib import closing, nullcontext
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa

from mlharbor.config import Settings
from mlharbor.errors import InvalidInputError
from mlharbor.jobs import JobContext
from mlharbor.serving.scoring import score_frame
from mlharbor.workflows.requests import ScoreRequest

if TYPE_CHECKING:
    from mlharbor.workflows.services import CheckServices, ScoreServices

#: Opens the services in a process that scores chunks (cached there: see ``mlharbor.hub``).
OpenServices = Callable[[Settings], "ScoreServices"]

SCORE = "score"
#: Below this many rows, starting processes for the chunks costs more than scoring them here.
PARALLEL_MIN_ROWS = 200_000


def check_score_request(services: CheckServices, request: ScoreRequest) -> ScoreRequest:
    """Check before queuing: the model and dataset exist and the dataset has every column
    the model needs. Pins the model version, so moving the alias mid-job changes nothing."""
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


def chunk_bounds(rows: int, chunk_rows: int) -> list[tuple[int, int]]:
    """``(start, stop)`` of each chunk of ``chunk_rows`` rows (the last may be shorter)."""
    return [(s, min(s + chunk_rows, rows)) for s in range(0, rows, chunk_rows)]


def score_chunk(task: dict[str, Any]) -> pd.DataFrame:
    """Score one chunk (a task of the executor): prediction and probability columns.

    The task reads only its own rows from the store (the row groups holding them, the
    model's columns), so a worker's memory is a chunk's, whatever the size of the dataset.
    """
    services = task["open_services"](task["settings"])
    version = services.datasets.get_version(task["dataset"], task["dataset_version"])
    rows = services.datasets.read_rows(version, task["start"], task["stop"], task["columns"])
    taken = [c.name for c in version.schema.columns]
    return score_frame(services.predictor, task["model"], task["ref"], rows.to_pandas(), taken)


def run_scoring(
    services: ScoreServices,
    request: ScoreRequest,
    ctx: JobContext,
    open_services: OpenServices | None = None,
) -> dict[str, Any]:
    """Score ``request.dataset`` with the model in chunks and store the result as a dataset.

    The input is read a chunk at a time and the result written as it is scored, so memory
    is a few chunks whatever the size of the file. With ``open_services``, the chunks are
    scored by the job's executor (Dask workers or local processes), each process opening
    the services with it and each task reading its own rows, with twice as many in flight
    as there are workers; results come back in order. Without, they are scored here.
    """
    started = time.perf_counter()
    data = services.datasets.get_version(request.dataset, request.dataset_version)
    bounds = chunk_bounds(data.n_rows, request.chunk_rows)
    signature = services.models.get_version(request.model, request.ref).signature
    needed = [str(c["name"]) for c in signature.get("inputs", [])]
    common = {
        "settings": services.settings,
        "open_services": open_services,
        # A task reads the model's inputs only; the job adds the other columns back.
        "columns": needed or None,
        "model": request.model,
        "ref": request.ref,
        "dataset": data.dataset,
        "dataset_version": data.version,
    }
    ctx.progress(0.02, f"{data.n_rows:,} rows in {len(bounds)} chunk(s)")
    added: list[str] = []

    def scored() -> Iterator[pa.Table]:
        inputs = services.datasets.iter_slices(data, request.chunk_rows)
        predicted: Generator[pd.DataFrame, None, None] | None = None
        if open_services is not None:
            tasks = ({**common, "start": s, "stop": e} for s, e in bounds)
            predicted = ctx.compute.imap(score_chunk, tasks, ahead=2 * ctx.compute.workers)
        types: pa.Schema | None = None
        # Both closed on the way out, even on an error: closing cancels the tasks in flight.
        with closing(inputs), closing(predicted) if predicted is not None else nullcontext():
            for i, table in enumerate(inputs):
                ctx.check_cancelled()
                if predicted is not None:
                    part = next(predicted)
                else:
                    frame = table.to_pandas()
                    part = score_frame(services.predictor, request.model, request.ref, frame)
                # The first chunk's types hold for every chunk, as they would for one table.
                columns = pa.Table.from_pandas(part, schema=types, preserve_index=False)
                types = types or columns.schema
                for name in columns.column_names:
                    table = table.append_column(name, columns.column(name))
                added[:] = columns.column_names
                done = i + 1
                ctx.event("chunk", {"chunk": done, "chunks": len(bounds), "rows": len(part)})
                fraction = 0.05 + 0.85 * done / len(bounds)
                ctx.progress(fraction, f"scored {done} of {len(bounds)} chunks")
                yield table
        ctx.progress(0.92, "storing the scored dataset")

    assert request.output is not None  # named by check_score_request
    stored = services.datasets.ingest_batches(
        scored(),
        name=request.output,
        source=f"scored: {data.dataset} v{data.version} by {request.model} v{request.ref}",
    )
    return {
        "dataset": stored.version.dataset,
        "dataset_version": stored.version.version,
        "rows": data.n_rows,
        "chunks": len(bounds),
        "model": request.model,
        "model_version": int(request.ref),
        "input": {"dataset": data.dataset, "version": data.version},
        "columns": added,
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
