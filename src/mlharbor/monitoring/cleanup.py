"""Monitoring's part of deleting model versions: their checks, reference profiles and labels.

The registry announces what it deleted (:meth:`ModelRegistry.on_delete`); the hub
subscribes :func:`forget_deleted` there. Kept light to import: the registry is built on the
prediction path, and the reference module needs polars.
"""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy.orm import Session, sessionmaker

from mlharbor.registry.records import Deletion
from mlharbor.store.artifacts import ArtifactStore
from mlharbor.store.db import transaction
from mlharbor.store.orm import MonitorEvent


def forget_deleted(
    sessions: sessionmaker[Session], artifacts: ArtifactStore, deletion: Deletion
) -> None:
    """Remove what monitoring keeps of deleted versions.

    Their stored checks and reference profiles; for a whole model, every check and its
    ground-truth labels too, so a new model under the same name, numbered from 1 again,
    inherits none of the old one's history.
    """
    from mlharbor.monitoring.logs import labels_prefix
    from mlharbor.monitoring.reference import reference_key

    checks = delete(MonitorEvent).where(MonitorEvent.model == deletion.model)
    if not deletion.whole_model:
        checks = checks.where(MonitorEvent.version.in_(deletion.numbers))
    with transaction(sessions) as session:
        session.execute(checks)
    for version in deletion.versions:
        artifacts.delete(reference_key(version.id))
    if deletion.whole_model:
        artifacts.delete_prefix(labels_prefix(deletion.model))
