"""mlharbor: a self-hosted machine-learning hub.

Data in (CSV, Parquet, JSON, Excel, a URL, records); insights, models, a versioned registry,
prediction endpoints and drift monitoring out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlharbor.lazy import lazy_exports

__version__ = "0.1.0"

# Public names resolve on first use: `import mlharbor` (and every submodule import, which runs
# this file first) must not pay for scikit-learn, pandas and the web stack up front.
_EXPORTS = {
    "Client": "mlharbor.client",
    "Hub": "mlharbor.hub",
    "Settings": "mlharbor.config",
    "get_settings": "mlharbor.config",
    "ConflictError": "mlharbor.errors",
    "HarborError": "mlharbor.errors",
    "InvalidInputError": "mlharbor.errors",
    "NotFoundError": "mlharbor.errors",
    "PayloadTooLargeError": "mlharbor.errors",
    "UnsupportedFormatError": "mlharbor.errors",
}

__all__ = [
    "Client",
    "ConflictError",
    "HarborError",
    "Hub",
    "InvalidInputError",
    "NotFoundError",
    "PayloadTooLargeError",
    "Settings",
    "UnsupportedFormatError",
    "__version__",
    "get_settings",
]

if TYPE_CHECKING:
    from mlharbor.client import Client
    from mlharbor.config import Settings, get_settings
    from mlharbor.errors import (
        ConflictError,
        HarborError,
        InvalidInputError,
        NotFoundError,
        PayloadTooLargeError,
        UnsupportedFormatError,
    )
    from mlharbor.hub import Hub


__getattr__ = lazy_exports("mlharbor", globals(), _EXPORTS)
