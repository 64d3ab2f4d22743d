"""What a fresh interpreter imports: the start-up tests run a probe in a new process."""

from __future__ import annotations

import subprocess
import sys


def top_modules(probe: str, timeout: float = 120) -> set[str]:
    """The top-level packages a fresh interpreter has loaded after running ``probe`` (which
    ends by printing the names in ``sys.modules``)."""
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, done.stderr
    return {m.split(".")[0] for m in done.stdout.split()}
