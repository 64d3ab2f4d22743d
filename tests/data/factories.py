"""Files of every kind a user might upload, written to a folder."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd

TITANIC_LIKE = "PassengerId,Survived,Pclass,Name,Sex,Age,Fare,Embarked\n" + "".join(
    f'{i},{i % 2},{i % 3 + 1},"Passenger {i}, Mr. John",{"male" if i % 3 else "female"},'
    f"{20 + i % 40 if i % 7 else ''},{7.25 + i % 13},{'SCQ'[i % 3]}\n"
    for i in range(1, 121)
)


def write(tmp: Path, name: str, content: str | bytes) -> Path:
    path = tmp / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def frame(n: int = 50, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "age": rng.integers(18, 90, n),
            "income": rng.normal(50_000, 10_000, n).round(2),
            "city": rng.choice(["Lisbon", "Porto", "Braga"], n),
            "churn": rng.choice(["yes", "no"], n),
        }
    )


def gzip_csv(tmp: Path) -> Path:
    path = tmp / "data.csv.gz"
    with gzip.open(path, "wt") as fh:
        fh.write(frame().to_csv(index=False))
    return path
