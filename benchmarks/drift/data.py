"""The drift benchmark's data: 20 columns, exactly 4 of them changed in the current set.

Imported by the benchmark (mlharbor's Python) and by the Evidently runner (its own venv), so
it needs numpy and pandas only. The same seed gives the same frames in both.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

CHANGED = ["num_mean_shift", "num_variance", "cat_frequency", "cat_new_category"]
NUMERIC = [
    "num_mean_shift",
    "num_variance",
    "num_normal",
    "num_lognormal",
    "num_uniform",
    "num_exponential",
    "num_integer",
    "num_missing",
    "num_bimodal",
    "num_heavy_tail",
    "num_discrete",
]
CATEGORICAL = [
    "cat_frequency",
    "cat_new_category",
    "cat_binary",
    "cat_colour",
    "cat_zipf_50",
    "cat_5000",
    "cat_country",
    "cat_flag",
    "cat_sparse",
]
LEVELS_5000 = np.array([f"L{i:04d}" for i in range(5000)])
COLOURS = np.array(["red", "green", "blue", "yellow", "black", "white"])
ZIPF = np.array([f"z{i}" for i in range(50)])
COUNTRIES = np.array([f"country_{i}" for i in range(200)])
SPARSE = np.array([f"s{i}" for i in range(1000)])


def _zipf_p(k: int, a: float = 1.1) -> np.ndarray:
    p = 1.0 / np.arange(1, k + 1) ** a
    return p / p.sum()


def make_frame(n: int, seed: int, *, changed: bool) -> pd.DataFrame:
    """``n`` rows; with ``changed`` the four CHANGED columns move, the 16 others do not."""
    rng = np.random.default_rng(seed)
    num_missing = rng.normal(10, 2, n)
    num_missing[rng.random(n) < 0.1] = np.nan
    freq = [0.3, 0.3, 0.4] if changed else [0.5, 0.3, 0.2]
    new_cat = rng.choice(["A", "B", "C"], n, p=[0.5, 0.3, 0.2]).astype(object)
    if changed:
        new_cat[rng.random(n) < 0.1] = "D"
    data = {
        "num_mean_shift": rng.normal(0.5 if changed else 0.0, 1.0, n),
        "num_variance": rng.normal(0.0, 1.5 if changed else 1.0, n),
        "num_normal": rng.normal(100, 15, n),
        "num_lognormal": rng.lognormal(3, 1, n),
        "num_uniform": rng.uniform(-1, 1, n),
        "num_exponential": rng.exponential(2.0, n),
        "num_integer": rng.integers(0, 100, n).astype(float),
        "num_missing": num_missing,
        "num_bimodal": np.where(rng.random(n) < 0.3, rng.normal(-3, 1, n), rng.normal(3, 1, n)),
        "num_heavy_tail": rng.standard_t(2, n),
        "num_discrete": rng.poisson(3, n).astype(float),
        "cat_frequency": rng.choice(["x", "y", "z"], n, p=freq),
        "cat_new_category": new_cat,
        "cat_binary": rng.choice(["yes", "no"], n, p=[0.2, 0.8]),
        "cat_colour": rng.choice(COLOURS, n),
        "cat_zipf_50": rng.choice(ZIPF, n, p=_zipf_p(50)),
        "cat_5000": rng.choice(LEVELS_5000, n),
        "cat_country": rng.choice(COUNTRIES, n, p=_zipf_p(200, 0.8)),
        "cat_flag": rng.choice(["on", "off"], n, p=[0.5, 0.5]),
        "cat_sparse": rng.choice(SPARSE, n, p=_zipf_p(1000, 1.5)),
    }
    return pd.DataFrame(data)
