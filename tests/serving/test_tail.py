"""No stalls in serving: the heap is frozen once models are loaded, small and cheap requests
stay on the event loop, and a prediction-log flush in progress does not hold requests up."""

from __future__ import annotations

import gc
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import mlharbor.serving.predlog as predlog
from mlharbor.hub import Hub

from ..api.conftest import LiveServer
from .mixed import register


@pytest.fixture
def unfrozen() -> Any:
    """Start from an unfrozen heap (another test may have loaded a model already)."""
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_the_heap_is_frozen_once_a_model_is_loaded(
    sqlite_hub: Hub, tmp_path: Path, unfrozen: None
) -> None:
    row = register(sqlite_hub, tmp_path, "churn", "churn").iloc[0].to_dict()
    assert gc.get_freeze_count() == 0
    first = sqlite_hub.predictor.predict("churn", "latest", [row])
    # The model, the libraries and the hub are out of the collector's way from now on.
    assert gc.get_freeze_count() > 0
    assert sqlite_hub.predictor.predict("churn", "latest", [row]).predictions == first.predictions


def test_an_evicted_model_is_unfrozen_and_the_next_one_still_answers(
    sqlite_hub: Hub, tmp_path: Path, unfrozen: None
) -> None:
    features = register(sqlite_hub, tmp_path, "churn", "churn")
    register(sqlite_hub, tmp_path, "churn", "churn", "logistic")
    sqlite_hub.predictor.capacity = 1
    row = features.iloc[0].to_dict()
    one = sqlite_hub.predictor.predict("churn", "1", [row])
    two = sqlite_hub.predictor.predict("churn", "2", [row])  # evicts version 1
    assert sqlite_hub.predictor.size == 1
    assert gc.get_freeze_count() > 0
    assert sqlite_hub.predictor.predict("churn", "1", [row]).predictions == one.predictions
    assert two.version == 2


def test_cheap_requests_are_judged_by_cpu_time_per_size(sqlite_hub: Hub, tmp_path: Path) -> None:
    features = register(sqlite_hub, tmp_path, "churn", "churn", lineage=True)  # onnxruntime
    predictor = sqlite_hub.predictor
    assert not predictor.is_cheap("churn", "latest", 1)  # not loaded: the threadpool loads it
    for i in range(10):  # a first run pays onnxruntime's warm-up; the average forgets it
        predictor.predict("churn", "latest", [features.iloc[i].to_dict()])
    assert predictor.is_cheap("churn", "latest", 1)
    assert not predictor.is_cheap("churn", "latest", 100)  # no bigger request seen yet
    block = features.iloc[:100].to_dict("list")
    for _ in range(10):
        predictor.predict("churn", "latest", block)
    # 20 trees through onnxruntime on 100 rows: well under a millisecond of CPU.
    assert predictor.is_cheap("churn", "latest", 100)
    assert not predictor.is_cheap("churn", "latest", 1_000_000)


def test_predictions_answer_while_the_log_is_being_written(
    live_sqlite: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = live_sqlite.hub
    features = register(hub, tmp_path, "churn", "churn", lineage=True)
    url = "/api/v1/models/churn/latest/invocations"
    body = {"dataframe_split": features.iloc[:1].to_dict("split") | {"index": None}}
    writing, release = threading.Event(), threading.Event()
    write_table = predlog.pq.write_table

    def slow_write(*args: Any, **kwargs: Any) -> None:
        # The writer thread stops in the middle of a flush until the test has its answers.
        writing.set()
        release.wait(30)
        write_table(*args, **kwargs)

    monkeypatch.setattr(predlog.pq, "write_table", slow_write)
    with live_sqlite.client() as api:
        assert api.post(url, json=body).status_code == 200
        flushed: list[bool] = []
        flusher = threading.Thread(target=lambda: flushed.append(hub.predlog.flush()))
        flusher.start()
        assert writing.wait(30)
        try:
            answers = [api.post(url, json=body, timeout=10) for _ in range(20)]
        finally:
            release.set()
        flusher.join(30)
    assert [a.status_code for a in answers] == [200] * 20
    assert flushed == [True]
    # What was predicted during the flush is written by the next one.
    assert hub.predlog.flush()
    assert hub.predlog.written_rows == 21


def test_an_expired_alias_is_read_once_however_many_requests_arrive(
    sqlite_hub: Hub, tmp_path: Path
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from sqlalchemy import event

    row = register(sqlite_hub, tmp_path, "churn", "churn").iloc[0].to_dict()
    predictor = sqlite_hub.predictor
    predictor.ref_ttl = 0.2
    first = predictor.predict("churn", "latest", [row])
    statements: list[str] = []
    event.listen(sqlite_hub.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    predictor.forget("churn")
    predictor.resolve("churn", "latest")
    one_read = len(statements)
    assert one_read > 0
    statements.clear()
    time.sleep(0.3)  # expired
    start = threading.Barrier(8)

    def predict() -> list[object]:
        start.wait(10)
        return predictor.predict("churn", "latest", [row]).predictions

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: predict(), range(8)))
    assert answers == [first.predictions] * 8
    assert len(statements) <= one_read
