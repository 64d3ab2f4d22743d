"""Batch scoring of an uploaded file: stored as a dataset, then scored, in one call."""

from __future__ import annotations

import io
import time
from pathlib import Path

import httpx
import pandas as pd

from mlharbor.config import Settings
from mlharbor.hub import Hub

from ..api.conftest import LiveServer, serve
from .mixed import mixed_frame, register

URL = "/api/v1/models/churn/latest/score/upload"


def _csv(rows: int, seed: int = 3, drop: tuple[str, ...] = ("churn", "spend")) -> bytes:
    return mixed_frame(rows, seed=seed).drop(columns=list(drop)).to_csv(index=False).encode()


def _wait(api: httpx.Client, job_id: int, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = api.get(f"/api/v1/jobs/{job_id}").json()
        if job["state"] in ("succeeded", "failed", "cancelled"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish: {job}")


def _datasets(hub: Hub) -> int:
    return hub.datasets.list()[1]


def test_an_uploaded_file_is_stored_and_scored_into_a_new_dataset(
    live_worker: LiveServer, tmp_path: Path
) -> None:
    hub = live_worker.hub
    register(hub, tmp_path, "churn", "churn")
    body = _csv(60)
    with live_worker.client() as api:
        r = api.post(
            URL,
            files={"file": ("production.csv", body, "text/csv")},
            data={"output": "production-scored"},
        )
        assert r.status_code == 202, r.text
        job = r.json()
        assert job["kind"] == "score"
        assert job["params"]["dataset"] == "production"
        assert job["params"]["dataset_version"] == 1
        done = _wait(api, job["id"])
        assert done["state"] == "succeeded", done
        assert done["result"]["dataset"] == "production-scored"
        csv = api.get("/api/v1/datasets/production-scored/download", params={"format": "csv"})
    scored = pd.read_csv(io.BytesIO(csv.content))
    sent = pd.read_csv(io.BytesIO(body))
    assert len(scored) == 60
    # The input columns as sent, then the predictions and the probabilities beside them.
    pd.testing.assert_frame_equal(scored[list(sent.columns)], sent, check_dtype=False)
    assert set(scored["prediction"]) <= {"yes", "no"}
    expected = hub.models.load_pipeline("churn", 1).predict(sent)
    assert scored["prediction"].tolist() == list(expected)
    assert {"probability_no", "probability_yes"} <= set(scored.columns)
    # The upload itself is a dataset too, named as asked when a name is given.
    with live_worker.client() as api:
        r = api.post(
            URL, files={"file": ("x.csv", _csv(20, seed=4), "text/csv")}, data={"dataset": "march"}
        )
        assert r.status_code == 202, r.text
        assert r.json()["params"]["dataset"] == "march"
        assert _wait(api, r.json()["id"])["state"] == "succeeded"
    assert hub.datasets.get_version("march").n_rows == 20


def test_bad_uploads_get_a_clear_4xx(live_sqlite: LiveServer, tmp_path: Path) -> None:
    hub = live_sqlite.hub
    register(hub, tmp_path, "churn", "churn")
    before = _datasets(hub)
    with live_sqlite.client() as api:
        ghost = api.post(
            "/api/v1/models/ghost/latest/score/upload",
            files={"file": ("p.csv", _csv(10), "text/csv")},
        )
        assert ghost.status_code == 404 and "ghost" in ghost.json()["detail"]
        alias = api.post(
            "/api/v1/models/churn/gold/score/upload",
            files={"file": ("p.csv", _csv(10), "text/csv")},
        )
        assert alias.status_code == 404 and "gold" in alias.json()["detail"]
        assert _datasets(hub) == before  # nothing stored for a model that is not there
        missing = api.post(
            URL, files={"file": ("thin.csv", _csv(10, drop=("churn", "spend", "city")), "text/csv")}
        )
        assert missing.status_code == 422 and "city" in missing.json()["detail"]
        binary = api.post(URL, files={"file": ("model.bin", b"\x00\x01\x02" * 50, "app/x")})
        assert binary.status_code == 415, binary.text
        assert ".bin" in binary.json()["detail"]
        empty = api.post(URL, files={"file": ("empty.csv", b"", "text/csv")})
        assert empty.status_code == 422 and empty.json()["detail"]
        none = api.post(URL, data={"dataset": "x"})
        assert none.status_code == 422 and "file" in none.text
        small = api.post(
            URL, files={"file": ("p.csv", _csv(10), "text/csv")}, data={"chunk_rows": 5}
        )
        assert small.status_code == 422 and "chunk_rows" in small.text


def test_an_upload_over_the_limit_is_413_and_is_not_stored(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "d", max_upload_bytes=10_000)
    with Hub.open(settings) as hub:
        register(hub, tmp_path, "churn", "churn")
        before = _datasets(hub)
        for live in serve(hub):
            with live.client() as api:
                r = api.post(URL, files={"file": ("big.csv", _csv(2_000), "text/csv")})
                assert r.status_code == 413, r.text
                assert "limit" in r.json()["detail"]
        assert _datasets(hub) == before
        assert hub.jobs.count() == 0
