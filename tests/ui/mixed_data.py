"""A small table with every kind of column an analyst brings: numbers with gaps, yes/no,
categories, dates and free text."""

from __future__ import annotations

import numpy as np
import pandas as pd


def mixed_table(n: int = 240, seed: int = 0) -> pd.DataFrame:
    """Patients: ``risk`` (high/low) depends on age and on ``smoker`` being "yes"."""
    rng = np.random.default_rng(seed)
    age = rng.integers(20, 80, n).astype(float)
    age[rng.random(n) < 0.08] = np.nan
    smoker = rng.choice(["yes", "no"], n)
    region = rng.choice(["north", "south", "east", "west"], n, p=[0.4, 0.3, 0.2, 0.1])
    seen = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 365, n), unit="D")
    phrases = ["patient reports mild pain", "no complaints today at all", "follow up in two weeks"]
    notes = rng.choice(phrases, n)
    bmi = rng.normal(27, 4, n).round(1)
    score = np.nan_to_num(age, nan=50) / 80 + (smoker == "yes") * 0.9 + rng.normal(0, 0.2, n)
    return pd.DataFrame(
        {
            "age": age,
            "smoker": smoker,
            "region": region,
            "seen": seen.strftime("%Y-%m-%d"),
            "notes": notes,
            "bmi": bmi,
            "risk": np.where(score > 1.1, "high", "low"),
        }
    )
