"""A job handler that reports what its attempt found already imported when it started."""

from __future__ import annotations

import sys
from typing import Any

from mlharbor.jobs import JobContext, register

MODULES_AT_START = "modules_at_start"


@register(MODULES_AT_START)
def modules_at_start(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """``{"missing": [...]}``: which of ``params["modules"]`` the attempt had to import."""
    return {"missing": [name for name in params["modules"] if name not in sys.modules]}
