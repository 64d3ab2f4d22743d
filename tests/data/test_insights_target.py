"""The target in view: the task it implies, its balance, and what tells it apart."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_diabetes, load_iris

from mlharbor.data.insights import Task, compute_insights
from mlharbor.errors import NotFoundError

from .insights_factories import as_table, mixed, titanic_like


@pytest.fixture(scope="module")
def titanic() -> dict:
    table, schema = as_table(titanic_like())
    return compute_insights(table, schema, target="Survived")


def _flagged(result: dict, kind: str) -> list[str]:
    return [c for w in result["warnings"] if w["kind"] == kind for c in w["columns"]]


def test_titanic_target_is_binary_with_the_reason(titanic: dict) -> None:
    target = titanic["target"]
    assert target["task"] == Task.BINARY
    assert "2 distinct values" in target["reason"]
    assert target["class_balance"]["n_classes"] == 2
    assert sum(c["share"] for c in target["class_balance"]["classes"]) == pytest.approx(1)


def test_titanic_sex_and_class_rank_above_noise(titanic: dict) -> None:
    ranked = [f["column"] for f in titanic["target"]["features"]]
    assert ranked[0] == "Sex"
    assert ranked.index("Pclass") < ranked.index("SibSp")
    top = titanic["target"]["features"][0]
    assert top["mutual_information"] > 0.1 and 0 < top["adjusted"] < 0.7


def test_titanic_warnings_are_what_an_analyst_would_say(titanic: dict) -> None:
    assert "PassengerId" in _flagged(titanic, "identifier")
    assert "Cabin" in _flagged(titanic, "high_missing")
    assert "Ticket" in _flagged(titanic, "mixed_types")
    assert "Fare" in _flagged(titanic, "skewed")
    assert _flagged(titanic, "target_leakage") == []


def test_feature_equal_to_the_target_is_suspected_leakage() -> None:
    df = titanic_like()
    df["SurvivedFlag"] = np.where(df["Survived"] == 1, "yes", "no")
    table, schema = as_table(df)
    result = compute_insights(table, schema, target="Survived")
    leaks = [w for w in result["warnings"] if w["kind"] == "target_leakage"]
    assert [w["columns"] for w in leaks] == [["SurvivedFlag", "Survived"]]
    assert result["target"]["features"][0]["column"] == "SurvivedFlag"
    assert result["target"]["features"][0]["adjusted"] == pytest.approx(1.0)


def test_leakage_in_a_regression_target() -> None:
    data = load_diabetes(as_frame=True).frame
    data["target_x2"] = data["target"] * 2
    table, schema = as_table(data)
    result = compute_insights(table, schema, target="target")
    assert result["target"]["task"] == Task.REGRESSION
    assert "target_x2" in _flagged(result, "target_leakage")
    assert "bmi" not in _flagged(result, "target_leakage")


def test_regression_target_has_a_distribution() -> None:
    table, schema = as_table(load_diabetes(as_frame=True).frame)
    target = compute_insights(table, schema, target="target")["target"]
    assert target["task"] == "regression" and "numeric" in target["reason"]
    assert target["distribution"]["histogram"]["counts"]
    assert {"bmi", "s5"} & {f["column"] for f in target["features"][:3]}


def test_multiclass_target_from_iris() -> None:
    frame = load_iris(as_frame=True).frame
    frame["species"] = load_iris().target_names[frame.pop("target")]
    table, schema = as_table(frame)
    target = compute_insights(table, schema, target="species")["target"]
    assert target["task"] == Task.MULTICLASS
    assert target["class_balance"]["n_classes"] == 3
    assert target["features"][0]["column"].startswith("petal")


def test_text_with_a_label_is_text_classification() -> None:
    rng = np.random.default_rng(0)
    sentiment = rng.choice(["pos", "neg"], 400)
    words = {"pos": ["great", "lovely", "fine"], "neg": ["awful", "bad", "broken"]}
    reviews = [" ".join(rng.choice(words[s], 5)) + " product arrived today" for s in sentiment]
    table, schema = as_table(pd.DataFrame({"review": reviews, "sentiment": sentiment}))
    target = compute_insights(table, schema, target="sentiment")["target"]
    assert target["task"] == Task.TEXT
    assert target["classification"] == "binary"
    assert "'review'" in target["reason"]


def test_imbalanced_target_is_flagged() -> None:
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"x": rng.normal(size=2000), "fraud": rng.random(2000) < 0.03})
    table, schema = as_table(df)
    result = compute_insights(table, schema, target="fraud")
    warning = next(w for w in result["warnings"] if w["kind"] == "imbalanced_target")
    assert warning["column"] == "fraud"
    assert warning["evidence"]["minority_share"] == pytest.approx(df["fraud"].mean())
    assert "fraud" not in _flagged(result, "near_constant")


def test_unknown_target_names_it_and_lists_the_columns() -> None:
    table, schema = as_table(mixed(n=100))
    with pytest.raises(NotFoundError) as raised:
        compute_insights(table, schema, target="churn")
    message = str(raised.value)
    assert "'churn'" in message and "amount" in message and "label" in message


def test_single_valued_target_gives_a_warning_not_a_crash() -> None:
    df = pd.DataFrame({"x": range(50), "y": ["same"] * 50})
    table, schema = as_table(df)
    result = compute_insights(table, schema, target="y")
    assert result["target"]["task"] is None
    assert "single value" in result["target"]["reason"]
    assert "y" in _flagged(result, "unusable_target")


def test_target_with_missing_values_is_flagged() -> None:
    df = titanic_like(n=300)
    df["Survived"] = df["Survived"].astype(float)
    df.loc[:9, "Survived"] = np.nan
    table, schema = as_table(df)
    result = compute_insights(table, schema, target="Survived")
    assert result["target"]["task"] == Task.BINARY
    warning = next(w for w in result["warnings"] if w["kind"] == "target_missing")
    assert warning["evidence"]["n_missing"] == 10
    assert result["target"]["sample_rows"] == 290


def test_titanic_age_gaps_are_reported_but_not_as_high_missing(titanic: dict) -> None:
    assert "Age" in _flagged(titanic, "missing_values")
    assert "Age" not in _flagged(titanic, "high_missing")
