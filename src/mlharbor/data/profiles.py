"""Insights of dataset versions, computed once per version and target and then cached.

The result is stored as a JSON artifact and indexed in the ``insights`` table; a schema
override drops the cache of its version (see :meth:`DatasetService.override_schema`).
"""

from __future__ import annotations

import hashlib
import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from mlharbor.data.datasets import DatasetService
from mlharbor.data.insights import FORMAT_VERSION
from mlharbor.errors import NotFoundError
from mlharbor.store.artifacts import ArtifactStore
from mlharbor.store.db import transaction
from mlharbor.store.orm import InsightsRecord


class InsightsService:
    """Compute, cache and render insights."""

    def __init__(
        self, sessions: sessionmaker[Session], artifacts: ArtifactStore, datasets: DatasetService
    ) -> None:
        self.sessions = sessions
        self.artifacts = artifacts
        self.datasets = datasets

    def get(
        self, ref: str | int, *, version: int | None = None, target: str | None = None
    ) -> dict[str, Any]:
        """The insights of a dataset version, with ``target`` in view when given.

        Raises
        ------
        NotFoundError
            No such dataset, version or target column.
        InvalidInputError
            Data the engine cannot profile (the message says why).
        """
        dv = self.datasets.get_version(ref, version)
        target = target or None
        if target is not None and target not in dv.schema.names:
            raise NotFoundError(
                f"target column {target!r} is not in dataset {dv.dataset!r}; its columns are: "
                f"{', '.join(dv.schema.names)}",
                column=target,
            )
        cached = self._cached(dv.id, target or "")
        if cached is not None:
            return cached
        started = time.perf_counter()
        # The file is read (Arrow, without the GIL) while the engine is imported: in a fresh
        # process (a command) importing polars and the engine takes as long as the reading.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="read") as pool:
            reading = pool.submit(self.datasets.read_table, dv)
            from mlharbor.data.insights import compute_insights  # polars: only to compute

            table = reading.result()
        insights = compute_insights(table, dv.schema, target)
        insights["dataset"] = {
            "name": dv.dataset,
            "version": dv.version,
            "content_hash": dv.content_hash,
        }
        self._store(dv.id, target or "", insights, time.perf_counter() - started)
        return insights

    def html(self, ref: str | int, *, version: int | None = None, target: str | None = None) -> str:
        """The insights as a self-contained HTML report."""
        from mlharbor.data.insights import render_insights_html

        return render_insights_html(self.get(ref, version=version, target=target))

    def _key(self, version_id: int, target: str) -> str:
        digest = hashlib.sha256(target.encode()).hexdigest()[:16]
        return f"insights/{version_id}/{digest}-v{FORMAT_VERSION}.json"

    def _cached(self, version_id: int, target: str) -> dict[str, Any] | None:
        with self.sessions() as session:
            record = session.scalar(
                select(InsightsRecord).where(
                    InsightsRecord.dataset_version_id == version_id, InsightsRecord.target == target
                )
            )
        if record is None or record.artifact_key != self._key(version_id, target):
            return None  # missing, or computed by an older engine
        try:
            cached: dict[str, Any] = json.loads(self.artifacts.get_bytes(record.artifact_key))
            return cached
        except NotFoundError:
            return None

    def _store(
        self, version_id: int, target: str, insights: dict[str, Any], seconds: float
    ) -> None:
        key = self._key(version_id, target)
        self.artifacts.put_bytes(key, json.dumps(insights, allow_nan=False).encode())
        try:
            with transaction(self.sessions) as session:
                old = session.scalar(
                    select(InsightsRecord).where(
                        InsightsRecord.dataset_version_id == version_id,
                        InsightsRecord.target == target,
                    )
                )
                if old is None:
                    session.add(
                        InsightsRecord(
                            dataset_version_id=version_id,
                            target=target,
                            artifact_key=key,
                            seconds=seconds,
                        )
                    )
                else:
                    old.artifact_key, old.seconds = key, seconds
        except IntegrityError:
            pass  # another request cached the same insights at the same moment
