"""The facade: the one entry point that the API, WebSocket, UI, CLI and client call.

Example
-------
>>> from mlharbor import Hub, Settings
>>> with Hub.open(Settings(data_dir="mlharbor-data")) as hub:        # doctest: +SKIP
...     version = hub.datasets.ingest_file(Path("titanic.csv")).version
"""

from __future__ import annotations

from types import TracebackType

from mlharbor.config import Settings, get_settings
from mlharbor.data.datasets import DatasetService
from mlharbor.keys import KeyService
from mlharbor.store.artifacts import ArtifactStore
from mlharbor.store.db import make_engine, make_session_factory, upgrade


class Hub:
    """Everything mlharbor can do, over one metadata database and one artifact store."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.engine = make_engine(settings.resolved_database_url())
        self.sessions = make_session_factory(self.engine)
        self.artifacts = ArtifactStore(settings.resolved_artifact_uri())
        self.datasets = DatasetService(settings, self.sessions, self.artifacts)
        self.keys = KeyService(self.sessions)

    @classmethod
    def open(cls, settings: Settings | None = None, *, migrate: bool = True) -> Hub:
        """Open the hub described by ``settings``, applying database migrations first."""
        hub = cls(settings or get_settings())
        if migrate:
            upgrade(hub.engine)
        return hub

    def close(self) -> None:
        """Release database connections."""
        self.engine.dispose()

    def __enter__(self) -> Hub:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
