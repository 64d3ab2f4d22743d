"""Pipeline files and a table with a signal, a date, categories and gaps, for the run tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from tests.api.conftest import live_sqlite  # noqa: F401  (a live server, for --url)


def churn_table(n: int = 240, seed: int = 0) -> pd.DataFrame:
    """Customers who churn more when they pay more and call support: learnable in seconds."""
    rng = np.random.default_rng(seed)
    fee = rng.normal(50, 15, n).round(2)
    calls = rng.integers(0, 8, n)
    plan = rng.choice(["basic", "plus", "pro"], n)
    odds = 0.08 * (fee - 50) + 0.6 * (calls - 3) + (plan == "basic") * 0.8
    churned = np.where(rng.random(n) < 1 / (1 + np.exp(-odds)), "yes", "no")
    frame = pd.DataFrame(
        {
            "signed_up": pd.date_range("2024-01-01", periods=n, freq="D").strftime("%Y-%m-%d"),
            "fee": fee,
            "calls": calls,
            "plan": plan,
            "churned": churned,
        }
    )
    frame.loc[rng.choice(n, n // 10, replace=False), "fee"] = np.nan
    return frame


def write_churn(folder: Path, name: str = "churn.csv", **kwargs: int) -> Path:
    path = folder / name
    churn_table(**kwargs).to_csv(path, index=False)
    return path


#: Ingest, split by date, check quality, train one model, gate its promotion, check drift.
TRAIN_PIPELINE = """\
name: churn
params:
  seed: 0
  target: churned
  gain: 0.01
steps:
  - id: data
    kind: ingest
    path: churn.csv
  - id: split
    kind: split
    dataset: ${steps.data.dataset}
    order_by: signed_up
    fraction: 0.25
    into: [train, production]
  - id: fit
    kind: train
    dataset: ${steps.split.train}
    target: ${params.target}
    model: logistic-regression
    cv_folds: 0
    seed: ${params.seed}
  - id: promote
    kind: promote
    model: ${steps.fit.model}
    to: champion
    if: accuracy > champion.accuracy + ${params.gain}
  - id: drift
    kind: drift
    reference: ${steps.split.train}
    current: ${steps.split.production}
"""

#: The same without a job: quick enough for the API and browser tests.
LIGHT_PIPELINE = """\
name: churn-light
params:
  share: 0.25
  where: "calls >= 0"
steps:
  - id: data
    kind: ingest
    dataset: churn
  - id: split
    kind: split
    dataset: ${steps.data.dataset}
    where: ${params.where}
    order_by: signed_up
    fraction: ${params.share}
    into: [train, production]
  - id: quality
    kind: insights
    dataset: ${steps.split.train}
    target: churned
  - id: drift
    kind: drift
    reference: ${steps.split.train}
    current: ${steps.split.production}
"""
