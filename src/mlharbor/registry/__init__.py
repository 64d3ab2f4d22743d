"""The model registry: versions, aliases, lineage and safe model files."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlharbor.lazy import lazy_exports

if TYPE_CHECKING:
    from mlharbor.registry.persist import dump_pipeline, load_external, load_trusted
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

# Resolved on first use: the settings check trusted type names with ``registry.allowlist``
# (standard library only), and importing it must not load the registry's service, its
# SQLAlchemy queries and the model file formats (about 0.2 s) into every command.
_EXPORTS = {
    "dump_pipeline": "mlharbor.registry.persist",
    "load_external": "mlharbor.registry.persist",
    "load_trusted": "mlharbor.registry.persist",
    "ModelVersionRecord": "mlharbor.registry.records",
    "RegisteredModelRecord": "mlharbor.registry.records",
    "suggest_model_name": "mlharbor.registry.records",
    "ModelRegistry": "mlharbor.registry.service",
}
_lazy = lazy_exports("mlharbor.registry", globals(), _EXPORTS)


def __getattr__(name: str) -> Any:
    # The allow-list needs scikit-learn, LightGBM, NumPy and SciPy imported: on first use.
    if name == "TRUSTED_TYPES":
        from mlharbor.registry.allowlist import all_allowed

        return all_allowed()
    return _lazy(name)
