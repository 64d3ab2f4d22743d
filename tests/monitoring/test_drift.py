"""The drift engine on generated data: what it flags, what it does not, and why."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mlharbor.monitoring import DriftThresholds, compare_profiles, profile_table

N = 20_000


def frame(seed: int, n: int = N, **changes: object) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    levels = np.array([f"L{i}" for i in range(2000)])
    cat = rng.choice(["a", "b", "c"], n, p=changes.get("p", [0.5, 0.3, 0.2])).astype(object)
    if changes.get("new"):
        cat[rng.random(n) < 0.1] = "NEW"
    price = rng.normal(changes.get("mean", 10.0), changes.get("sd", 2.0), n)
    price[rng.random(n) < changes.get("missing", 0.0)] = np.nan
    words = np.array(["good", "bad", "late", "fast", "broken", "cheap"])
    review = pd.Series(rng.choice(words, (n, 10)).tolist()).str.join(" ")
    return pd.DataFrame(
        {
            "price": price,
            "cat": cat,
            "city": rng.choice(levels, n),  # many levels, never changed
            "review": review,
        }
    )


KINDS = {"price": "numeric", "cat": "categorical", "city": "categorical", "review": "text"}


def report(ref: pd.DataFrame, cur: pd.DataFrame, **kw: object) -> dict:
    return compare_profiles(profile_table(ref, KINDS), profile_table(cur, KINDS), **kw)


def by_column(rep: dict) -> dict[str, dict]:
    return {r["column"]: r for r in rep["columns"]}


def test_two_samples_of_one_distribution_raise_no_drift() -> None:
    rep = report(frame(1), frame(2))
    cols = by_column(rep)
    assert rep["dataset"]["n_drifted"] == 0 and not rep["dataset"]["drifted"]
    # The 2,000-level column is far over the usual 0.1 distance from sampling noise alone;
    # the verdict takes that noise off.
    assert cols["city"]["distance"] > 0.1
    assert cols["city"]["effect"] < 0.1 and not cols["city"]["drifted"]
    assert cols["city"]["method"] == "jensen_shannon"


def test_changed_columns_are_flagged_with_a_reason() -> None:
    rep = report(frame(1), frame(2, mean=11.5, p=[0.3, 0.3, 0.4]))
    cols = by_column(rep)
    assert sorted(rep["dataset"]["drifted_columns"]) == ["cat", "price"]
    assert cols["price"]["method"] == "wasserstein" and cols["price"]["effect"] > 0.5
    assert "minus sampling noise" in cols["price"]["reason"]
    assert cols["cat"]["psi"] > 0.1
    assert not cols["city"]["drifted"] and not cols["review"]["drifted"]


def test_a_new_category_is_flagged_and_named() -> None:
    rep = report(frame(1), frame(2, new=True))
    cat = by_column(rep)["cat"]
    assert cat["drifted"]
    assert cat["new_categories"]["flagged"]
    assert cat["new_categories"]["values"][0]["value"] == "NEW"
    assert cat["new_categories"]["share"] == pytest.approx(0.1, abs=0.01)
    assert rep["dataset"]["new_categories"] == ["cat"]


def test_a_change_in_missing_values_is_reported() -> None:
    rep = report(frame(1), frame(2, missing=0.2))
    price = by_column(rep)["price"]
    assert price["missing"]["changed"]
    assert price["missing"]["current"] == pytest.approx(0.2, abs=0.02)
    assert rep["dataset"]["missing_changed"] == ["price"]


def test_small_samples_are_decided_by_p_values() -> None:
    same = report(frame(1, n=300), frame(2, n=300))
    cols = by_column(same)
    assert cols["price"]["method"] == "ks" and cols["cat"]["method"] == "chi_square"
    assert cols["price"]["threshold"] == 0.05
    assert same["dataset"]["n_drifted"] == 0
    moved = by_column(report(frame(1, n=300), frame(2, n=300, mean=12.0)))
    assert moved["price"]["drifted"] and moved["price"]["p_value"] < 0.05


def test_text_drifts_by_length_and_vocabulary() -> None:
    ref = frame(1, n=3000)
    cur = frame(2, n=3000)
    cur["review"] = cur["review"] + " refund refund refund refund refund"
    review = by_column(report(ref, cur))["review"]
    assert review["kind"] == "text" and review["drifted"]
    assert review["length"]["drifted"] and review["vocabulary"]["drifted"]


def test_thresholds_are_settings() -> None:
    loose = DriftThresholds(numeric=5.0, categorical=5.0, psi=100.0)
    rep = report(frame(1), frame(2, mean=11.5, p=[0.3, 0.3, 0.4]), thresholds=loose)
    assert rep["dataset"]["n_drifted"] == 0
    assert rep["thresholds"]["numeric"] == 5.0


def test_report_carries_chart_data_and_is_json() -> None:
    rep = report(frame(1), frame(2, mean=11.0))
    cols = by_column(rep)
    hist = cols["price"]["chart"]
    assert hist["type"] == "histogram" and len(hist["edges"]) == len(hist["reference"]) + 1
    assert sum(hist["reference"]) == pytest.approx(1.0) and sum(hist["current"]) == pytest.approx(1)
    bars = cols["cat"]["chart"]
    assert bars["type"] == "bars" and bars["labels"][:3] == ["a", "b", "c"]
    json.dumps(rep, allow_nan=False)


def test_profiles_are_compact_and_json() -> None:
    profile = profile_table(frame(1), KINDS)
    size = len(json.dumps(profile, allow_nan=False))
    assert size < 200_000  # not the rows: 20,000 rows of four columns are far larger
    assert set(profile["columns"]) == set(KINDS)
    assert profile["columns"]["city"]["distinct"] == 2000


def test_a_real_change_in_a_many_level_column_is_still_caught() -> None:
    ref, cur = frame(1), frame(2)
    rng = np.random.default_rng(3)
    # A fifth of the rows now come from ten of the 2,000 levels.
    moved = rng.random(len(cur)) < 0.2
    cur.loc[moved, "city"] = rng.choice([f"L{i}" for i in range(10)], int(moved.sum()))
    city = by_column(report(ref, cur))["city"]
    assert city["drifted"] and city["effect"] > 0.1


def test_dates_without_a_time_are_compared_not_dropped() -> None:
    # Training data holds datetime.date objects (Parquet date32 through pandas); requests
    # and the prediction log hold ISO strings. Before, both read as all-missing numbers and
    # the column silently dropped out of the report.
    rng = np.random.default_rng(0)
    start = pd.Timestamp("2024-01-01")
    days = pd.to_timedelta(rng.integers(0, 365, 2000), unit="D")
    training = pd.DataFrame({"applied": list((start + days).date)})
    same = pd.DataFrame({"applied": (start + days[:500]).strftime("%Y-%m-%d")})
    later = pd.DataFrame(
        {"applied": (start + days[:500] + pd.Timedelta(days=200)).strftime("%Y-%m-%d")}
    )
    kinds = {"applied": "numeric"}
    ref = profile_table(training, kinds)
    assert ref["columns"]["applied"]["n"] == 2000
    calm = compare_profiles(ref, profile_table(same, kinds))["columns"]
    moved = compare_profiles(ref, profile_table(later, kinds))["columns"]
    assert [c["column"] for c in calm] == ["applied"] and not calm[0]["drifted"]
    assert moved[0]["drifted"]


def test_rare_cells_cost_most_and_numbers_least() -> None:
    from mlharbor.monitoring.drift import comparison_cost

    ref = profile_table(frame(1), KINDS)["columns"]
    rare = {"counts": {f"L{i}": 1 + i % 3 for i in range(500)}}  # the chi-square Monte Carlo
    common = {"counts": {f"L{i}": 100 for i in range(3000)}}  # six times the cells, no draws
    assert comparison_cost(rare, rare) > comparison_cost(common, common)
    assert comparison_cost(common, common) > comparison_cost(ref["cat"], ref["cat"])
    assert comparison_cost(ref["cat"], ref["cat"]) > comparison_cost(ref["price"], ref["price"])
    assert comparison_cost(ref["review"], ref["review"]) > 0


def test_columns_come_back_in_reference_order_whatever_is_compared_first() -> None:
    # "city" (2,000 levels) is compared first; the report keeps the profiles' order, and
    # each result is the one a column compared alone gets.
    ref, cur = profile_table(frame(1), KINDS), profile_table(frame(2, mean=11.0), KINDS)
    rep = compare_profiles(ref, cur)
    assert [r["column"] for r in rep["columns"]] == list(KINDS)
    for name in KINDS:
        alone = compare_profiles(ref, cur, columns=[name])["columns"][0]
        assert json.dumps(alone, sort_keys=True) == json.dumps(by_column(rep)[name], sort_keys=True)


def test_profiles_keep_the_column_order_and_hand_over_counts_first() -> None:
    seen: list[str] = []
    profile = profile_table(frame(1), KINDS, on_column=lambda name, _: seen.append(name))
    assert list(profile["columns"]) == list(KINDS)
    assert seen == ["cat", "city", "review", "price"]  # counts first, numbers last
    assert profile == profile_table(frame(1), KINDS)


@pytest.mark.parametrize("seed", range(10))
def test_distinct_quantiles_are_numpys_unique(seed: int) -> None:
    from mlharbor.monitoring.stats import _distinct

    rng = np.random.default_rng(seed)
    values = np.round(rng.normal(size=int(rng.integers(1, 3000))), int(rng.integers(0, 4)))
    assert np.array_equal(_distinct(values), np.unique(values))
