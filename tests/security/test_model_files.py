"""Model files are data, never code: uploads to a live server that would run a command are
refused, on upload and on every later load; only the operator widens what a file may hold."""

from __future__ import annotations

import io
import os
import pydoc
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from mlharbor.config import Settings
from mlharbor.hub import Hub
from mlharbor.registry.persist import content_hash
from mlharbor.store.orm import ModelVersion
from tests.api.conftest import LiveServer, serve

FRAME = pd.DataFrame(np.random.default_rng(0).normal(size=(40, 3)), columns=["a", "b", "c"])
LABELS = np.arange(40) % 2
ROWS = {"records": FRAME.head(2).to_dict(orient="records")}


class Doubler(TransformerMixin, BaseEstimator):
    """An operator's own transformer."""

    def fit(self, X, y=None):
        self.n_features_in_ = np.asarray(X).shape[1]
        return self

    def transform(self, X):
        return np.asarray(X) * 2


def _good() -> bytes:
    return sio.dumps(make_pipeline(LogisticRegression()).fit(FRAME, LABELS))


def _pipepager(marker: Path) -> bytes:
    evil = FunctionTransformer(pydoc.pipepager, kw_args={"cmd": f"touch {marker}"})
    return sio.dumps(make_pipeline(evil, LogisticRegression().fit(FRAME, LABELS)))


def _upload(api, name: str, data: bytes, **form: object):  # type: ignore[no-untyped-def]
    files = {"file": ("m.skops", io.BytesIO(data))}
    return api.post(f"/api/v1/models/{name}/versions", files=files, data=form or None)


@pytest.fixture
def server(sqlite_hub: Hub) -> Iterator[LiveServer]:
    """A live server over the embedded defaults."""
    yield from serve(sqlite_hub)


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[LiveServer]:
    settings = Settings(data_dir=tmp_path / "secured", auth_enabled=True, workers=0)
    with Hub.open(settings) as hub:
        yield from serve(hub)


def test_the_pipepager_attack_is_refused_and_runs_nothing(
    server: LiveServer, tmp_path: Path
) -> None:
    marker = tmp_path / "marker"
    with server.client() as api:
        for form in ({}, {"allow": "pydoc.pipepager"}):
            r = _upload(api, "evil", _pipepager(marker), **form)
            assert r.status_code == 422, r.text
            assert r.headers["content-type"].startswith("application/problem+json")
        assert "pydoc.pipepager" in _upload(api, "evil", _pipepager(marker)).json()["detail"]
        assert api.get("/api/v1/models").json()["count"] == 0
        assert api.post("/api/v1/models/evil/latest/predict", json=ROWS).status_code == 404
    assert not marker.exists()


def test_allow_is_refused_naming_the_server_setting(server: LiveServer) -> None:
    with server.client() as api:
        r = _upload(api, "fine", _good(), allow="sklearn.linear_model.LogisticRegression")
        assert r.status_code == 422
        assert "MLHARBOR_TRUSTED_MODEL_TYPES" in r.json()["detail"]
        assert api.get("/api/v1/models").json()["count"] == 0
        assert _upload(api, "fine", _good()).status_code == 201


def test_a_store_file_swapped_for_the_attack_is_refused_at_prediction(
    server: LiveServer, tmp_path: Path
) -> None:
    marker = tmp_path / "marker"
    hub = server.hub
    with server.client() as api:
        version = _upload(api, "churn", _good()).json()
        # Someone with write access to the store and the database swaps the file.
        evil = _pipepager(marker)
        with hub.models.session_factory.begin() as session:
            row = session.get_one(ModelVersion, version["id"])
            row.content_hash = content_hash(evil)
            key = row.artifact_key
        hub.artifacts.local_path(key).write_bytes(evil)
        r = api.post("/api/v1/models/churn/1/predict", json=ROWS)
        assert r.status_code == 409, r.text
        assert "pydoc.pipepager" in r.json()["detail"]
    assert not marker.exists()


def test_the_operator_setting_widens_the_list_for_their_own_type(tmp_path: Path) -> None:
    custom = sio.dumps(make_pipeline(Doubler(), LogisticRegression()).fit(FRAME, LABELS))
    name = f"{Doubler.__module__}.Doubler"
    plain = Settings(data_dir=tmp_path / "plain", workers=0)
    with Hub.open(plain) as hub:
        for live in serve(hub):
            with live.client() as api:
                r = _upload(api, "doubled", custom)
                assert r.status_code == 422 and name in r.json()["detail"]
    widened = Settings(data_dir=tmp_path / "wide", workers=0, trusted_model_types=[name])
    with Hub.open(widened) as hub:
        for live in serve(hub):
            with live.client() as api:
                assert _upload(api, "doubled", custom).status_code == 201
                r = api.post("/api/v1/models/doubled/1/predict", json=ROWS)
                assert r.status_code == 200, r.text
                # Still nothing from the standard library, whatever else is trusted.
                evil = sio.dumps(make_pipeline(FunctionTransformer(os.system), Doubler()))
                assert _upload(api, "evil", evil).status_code == 422


def test_uploading_a_model_file_needs_admin_when_auth_is_on(secured: LiveServer) -> None:
    keys = secured.hub.keys
    tokens = {scope: keys.create(scope, [scope])[1] for scope in ("train", "admin")}
    with secured.client() as api:
        assert _upload(api, "m", _good()).status_code == 401
        api.headers["X-API-Key"] = tokens["train"]
        r = _upload(api, "m", _good())
        assert r.status_code == 403 and "admin" in r.json()["detail"]
        assert api.get("/api/v1/models").json()["count"] == 0
        api.headers["X-API-Key"] = tokens["admin"]
        assert _upload(api, "m", _good()).status_code == 201
