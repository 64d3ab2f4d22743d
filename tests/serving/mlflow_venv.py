"""Virtual environments with MLflow (never a dependency of mlharbor), made once and cached.

The serving one holds ``mlflow-skinny`` (whose scoring server is FastAPI + uvicorn); the
tracking one the full ``mlflow`` (its tracking server, with the SQL store and the artifact
proxy). Both have the same scikit-learn, LightGBM, pandas and NumPy as mlharbor, so an
exported pickle loads there.
"""

from __future__ import annotations

import subprocess
import sys
import venv
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).parents[2] / "test-artifacts" / "venvs" / "mlflow"
MLFLOW = "mlflow-skinny==3.17.2"
SERVER_ROOT = ROOT.parent / "mlflow-server"
MLFLOW_SERVER = "mlflow==3.17.2"
SAME_AS_OURS = ("scikit-learn", "lightgbm", "pandas", "numpy")


def mlflow_venv(root: Path = ROOT, package: str = MLFLOW) -> Path:
    """The ``mlflow`` executable of the cached environment, installing it on first use.

    Raises
    ------
    RuntimeError
        pip failed (its last lines attached), e.g. when the package index is unreachable.
    """
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


def mlflow_server_venv() -> Path:
    """The ``mlflow`` executable of the cached environment that runs ``mlflow server``."""
    return mlflow_venv(SERVER_ROOT, MLFLOW_SERVER)
