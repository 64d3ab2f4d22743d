"""AutoML plans for its own finish and fans folds out over worker processes.

No wall clock is asserted (the machine is shared): the plan is. The search stops early when
what follows it (priced by a FinishPlan) would not fit, its folds are fitted by several
worker processes when given them, and permutation importance is computed in one
prediction per repeat.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from mlharbor.jobs.compute import LocalExecutor
from mlharbor.models.automl import run_automl
from mlharbor.models.automl.budget import FinishPlan
from mlharbor.models.automl.register import permutation_importance_stacked
from mlharbor.models.tasks import Task
from mlharbor.workflows.automl import AutoMLRequest, _warm, finish_plan

from ..training_data import binary_frame, regression_frame, with_schema


def test_the_search_gives_up_candidates_for_a_finish_that_would_not_fit() -> None:
    df, schema = with_schema(binary_frame())
    # Drawing the plots alone would take longer than the budget: after the first candidate
    # (the search must end with a model) nothing more is started.
    heavy = FinishPlan(n_test=60, n_columns=4, importance_rows=60, importance_repeats=1,
                       curve_rows=200, plot_seconds=1_000.0)  # fmt: skip
    result = run_automl(df, schema, target="diagnosis", time_budget=120, finish=heavy)
    assert result.finish_seconds is not None and result.finish_seconds >= 1_000
    statuses = [e.status for e in result.entries if e.candidate.family != "ensemble"]
    assert statuses[0] == "ok" and set(statuses[1:]) <= {"skipped"}

    # The same search with a light finish goes on to other candidates.
    light = FinishPlan(n_test=60, n_columns=4, importance_rows=60, importance_repeats=1,
                       curve_rows=200, plot_seconds=0.5)  # fmt: skip
    result = run_automl(df, schema, target="diagnosis", time_budget=120, finish=light, max_trials=3)
    assert [e.status for e in result.entries][:3] == ["ok", "ok", "ok"]
    # Its prediction counts the plots, the test rows' predictions, importance and the curve.
    assert 0.5 < result.finish_seconds < 120


def test_the_budget_starts_when_the_user_submitted() -> None:
    import time

    df, schema = with_schema(binary_frame())
    # Submitted 59 s ago with a 60 s budget: the first candidate only, and the run says so.
    result = run_automl(
        df, schema, target="diagnosis", time_budget=60, started=time.perf_counter() - 59
    )
    assert [e.name for e in result.entries if e.status != "skipped"] == ["lightgbm-defaults"]
    assert result.timings["budget"] == 60


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one core: folds are fitted in process")
def test_folds_are_fitted_by_several_worker_processes() -> None:
    df, schema = with_schema(regression_frame())
    with LocalExecutor(2) as executor:
        _warm(executor)  # each worker has answered once, as the job does before fanning out
        result = run_automl(
            df,
            schema,
            target="progress",
            time_budget=120,
            max_trials=4,
            map_folds=executor.map,
            workers=2,
        )
    assert len(result.worker_pids) >= 2 and os.getpid() not in result.worker_pids
    assert result.settings["workers"] == 2
    # Candidates after the first were cross-validated two at a time, every fold scored.
    assert all(len(e.fold_scores) == result.folds.n_splits for e in result.entries if e.usable)


def test_job_plan_samples_permutation_importance_on_wide_tables() -> None:
    wide = pd.DataFrame(np.zeros((1_000, 301)), columns=[f"c{i}" for i in range(300)] + ["y"])
    request = AutoMLRequest(dataset="d", target="y", time_budget=30)
    plan = finish_plan(request, wide.iloc[:800], wide.iloc[800:])
    assert plan.n_columns == 300 and plan.n_test == 200
    assert plan.importance_rows * plan.n_columns <= 30_000 and plan.importance_repeats == 1
    assert plan.curve_rows == 800 and plan.plot_seconds > 0
    assert finish_plan(AutoMLRequest(dataset="d", target="y", time_budget=120), wide.iloc[:800],
                       wide.iloc[800:]).importance_repeats == 2  # fmt: skip


def test_stacked_permutation_importance_ranks_the_informative_column_first() -> None:
    from sklearn.linear_model import LinearRegression, LogisticRegression

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"signal": rng.normal(size=400), "noise": rng.normal(size=400)})
    y = 3 * X["signal"].to_numpy() + 0.1 * rng.normal(size=400)
    model = LinearRegression().fit(X, y)
    out = permutation_importance_stacked(
        model, X, y, task=Task.REGRESSION, n_classes=0, rows=200, repeats=2
    )
    assert out["scoring"] == "r2"
    first, second = out["features"]
    assert first["feature"] == "signal" and first["importance_mean"] > 1.0
    assert abs(second["importance_mean"]) < 0.05 and second["importance_std"] >= 0

    labels = np.where(y > 0, "yes", "no")
    clf = LogisticRegression().fit(X, labels)
    out = permutation_importance_stacked(
        clf, X, labels, task=Task.BINARY, n_classes=2, rows=400, repeats=1
    )
    assert out["scoring"] == "roc_auc" and out["features"][0]["feature"] == "signal"
    assert out["features"][0]["importance_mean"] > 0.2
