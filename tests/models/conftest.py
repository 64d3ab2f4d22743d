"""Fixtures: one small dataset per task, as (DataFrame, schema)."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from mlharbor.data.schema import DatasetSchema
from tests.training_data import FRAMES, TARGETS, with_schema


@pytest.fixture(autouse=True, scope="session")
def _single_threaded() -> Iterator[None]:
    # OpenMP/BLAS threads fighting over two shared cores make small fits 10-50x slower.
    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="session")
def binary_data() -> tuple[pd.DataFrame, DatasetSchema]:
    return with_schema(FRAMES["binary"]())


@pytest.fixture(scope="session")
def multiclass_data() -> tuple[pd.DataFrame, DatasetSchema]:
    return with_schema(FRAMES["multiclass"]())


@pytest.fixture(scope="session")
def regression_data() -> tuple[pd.DataFrame, DatasetSchema]:
    return with_schema(FRAMES["regression"]())


@pytest.fixture(scope="session")
def text_data() -> tuple[pd.DataFrame, DatasetSchema]:
    return with_schema(FRAMES["text"]())


@pytest.fixture
def task_data(request: pytest.FixtureRequest):
    """``(df, schema, target)`` for the task named by ``request.param``."""
    task = request.param
    df, schema = request.getfixturevalue(f"{task}_data")
    return df, schema, TARGETS[task]
