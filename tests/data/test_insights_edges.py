"""Awkward datasets get insights or a clear error, never a crash."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from mlharbor.data.insights import compute_insights
from mlharbor.data.schema import ColumnSchema, DatasetSchema, SemanticType, infer_schema
from mlharbor.errors import InvalidInputError

from .insights_factories import as_table


def _insights(df: pd.DataFrame, target: str | None = None) -> dict:
    table, schema = as_table(df)
    result = compute_insights(table, schema, target=target)
    json.dumps(result, allow_nan=False)
    return result


def test_all_missing_column_is_flagged_and_described() -> None:
    df = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "empty": [None, None, None, None]})
    result = _insights(df, target="x")
    col = result["columns"][1]
    assert col["n_missing"] == 4 and col["n_distinct"] == 0 and col["top_values"] == []
    warning = next(w for w in result["warnings"] if w["column"] == "empty")
    assert warning["kind"] == "high_missing" and "every value" in warning["message"]


def test_all_nan_float_column() -> None:
    result = _insights(pd.DataFrame({"x": [np.nan] * 5, "y": [1, 2, 3, 4, 5]}))
    assert result["columns"][0]["n_missing"] == 5


def test_one_row_dataset() -> None:
    df = pd.DataFrame({"a": [1.5], "b": ["x"], "c": [True], "when": [pd.Timestamp("2024-05-01")]})
    result = _insights(df, target="a")
    assert result["table"]["n_rows"] == 1
    assert result["columns"][0]["numeric"]["mean"] == 1.5
    assert result["columns"][0]["numeric"]["std"] is None
    assert result["target"]["task"] is None


def test_empty_string_column_is_flagged() -> None:
    df = pd.DataFrame({"x": range(30), "note": [""] * 30})
    result = _insights(df)
    kinds = {w["kind"] for w in result["warnings"] if w["column"] == "note"}
    assert {"empty_strings", "constant"} <= kinds


def test_blank_strings_among_values_are_counted() -> None:
    df = pd.DataFrame({"city": ["Oslo", " ", "", "Rome", "Oslo", "Rome"] * 5})
    col = _insights(df)["columns"][0]
    assert col["n_empty"] == 10


def test_single_column_dataset() -> None:
    result = _insights(pd.DataFrame({"only": [3, 1, 4, 1, 5, 9, 2, 6]}))
    assert result["table"]["n_columns"] == 1
    assert result["associations"]["top_pairs"] == []


def test_single_column_that_is_the_target() -> None:
    result = _insights(pd.DataFrame({"y": ["a", "b", "a", "b"]}), target="y")
    assert result["target"]["task"] == "binary"
    assert result["target"]["features"] == []


def test_no_rows_is_a_clear_error() -> None:
    table = pa.table({"x": pa.array([], pa.float64())})
    with pytest.raises(InvalidInputError, match="no rows"):
        compute_insights(table, infer_schema(table))


def test_no_columns_is_a_clear_error() -> None:
    table = pa.table({})
    with pytest.raises(InvalidInputError, match="no columns"):
        compute_insights(table, infer_schema(table))


def test_schema_of_another_table_is_refused() -> None:
    table, _ = as_table(pd.DataFrame({"a": [1, 2]}))
    _, other = as_table(pd.DataFrame({"b": [1, 2]}))
    with pytest.raises(InvalidInputError, match="schema does not describe"):
        compute_insights(table, other)


def test_too_small_sample_is_refused() -> None:
    table, schema = as_table(pd.DataFrame({"a": [1, 2]}))
    with pytest.raises(InvalidInputError, match="max_exact_rows"):
        compute_insights(table, schema, max_exact_rows=5)


def test_infinities_are_counted_and_kept_out_of_statistics() -> None:
    df = pd.DataFrame({"x": [1.0, 2.0, np.inf, 3.0, -np.inf, np.nan] * 5})
    result = _insights(df)
    col = result["columns"][0]
    assert col["n_infinite"] == 10 and col["n_missing"] == 5
    assert col["numeric"]["mean"] == pytest.approx(2.0)
    assert any(w["kind"] == "infinite_values" for w in result["warnings"])


def test_dates_as_strings_are_parsed_and_bad_ones_counted() -> None:
    dates = [f"2023-0{m}-1{d} 10:30:00" for m in range(1, 10) for d in range(10)]
    dates[3] = "not a date"
    result = _insights(pd.DataFrame({"at": dates}))
    col = result["columns"][0]
    assert col["semantic_type"] == "datetime"
    assert col["datetime"]["granularity"] == "minute"
    assert col["datetime"]["n_unparsed"] == 1
    assert col["datetime"]["min"].startswith("2023-01-10")


def test_dictionary_column_is_described() -> None:
    table = pa.table({"cat": pa.array(["a", "b", "a", None]).dictionary_encode()})
    cat = compute_insights(table, infer_schema(table))["columns"][0]
    assert cat["n_distinct"] == 2 and cat["n_missing"] == 1
    assert cat["top_values"][0] == {"value": "a", "count": 2, "share": 2 / 3}


def test_list_column_is_described_by_its_text() -> None:
    table = pa.table({"tags": pa.array([[1, 2], [3], None, [1, 2]])})
    schema = DatasetSchema(
        columns=[
            ColumnSchema(
                name="tags",
                storage_type="list<int64>",
                semantic_type=SemanticType.CATEGORICAL,
            )
        ],
        n_rows=4,
    )
    tags = compute_insights(table, schema)["columns"][0]
    assert tags["n_distinct"] == 2 and tags["n_missing"] == 1
    assert tags["top_values"][0]["value"] == "[1, 2]"


def test_repeated_column_names_are_refused() -> None:
    table = pa.Table.from_arrays([pa.array([1, 2]), pa.array([3, 4])], names=["a", "a"])
    schema = infer_schema(table)
    with pytest.raises(InvalidInputError, match="repeated column names"):
        compute_insights(table, schema)


def test_wide_table_is_described_column_by_column() -> None:
    rng = np.random.default_rng(2)
    df = pd.DataFrame({f"f{i}": rng.normal(size=300) for i in range(150)})
    df["y"] = rng.choice(["a", "b"], 300)
    result = _insights(df, target="y")
    assert len(result["columns"]) == 151
    assert len(result["target"]["features"]) == 150
    assert len(result["associations"]["pearson"]["columns"]) == 60  # capped, and said so
    assert sum(s["reason"].startswith("more than") for s in result["associations"]["skipped"]) == 90
