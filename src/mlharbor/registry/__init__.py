"""The model registry: versions, aliases, lineage and safe model files.

Names resolve on first use, so that importing one light module of the package (the
allow-list's checks, which the settings validate with) does not load the registry's
database layer with it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlharbor.lazy import lazy_exports

_EXPORTS = {
    "ModelRegistry": "mlharbor.registry.service",
    "ModelVersionRecord": "mlharbor.registry.records",
    "RegisteredModelRecord": "mlharbor.registry.records",
    "dump_pipeline": "mlharbor.registry.persist",
    "load_external": "mlharbor.registry.persist",
    "load_trusted": "mlharbor.registry.persist",
    "suggest_model_name": "mlharbor.registry.records",
}

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

if TYPE_CHECKING:
    from mlharbor.registry.persist import dump_pipeline, load_external, load_trusted
    from mlharbor.registry.records import (
        ModelVersionRecord,
        RegisteredModelRecord,
        suggest_model_name,
    )
    from mlharbor.registry.service import ModelRegistry

_lazy = lazy_exports("mlharbor.registry", globals(), _EXPORTS)


def __getattr__(name: str) -> Any:
    # The allow-list needs scikit-learn, LightGBM, NumPy and SciPy imported: on first use.
    if name == "TRUSTED_TYPES":
        from mlharbor.registry.allowlist import all_allowed

        return all_allowed()
    return _lazy(name)
