"""Fast serving keeps its promises: every row reaches the prediction log, each caller gets
its own rows, whether a request ran on the event loop or in the threadpool."""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import pandas as pd

from mlharbor.monitoring.logs import read_log

from ..api.conftest import LiveServer
from .mixed import register


async def _send(url: str, bodies: list[bytes]) -> list[httpx.Response]:
    headers = {"content-type": "application/json"}
    async with httpx.AsyncClient(timeout=60) as client:
        return await asyncio.gather(*(client.post(url, content=b, headers=headers) for b in bodies))


def test_concurrent_requests_are_answered_and_logged_row_by_row(
    live_sqlite: LiveServer, tmp_path: Path
) -> None:
    hub = live_sqlite.hub
    features = register(hub, tmp_path, "churn", "churn", lineage=True)
    pipeline = hub.models.load_pipeline("churn")
    base = f"{live_sqlite.url}/api/v1/models/churn/latest"
    with live_sqlite.client() as api:  # warm: loaded, converted, timed
        for _ in range(3):
            first = api.post(f"{base}/predict", json=[features.iloc[0].to_dict()])
            assert first.status_code == 200 and first.headers["x-mlharbor-backend"] == "onnx"
    # The small requests below run on the event loop, the 30-row ones in the threadpool (at
    # least until their cost per row is known).
    assert hub.predictor.is_cheap("churn", "latest", 1)
    assert not hub.predictor.is_cheap("churn", "latest", 30)

    singles = [features.iloc[[i]] for i in range(40)]
    blocks = [features.iloc[100 + 30 * i : 130 + 30 * i] for i in range(4)]
    frames = singles + blocks
    bodies = [
        json.dumps({"dataframe_split": f.to_dict("split") | {"index": None}}).encode()
        for f in frames
    ]
    # A thread of its own: the browser tests' Playwright leaves an event loop running in this
    # worker's main thread when they share the process.
    with ThreadPoolExecutor(1) as pool:
        answers = pool.submit(asyncio.run, _send(f"{base}/predict", bodies)).result()
    ids = []
    for frame, answer in zip(frames, answers, strict=True):
        assert answer.status_code == 200, answer.text
        # Each caller gets its own rows' answers, in its order (onnxruntime's probabilities
        # are the pipeline's within its tolerance; labels their arg-max).
        got = answer.json()
        np.testing.assert_allclose(got["probabilities"], pipeline.predict_proba(frame), atol=1e-3)
        proba = np.asarray(got["probabilities"])
        argmax = np.asarray(got["classes"]).take(proba.argmax(axis=1))
        clear = np.abs(proba[:, 0] - proba[:, 1]) > 2e-3  # a tie may go either way
        assert (np.asarray(got["predictions"]) == argmax)[clear].all()
        ids.append(answer.headers["x-request-id"])

    assert hub.predlog.flush()
    now = datetime.now(UTC)
    log = read_log(hub.artifacts, "churn", 1, now - timedelta(hours=1), now + timedelta(hours=1))
    logged = log.to_pandas()
    for frame, request_id, answer in zip(frames, ids, answers, strict=True):
        rows = logged[logged["_request_id"] == request_id].sort_values("_row")
        assert rows["_row"].tolist() == list(range(len(frame)))
        assert rows["_prediction"].tolist() == answer.json()["predictions"]
        assert (rows["_source"] == "online").all()
        # The features as the model saw them, text as text and numbers as numbers.
        pd.testing.assert_frame_equal(
            rows[list(frame.columns)].reset_index(drop=True),
            frame.reset_index(drop=True),
            check_dtype=False,
        )
        probabilities = rows["_probabilities"].tolist()
        assert all(abs(sum(p) - 1) < 1e-3 for p in probabilities)
