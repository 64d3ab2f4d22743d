from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from mlharbor.data.schema import infer_schema
from mlharbor.errors import InvalidInputError
from mlharbor.models import prepare_input, train_model


@pytest.fixture(scope="module")
def trained():
    rng = np.random.default_rng(0)
    n = 120
    df = pd.DataFrame(
        {
            "age": rng.integers(18, 80, n).astype(float),
            "member": rng.choice([True, False], n),
            "plan": rng.choice(["basic", "pro"], n),
            "joined": pd.date_range("2023-01-01", periods=n, freq="D").strftime("%Y-%m-%d"),
            "churn": rng.choice(["yes_churn", "no_churn"], n),
        }
    )
    schema = infer_schema(pa.Table.from_pandas(df, preserve_index=False))
    result = train_model(
        df, schema, target="churn", model="decision-tree", cv_folds=0, artifacts=False
    )
    return df, result


def test_text_typed_rows_predict_like_the_typed_frame(trained) -> None:
    df, result = trained
    as_text = [{k: str(v) for k, v in row.items()} for row in df.head(20).to_dict("records")]
    for row in as_text:
        row["unused"] = "ignored"
    prepared = prepare_input(as_text, result.signature)
    assert list(prepared.columns) == ["age", "member", "plan", "joined"]
    np.testing.assert_array_equal(
        result.pipeline.predict(prepared), result.pipeline.predict(df.head(20))
    )


def test_a_missing_column_is_named_with_the_expected_ones(trained) -> None:
    df, result = trained
    with pytest.raises(InvalidInputError, match=r"lacks the column 'plan'.*age, member"):
        prepare_input(df.drop(columns="plan"), result.signature)
    with pytest.raises(InvalidInputError, match="lacks the column 'plan'"):
        prepare_input(df, result.signature, drop=["plan"])


@pytest.mark.parametrize(
    ("column", "value", "kind"),
    [
        ("age", "forty", "a number"),
        ("member", "maybe", "true or false"),
        ("joined", "someday", "a date"),
    ],
)
def test_values_of_the_wrong_type_are_refused_by_column(trained, column, value, kind) -> None:
    df, result = trained
    bad = df.head(3).astype(object)
    bad.loc[bad.index[0], column] = value
    with pytest.raises(InvalidInputError, match=f"column '{column}' must hold {kind}.*{value}"):
        prepare_input(bad, result.signature)


def test_missing_values_pass_through(trained) -> None:
    df, result = trained
    rows = df.head(2).astype(object)
    rows.loc[rows.index[0], ["age", "plan"]] = [None, None]
    prepared = prepare_input(rows, result.signature)
    assert np.isnan(prepared["age"].iloc[0])
    assert len(result.pipeline.predict(prepared)) == 2


def test_a_batch_read_from_parquet_is_cast_as_the_same_values_held_as_objects(trained) -> None:
    # Batch scoring reads typed columns (floats, Arrow-backed text with gaps): they take a
    # vectorised path, which must give exactly what the value-by-value path gives for the
    # very same values held in object columns (as JSON records arrive).
    df, result = trained
    rows = df.drop(columns=["churn"]).head(40).copy()
    rows.loc[[3, 7], "plan"] = None
    rows.loc[[5], "plan"] = " "
    rows.loc[[4], "age"] = np.nan
    typed = pa.Table.from_pandas(rows, preserve_index=False).to_pandas()
    assert isinstance(typed["plan"].dtype, pd.StringDtype) and typed["age"].dtype == float
    as_objects = typed.astype(object)
    from_parquet = prepare_input(typed, result.signature)
    from_objects = prepare_input(as_objects, result.signature)
    pd.testing.assert_frame_equal(from_parquet, from_objects)
    for column in from_parquet.columns:
        got, want = from_parquet[column].tolist(), from_objects[column].tolist()
        assert [type(v) for v in got] == [type(v) for v in want], column
