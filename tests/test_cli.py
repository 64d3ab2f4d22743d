"""The command line, as a user types it."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlharbor.cli import app

from .data.factories import TITANIC_LIKE, write

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MLHARBOR_DATA_DIR", str(tmp_path / "data"))
    return tmp_path


def test_ingest_then_list_and_show(env: Path) -> None:
    path = write(env, "titanic.csv", TITANIC_LIKE)
    first = runner.invoke(app, ["ingest", str(path)])
    assert first.exit_code == 0, first.output
    assert "created dataset titanic version 1: 120 rows × 8 columns" in first.output
    assert "identifier" in first.output  # the schema table is shown
    again = runner.invoke(app, ["ingest", str(path)])
    assert "unchanged" in again.output
    listing = runner.invoke(app, ["datasets", "list"])
    assert "titanic" in listing.output and "120" in listing.output
    show = runner.invoke(app, ["datasets", "show", "titanic"])
    assert show.exit_code == 0 and "PassengerId" in show.output


def test_errors_are_one_red_line_and_an_exit_code(env: Path) -> None:
    empty = write(env, "empty.csv", b"")
    r = runner.invoke(app, ["ingest", str(empty)])
    assert r.exit_code == 3 and "error: the file is empty" in r.output
    r = runner.invoke(app, ["datasets", "show", "ghost"])
    assert r.exit_code == 4 and "dataset 'ghost' does not exist" in r.output
    r = runner.invoke(app, ["ingest", "file:///etc/passwd"])
    assert r.exit_code == 3 and "only http and https" in r.output
    r = runner.invoke(app, ["ingest", str(env / "missing.csv")])
    assert r.exit_code == 3 and "no such file" in r.output
    assert "Traceback" not in r.output


def test_empty_state_says_what_to_do(env: Path) -> None:
    r = runner.invoke(app, ["datasets", "list"])
    assert "no datasets yet" in r.output


def test_serve_refuses_a_public_address_without_keys(env: Path) -> None:
    r = runner.invoke(app, ["serve", "--host", "0.0.0.0"])
    assert r.exit_code == 6
    assert "refusing to serve 0.0.0.0 without API keys" in r.output


def test_keys_create_prints_the_secret_once(env: Path) -> None:
    r = runner.invoke(app, ["keys", "create", "--scope", "predict", "--name", "dash"])
    assert r.exit_code == 0, r.output
    token = r.output.strip().splitlines()[-1]
    assert token.startswith("mlh_")
    listing = runner.invoke(app, ["keys", "list"])
    assert "dash" in listing.output and token not in listing.output
    bad = runner.invoke(app, ["keys", "create", "--scope", "root"])
    assert bad.exit_code == 3 and "unknown scope 'root'" in bad.output


def test_train_a_model_from_the_command_line(env: Path) -> None:
    samples = Path(__file__).parents[1] / "samples"
    r = runner.invoke(
        app,
        [
            "train",
            str(samples / "iris.csv"),
            "--target",
            "variety",
            "--model",
            "rf",
            "--param",
            "n_estimators=30",
            "--cv-folds",
            "3",
            "--alias",
            "champion",
        ],
    )
    assert r.exit_code == 0, r.output
    assert "dataset iris version 1: 150 rows" in r.output
    assert "iris-variety v1 (multiclass" in r.output and "accuracy" in r.output
    assert "champion" in r.output
    assert "champion→v1" in runner.invoke(app, ["models", "list"]).output
    show = runner.invoke(app, ["models", "show", "iris-variety@champion"])
    assert show.exit_code == 0 and "roc_auc_ovr" in show.output
    bad = runner.invoke(app, ["train", "iris", "--target", "variety", "--param", "n_trees=3"])
    assert bad.exit_code == 3 and "unknown parameter 'n_trees'" in bad.output
    assert "succeeded" in runner.invoke(app, ["jobs", "list"]).output


def test_insights_summary_and_html_report(env: Path) -> None:
    path = write(env, "titanic.csv", TITANIC_LIKE)
    runner.invoke(app, ["ingest", str(path)])
    r = runner.invoke(
        app, ["insights", "titanic", "--target", "Survived", "--html", str(env / "report.html")]
    )
    assert r.exit_code == 0, r.output
    assert "120 rows × 8 columns" in r.output
    assert "target Survived: binary" in r.output
    assert "PassengerId" in r.output  # the identifier warning
    assert (env / "report.html").read_text().startswith("<!")
    bad = runner.invoke(app, ["insights", "titanic", "--target", "Nope"])
    assert bad.exit_code == 4 and "'Nope'" in bad.output
