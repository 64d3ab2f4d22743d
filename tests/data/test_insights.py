"""What a user reads in the insights of a dataset: counts, statistics, warnings."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import mlharbor.data.insights as insights_api
from mlharbor.data.insights import compute_insights

from .insights_factories import as_table, mixed


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return mixed()


@pytest.fixture(scope="module")
def result(frame: pd.DataFrame) -> dict:
    table, schema = as_table(frame)
    return compute_insights(table, schema, target="label")


def _col(result: dict, name: str) -> dict:
    return next(c for c in result["columns"] if c["name"] == name)


def _flagged(result: dict, kind: str) -> list[str]:
    return [c for w in result["warnings"] if w["kind"] == kind for c in w["columns"]]


def test_public_names_are_pinned() -> None:
    assert sorted(insights_api.__all__) == [
        "FORMAT_VERSION",
        "MAX_EXACT_ROWS",
        "Task",
        "WarningKind",
        "compute_insights",
        "render_insights_html",
        "summarize_insights",
    ]


def test_result_is_strict_json(result: dict) -> None:
    text = json.dumps(result, allow_nan=False)
    assert json.loads(text) == result


def test_table_counts_match_pandas(frame: pd.DataFrame, result: dict) -> None:
    table = result["table"]
    assert table["n_rows"] == len(frame)
    assert table["n_columns"] == frame.shape[1]
    assert table["missing_cells"] == int(frame.isna().sum().sum())
    assert table["rows_with_missing"] == int(frame.isna().any(axis=1).sum())
    assert table["duplicate_rows"] == int(frame.duplicated().sum())


def test_duplicate_rows_are_counted_and_flagged() -> None:
    df = pd.DataFrame({"a": [1, 2, 2, 3, 3, 3], "b": ["x", "y", "y", "z", "z", "z"]})
    table, schema = as_table(df)
    result = compute_insights(table, schema)
    assert result["table"]["duplicate_rows"] == int(df.duplicated().sum()) == 3
    assert any(w["kind"] == "duplicate_rows" for w in result["warnings"])


@pytest.mark.parametrize("name", ["amount", "level", "delta", "colour", "customer", "member"])
def test_missing_and_distinct_match_pandas(frame: pd.DataFrame, result: dict, name: str) -> None:
    col = _col(result, name)
    assert col["n_missing"] == int(frame[name].isna().sum())
    assert col["n_distinct"] == int(frame[name].nunique())
    assert col["missing_share"] == pytest.approx(frame[name].isna().mean())


@pytest.mark.parametrize("name", ["amount", "level", "delta"])
def test_numeric_statistics_match_pandas(frame: pd.DataFrame, result: dict, name: str) -> None:
    values, stats = frame[name], _col(result, name)["numeric"]
    assert stats["mean"] == pytest.approx(values.mean())
    assert stats["std"] == pytest.approx(values.std())
    assert stats["min"] == values.min() and stats["max"] == values.max()
    for key, q in {"p05": 0.05, "p25": 0.25, "median": 0.5, "p75": 0.75, "p95": 0.95}.items():
        assert stats[key] == pytest.approx(values.quantile(q))
    assert stats["skew"] == pytest.approx(values.skew(), rel=0.01)
    assert stats["n_zeros"] == int((values == 0).sum())
    assert stats["n_negative"] == int((values < 0).sum())
    q1, q3 = values.quantile(0.25), values.quantile(0.75)
    outside = (values < q1 - 1.5 * (q3 - q1)) | (values > q3 + 1.5 * (q3 - q1))
    assert stats["n_outliers"] == int(outside.sum())


def test_histogram_counts_every_present_value(frame: pd.DataFrame, result: dict) -> None:
    histogram = _col(result, "amount")["histogram"]
    assert sum(histogram["counts"]) == int(frame["amount"].notna().sum())
    assert len(histogram["bin_edges"]) == len(histogram["counts"]) + 1
    assert histogram["bin_edges"][0] == pytest.approx(frame["amount"].min())


def test_small_integer_range_gets_one_bin_per_value(result: dict) -> None:
    histogram = _col(result, "delta")["histogram"]
    assert len(histogram["counts"]) == 11  # -5..5


def test_top_values_have_pandas_frequencies(frame: pd.DataFrame, result: dict) -> None:
    top = _col(result, "colour")["top_values"]
    expected = frame["colour"].value_counts()
    assert [v["value"] for v in top] == list(expected.index)
    assert [v["count"] for v in top] == list(expected.values)
    assert top[0]["share"] == pytest.approx(expected.iloc[0] / frame["colour"].notna().sum())


def test_boolean_balance(frame: pd.DataFrame, result: dict) -> None:
    balance = _col(result, "member")["boolean"]
    assert balance["n_true"] == int(frame["member"].sum())
    assert balance["true_share"] == pytest.approx(frame["member"].mean())


def test_datetime_range_and_granularity(frame: pd.DataFrame, result: dict) -> None:
    dates = _col(result, "when")["datetime"]
    assert dates["min"].startswith(str(frame["when"].min().date()))
    assert dates["max"].startswith(str(frame["when"].max().date()))
    assert dates["granularity"] == "day"


def test_text_lengths_and_top_tokens_skip_stop_words(frame: pd.DataFrame, result: dict) -> None:
    text = _col(result, "comment")["text"]
    lengths = frame["comment"].str.len()
    assert text["length"]["mean"] == pytest.approx(lengths.mean())
    assert text["length"]["max"] == lengths.max()
    tokens = [t["token"] for t in text["top_tokens"]]
    assert set(tokens) == {"good", "bad", "slow", "fast", "price"}
    assert text["words"]["mean"] == pytest.approx(6.0)


def test_constant_column_is_flagged_by_name(result: dict) -> None:
    assert _flagged(result, "constant") == ["country"]


def test_identifier_is_flagged(result: dict) -> None:
    assert "order_id" in _flagged(result, "identifier")


def test_duplicated_columns_are_flagged_together(result: dict) -> None:
    groups = [w["columns"] for w in result["warnings"] if w["kind"] == "duplicated_columns"]
    assert ["level", "level_copy"] in groups


def test_high_missing_share_is_flagged(result: dict) -> None:
    assert _flagged(result, "high_missing") == ["mostly_blank"]


def test_high_cardinality_categorical_is_flagged(result: dict) -> None:
    assert "customer" in _flagged(result, "high_cardinality")


def test_skewed_column_is_flagged(result: dict) -> None:
    assert "amount" in _flagged(result, "skewed")
    assert "level" not in _flagged(result, "skewed")


def test_string_column_of_mostly_numbers_is_mixed_types() -> None:
    values = [str(k) for k in range(95)] + ["n/a", "unknown", "n/a", "?", "n/a"]
    table, schema = as_table(pd.DataFrame({"reading": values}))
    warning = next(
        w for w in compute_insights(table, schema)["warnings"] if w["kind"] == "mixed_types"
    )
    assert warning["column"] == "reading"
    assert warning["evidence"]["n_not_numbers"] == 5
    assert "n/a" in warning["evidence"]["examples"]


def test_every_warning_has_kind_columns_message_and_evidence(result: dict) -> None:
    for warning in result["warnings"]:
        assert set(warning) == {"kind", "column", "columns", "message", "evidence"}
        assert warning["message"] and isinstance(warning["evidence"], dict)
        for name in warning["columns"]:
            assert name in warning["message"]


def test_associations_give_matrices_and_top_pairs(result: dict) -> None:
    assoc = result["associations"]
    names = assoc["columns"]
    assert len(assoc["matrix"]) == len(names) and all(len(r) == len(names) for r in assoc["matrix"])
    top = assoc["top_pairs"][0]
    assert sorted(top["columns"]) == ["level", "level_copy"] and top["value"] == pytest.approx(1)
    pearson = assoc["pearson"]
    i, j = pearson["columns"].index("level"), pearson["columns"].index("amount")
    level, amount = mixed()["level"], mixed()["amount"]
    assert pearson["matrix"][i][j] == pytest.approx(level.corr(amount), abs=1e-9)
    spearman = assoc["spearman"]
    i, j = spearman["columns"].index("level"), spearman["columns"].index("delta")
    assert spearman["matrix"][i][j] == pytest.approx(
        mixed()["level"].corr(mixed()["delta"], method="spearman"), abs=1e-9
    )
    methods = {p["method"] for p in assoc["top_pairs"]}
    assert {"cramers_v", "correlation_ratio", "spearman"} <= methods


def test_cramers_v_is_one_for_a_relabelled_category() -> None:
    rng = np.random.default_rng(3)
    colour = rng.choice(["red", "green", "blue"], 500)
    df = pd.DataFrame(
        {"colour": colour, "code": pd.Series(colour).map({"red": "R", "green": "G", "blue": "B"})}
    )
    table, schema = as_table(df)
    assoc = compute_insights(table, schema)["associations"]
    assert assoc["cramers_v"]["matrix"][0][1] == pytest.approx(1.0)


def test_sampling_section_says_what_is_estimated() -> None:
    df = mixed(n=5_000)
    table, schema = as_table(df)
    result = compute_insights(table, schema, target="label", max_exact_rows=1_000, seed=7)
    sampling = result["sampling"]
    assert sampling["sampled"] and sampling["sample_rows"] == 1_000
    assert any("associations" in item for item in sampling["estimated"])
    assert result["associations"]["sample_rows"] == 1_000
    # Counts stay exact whatever the sample.
    assert _col(result, "amount")["n_missing"] == int(df["amount"].isna().sum())
    again = compute_insights(table, schema, target="label", max_exact_rows=1_000, seed=7)
    again["timing"] = result["timing"]
    assert again == result


def test_small_data_is_all_exact(result: dict) -> None:
    assert not result["sampling"]["sampled"]
    assert result["sampling"]["estimated"] == []


def test_near_constant_column_is_flagged_with_its_share() -> None:
    df = pd.DataFrame({"x": range(200), "flag": ["ok"] * 196 + ["bad"] * 4})
    table, schema = as_table(df)
    warning = next(w for w in compute_insights(table, schema)["warnings"] if w["column"] == "flag")
    assert warning["kind"] == "near_constant"
    assert warning["evidence"] == {"value": "ok", "share": 0.98, "n_distinct": 2}


def test_nearly_interchangeable_columns_are_flagged() -> None:
    rng = np.random.default_rng(5)
    celsius = rng.normal(15, 8, 1000)
    df = pd.DataFrame(
        {"celsius": celsius, "fahrenheit": celsius * 1.8 + 32 + rng.normal(0, 0.5, 1000)}
    )
    table, schema = as_table(df)
    result = compute_insights(table, schema)
    warning = next(w for w in result["warnings"] if w["kind"] == "highly_correlated")
    assert warning["columns"] == ["celsius", "fahrenheit"]
    assert warning["evidence"]["value"] > 0.99


def test_duplicated_columns_are_not_also_reported_as_correlated(result: dict) -> None:
    pairs = [w["columns"] for w in result["warnings"] if w["kind"] == "highly_correlated"]
    assert ["level", "level_copy"] not in pairs
