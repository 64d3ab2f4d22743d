"""What a fresh interpreter imports: the start-up tests run a probe in a new process."""

from __future__ import annotations

import subprocess
import sys


def run_probe(*args: str, timeout: float = 120) -> str:
    """What a fresh interpreter prints when run with ``args`` (``-c`` and a probe, a script,
    ``-m`` and a module); it must succeed."""
    done = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr
    return done.stdout


def top_modules(probe: str, timeout: float = 120) -> set[str]:
    """The top-level packages a fresh interpreter has loaded after running ``probe`` (which
    ends by printing the names in ``sys.modules``)."""
    return {m.split(".")[0] for m in run_probe("-c", probe, timeout=timeout).split()}
