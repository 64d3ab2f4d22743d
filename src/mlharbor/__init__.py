"""mlharbor: a self-hosted machine-learning hub.

Data in (CSV, Parquet, JSON, Excel, a URL, records); insights, models, a versioned registry,
prediction endpoints and drift monitoring out.
"""

from __future__ import annotations

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

__version__ = "0.1.0"

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
