"""Small real datasets, one per task, for training tests (sklearn bundled data + generated text)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine

from mlharbor.data.schema import DatasetSchema, infer_schema


def with_schema(df: pd.DataFrame) -> tuple[pd.DataFrame, DatasetSchema]:
    return df, infer_schema(pa.Table.from_pandas(df, preserve_index=False))


def binary_frame() -> pd.DataFrame:
    data = load_breast_cancer(as_frame=True)
    df = data.frame.iloc[:, [*range(8), -1]].sample(240, random_state=0)
    df["target"] = np.asarray(["malignant", "benign"], dtype=object)[df["target"]]
    return df.reset_index(drop=True).rename(columns={"target": "diagnosis"})


def multiclass_frame() -> pd.DataFrame:
    df = load_wine(as_frame=True).frame
    df = df.iloc[:, [*range(6), -1]].copy()
    df["target"] = np.asarray(["barolo", "grignolino", "barbera"], dtype=object)[df["target"]]
    return df.rename(columns={"target": "cultivar"})


def regression_frame() -> pd.DataFrame:
    return load_diabetes(as_frame=True).frame.iloc[:240].rename(columns={"target": "progress"})


def text_frame(n: int = 160, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    good = ["great", "wonderful", "moving", "brilliant", "superb", "loved"]
    bad = ["boring", "awful", "dull", "terrible", "weak", "hated"]
    neutral = ["the", "film", "plot", "actors", "story", "was", "and", "ending"]
    rows = []
    for i in range(n):
        positive = i % 2 == 0
        words = list(rng.choice(neutral, 6)) + list(rng.choice(good if positive else bad, 2))
        rng.shuffle(words)
        rows.append(
            {
                "review": " ".join(words),
                "length": len(words) + rng.normal(),
                "sentiment": "pos" if positive else "neg",
            }
        )
    return pd.DataFrame(rows)


TARGETS = {
    "binary": "diagnosis",
    "multiclass": "cultivar",
    "regression": "progress",
    "text": "sentiment",
}
FRAMES = {
    "binary": binary_frame,
    "multiclass": multiclass_frame,
    "regression": regression_frame,
    "text": text_frame,
}


def categorical_frame(n: int = 800, seed: int = 0) -> pd.DataFrame:
    """A 40-level ``state`` whose levels, not any order of them, decide the target."""
    rng = np.random.default_rng(seed)
    states = [f"st{i:02d}" for i in range(40)]
    risky = set(rng.choice(states, 12, replace=False))
    df = pd.DataFrame(
        {
            "state": rng.choice(states, n),
            "plan": rng.choice(["basic", "pro", "team"], n),
            "usage": rng.normal(0, 1, n).round(3),
            "calls": rng.integers(0, 6, n),
        }
    )
    df.loc[rng.choice(n, 20, replace=False), "plan"] = None
    signal = df.state.isin(risky) * 2.0 + (df.usage > 1) + (df.calls > 3) + rng.normal(0, 0.5, n)
    df["churn"] = np.where(signal > 1.2, "yes", "no")
    return df
