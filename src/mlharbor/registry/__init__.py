"""The model registry: versions, aliases, lineage and safe model files."""

from __future__ import annotations

from mlharbor.registry.persist import (
    TRUSTED_TYPES,
    dump_pipeline,
    load_external,
    load_trusted,
)
from mlharbor.registry.records import (
    ModelVersionRecord,
    RegisteredModelRecord,
    suggest_model_name,
)
from mlharbor.registry.service import ModelRegistry

__all__ = [
    "TRUSTED_TYPES",
    "ModelRegistry",
    "ModelVersionRecord",
    "RegisteredModelRecord",
    "dump_pipeline",
    "load_external",
    "load_trusted",
    "suggest_model_name",
]
