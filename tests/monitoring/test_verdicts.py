"""Drift verdicts with known answers: resamples stay green, real changes do not.

The breast-cancer table (scikit-learn ships it) stands in for a training set; the traffic
is a resample of it, or the same with planted changes whose answer we know.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer

from mlharbor.monitoring import DriftThresholds, compare_profiles, profile_table
from mlharbor.monitoring.alerts import drift_message
from mlharbor.monitoring.drift import grade
from mlharbor.monitoring.stats import compare_categorical

COLUMNS = ["mean radius", "mean texture", "worst area", "mean smoothness"]


def training() -> pd.DataFrame:
    data = load_breast_cancer(as_frame=True).frame[COLUMNS].copy()
    rng = np.random.default_rng(0)
    data["plan"] = rng.choice(["basic", "plus", "pro"], len(data), p=[0.5, 0.3, 0.2])
    data["paperless"] = rng.choice(["yes", "no"], len(data))
    return data


def kinds(frame: pd.DataFrame) -> dict[str, str]:
    return {c: "numeric" if frame[c].dtype.kind == "f" else "categorical" for c in frame}


def drift(ref: pd.DataFrame, cur: pd.DataFrame, **kw: object) -> dict:
    k = kinds(ref)
    return compare_profiles(profile_table(ref, k), profile_table(cur, k), **kw)


def by_column(report: dict) -> dict[str, dict]:
    return {c["column"]: c for c in report["columns"]}


def resample(seed: int, n: int = 200) -> pd.DataFrame:
    return training().sample(n, replace=True, random_state=seed).reset_index(drop=True)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_resample_of_the_training_data_is_green(seed: int) -> None:
    report = drift(training(), resample(seed))
    assert report["dataset"]["status"] == "ok", report["dataset"]
    assert report["dataset"]["drifted_columns"] == [] and report["dataset"]["why"] == []


def test_shifted_numbers_are_flagged() -> None:
    cur = resample(1)
    cur["mean radius"] += 2 * training()["mean radius"].std()
    cols = by_column(drift(training(), cur))
    assert cols["mean radius"]["drifted"] and not cols["mean texture"]["drifted"]


def test_new_categories_count_in_the_test() -> None:
    # A small window (50 rows) against 569: every cell of the current side expects fewer
    # than 5 rows. Before, the rare cells were pooled into one and the test said 0, p = 1.
    cur = resample(1, n=50)
    cur.loc[:12, "plan"] = ["enterprise", "trial", "legacy", "promo"] * 3 + ["x"]
    col = by_column(drift(training(), cur))["plan"]
    assert col["statistic"] > 0 and col["p_value"] < 0.05
    assert col["new_categories"]["flagged"] and col["new_categories"]["share"] > 0.2
    assert col["drifted"] and "never seen in training" in col["reason"]


def test_a_categorical_with_a_large_psi_drifts() -> None:
    cur = resample(2, n=300)
    cur["paperless"] = np.where(np.arange(300) < 285, "yes", "no")  # 95 % yes, was 50 %
    col = by_column(drift(training(), cur))["paperless"]
    assert col["psi"] > 1 and col["drifted"]
    assert "PSI" in col["reason"]


def test_chi_square_on_sparse_counts_is_exact_enough() -> None:
    same = np.array([[300.0, 200, 60, 9], [30, 20, 6, 1]])
    assert compare_categorical(same, small=True).p_value > 0.5
    new = np.array([[300.0, 200, 60, 0, 0], [10, 8, 2, 3, 3]])
    result = compare_categorical(new, small=True)
    assert result.statistic > 50 and result.p_value < 0.001


def test_banner_states_follow_the_report() -> None:
    ref = training()
    importance = {
        "worst area": 0.30,
        "mean radius": 0.20,
        "mean texture": 0.05,
        "mean smoothness": 0.01,
        "plan": 0.0,
        "paperless": 0.0,
    }
    limits = DriftThresholds(important=2)

    quiet = drift(ref, resample(3), thresholds=limits, importance=importance)["dataset"]
    assert quiet["status"] == "ok" and not quiet["drifted"]

    # One minor column drifted: amber, and the message says why it is not red.
    minor = resample(3)
    minor["mean smoothness"] *= 1.5
    some = drift(ref, minor, thresholds=limits, importance=importance)["dataset"]
    assert some["status"] == "warn" and not some["drifted"]
    assert some["drifted_columns"] == ["mean smoothness"]
    assert "none of them among the model's most important inputs" in some["why"][0]

    # The most important input drifted too: red, and it is named first.
    major = minor.copy()
    major["worst area"] *= 2
    bad = drift(ref, major, thresholds=limits, importance=importance)["dataset"]
    assert bad["status"] == "bad" and bad["drifted"]
    assert bad["drifted_columns"] == ["worst area", "mean smoothness"]
    assert bad["important_drifted"] == ["worst area"]
    assert "among the 2 inputs the model relies on most, worst area drifted" in bad["why"]
    message = drift_message(bad)
    assert message.startswith("input drift (serious) in 2 of 6 columns")
    assert "worst area (importance #1), mean smoothness (importance #4)" in message

    # Half the columns drifted, none important: red by the share alone.
    wide = resample(3)
    for col in ("mean smoothness", "mean texture", "plan"):
        wide[col] = wide[col].iloc[::-1].values if col == "plan" else wide[col] * 1.6
    wide["plan"] = "pro"
    shared = drift(ref, wide, thresholds=limits)["dataset"]
    assert shared["status"] == "bad" and shared["share"] >= 0.5

    # Output drift alone: amber.
    report = drift(ref, resample(3), thresholds=limits, importance=importance)
    output = grade(report, limits, prediction={"drifted": True, "reason": "p-value 1e-9", "psi": 3})
    assert output["dataset"]["status"] == "warn" and output["dataset"]["prediction_drifted"]
    assert "the predictions drifted" in output["dataset"]["why"][-1]
