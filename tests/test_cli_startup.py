"""Commands start like commands: each imports only what it uses.

Every case runs the command in a fresh Python process, as a user's shell does, and asserts on
the names of the modules that process imported, never on timings (the machine's load would
make those flaky). Each heavy package costs from 0.1 s to over a second of start-up.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlharbor.config import Settings
from mlharbor.hub import Hub

from .data.factories import TITANIC_LIKE, write
from .probes import run_probe, top_modules

#: Neither ``--help`` nor importing the CLI may load any of these.
HEAVY = {
    "sklearn",
    "pandas",
    "pyarrow",
    "fastapi",
    "uvicorn",
    "sqlalchemy",
    "matplotlib",
    "lightgbm",
    "skops",
    "polars",
    "scipy",
    "numpy",
    "alembic",
    "httpx",
    "pydantic_settings",
    "rich",
}
#: What a report on local datasets must not load: the web stack, the training stack, Alembic.
NOT_FOR_LOCAL_REPORTS = {
    "sklearn",
    "fastapi",
    "uvicorn",
    "starlette",
    "matplotlib",
    "lightgbm",
    "skops",
    "optuna",
    "onnxruntime",
    "dask",
    "alembic",
    "httpx",
}

PROBE = """
import json, sys
from mlharbor.cli import app
try:
    app(sys.argv[2:], prog_name="mlharbor")
except SystemExit as exc:
    code = exc.code
else:
    code = 0
with open(sys.argv[1], "w") as f:
    json.dump({"code": code, "modules": sorted({m.split(".")[0] for m in sys.modules})}, f)
"""


def run_cli(tmp_path: Path, *args: str, code: int = 0) -> tuple[set[str], str]:
    """Run ``mlharbor ARGS`` in a new process: the top-level packages it imported, its output."""
    record = tmp_path / "modules.json"
    env = {**os.environ, "MLHARBOR_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "200"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(record), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    result = json.loads(record.read_text())
    assert (result["code"] or 0) == code, done.stdout + done.stderr
    return set(result["modules"]), done.stdout if code == 0 else done.stderr


def test_importing_the_cli_loads_none_of_the_heavy_packages(tmp_path: Path) -> None:
    probe = "import sys\nfrom mlharbor.cli import app\nprint(' '.join(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    modules = {m.split(".")[0] for m in done.stdout.split()}
    assert modules & HEAVY == set()
    assert "mlharbor.hub" not in done.stdout.split()


def test_settings_and_the_hub_load_no_registry_or_job_machinery(tmp_path: Path) -> None:
    # Every command makes the settings and imports the hub: the settings check trusted type
    # names with the registry's allow-list, and the hub registers job kinds.
    with Hub.open(Settings(data_dir=tmp_path / "data")):
        pass  # migrated: the probe opens a database at head, as every command after the first
    probe = (
        "import sys\n"
        "from mlharbor.config import Settings\n"
        "from mlharbor.hub import Hub\n"
        f"Hub.open(Settings(data_dir={str(tmp_path / 'data')!r})).close()\n"
        "import mlharbor.data.datasets\n"
        "compute = sys.modules.get('pyarrow.compute')\n"
        "print(type(compute).__name__, ' '.join(sorted(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    kind, *names = done.stdout.split()
    modules = set(names)
    unwanted = {
        "mlharbor.registry.service",
        "mlharbor.jobs.pool",
        "mlharbor.jobs.worker",
        "mlharbor.data.convert",
        "pyarrow.csv",
    }
    assert modules & unwanted == set()
    assert kind in ("NoneType", "_LazyModule")  # pyarrow.compute: executed on first use only


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["--help"], 0),
        (["drift", "--help"], 0),
        (["serve", "--help"], 0),
        (["train", "--help"], 0),
        (["models"], 2),  # a group without a command: its help, as a usage error
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else str(v),
)
def test_help_loads_none_of_the_heavy_packages(tmp_path: Path, args: list[str], code: int) -> None:
    modules, output = run_cli(tmp_path, *args, code=code)
    assert "Usage: mlharbor" in output  # on stderr for a usage error
    assert modules & HEAVY == set()


@pytest.fixture
def two_datasets(tmp_path: Path) -> Path:
    """Two versions of a small table in the data folder the commands use."""
    shifted = TITANIC_LIKE.replace(",7.25", ",70.25")
    with Hub.open(Settings(data_dir=tmp_path / "data")) as hub:
        hub.datasets.ingest_file(write(tmp_path, "before.csv", TITANIC_LIKE), name="before")
        hub.datasets.ingest_file(write(tmp_path, "after.csv", shifted), name="after")
    return tmp_path


def test_dataset_drift_loads_no_web_or_training_stack(two_datasets: Path) -> None:
    args = ["drift", "--reference", "before", "--current", "after", "--json"]
    modules, output = run_cli(two_datasets, *args)
    report = json.loads(output)
    assert report["reference"] == {"dataset": "before", "version": 1}
    assert report["dataset"]["n_columns"] > 0
    assert modules & NOT_FOR_LOCAL_REPORTS == set()
    assert "pandas" not in modules  # profiles are computed from Arrow with polars
    assert "scipy" not in modules  # the p-values are closed forms and series
    assert "mlharbor.registry.service" not in modules  # two datasets need no model registry
    assert "numpy.ma" not in modules
    # The second report reads stored profiles: still nothing more.
    again, _ = run_cli(two_datasets, *args)
    assert again & NOT_FOR_LOCAL_REPORTS == set()


def test_insights_load_no_web_or_training_stack(two_datasets: Path) -> None:
    modules, output = run_cli(two_datasets, "insights", "before", "--target", "Survived")
    assert "120 rows × 8 columns" in output
    assert modules & NOT_FOR_LOCAL_REPORTS == set()
    assert "jinja2" not in modules  # no --html: no template engine
    assert modules & {"pandas", "scipy"} == set()
    # Asked again, the stored insights are read back: not even the engine (polars) loads.
    again, output = run_cli(two_datasets, "insights", "before", "--target", "Survived")
    assert "120 rows × 8 columns" in output
    assert again & (NOT_FOR_LOCAL_REPORTS | {"polars", "jinja2"}) == set()


#: The training and search stack.
TRAINING_STACK = {"sklearn", "lightgbm", "matplotlib", "skops", "optuna", "scipy"}
#: What the API server must not load before it answers: the training and search stack, and
#: polars (monitoring reports and insights load it when first asked for).
NOT_FOR_THE_SERVER = TRAINING_STACK | {"polars", "onnxruntime", "skl2onnx", "alembic"}


def test_the_full_server_starts_without_the_training_stack(tmp_path: Path) -> None:
    with Hub.open(Settings(data_dir=tmp_path / "data")):
        pass  # migrated: a server start on a database at head skips Alembic
    probe = (
        "import sys\n"
        "from starlette.testclient import TestClient\n"
        "from mlharbor.api.app import create_app\n"
        "from mlharbor.config import Settings\n"
        f"app = create_app(Settings(data_dir={str(tmp_path / 'data')!r}), worker=False)\n"
        "with TestClient(app, base_url='http://localhost') as client:\n"
        "    assert client.get('/healthz').status_code == 200\n"
        "    assert client.get('/api/v1/datasets').status_code == 200\n"
        "print(' '.join(sorted(sys.modules)))\n"
    )
    modules = top_modules(probe, timeout=300)
    assert modules & NOT_FOR_THE_SERVER == set()


#: What checking and queuing a training request must not load: the estimators and the rest
#: of the training stack load in the job process that trains, not in the one that asks.
NOT_FOR_A_TRAINING_REQUEST = TRAINING_STACK | {"pandas", "fastapi"}


def test_a_training_request_is_checked_without_the_estimators() -> None:
    probe = (
        "import io, sys\n"
        "from pyarrow import csv\n"
        "from mlharbor.data.schema import infer_schema\n"
        "from mlharbor.models.checks import check_train_request\n"
        "from mlharbor.workflows.requests import TrainRequest\n"
        "request = TrainRequest.parse({'dataset': 'd', 'target': 'y', 'model': 'rf'})\n"
        "assert request.model == 'random-forest'\n"
        "for model in ('RandomForestClassifier', 'lgbm', 'svm', 'naive-bayes'):\n"
        "    TrainRequest.parse({'dataset': 'd', 'target': 'y', 'model': model})\n"
        "table = csv.read_csv(io.BytesIO(b'x,y\\n' + b'1.5,a\\n2.5,b\\n3.5,c\\n' * 10))\n"
        "checked = check_train_request(infer_schema(table), target='y', model='lightgbm')\n"
        "assert checked['model'] == 'lightgbm' and checked['features'] == ['x']\n"
        "print(' '.join(sorted(sys.modules)))\n"
    )
    modules = top_modules(probe, timeout=120)
    assert modules & NOT_FOR_A_TRAINING_REQUEST == set()


def test_model_parameters_load_their_estimator_only() -> None:
    probe = (
        "import sys\n"
        "from mlharbor.workflows.requests import TrainRequest\n"
        "params = {'n_estimators': '50'}\n"
        "request = TrainRequest.parse({'dataset': 'd', 'target': 'y', 'model': 'rf', "
        "'params': params})\n"
        "assert request.params == {'n_estimators': 50}\n"
        "print(' '.join(sorted(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    modules = set(done.stdout.split())
    assert "sklearn.ensemble" in modules  # the estimator checks its own parameters
    assert {m.split(".")[0] for m in modules} & {"lightgbm", "matplotlib", "skops"} == set()


def test_queuing_a_training_of_a_file_loads_no_training_stack(tmp_path: Path) -> None:
    data = write(tmp_path, "titanic.csv", TITANIC_LIKE)
    modules, output = run_cli(
        tmp_path, "train", str(data), "--target", "Survived", "--model", "rf", "--no-wait"
    )
    assert "queued: train random-forest on titanic" in output
    assert modules & NOT_FOR_A_TRAINING_REQUEST == set()


def test_ingest_and_datasets_show_load_no_web_or_training_stack(tmp_path: Path) -> None:
    data = write(tmp_path, "titanic.csv", TITANIC_LIKE)
    modules, output = run_cli(tmp_path, "ingest", str(data))
    assert "created dataset titanic version 1" in output.lower()
    assert modules & NOT_FOR_LOCAL_REPORTS == {"alembic"}  # the new data folder's database
    modules, output = run_cli(tmp_path, "datasets", "show", "titanic")
    assert "Survived" in output
    assert modules & NOT_FOR_LOCAL_REPORTS == set()


def test_a_command_exits_without_collecting_what_it_leaves(tmp_path: Path) -> None:
    # An exit handler registered first runs last: by then the command's objects are frozen,
    # and the interpreter's final collections skip them.
    probe = (
        "import atexit, gc, sys\n"
        "atexit.register(lambda: print('frozen', gc.get_freeze_count() > 0))\n"
        "from mlharbor.cli import app\n"
        "app(['datasets', 'list'], prog_name='mlharbor')\n"
    )
    env = {**os.environ, "MLHARBOR_DATA_DIR": str(tmp_path / "data")}
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("frozen True")


@pytest.mark.parametrize(
    ("argv", "starts"),
    [
        (["mlharbor", "train", "iris.csv", "--target", "variety"], True),
        (["/venv/bin/mlharbor", "--api-key", "k", "train", "iris.csv"], True),
        (["mlharbor", "train", "iris.csv", "--no-wait"], False),
        (["mlharbor", "train", "--help"], False),
        (["mlharbor", "--url", "http://hub:8000", "train", "iris.csv"], False),
        (["mlharbor", "--url=http://hub:8000", "train", "iris.csv"], False),
        (["mlharbor", "automl", "iris.csv"], False),
        (["mlharbor"], False),
        (["pytest", "train"], False),  # not the command line: a program importing the CLI
    ],
)
def test_only_a_training_run_here_starts_the_fork_server_first(
    argv: list[str], starts: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlharbor.cli.early import trains_here

    monkeypatch.delenv("MLHARBOR_URL", raising=False)
    assert trains_here(argv) is starts


def test_mlharbor_train_starts_the_fork_server_before_the_commands_imports() -> None:
    # The fork server's imports take seconds and the job waits for them: they start before
    # the command line's own imports (Typer, Rich), which they overlap.
    probe = (
        "import sys, threading\n"
        "sys.argv = ['mlharbor', 'train', 'iris.csv', '--target', 'variety']\n"
        "class Seen:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'typer':\n"
        "            names = [t.name for t in threading.enumerate()]\n"
        "            print('fork server starting' if 'mlharbor-forkserver-start' in names\n"
        "                  else 'not started', flush=True)\n"
        "sys.meta_path.insert(0, Seen())\n"
        "import mlharbor.cli\n"
    )
    assert run_probe("-c", probe).split("\n")[0] == "fork server starting"


def test_processes_the_command_starts_do_not_run_its_script_again(tmp_path: Path) -> None:
    # multiprocessing runs the parent's main script again in every process it starts (each
    # job attempt) unless the parent ran a module: the command is `python -m mlharbor`.
    script = tmp_path / "mlharbor"
    script.write_text(
        "import sys\n"
        "from mlharbor.cli import app\n"
        "from multiprocessing import spawn\n"
        "data = spawn.get_preparation_data('attempt')\n"
        "print(data.get('init_main_from_name'), 'init_main_from_path' in data)\n"
    )
    assert run_probe(str(script)).split() == ["mlharbor.__main__", "False"]


def test_python_m_mlharbor_is_the_command(tmp_path: Path) -> None:
    out = run_probe("-m", "mlharbor", "--help")
    assert "mlharbor" in out and "train" in out
