"""The ``mlharbor`` command line (Typer + Rich).

Each module adds its commands to the one Typer ``app``; importing them here registers them.
"""

from __future__ import annotations

from mlharbor.cli import (  # noqa: F401  (they register commands)
    automl,
    data,
    monitoring,
    pipelines,
    serving,
    training,
)
from mlharbor.cli.common import app

__all__ = ["app"]
