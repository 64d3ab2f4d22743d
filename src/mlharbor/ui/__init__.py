"""The web UI: pages served by the API's own app, over the same hub, keys and policy.

Pages read through the hub with the API's own schemas; every change (upload, train,
promote, predict, keys) is a call from the browser to the REST API. ``install`` adds the
pages, the static files (htmx vendored, plotly.js from the installed ``plotly``) and an
error handler that shows browsers a page instead of problem+json.

Adding a page: a route in one of the ``pages_*.py`` routers (or a new one included in
``ui/app.py``) that reads through the hub and renders a template extending ``base.html``
with ``page(request, "x.html", section="x", ...)``; a nav entry in ``web.NAV`` once the page
does something; its path prefix in ``app.PAGE_PREFIXES`` so errors there render as pages;
behaviour in ``static/*.js`` calling the REST API with ``api()`` from ``app.js``. Pages need
the scope they declare (``dependencies=NEEDS_READ``, from ``api/auth.py``), like every route.
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
