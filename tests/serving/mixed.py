"""A small mixed dataset (numbers and categories) and models trained on it for serving tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mlharbor.hub import Hub
from mlharbor.models import train_model


def mixed_frame(n: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "age": rng.integers(18, 80, n).astype(float),
            "income": rng.normal(50, 15, n).round(2),
            "city": rng.choice(["paris", "lyon", "nice"], n),
            "plan": rng.choice(["basic", "pro"], n),
        }
    )
    score = (df.age > 45).astype(int) + (df.city == "paris") + (df.income > 55)
    df["churn"] = np.where(score >= 2, "yes", "no")
    df["spend"] = (df.income * 2 + df.age + rng.normal(0, 3, n)).round(2)
    return df


def register(
    hub: Hub, tmp: Path, name: str, target: str, model: str = "rf", *, lineage: bool = False
) -> pd.DataFrame:
    """Ingest the mixed data, train ``model`` on ``target`` and register it as ``name``.

    With ``lineage`` the version names its dataset, as trained versions do, so the predictor
    can check an ONNX conversion against it.
    """
    df = mixed_frame()
    drop = "spend" if target == "churn" else "churn"
    path = tmp / f"{name}.csv"
    df.drop(columns=[drop]).to_csv(path, index=False)
    version = hub.datasets.ingest_file(path).version
    result = train_model(
        hub.datasets.read_table(version).to_pandas(),
        version.schema,
        target=target,
        model=model,
        params={"n_estimators": 20} if model == "rf" else {},
        cv_folds=0,
        artifacts=False,
    )
    names = {"dataset": version.dataset, "dataset_version": version.version} if lineage else {}
    hub.models.register(name, result, dataset_version_id=version.id, lineage=names)
    return df.drop(columns=[target, drop])
