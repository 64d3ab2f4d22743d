"""The live-server fixtures of the API tests, for the serving tests."""

from __future__ import annotations

from ..api.conftest import live_sqlite, live_worker  # noqa: F401
