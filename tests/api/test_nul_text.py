"""Text holding a NUL character (which PostgreSQL's text columns cannot store) is a 422 that
says so, at every door, on both databases; never a 500."""

from __future__ import annotations

from typing import Any

import pytest

from mlharbor.errors import InvalidInputError
from mlharbor.workflows.requests import ScoreRequest, TrainRequest

from .conftest import LiveServer
from .test_predict import train

NUL = "\x00u\x92"
CASES: list[tuple[str, str, Any]] = [
    ("POST", "/api/v1/models/iris/1/score", {"dataset": NUL}),
    ("POST", "/api/v1/models/iris/champion/score", {"dataset": "iris", "output": NUL}),
    ("POST", "/api/v1/jobs", {"kind": "train", "params": {"dataset": NUL, "target": "x"}}),
    ("POST", "/api/v1/jobs", {"kind": "train", "params": {"dataset": "iris", "target": NUL}}),
    ("GET", "/api/v1/datasets/a%00b", None),
    ("GET", "/api/v1/datasets/a%00b/schema", None),
    ("GET", "/api/v1/models/a%00b", None),
    ("GET", "/api/v1/models/iris/versions/a%00b", None),
    ("PUT", "/api/v1/models/iris/aliases/a%00b", {"version": 1}),
    ("POST", "/api/v1/models/iris/a%00b/predict", [{"sepal.length": 1}]),
    ("POST", "/api/v1/datasets/from-records", {"name": NUL, "records": [{"a": 1}]}),
]


def test_text_with_a_nul_character_is_refused_by_name(live: LiveServer) -> None:
    train(live.hub)  # a model and a dataset that exist, so that lookups reach the database
    with live.client() as api:
        for method, path, body in CASES:
            r = api.request(method, path, json=body)
            assert 400 <= r.status_code < 500, (method, path, r.status_code, r.text)
            if r.status_code == 422:
                assert "NUL" in r.json()["detail"], (path, r.text)


def test_a_nul_in_a_websocket_or_cli_request_is_named() -> None:
    with pytest.raises(InvalidInputError, match=r"params\.max_depth: text cannot hold a NUL"):
        TrainRequest.parse(
            {"dataset": "iris", "target": "variety", "params": {"max_depth": "3\x00"}}
        )
    with pytest.raises(InvalidInputError, match="invalid dataset name 'a b'"):
        ScoreRequest.parse({"model": "m", "dataset": "d", "output": "a b"})
