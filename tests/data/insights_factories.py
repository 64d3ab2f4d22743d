"""Datasets the insights tests are built from (generated: no network at run time)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from mlharbor.data.schema import DatasetSchema, infer_schema


def as_table(df: pd.DataFrame) -> tuple[pa.Table, DatasetSchema]:
    """The frame as the dataset service hands it over: an Arrow table and its schema."""
    table = pa.Table.from_pandas(df, preserve_index=False)
    return table, infer_schema(table)


def titanic_like(n: int = 891, seed: int = 0) -> pd.DataFrame:
    """A Titanic-shaped passenger list: survival depends on sex and class."""
    rng = np.random.default_rng(seed)
    sex = rng.choice(["male", "female"], n, p=[0.65, 0.35])
    pclass = rng.choice([1, 2, 3], n, p=[0.24, 0.21, 0.55])
    chance = 0.2 + 0.55 * (sex == "female") + 0.15 * (pclass == 1) - 0.1 * (pclass == 3)
    survived = (rng.random(n) < chance).astype(int)
    age = np.round(rng.normal(30, 14, n).clip(0.4, 80), 1)
    age[rng.random(n) < 0.2] = np.nan
    fare = np.round(rng.lognormal(2.8, 1.0, n) * (4 - pclass), 4)
    tickets = [
        str(rng.integers(10_000, 400_000))
        if rng.random() < 0.75
        else f"PC {rng.integers(1000, 20000)}"
        for _ in range(n)
    ]
    cabin = np.where(rng.random(n) < 0.77, None, [f"C{k}" for k in rng.integers(1, 150, n)])
    first = rng.choice(["Owen", "John", "Mary", "Anna", "Karl", "Elin", "Hugh", "Rose"], n)
    last = rng.choice(["Braund", "Cumings", "Heikkinen", "Futrelle", "Allen", "Moran"], n)
    names = [
        f"{ln}, {'Mrs.' if s == 'female' else 'Mr.'} {fn} {ln[0]}."
        for ln, fn, s in zip(last, first, sex, strict=True)
    ]
    embarked = rng.choice(["S", "C", "Q"], n, p=[0.72, 0.19, 0.09]).astype(object)
    embarked[:2] = None
    return pd.DataFrame(
        {
            "PassengerId": np.arange(1, n + 1),
            "Survived": survived,
            "Pclass": pclass,
            "Name": names,
            "Sex": sex,
            "Age": age,
            "SibSp": rng.choice([0, 1, 2, 3, 4], n, p=[0.68, 0.23, 0.05, 0.02, 0.02]),
            "Parch": rng.choice([0, 1, 2, 3], n, p=[0.76, 0.13, 0.09, 0.02]),
            "Ticket": tickets,
            "Fare": fare,
            "Cabin": cabin,
            "Embarked": embarked,
        }
    )


def mixed(n: int = 3_000, seed: int = 1) -> pd.DataFrame:
    """Every kind of column the insights describe, with planted problems."""
    rng = np.random.default_rng(seed)
    amount = rng.lognormal(3, 1.3, n)
    amount[rng.random(n) < 0.1] = np.nan
    level = rng.normal(0, 1, n)
    label = np.where(level + rng.normal(0, 1, n) > 0.5, "churned", "stayed")
    df = pd.DataFrame(
        {
            "order_id": np.arange(100, 100 + n),
            "amount": amount,
            "level": level,
            "level_copy": level,
            "delta": rng.integers(-5, 6, n),
            "colour": rng.choice(["red", "green", "blue", None], n, p=[0.5, 0.3, 0.15, 0.05]),
            "customer": [f"c{k}" for k in rng.integers(0, 400, n)],
            "mostly_blank": np.where(rng.random(n) < 0.6, None, rng.choice(["a", "b"], n)),
            "member": rng.random(n) < 0.3,
            "when": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 90, n), "D"),
            "comment": [
                " ".join(rng.choice(["good", "bad", "slow", "fast", "price", "the"], 6))
                for _ in range(n)
            ],
            "country": "NL",
            "label": label,
        }
    )
    df["outcome_code"] = np.where(df["label"] == "churned", 1, 0)
    return df
