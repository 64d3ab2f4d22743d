"""The ``mlharbor`` command line (Typer + Rich).

Each module adds its commands to the one Typer ``app``; importing them here registers them.
"""

from __future__ import annotations

import sys

from mlharbor.cli.early import run_as_module, start_if_training

# First, before the commands' imports (see cli.early).
run_as_module(sys.argv)
start_if_training(sys.argv)

from mlharbor.cli import (  # noqa: E402, F401  (they register commands)
    automl,
    data,
    monitoring,
    pipelines,
    serving,
    training,
)
from mlharbor.cli.common import app  # noqa: E402

__all__ = ["app"]
