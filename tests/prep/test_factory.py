from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from mlharbor.data.schema import infer_schema
from mlharbor.errors import InvalidInputError
from mlharbor.prep import feature_origins, make_preprocessor, plan_features


@pytest.fixture
def mixed() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 120
    df = pd.DataFrame(
        {
            "row_id": np.arange(n),
            "amount": rng.normal(size=n),
            "colour": rng.choice(["red", "green", "blue", None], size=n),
            "city": [f"city{i}" for i in rng.integers(0, 40, size=n)],
            "member": rng.choice(["yes", "no"], size=n),
            "joined": pd.date_range("2023-01-01", periods=n, freq="D").strftime("%d/%m/%Y"),
            "comment": [
                " ".join(rng.choice(["good", "bad", "slow", "fast", "ok"], 6)) for _ in range(n)
            ],
            "constant": 1,
            "label": rng.choice(["churn", "stay"], size=n),
        }
    )
    df.loc[[3, 7], "amount"] = np.nan
    return df


def _schema(df: pd.DataFrame):
    return infer_schema(pa.Table.from_pandas(df, preserve_index=False))


def test_each_semantic_type_gets_its_own_treatment(mixed: pd.DataFrame) -> None:
    plan = plan_features(_schema(mixed), target="label")
    assert plan.numeric == ["amount"]
    assert plan.categorical == ["colour"]
    assert plan.high_cardinality == ["city"]
    assert plan.boolean == ["member"]
    assert plan.datetime == {"joined": "%d/%m/%Y"}
    assert plan.text == ["comment"]
    assert set(plan.dropped) == {"row_id", "constant", "label"}
    assert "identifier" in plan.dropped["row_id"]


def test_preprocessor_output_features_map_back_to_original_columns(mixed) -> None:
    ct = make_preprocessor(_schema(mixed), target="label", task="binary", scale=True)
    X = mixed.drop(columns="label")
    out = ct.fit_transform(X, mixed["label"])
    origins = feature_origins(ct)
    assert out.shape == (len(mixed), len(origins))
    assert set(origins.values()) == {"amount", "colour", "city", "member", "joined", "comment"}
    assert origins["numeric__missingindicator_amount"] == "amount"
    # unseen categories and dates at prediction time do not break the transform
    new = X.head(2).assign(colour="purple", city="nowhere", joined="01/01/2030")
    assert ct.transform(new).shape == (2, out.shape[1])


def test_dense_preprocessor_returns_an_array_for_models_refusing_sparse(mixed) -> None:
    ct = make_preprocessor(_schema(mixed), target="label", task="binary", dense=True)
    assert isinstance(ct.fit_transform(mixed, mixed["label"]), np.ndarray)


def test_nonnegative_scaling_keeps_every_feature_at_or_above_zero(mixed) -> None:
    ct = make_preprocessor(_schema(mixed), target="label", task="text", nonnegative=True)
    out = ct.fit_transform(mixed, mixed["label"])
    assert (out.min() if isinstance(out, np.ndarray) else out.data.min()) >= 0


def test_no_usable_feature_names_every_dropped_column_and_why(mixed) -> None:
    with pytest.raises(InvalidInputError) as err:
        make_preprocessor(
            _schema(mixed),
            target="label",
            drop=["amount", "colour", "city", "member", "joined", "comment"],
        )
    message = str(err.value)
    assert "no usable feature" in message
    assert "'row_id': an identifier" in message and "'amount': dropped on request" in message
    assert "'constant': constant" in message


def test_dropping_an_unknown_column_names_it(mixed) -> None:
    with pytest.raises(InvalidInputError, match=r"'nope'.*not in the dataset"):
        plan_features(_schema(mixed), target="label", drop=["nope"])


def test_overrides_change_type_and_role(mixed) -> None:
    ct = make_preprocessor(
        _schema(mixed),
        target="label",
        overrides={"row_id": "numeric", "comment": "ignore", "city": {"semantic_type": "text"}},
    )
    groups = {name: cols for name, _, cols in ct.transformers}
    assert "row_id" in groups["numeric"]
    assert "text_comment" not in groups and "text_city" in groups


def test_an_unknown_override_type_is_refused(mixed) -> None:
    with pytest.raises(InvalidInputError, match="unknown semantic type 'blob'"):
        make_preprocessor(_schema(mixed), target="label", overrides={"city": "blob"})
