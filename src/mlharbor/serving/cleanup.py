"""Serving's part of deleting model versions: their prediction log.

The registry announces what it deleted (:meth:`ModelRegistry.on_delete`); the hub
subscribes :func:`forget_deleted` there. Kept light to import: the registry is built by
commands that never predict.
"""

from __future__ import annotations

from mlharbor.registry.records import Deletion
from mlharbor.store.artifacts import ArtifactStore


def forget_deleted(artifacts: ArtifactStore, deletion: Deletion) -> None:
    """Remove the prediction log of deleted versions (of the whole model, if it went)."""
    from mlharbor.serving.predlog import PREFIX, partition

    if deletion.whole_model:
        artifacts.delete_prefix(f"{PREFIX}/{deletion.model}")
        return
    for version in deletion.versions:
        artifacts.delete_prefix(partition(deletion.model, version.version))
