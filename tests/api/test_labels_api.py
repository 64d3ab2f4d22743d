"""Labels sent for monitoring are checked: a logged request, a row it has, a class the
model knows (a number for regression); one bad label refuses the batch and stores nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from mlharbor.config import Settings
from mlharbor.hub import Hub
from mlharbor.workflows.train import TrainRequest

from .conftest import LiveServer, serve
from .test_predict import train

SAMPLES = Path(__file__).parents[2] / "samples"
IRIS = pd.read_csv(SAMPLES / "iris.csv")
FEATURES = IRIS.drop(columns=["variety"])
SEPAL = IRIS.drop(columns=["sepal.length"])  # the inputs of the regression


@pytest.fixture(scope="module")
def labelled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A live hub with a classifier (``iris``) and a regression (``sepal``).

    Its prediction log writes only once a minute: labels sent right after a prediction
    find it because the labels route writes what is pending first.
    """
    tmp = tmp_path_factory.mktemp("labels")
    with Hub.open(Settings(data_dir=tmp / "data", workers=1, predlog_flush_seconds=60)) as hub:
        train(hub)
        job = hub.submit_train(
            TrainRequest(
                dataset="iris", target="sepal.length", name="sepal", model="ridge", cv_folds=0
            )
        )
        assert hub.wait(job.id, run_here=True, timeout=300).state == "succeeded"
        yield from serve(hub)


@pytest.fixture
def api(labelled: LiveServer) -> Iterator[httpx.Client]:
    with labelled.client() as client:
        yield client


def predict(api: httpx.Client, model: str, rows: pd.DataFrame) -> str:
    r = api.post(f"/api/v1/models/{model}/latest/predict", json=rows.to_dict("records"))
    assert r.status_code == 200, r.text
    return r.json()["request_id"]


def send(api: httpx.Client, model: str, labels: list[dict[str, Any]]) -> httpx.Response:
    return api.post(f"/api/v1/models/{model}/labels", json={"labels": labels})


def n_labelled(api: httpx.Client, model: str) -> int:
    r = api.get(f"/api/v1/models/{model}/latest/performance", params={"since": "1d"})
    assert r.status_code == 200, r.text
    return r.json()["current"]["n_labelled"]


def test_labels_right_after_a_prediction_are_stored(api: httpx.Client) -> None:
    before = n_labelled(api, "iris")
    rid = predict(api, "iris", FEATURES.head(3))
    # The log has not been written yet (it flushes once a minute): the route writes it.
    r = send(api, "iris", [{"request_id": rid, "row": i, "label": "Setosa"} for i in range(3)])
    assert r.status_code == 200, r.text
    assert r.json() == {"model": "iris", "stored": 3}
    assert n_labelled(api, "iris") == before + 3
    # One label for every row of a request is fine too.
    whole = send(
        api, "iris", [{"request_id": predict(api, "iris", FEATURES.head(2)), "label": "Virginica"}]
    )
    assert whole.status_code == 200, whole.text


def test_an_unknown_request_id_is_refused_and_named(api: httpx.Client) -> None:
    before = n_labelled(api, "iris")
    rid = predict(api, "iris", FEATURES.head(1))
    r = send(
        api,
        "iris",
        [{"request_id": rid, "label": "Setosa"}, {"request_id": "made-up-id", "label": "Setosa"}],
    )
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    detail = r.json()["detail"]
    assert "labels[1]: request 'made-up-id' is not logged" in detail
    assert "checked against the prediction log" in detail and "none was stored" in detail
    assert rid not in detail  # the good one is not blamed
    assert n_labelled(api, "iris") == before  # not even the good label was kept


def test_a_request_of_another_model_is_unknown_here(api: httpx.Client) -> None:
    rid = predict(api, "sepal", SEPAL.head(1))
    r = send(api, "iris", [{"request_id": rid, "label": "Setosa"}])
    assert r.status_code == 422 and f"request {rid!r} is not logged" in r.json()["detail"]


def test_a_class_the_model_never_saw_is_refused_with_the_known_ones(api: httpx.Client) -> None:
    before = n_labelled(api, "iris")
    rid = predict(api, "iris", FEATURES.head(2))
    r = send(
        api,
        "iris",
        [
            {"request_id": rid, "row": 0, "label": "Setosa"},
            {"request_id": rid, "row": 1, "label": "Purple"},
        ],
    )
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert "labels[1]: 'Purple' is not a class v1 of the model knows" in detail
    assert "('Setosa', 'Versicolor', 'Virginica')" in detail
    for wrong in ("setosa", 1, True):  # case matters, and numbers are no iris variety
        r = send(api, "iris", [{"request_id": rid, "label": wrong}])
        assert r.status_code == 422 and "is not a class" in r.json()["detail"], wrong
    assert n_labelled(api, "iris") == before


def test_a_row_the_request_does_not_have_is_refused(api: httpx.Client) -> None:
    rid = predict(api, "iris", FEATURES.head(2))
    r = send(api, "iris", [{"request_id": rid, "row": 2, "label": "Setosa"}])
    assert r.status_code == 422
    assert f"request {rid!r} has 2 rows, so no row 2" in r.json()["detail"]


def test_many_bad_labels_name_the_first_few_and_store_nothing(api: httpx.Client) -> None:
    before = n_labelled(api, "iris")
    rid = predict(api, "iris", FEATURES.head(10))
    labels = [{"request_id": rid, "row": i, "label": "Setosa"} for i in range(10)]
    labels += [{"request_id": f"ghost-{i}", "label": "Setosa"} for i in range(7)]
    r = send(api, "iris", labels)
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert detail.startswith("7 of 17 labels of model 'iris' cannot be used, so none was stored")
    assert all(f"'ghost-{i}'" in detail for i in range(5)) and "'ghost-5'" not in detail
    assert "and 2 more" in detail
    assert n_labelled(api, "iris") == before


def test_regression_labels_must_be_numbers(api: httpx.Client) -> None:
    rows = SEPAL.head(3)
    rid = predict(api, "sepal", rows)
    for bad in ("tall", True, "nan"):
        r = send(api, "sepal", [{"request_id": rid, "row": 0, "label": bad}])
        assert r.status_code == 422, bad
        assert f"{bad!r} is not a number" in r.json()["detail"]
        assert "regression" in r.json()["detail"]
    ok = send(
        api,
        "sepal",
        [
            {"request_id": rid, "row": 0, "label": 5.1},
            {"request_id": rid, "row": 1, "label": 4},
            {"request_id": rid, "row": 2, "label": "4.7"},
        ],
    )
    assert ok.status_code == 200, ok.text
    assert n_labelled(api, "sepal") == 3


def test_malformed_bodies_and_unknown_models_still_answer_as_before(api: httpx.Client) -> None:
    r = send(api, "iris", [{"label": "Setosa"}])
    assert r.status_code == 422 and "request_id" in r.json()["detail"]
    r = send(api, "ghost", [{"request_id": "x", "label": "Setosa"}])
    assert r.status_code == 404 and "ghost" in r.json()["detail"]
