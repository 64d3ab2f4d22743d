"""The prediction log: batched Parquet writes off the request path, nothing lost on close."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from mlharbor.errors import InvalidInputError
from mlharbor.monitoring.logs import (
    join_labels,
    parse_span,
    read_labels,
    read_log,
    store_labels,
)
from mlharbor.serving.predlog import PredictionLog
from mlharbor.store.artifacts import ArtifactStore

FEATURES = pd.DataFrame({"x": [1.0, 2.0, 3.0], "colour": ["red", "blue", "red"]})
WINDOW = (datetime.now(UTC) - timedelta(hours=1), datetime.now(UTC) + timedelta(hours=1))


def store(tmp_path: Path) -> ArtifactStore:
    return ArtifactStore(str(tmp_path / "artifacts"))


def test_logged_calls_are_written_as_parquet_partitions_on_close(tmp_path: Path) -> None:
    artifacts = store(tmp_path)
    log = PredictionLog(artifacts, flush_seconds=60)
    ids = [
        log.record(
            "churn", 2, FEATURES, ["yes", "no", "yes"], [[0.2, 0.8]] * 3, latency_seconds=0.01
        )
        for _ in range(4)
    ]
    log.record("churn", 2, FEATURES, [1, 0, 1], request_id="given-id", source="batch")
    log.close()
    keys = artifacts.list("predlog/churn/v2")
    assert keys and all(k.endswith(".parquet") for k in keys)
    assert f"/{datetime.now(UTC).date().isoformat()}/" in keys[0]
    rows = read_log(artifacts, "churn", 2, *WINDOW)
    assert rows.height == 15
    assert set(rows["_request_id"].unique()) == {*ids, "given-id"}
    assert rows.filter(rows["_request_id"] == "given-id")["_source"].to_list() == ["batch"] * 3
    assert rows["_row"].to_list()[:3] == [0, 1, 2]
    assert rows["colour"].to_list()[:3] == ["red", "blue", "red"]
    assert rows["_probabilities"].to_list()[0] == [0.2, 0.8]
    assert rows["_latency_ms"].to_list()[0] == 10.0
    # Closed: later calls are not logged and nothing blocks.
    assert log.record("churn", 2, FEATURES, [1, 0, 1]) is None


def test_the_writer_flushes_on_its_own_after_flush_seconds(tmp_path: Path) -> None:
    artifacts = store(tmp_path)
    log = PredictionLog(artifacts, flush_seconds=0.1)
    log.record("m", 1, FEATURES, [1, 2, 3])
    deadline = time.monotonic() + 10
    while not artifacts.list("predlog/m/v1") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert read_log(artifacts, "m", 1, *WINDOW).height == 3
    log.close()


def test_a_full_queue_drops_and_counts_instead_of_blocking(tmp_path: Path) -> None:
    artifacts = store(tmp_path)
    log = PredictionLog(artifacts, queue_size=1, flush_seconds=60)
    calls = 300
    results = [log.record("m", 1, FEATURES, [1, 2, 3]) for _ in range(calls)]
    log.close()
    kept = sum(r is not None for r in results)
    assert log.logged == kept and log.logged + log.dropped == calls
    assert log.written_rows == 3 * kept
    assert read_log(artifacts, "m", 1, *WINDOW).height == 3 * kept


def test_sampling_keeps_a_share_of_calls(tmp_path: Path) -> None:
    log = PredictionLog(store(tmp_path), sample_rate=0.0)
    assert log.record("m", 1, FEATURES, [1, 2, 3]) is None
    log.close()
    assert log.logged == 0 and log.dropped == 0


def test_labels_join_logged_rows_by_request_and_row(tmp_path: Path) -> None:
    artifacts = store(tmp_path)
    log = PredictionLog(artifacts)
    log.record("m", 1, FEATURES, ["a", "b", "a"], request_id="r1")
    log.record("m", 1, FEATURES.head(1), ["b"], request_id="r2")
    log.close()
    store_labels(artifacts, "m", [{"request_id": "r1", "row": 1, "label": "a"}])
    store_labels(artifacts, "m", [{"request_id": "r2", "label": "b"}])
    store_labels(artifacts, "m", [{"request_id": "r1", "row": 1, "label": "b"}])  # corrected
    labelled = join_labels(read_log(artifacts, "m", 1, *WINDOW), read_labels(artifacts, "m"))
    got = sorted(zip(labelled["_request_id"], labelled["_row"], labelled["_label"], strict=True))
    assert got == [("r1", 1, "b"), ("r2", 0, "b")]


def test_queued_rows_are_bounded_too(tmp_path: Path) -> None:
    log = PredictionLog(store(tmp_path), max_queued_rows=2, flush_seconds=60)
    assert log.record("m", 1, FEATURES, [1, 2, 3]) is None  # 3 rows never fit
    assert log.dropped == 1
    log.close()


def test_windows_reaching_far_back_or_absurdly_long_are_handled(tmp_path: Path) -> None:
    artifacts = store(tmp_path)
    log = PredictionLog(artifacts)
    log.record("m", 1, FEATURES, [1, 2, 3])
    log.close()
    since = datetime(1, 1, 1, tzinfo=UTC)
    assert read_log(artifacts, "m", 1, since, datetime.now(UTC)).height == 3
    with pytest.raises(InvalidInputError, match="longer than ten years"):
        parse_span("99999999999d")
    with pytest.raises(InvalidInputError, match="not a duration"):
        parse_span("soon")


def test_long_columns_are_written_a_chunk_at_a_time_with_every_value(tmp_path: Path) -> None:
    """Python values reach Arrow in chunks (each holds the GIL only briefly), in one type per
    column: text with gaps, a first chunk with no value, lists of probabilities."""
    from mlharbor.serving.predlog import CHUNK_ROWS

    n = 2 * CHUNK_ROWS + 7
    gappy = ["red" if i % 3 else None for i in range(n)]
    late = [None] * (CHUNK_ROWS + 1) + ["blue"] * (n - CHUNK_ROWS - 1)
    features = pd.DataFrame({"colour": gappy, "shade": late, "x": range(n)}, dtype=object)
    artifacts = store(tmp_path)
    log = PredictionLog(artifacts, flush_seconds=60)
    log.record("m", 1, features, ["a"] * n, [[0.25, 0.75]] * n)
    log.close()
    rows = read_log(artifacts, "m", 1, *WINDOW)
    assert rows.height == n
    assert rows["colour"].to_list() == gappy
    assert rows["shade"].to_list() == late
    assert rows["x"].to_list() == list(range(n))
    assert rows["_probabilities"].to_list()[-1] == [0.25, 0.75]
    assert str(rows.schema["colour"]) == str(rows.schema["shade"]) == "String"
