"""The ``mlharbor`` command line (Typer + Rich).

Each module adds its commands to the one Typer ``app``; importing them here registers them.
"""

from __future__ import annotations

from mlharbor.cli import automl, data, monitoring, serving, training  # noqa: F401  (they register commands)
from mlharbor.cli.common import app

__all__ = ["app"]
