"""``mlharbor automl`` as a user types it: a leaderboard table and a registered best model."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlharbor.cli import app

runner = CliRunner()
SAMPLES = Path(__file__).parents[1] / "samples"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MLHARBOR_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COLUMNS", "200")
    return tmp_path


def test_automl_from_a_file_prints_the_leaderboard_and_registers_best_model(env: Path) -> None:
    # Two quick families, so that a loaded machine still tries both within the budget.
    r = runner.invoke(
        app,
        [
            "automl",
            str(SAMPLES / "iris.csv"),
            "--target",
            "variety",
            "--budget",
            "8",
            "--models",
            "logistic-regression",
            "--models",
            "knn",
        ],
    )
    assert r.exit_code == 0, r.output
    assert "AutoML leaderboard: variety (multiclass)" in r.output
    assert "log_loss" in r.output and "logistic-regression" in r.output
    assert "best_model" in r.output  # the registered version's aliases
    assert "best_model→v1" in runner.invoke(app, ["models", "list"]).output

    bad = runner.invoke(app, ["automl", "iris", "--target", "variety", "--metric", "rmse"])
    assert bad.exit_code != 0 and "does not fit a multiclass task" in bad.output
