"""A job's page says one thing at a time: its state, its attempt, an honest leaderboard."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from mlharbor.api.app import create_app
from mlharbor.hub import Hub
from mlharbor.ui.pages_models import rank_trials

HTML = {"Accept": "text/html,application/xhtml+xml"}


def _row(name: str, status: str, score: float | None, folds: int, **extra: object) -> dict:
    return {"name": name, "trial": len(name), "status": status, "score": score, "folds": folds,
            "metric": "roc_auc", "higher_is_better": True, **extra}  # fmt: skip


def test_partial_skipped_and_refused_candidates_never_outrank_the_winner() -> None:
    rows = [
        _row("skipped_gbm", "skipped", 0.994, 2),
        _row("refused_svc", "ok", 0.999, 5, note="cannot be stored: its model type is refused"),
        _row("winner_rf", "ok", 0.9928, 5),
        _row("runner_lr", "ok", 0.98, 5),
        _row("partial_knn", "ok", 0.997, 3),
        _row("broken", "failed", None, 0, error="boom"),
    ]
    ranked = rank_trials(rows, best="winner_rf", n_folds=5)
    assert [r["name"] for r in ranked] == [
        "winner_rf", "runner_lr", "partial_knn", "refused_svc", "skipped_gbm", "broken",
    ]  # fmt: skip
    by = {r["name"]: r for r in ranked}
    assert by["partial_knn"]["folds_text"] == "3/5" and not by["partial_knn"]["complete"]
    assert "no time left" in by["skipped_gbm"]["reason"]
    assert "refused" in by["refused_svc"]["reason"]
    assert by["winner_rf"]["reason"] is None and by["runner_lr"]["complete"]
    # While running (no winner yet), a partial score still ranks after every complete one.
    live = rank_trials(rows[2:5])
    assert [r["name"] for r in live] == ["winner_rf", "runner_lr", "partial_knn"]


@pytest.fixture
def client(sqlite_hub: Hub) -> Iterator[TestClient]:
    with TestClient(create_app(hub=sqlite_hub), base_url="http://localhost", headers=HTML) as c:
        yield c


def test_a_running_job_shows_one_state_and_attempts_count_from_one(
    client: TestClient, sqlite_hub: Hub
) -> None:
    job = sqlite_hub.jobs.submit("automl", {"dataset": "d", "target": "t", "time_budget": 15})
    queued = client.get(f"/jobs/{job.id}").text
    assert "not started yet" in queued and "attempt 0" not in queued
    assert 'data-budget="15' in queued  # the time left is counted from the budget
    sqlite_hub.jobs.claim("test-worker")
    page = client.get(f"/jobs/{job.id}").text
    assert "data-job-state>running<" in page
    message = page.split("data-job-message")[1].split("</span>")[0]
    assert "queued" not in message and "running" in message
    assert "attempt 1 of" in page
