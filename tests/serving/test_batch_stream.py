"""Batch scoring streams: many chunks give what one prediction of the whole file gives, and a
Dask worker holds a chunk of the file, not the file.

Memory is measured, not timed: on each Dask worker, the peak of Python allocations
(``tracemalloc``, which numpy and pandas report to) plus the peak of Arrow's memory pool,
against the size of the whole file as one frame.
"""

from __future__ import annotations

import tracemalloc
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlharbor.config import Settings
from mlharbor.hub import Hub
from mlharbor.hub_jobs import process_hub
from mlharbor.workflows.score import ScoreRequest, score_chunk
from tests.s3server import S3Server, moto_server

from .mixed import mixed_frame, register

distributed = pytest.importorskip("distributed")


def production_frame(rows: int, seed: int) -> pd.DataFrame:
    """The churn model's inputs, an id, a wide text column the model does not use, and a
    column already named ``prediction`` (the new one must not overwrite it)."""
    frame = mixed_frame(rows, seed=seed).drop(columns=["churn", "spend"])
    rng = np.random.default_rng(seed)
    words = np.array(["harbor", "tide", "quay", "anchor", "sail", "buoy", "pier", "dock"])
    frame["note"] = [" ".join(row) for row in words[rng.integers(0, 8, (rows, 8))]]
    frame["prediction"] = rng.integers(0, 3, rows)
    return frame.assign(id=range(rows))


def _ingest(hub: Hub, tmp: Path, frame: pd.DataFrame, name: str) -> None:
    path = tmp / f"{name}.csv"
    frame.to_csv(path, index=False)
    hub.datasets.ingest_file(path, name=name)


def _stored(hub: Hub, name: str) -> pa.Table:
    return hub.datasets.read_table(hub.datasets.get_version(name))


def _score(hub: Hub, dataset: str, chunk_rows: int) -> dict:
    request = ScoreRequest(model="churn", ref="1", dataset=dataset, chunk_rows=chunk_rows)
    done = hub.wait(hub.submit_score(request).id, run_here=True, timeout=600)
    assert done.state == "succeeded", done.error
    return done.result or {}


def _expected(hub: Hub, frame: pd.DataFrame) -> pd.DataFrame:
    """The whole file predicted at once by the registered pipeline."""
    model = hub.models.load_pipeline("churn", 1)
    features = frame[["age", "income", "city", "plan"]]
    proba = model.predict_proba(features)
    return pd.DataFrame(
        {
            "prediction_2": model.predict(features),
            "probability_no": proba[:, 0],
            "probability_yes": proba[:, 1],
        }
    )


def test_many_chunks_in_process_store_what_one_table_would(sqlite_hub: Hub, tmp_path: Path) -> None:
    hub = sqlite_hub
    register(hub, tmp_path, "churn", "churn")
    frame = production_frame(5_500, seed=3)
    _ingest(hub, tmp_path, frame, "prod")
    result = _score(hub, "prod", chunk_rows=1_000)
    assert result["chunks"] == 6 and result["rows"] == 5_500
    assert result["columns"] == ["prediction_2", "probability_no", "probability_yes"]
    scored = _stored(hub, "prod-scored-churn")

    # What the scorer stored before it streamed: the input table with the predictions of the
    # whole file appended, written once and ingested as a Parquet file.
    whole = _stored(hub, "prod")
    expected = _expected(hub, frame)
    for name in expected.columns:
        whole = whole.append_column(name, pa.array(expected[name]))
    pq.write_table(whole, tmp_path / "whole.parquet")
    reference = hub.datasets.ingest_file(tmp_path / "whole.parquet", name="reference").version
    stored = hub.datasets.get_version("prod-scored-churn")

    assert scored.schema.equals(whole.schema)  # same columns, order and Arrow types
    assert scored.column("id").to_pylist() == list(range(5_500))
    assert scored.column("prediction").to_pylist() == frame["prediction"].tolist()
    assert scored.column("prediction_2").to_pylist() == list(expected["prediction_2"])
    np.testing.assert_allclose(
        scored.column("probability_yes").to_numpy(), expected["probability_yes"], atol=1e-6
    )
    # The same dataset schema (types, roles, statistics) as the whole table's ingest.
    assert stored.schema.to_dict() == reference.schema.to_dict()
    assert (stored.n_rows, stored.n_columns) == (reference.n_rows, reference.n_columns)


@pytest.fixture
def s3_bucket() -> Iterator[tuple[S3Server, str]]:
    # The credentials are in the environment (see conftest.py): the Dask workers and the
    # job's process inherit them.
    with moto_server() as server:
        yield server, server.create_bucket(f"score-{uuid.uuid4().hex[:12]}")


_BASE: dict[str, int] = {}


def _trace_from_here() -> None:
    """On a worker: count allocations from now on (Python's and Arrow's pool)."""
    if not tracemalloc.is_tracing():
        tracemalloc.start()
    tracemalloc.reset_peak()
    _BASE["python"] = tracemalloc.get_traced_memory()[0]
    _BASE["arrow"] = pa.default_memory_pool().max_memory()


def _used_since() -> int:
    """On a worker: the most bytes held at once since :func:`_trace_from_here`, above what
    was held then (Arrow's pool peak cannot be reset: only its rise counts)."""
    python = tracemalloc.get_traced_memory()[1] - _BASE["python"]
    return python + pa.default_memory_pool().max_memory() - _BASE["arrow"]


@pytest.mark.timeout(900)
def test_dask_workers_score_an_s3_file_a_chunk_at_a_time(
    tmp_path: Path, s3_bucket: tuple[S3Server, str]
) -> None:
    server, bucket = s3_bucket
    rows, chunk_rows = 200_000, 5_000  # the file has two row groups
    frame = production_frame(rows, seed=5)
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        settings = Settings(
            data_dir=tmp_path / "data",
            workers=1,
            artifact_uri=f"s3://{bucket}/root",
            s3_endpoint_url=server.endpoint,
            dask_address=cluster.scheduler_address,
        )
        with distributed.Client(cluster.scheduler_address) as client, Hub.open(settings) as hub:
            register(hub, tmp_path, "churn", "churn")
            _ingest(hub, tmp_path, frame, "prod")
            version = hub.datasets.get_version("prod")
            with hub.datasets.open_parquet(version) as parquet:
                groups = parquet.metadata.num_row_groups
            task = {
                "settings": settings,
                "open_services": process_hub,
                "model": "churn",
                "ref": "1",
                "dataset": "prod",
                "dataset_version": version.version,
                "columns": ["age", "income", "city", "plan"],
            }
            # Imports and the model's load happen once per worker, before anything counts.
            client.run(score_chunk, {**task, "start": 0, "stop": 10})
            client.run(_trace_from_here)
            with distributed.get_task_stream(client) as stream:
                result = _score(hub, "prod", chunk_rows=chunk_rows)
            used = client.run(_used_since)
            # What a worker holds when one task reads and scores the whole file, as every
            # task did before scoring streamed: the yardstick, measured the same way.
            client.run(_trace_from_here)
            client.run(score_chunk, {**task, "start": 0, "stop": rows})
            whole = client.run(_used_since)
            scored = _stored(hub, "prod-scored-churn")
            expected = _expected(hub, frame)
    assert groups >= 2  # the file spans several row groups: a task reads one or two
    chunks = [t for t in stream.data if str(t["key"]).startswith("score_chunk")]
    assert result["chunks"] == len(chunks) == rows // chunk_rows
    assert {t["worker"] for t in chunks} == set(used)  # both workers scored chunks
    assert scored.column("id").to_pylist() == list(range(rows))  # order kept
    assert scored.column("prediction").to_pylist() == frame["prediction"].tolist()
    assert scored.column("prediction_2").to_pylist() == list(expected["prediction_2"])
    np.testing.assert_allclose(
        scored.column("probability_yes").to_numpy(), expected["probability_yes"], atol=1e-6
    )
    # Each worker scored part of the file, a chunk at a time: at its peak it held a small
    # fraction of what one task holding the file holds.
    assert len(used) == 2
    for worker, peak in used.items():
        assert peak < whole[worker] / 4, (peak, whole[worker])


def test_threads_scoring_chunks_at_once_share_one_hub(sqlite_settings: Settings) -> None:
    """A Dask worker's threads open the process's hub together: one hub, so one loaded copy
    of the model (two read at once in one process failed now and then on Python 3.11)."""
    import threading

    from mlharbor import hub_jobs

    start = threading.Barrier(8)
    hubs: list[Hub] = []

    def open_it() -> None:
        start.wait()
        hubs.append(process_hub(sqlite_settings))

    threads = [threading.Thread(target=open_it) for _ in range(8)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(hubs) == 8 and len({id(h) for h in hubs}) == 1
    finally:
        for hub in {id(h): h for h in hubs}.values():
            hub.close()
        hub_jobs._hubs.clear()
