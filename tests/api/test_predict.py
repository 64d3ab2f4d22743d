"""Online prediction over REST and the MLflow scoring protocol."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from mlharbor.hub import Hub
from mlharbor.workflows.train import TrainRequest

from .conftest import LiveServer

SAMPLES = Path(__file__).parents[2] / "samples"
ROWS = pd.read_csv(SAMPLES / "iris_predict.csv")
FEATURES = ROWS.drop(columns=["variety"])


def train(hub: Hub) -> None:
    hub.datasets.ingest_file(SAMPLES / "iris.csv")
    job = hub.submit_train(
        TrainRequest(dataset="iris", target="variety", name="iris", cv_folds=0, alias="champion")
    )
    assert hub.wait(job.id, run_here=True, timeout=300).state == "succeeded"


@pytest.fixture
def served(live_sqlite: LiveServer) -> LiveServer:
    train(live_sqlite.hub)
    return live_sqlite


def test_predict_in_every_shape_gives_the_same_answer(served: LiveServer) -> None:
    records = FEATURES.to_dict("records")
    shapes = [
        {"json": records},
        {"json": {"records": records}},
        {"json": {"columns": FEATURES.to_dict("list")}},
        {"content": FEATURES.to_csv(index=False), "headers": {"content-type": "text/csv"}},
    ]
    with served.client() as api:
        answers = [api.post("/api/v1/models/iris/champion/predict", **s) for s in shapes]
    for r in answers:
        assert r.status_code == 200, r.text
    first = answers[0].json()
    assert first["model"] == "iris" and first["version"] == 1 and first["request_id"]
    assert first["classes"] == ["Setosa", "Versicolor", "Virginica"]
    assert (pd.Series(first["predictions"]) == ROWS["variety"]).mean() > 0.8
    assert all(r.json()["predictions"] == first["predictions"] for r in answers)


def test_input_is_checked_against_the_signature(served: LiveServer) -> None:
    url = "/api/v1/models/iris/latest/predict"
    with served.client() as api:
        shuffled = ROWS[list(reversed(ROWS.columns))].assign(extra=1).to_dict("records")
        ok = api.post(url, json=shuffled).json()
        assert sorted(ok["ignored_columns"]) == ["extra", "variety"]
        missing = api.post(url, json=FEATURES.drop(columns=["petal.width"]).to_dict("records"))
        assert missing.status_code == 422 and "'petal.width'" in missing.json()["detail"]
        text = api.post(url, json=[{**FEATURES.iloc[0].to_dict(), "sepal.length": "long"}])
        assert text.status_code == 422 and "sepal.length" in text.json()["detail"]
        for body, words in [
            ({"frames": []}, "unknown input shape"),
            ([], "non-empty list"),
            ({"records": [1, 2]}, "object of column values"),
        ]:
            r = api.post(url, json=body)
            assert r.status_code == 422 and words in r.json()["detail"], r.text
        r = api.post(url, content=b"", headers={"content-type": "application/json"})
        assert r.status_code == 422 and "empty" in r.json()["detail"]
        r = api.post("/api/v1/models/iris/v9/predict", json=FEATURES.to_dict("records"))
        assert r.status_code == 404 and "9" in r.json()["detail"]
        r = api.post("/api/v1/models/ghost/latest/predict", json=FEATURES.to_dict("records"))
        assert r.status_code == 404 and "ghost" in r.json()["detail"]


def test_too_many_rows_is_413(served: LiveServer) -> None:
    served.hub.settings.max_predict_rows = 10
    with served.client() as api:
        r = api.post("/api/v1/models/iris/latest/predict", json=FEATURES.to_dict("records"))
    assert r.status_code == 413 and "the limit is 10" in r.json()["detail"]


def test_mlflow_scoring_protocol(served: LiveServer) -> None:
    url = "/api/v1/models/iris/champion/invocations"
    bodies = [
        {"json": {"dataframe_split": FEATURES.to_dict("split")}},
        {"json": {"dataframe_records": FEATURES.to_dict("records")}},
        {"json": {"instances": FEATURES.to_dict("records")}},
        {"json": {"inputs": FEATURES.to_dict("list")}},
        {"content": FEATURES.to_csv(index=False), "headers": {"content-type": "text/csv"}},
    ]
    with served.client() as api:
        answers = [api.post(url, **b) for b in bodies]
        for r in answers:
            assert r.status_code == 200, r.text
            assert list(r.json()) == ["predictions"]
            assert r.json()["predictions"] == answers[0].json()["predictions"]
        bad = api.post(url, json={"dataframe_split": {"columns": ["a"]}})
        assert bad.status_code == 400
        assert bad.json()["error_code"] == "BAD_REQUEST" and "data" in bad.json()["message"]
        gone = api.post("/api/v1/models/ghost/1/invocations", json={"instances": [{"a": 1}]})
        assert gone.status_code == 404 and gone.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


def test_infinity_is_refused_and_unseen_categories_reported(
    live_sqlite: LiveServer, tmp_path: Path
) -> None:
    from tests.serving.mixed import register

    row = register(live_sqlite.hub, tmp_path, "churn", "churn").iloc[0].to_dict()
    url = "/api/v1/models/churn/latest/predict"
    headers = {"content-type": "application/json"}
    with live_sqlite.client() as api:
        for rows in ([{**row, "income": float("inf")}], [{**row, "income": float("-inf")}, row]):
            r = api.post(url, content=json.dumps(rows), headers=headers)
            assert r.status_code == 422 and "'income'" in r.json()["detail"], r.text
            assert "finite" in r.json()["detail"]
        r = api.post(url, content=json.dumps([{**row, "income": float("nan")}]), headers=headers)
        assert r.status_code == 200 and r.json()["predictions"][0] in ("yes", "no")
        r = api.post(url, json=[{**row, "city": "tokyo"}, {**row, "plan": "gold"}])
        assert r.status_code == 200
        assert r.json()["unseen_categories"] == {"city": ["tokyo"], "plan": ["gold"]}
        r = api.post(
            "/api/v1/models/churn/latest/invocations",
            content=json.dumps({"dataframe_records": [{**row, "age": float("inf")}]}),
            headers=headers,
        )
        assert r.status_code == 400 and "'age'" in r.json()["message"]


def test_a_million_rows_is_413_naming_the_limit_before_parsing(served: LiveServer) -> None:
    row = ",".join(str(v) for v in FEATURES.iloc[0])
    csv = ",".join(FEATURES.columns) + "\n" + "\n".join([row] * 1_000_000)
    with served.client() as api:
        r = api.post(
            "/api/v1/models/iris/latest/predict",
            content=csv,
            headers={"content-type": "text/csv"},
        )
        assert r.status_code == 413, r.text
        assert (
            "1,000,000 rows" in r.json()["detail"] and "the limit is 100,000" in r.json()["detail"]
        )
        # 200,000 rows: over the row limit, under the 32 MiB body limit (a million is not).
        records = {"dataframe_records": [FEATURES.iloc[0].to_dict()] * 200_000}
        r = api.post("/api/v1/models/iris/latest/invocations", json=records)
        assert r.status_code == 413 and "100,000" in r.json()["message"]
