"""The layers of DESIGN.md hold: importing the facade loads no workflow, a workflow loads
no hub, the core packages import nothing above them, and the job system knows no job kind
by name."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mlharbor.hub import JOB_KINDS
from mlharbor.jobs.handlers import DEFAULT_HANDLERS, load_handler, registered_kinds

ROOT = Path(__file__).parents[1]
CORE = ["data", "prep", "models", "registry", "jobs", "serving", "monitoring", "store"]
ABOVE = ("mlharbor.hub", "mlharbor.workflows", "mlharbor.api", "mlharbor.ui", "mlharbor.cli")


def _loaded_after(code: str) -> list[str]:
    """The module names loaded by a fresh interpreter after running ``code``."""
    done = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys\nprint('\\n'.join(sys.modules))"],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return done.stdout.split()


def test_importing_the_hub_loads_no_workflow() -> None:
    assert [m for m in _loaded_after("import mlharbor.hub") if "workflows" in m] == []


@pytest.mark.parametrize("workflow", ["train", "automl", "score", "services"])
def test_a_workflow_never_imports_the_hub_or_an_adapter(workflow: str) -> None:
    loaded = _loaded_after(f"import mlharbor.workflows.{workflow}")
    assert [m for m in loaded if m.startswith(ABOVE) and not m.startswith("mlharbor.work")] == []


@pytest.mark.parametrize("package", CORE)
def test_a_core_package_imports_nothing_above_it(package: str) -> None:
    code = (
        "import importlib, pkgutil\n"
        f"import mlharbor.{package} as p\n"
        f"for m in pkgutil.walk_packages(p.__path__, 'mlharbor.{package}.'):\n"
        "    importlib.import_module(m.name)"
    )
    loaded = _loaded_after(code)
    assert [m for m in loaded if m.startswith(ABOVE) or m.split(".")[0] == "fastapi"] == []


def test_the_job_system_names_only_its_own_diagnostic_kinds() -> None:
    assert all(path.startswith("mlharbor.jobs.") for path in DEFAULT_HANDLERS.values())


def test_the_hub_registers_every_workflow_kind_with_an_importable_handler() -> None:
    kinds = registered_kinds()
    for kind, path in JOB_KINDS.items():
        assert kinds[kind] == path
        assert callable(load_handler(path))


def test_the_import_contracts_of_pyproject_hold() -> None:
    # The same check as `make lint`; here too, so a broken layer fails the test run visibly.
    lint_imports = Path(sys.executable).with_name("lint-imports")
    assert lint_imports.exists(), "import-linter is missing: pip install -e '.[test]'"
    done = subprocess.run(
        [str(lint_imports), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout
