from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from mlharbor.prep import DatetimeFeatures, TextFeatures
from mlharbor.prep.input_step import InputTypes


@parametrize_with_checks([DatetimeFeatures(), TextFeatures(), InputTypes()])
def test_own_transformers_follow_the_sklearn_contract(estimator, check) -> None:
    check(estimator)


def test_datetime_strings_become_calendar_parts_and_elapsed_days() -> None:
    X = pd.DataFrame({"when": ["01/03/2024", "15/03/2024", None, "garbage"]})
    dt = DatetimeFeatures(format="%d/%m/%Y").fit(X)
    out = pd.DataFrame(dt.transform(X), columns=dt.get_feature_names_out())
    assert list(out.columns) == [
        "when__year",
        "when__month",
        "when__day",
        "when__dayofweek",
        "when__dayofyear",
        "when__elapsed_days",
        "when__missing",
    ]
    assert out.loc[0, "when__month"] == 3 and out.loc[0, "when__day"] == 1
    assert out.loc[1, "when__elapsed_days"] == 14
    assert out["when__missing"].tolist() == [0, 0, 1, 1]
    assert np.isnan(out.loc[2, "when__year"])


def test_datetime_times_of_day_add_an_hour_feature_and_timestamps_are_read() -> None:
    X = pd.DataFrame({"at": pd.to_datetime(["2024-01-01 08:30", "2024-01-02 17:00"])})
    dt = DatetimeFeatures().fit(X)
    names = list(dt.get_feature_names_out())
    assert "at__hour" in names
    assert dt.transform(X)[:, names.index("at__hour")].tolist() == [8, 17]


def test_text_features_name_their_column_and_read_missing_as_empty() -> None:
    X = pd.DataFrame({"review": ["a great film", "a dull film", None]})
    tf = TextFeatures().fit(X)
    out = tf.transform(X)
    names = tf.get_feature_names_out()
    assert out.shape == (3, len(names))
    assert "review__w__great" in set(names)
    assert any(n.startswith("review__c__") for n in names)
    assert out[2].nnz == 0


@pytest.mark.parametrize("value", [None, np.nan])
def test_text_features_survive_an_all_missing_column(value) -> None:
    X = pd.DataFrame({"t": [value, value]}, dtype=object)
    assert TextFeatures().fit_transform(X).shape[0] == 2


def test_input_tokens_are_the_schemas_boolean_tokens() -> None:
    """prep.inputs travels with exports and cannot import data.schema: its copy must agree."""
    from mlharbor.data.schema import BOOLEAN_TOKENS
    from mlharbor.prep.inputs import TOKENS

    assert {k: v for k, v in TOKENS.items() if not k[0].isdigit()} == BOOLEAN_TOKENS


def test_input_types_spell_booleans_and_whole_numbers_as_training_did() -> None:
    columns = [
        {
            "name": "active",
            "dtype": "str",
            "semantic_type": "boolean",
            "labels": {"true": "true", "false": "false"},
        },
        {
            "name": "answer",
            "dtype": "str",
            "semantic_type": "categorical",
            "levels": [["true", 3], ["false", 2], ["unsure", 1]],
        },
        {
            "name": "size",
            "dtype": "str",
            "semantic_type": "categorical",
            "levels": [["1", 4], ["L", 2]],
        },
        {"name": "price", "dtype": "float64", "semantic_type": "numeric"},
    ]
    rows = pd.DataFrame(
        {"active": [True, None], "answer": [False, True], "size": [1.0, np.nan], "price": [3, 4]}
    )
    out = InputTypes(columns=columns).fit().transform(rows)
    assert out["active"].tolist()[0] == "true" and pd.isna(out["active"].tolist()[1])
    assert out["answer"].tolist() == ["false", "true"]
    assert out["size"].tolist()[0] == "1"
    assert out["price"].tolist() == [3.0, 4.0]
    with pytest.raises(ValueError, match="'price' must hold a number"):
        InputTypes(columns=columns).fit().transform(rows.assign(price="abc"))
    with pytest.raises(ValueError, match="lacks the column 'size'"):
        InputTypes(columns=columns).fit().transform(rows.drop(columns=["size"]))
