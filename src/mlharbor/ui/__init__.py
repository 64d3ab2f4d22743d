"""The web UI: pages served by the API's own app, over the same hub, keys and policy.

Pages read through the hub with the API's own schemas; every change (upload, train,
promote, predict, keys) is a call from the browser to the REST API. ``install`` adds the
pages, the static files (htmx vendored, plotly.js from the installed ``plotly``) and an
error handler that shows browsers a page instead of problem+json.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["install"]


def install(app: FastAPI) -> None:
    """Serve the UI from ``app``."""
    from mlharbor.ui.app import install as _install

    _install(app)
