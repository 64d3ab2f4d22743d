"""Fixtures: trained models (one per task) and a registry on a fresh database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from threadpoolctl import threadpool_limits

from mlharbor.models.train import TrainResult, train_model
from mlharbor.registry import ModelRegistry
from mlharbor.store.artifacts import ArtifactStore
from mlharbor.store.db import make_engine, make_session_factory, upgrade
from tests.training_data import FRAMES, TARGETS, with_schema

MODELS = {
    "binary": ("logistic-regression", None),
    "multiclass": ("random-forest", {"n_estimators": 10}),
    "regression": ("ridge", None),
    "text": ("naive-bayes", None),
}


@pytest.fixture(autouse=True, scope="session")
def _single_threaded() -> Iterator[None]:
    # OpenMP/BLAS threads fighting over two shared cores make small fits 10-50x slower.
    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="session")
def trained() -> dict[str, TrainResult]:
    """One trained model with its artifacts per task, trained once per session."""
    results = {}
    for task, (model, params) in MODELS.items():
        df, schema = with_schema(FRAMES[task]())
        results[task] = train_model(
            df, schema, target=TARGETS[task], model=model, params=params, cv_folds=3
        )
    return results


@pytest.fixture
def registry(database_url: str, tmp_path: Path) -> Iterator[ModelRegistry]:
    engine = make_engine(database_url)
    upgrade(engine)
    yield ModelRegistry(make_session_factory(engine), ArtifactStore(str(tmp_path / "artifacts")))
    engine.dispose()
