"""A virtual environment with MLflow (never a dependency of mlharbor), made once and cached.

It holds the full ``mlflow``: its scoring server (``mlflow models serve``) for the export
tests and its tracking server (SQL store, artifact proxy) for the tracking tests. One
environment, not one per use: building it is the longest step of a fresh CI run. It has the
same scikit-learn, LightGBM, pandas and NumPy as mlharbor, so an exported pickle loads there.
"""

from __future__ import annotations

import fcntl
import subprocess
import sys
import venv
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).parents[2] / "test-artifacts" / "venvs" / "mlflow-full"
MLFLOW = "mlflow==3.17.2"
SAME_AS_OURS = ("scikit-learn", "lightgbm", "pandas", "numpy")


def mlflow_venv(root: Path = ROOT, package: str = MLFLOW) -> Path:
    """The ``mlflow`` executable of the cached environment, installing it on first use.

    Raises
    ------
    RuntimeError
        pip failed (its last lines attached), e.g. when the package index is unreachable.
    """
    root.parent.mkdir(parents=True, exist_ok=True)
    # The two test processes may both need it first: one builds it, the other waits.
    with open(root.parent / f".{root.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _built(root, package)


def _built(root: Path, package: str) -> Path:
    exe = root / "bin" / "mlflow"
    ready = root / ".ready"
    if ready.exists() and exe.exists():
        return exe
    venv.EnvBuilder(with_pip=True, clear=True).create(root)
    pins = [f"{d}=={metadata.version(d)}" for d in SAME_AS_OURS]
    done = subprocess.run(
        [str(root / "bin" / "python"), "-m", "pip", "install", "-q", package, *pins],
        capture_output=True,
        text=True,
        timeout=900,
    )
    if done.returncode != 0:
        raise RuntimeError("pip could not install MLflow: " + done.stderr[-800:])
    ready.write_text(sys.version)
    return exe


def mlflow_or_skip() -> Path:
    """The ``mlflow`` executable; the test is skipped when the package index is unreachable."""
    import pytest

    try:
        return mlflow_venv()
    except RuntimeError as exc:
        if "Could not find a version" in str(exc) or "connection" in str(exc).lower():
            pytest.skip(f"the package index is unreachable, so MLflow cannot be installed: {exc}")
        raise
