"""The Python client against a real server: same nouns, same exceptions."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from mlharbor import Client, InvalidInputError, NotFoundError, UnsupportedFormatError

from ..data.factories import TITANIC_LIKE, write
from .conftest import LiveServer


def test_client_round_trip(live: LiveServer, tmp_path: Path) -> None:
    path = write(tmp_path, "titanic.csv", TITANIC_LIKE)
    with Client(live.url) as client:
        v = client.datasets.upload(path)
        assert v["dataset"] == "titanic" and v["created"] is True
        assert client.datasets.upload(path)["created"] is False
        assert client.datasets.list()["count"] == 1
        assert client.datasets.version("titanic")["n_rows"] == 120
        assert len(client.datasets.preview("titanic", rows=3)["rows"]) == 3
        saved = client.datasets.download("titanic", tmp_path / "t.parquet")
        assert pq.read_table(saved).num_rows == 120
        client.datasets.delete("titanic")
        with pytest.raises(NotFoundError, match="'titanic' does not exist"):
            client.datasets.get("titanic")


def test_client_raises_the_library_exceptions(live: LiveServer, tmp_path: Path) -> None:
    with Client(live.url) as client:
        with pytest.raises(InvalidInputError, match="no data rows"):
            client.datasets.upload(write(tmp_path, "h.csv", "a,b\n"))
        with pytest.raises(UnsupportedFormatError, match="PNG"):
            client.datasets.upload(write(tmp_path, "p.csv", b"\x89PNG\r\n\x1a\n" + bytes(9)))
        with pytest.raises(InvalidInputError, match="only http and https"):
            client.datasets.from_url("file:///etc/passwd")
        with pytest.raises(NotFoundError):
            client.datasets.download("ghost", tmp_path / "g.parquet")


def test_client_trains_and_reads_the_registry(live_worker: LiveServer) -> None:
    samples = Path(__file__).parents[2] / "samples"
    with Client(live_worker.url) as client:
        client.datasets.upload(samples / "iris.csv")
        job = client.train("iris", "variety", model="logistic-regression", cv_folds=2)
        assert job["state"] == "succeeded", job
        version = client.models.version("iris-variety")
        assert version["estimator"] == "LogisticRegression"
        assert client.models.artifact("iris-variety", 1, "roc_curve")[:4] == b"\x89PNG"
        client.models.set_alias("iris-variety", "champion", 1)
        assert client.models.get("iris-variety")["aliases"]["champion"] == 1
        with pytest.raises(InvalidInputError, match="unknown model"):
            client.train("iris", "variety", model="telepathy")
