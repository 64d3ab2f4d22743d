"""The model registry: versions, aliases, lineage and safe model files."""

from __future__ import annotations

from typing import Any

from mlharbor.registry.persist import (
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


def __getattr__(name: str) -> Any:
    # The allow-list needs scikit-learn, LightGBM, NumPy and SciPy imported: on first use.
    if name == "TRUSTED_TYPES":
        from mlharbor.registry.allowlist import all_allowed

        return all_allowed()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
