"""The user's whole path, on generated tables with every column type and naming hazard.

Each case uploads a Parquet table, trains one catalog model at its own defaults (the
parameters the untouched train form sends) through a live server and its worker, reads the
registered version back, predicts over REST and ``/invocations`` (also rows with unseen
categories and dates typed as users type them), compares the ONNX fast path with the
exported ``.onnx`` file where the model converts, scores the table as a batch job, exports
to MLflow and ONNX (or gets a 422 saying why not), and checks the training data shows no
drift against itself.

By default a slice of five cases runs (CI's time budget); the full cross product (every model
x every task x both tables) is marked ``slow`` and runs with ``make test-matrix``. The cases
share one live server whose worker runs two jobs at once: the next case's model trains while
the current one is checked.
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Iterator

import httpx
import numpy as np
import onnxruntime as ort
import pandas as pd
import pytest

from mlharbor.config import Settings
from mlharbor.hub import Hub
from mlharbor.models import CATALOG

from .api.conftest import LiveServer, serve
from .models.test_catalog import form_sends
from .user_tables import (
    HAZARDS,
    TARGETS,
    features,
    hazard_rows,
    json_rows,
    parquet_bytes,
    with_target,
)

FULL = os.environ.get("MLHARBOR_TEST_MATRIX") == "full"
TABLES = ("every", "plain")  # every type / only what ONNX converts


def _cases() -> Iterator[tuple[str, str, str]]:
    for spec in CATALOG:
        for task in sorted(spec.tasks):
            for table in TABLES if task != "text" else ("every",):
                yield spec.name, task.value, table


def _slice() -> list[tuple[str, str, str]]:
    """What CI runs: every task, both tables and each preprocessing family (trees, native
    categories, scaled linear models, kernels), within its time budget."""
    return [
        ("random-forest", "binary", "every"),
        ("lightgbm", "multiclass", "plain"),
        ("logistic-regression", "text", "every"),
        ("ridge", "regression", "every"),
        ("rbf-svm", "binary", "plain"),
    ]


SLICE = _slice()
CASES = [
    pytest.param(*case, id="-".join(case))
    if case in SLICE
    else pytest.param(
        *case,
        id="-".join(case),
        marks=[
            pytest.mark.slow,
            pytest.mark.skipif(not FULL, reason="full matrix: make test-matrix"),
        ],
    )
    for case in _cases()
]


@pytest.fixture(scope="module")
def harbor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One live server with a worker running two jobs at once for the module: the next
    case's model trains while this case is checked, and its scoring job still finds a free
    slot (see :func:`_train`)."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("matrix") / "data", workers=2)
    with Hub.open(settings) as hub:
        yield from serve(hub, worker=True)


@pytest.fixture(scope="module")
def selected(request: pytest.FixtureRequest) -> list[tuple[str, str, str]]:
    """The cases this run will check, in order (after ``-k`` and the slice)."""
    out = []
    for item in request.session.items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        case = (params.get("model"), params.get("task"), params.get("table"))
        if item.module is request.module and None not in case and (FULL or case in SLICE):
            out.append(case)
    return out


_uploaded: set[str] = set()
_training: dict[tuple[str, str, str], dict] = {}


def _upload(api: httpx.Client, name: str, frame: pd.DataFrame) -> None:
    if name in _uploaded:
        return
    files = {"file": (f"{name}.parquet", parquet_bytes(frame))}
    r = api.post("/api/v1/datasets", files=files)
    assert r.status_code in (200, 201), r.text
    _uploaded.add(name)


def _train(api: httpx.Client, case: tuple[str, str, str]) -> dict:
    """The train job of ``case``, submitted with the parameters the untouched train form
    sends (once; a later case may already have done it)."""
    if case in _training:
        return _training[case]
    model, task, table = case
    dataset = f"{table}-{task}"
    _upload(api, dataset, with_target(features(plain=table == "plain"), task))
    body = {
        "dataset": dataset,
        "target": TARGETS[task],
        "model": model,
        "params": form_sends(model, task),
        "task": task,
        "cv_folds": 0,
        "name": f"m-{model}-{task}-{table}",
    }
    r = api.post("/api/v1/jobs", json={"kind": "train", "params": body})
    assert r.status_code == 202, r.text
    _training[case] = r.json()
    return _training[case]


def _wait(api: httpx.Client, job: dict) -> dict:
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        done = api.get(f"/api/v1/jobs/{job['id']}").json()
        if done["state"] in ("succeeded", "failed", "cancelled"):
            assert done["state"] == "succeeded", done.get("error") or done
            return done
        time.sleep(0.2)
    raise AssertionError(f"job {job['id']} did not finish")


def _feeds(session: ort.InferenceSession, rows: pd.DataFrame) -> dict[str, np.ndarray]:
    feeds = {}
    for spec in session.get_inputs():
        values = rows[spec.name]
        if spec.type == "tensor(float)":
            feeds[spec.name] = values.to_numpy(np.float32).reshape(-1, 1)
        else:
            feeds[spec.name] = values.astype(str).to_numpy(object).reshape(-1, 1)
    return feeds


@pytest.mark.parametrize(("model", "task", "table"), CASES)
def test_every_model_on_every_column_type_along_the_users_path(
    harbor: LiveServer,
    selected: list[tuple[str, str, str]],
    model: str,
    task: str,
    table: str,
) -> None:
    target = TARGETS[task]
    dataset = f"{table}-{task}"
    frame = with_target(features(plain=table == "plain"), task)
    name = f"m-{model}-{task}-{table}"
    case = (model, task, table)
    with harbor.client() as api:
        job = _train(api, case)
        following = selected[selected.index(case) + 1 :][:1]
        for later in following:  # trains on the second slot while this case is checked
            _train(api, later)
        _wait(api, job)

        version = api.get(f"/api/v1/models/{name}/versions/latest").json()
        assert version["task"] == task
        inputs = [c["name"] for c in version["signature"]["inputs"]]
        assert set(HAZARDS) <= set(inputs)  # the user's own names, unchanged
        assert "customer_id" not in inputs and "const" not in inputs

        # Online prediction: REST records and MLflow's protocol answer alike.
        sample = frame.drop(columns=[target]).iloc[:25]
        rows = json_rows(sample)
        url = f"/api/v1/models/{name}/latest"
        rest = api.post(f"{url}/predict", json=rows)
        assert rest.status_code == 200, rest.text
        split = {"columns": list(sample.columns), "data": [list(r.values()) for r in rows]}
        mlflow = api.post(f"{url}/invocations", json={"dataframe_split": split})
        assert mlflow.status_code == 200, mlflow.text
        backend = rest.headers["x-mlharbor-backend"]
        # Training rows hold no unseen category (integer codes sent as JSON numbers included).
        assert "unseen_categories" not in rest.json(), rest.json()["unseen_categories"]
        assert mlflow.headers["x-mlharbor-backend"] == backend
        got = rest.json()["predictions"]
        if task == "regression":
            np.testing.assert_allclose(mlflow.json()["predictions"], got, rtol=1e-6)
        else:
            assert mlflow.json()["predictions"] == got
            assert set(got) <= set(frame[target])

        # Unseen categories and dates as users type them still get an answer.
        odd = api.post(f"{url}/predict", json=hazard_rows(sample))
        assert odd.status_code == 200, odd.text
        assert "größe" in odd.json().get("unseen_categories", {}) or "größe" not in inputs

        # Export: an MLflow directory and ONNX, or a 422 that says why not.
        for fmt in ("mlflow", "onnx"):
            exported = api.get(f"/api/v1/models/{name}/versions/latest/export?format={fmt}")
            assert exported.status_code in (200, 422), exported.text
            if exported.status_code == 422:
                assert "does not convert" in exported.text or "cannot load" in exported.text
        onnx_file = exported
        if table == "plain" and onnx_file.status_code == 200:
            session = ort.InferenceSession(onnx_file.content, providers=["CPUExecutionProvider"])
            assert [i.name for i in session.get_inputs()] == inputs
            outputs = session.run(None, _feeds(session, sample))
            if backend == "onnx":  # the fast path is the exported graph
                if task == "regression":
                    np.testing.assert_allclose(np.ravel(outputs[0]), got, rtol=1e-6)
                else:
                    assert np.ravel(outputs[0]).tolist() == got
                    if "probabilities" in rest.json():
                        np.testing.assert_allclose(
                            outputs[1], rest.json()["probabilities"], atol=1e-6
                        )
        if table == "plain" and onnx_file.status_code == 200:
            # Converts: the fast path must be used (it is checked against the pipeline).
            assert backend == "onnx", f"{model} converts to ONNX but is served by {backend}"

        # Batch scoring of the training table, then no drift of the data against itself.
        scored = api.post(f"{url}/score", json={"dataset": dataset, "output": f"{name}-scored"})
        assert scored.status_code == 202, scored.text
        _wait(api, scored.json())
        csv = api.get(f"/api/v1/datasets/{name}-scored/download", params={"format": "csv"})
        assert csv.status_code == 200
        batch = pd.read_csv(io.BytesIO(csv.content))
        assert len(batch) == len(frame) and "prediction" in batch
        first = batch["prediction"].iloc[: len(got)].tolist()
        if task == "regression":
            np.testing.assert_allclose(first, got, rtol=1e-4 if backend == "onnx" else 1e-6)
        elif backend == "sklearn":
            assert first == got

        drift = api.get("/api/v1/drift", params={"reference": dataset, "current": dataset})
        assert drift.status_code == 200, drift.text
        flagged = [c["column"] for c in drift.json()["columns"] if c["drifted"]]
        assert flagged == [], flagged
