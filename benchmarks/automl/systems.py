"""One AutoML system on one prepared dataset: fit within a budget, predict the held-out rows.

Run by ``bench_automl.py`` inside the system's own virtual environment::

    python systems.py SYSTEM DATA_DIR BUDGET OUT_JSON

``SYSTEM`` is ``mlharbor``, ``lightgbm``, ``flaml`` or ``autogluon``. Only the imports of
the chosen system are made, so each venv needs just its own packages (pandas + pyarrow).
Writes the held-out predictions (probabilities or values) and the wall-clock times.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

#: The metric every system is asked to optimise, per task (the scores reported are computed
#: by the runner from the held-out predictions, the same way for all).
OPTIMISE = {"binary": "roc_auc", "multiclass": "log_loss", "regression": "r2"}


def _load(data_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    meta = json.loads((data_dir / "meta.json").read_text())
    train = pd.read_parquet(data_dir / "train.parquet")
    test = pd.read_parquet(data_dir / "test.parquet")
    return train, test, meta


def _proba_frame(proba: np.ndarray, classes: list) -> dict:
    return {"classes": [str(c) for c in classes], "proba": np.asarray(proba, float).tolist()}


def run_lightgbm(train, test, meta, budget, seed):
    from lightgbm import LGBMClassifier, LGBMRegressor
    from scipy import sparse
    from sklearn.feature_extraction.text import TfidfVectorizer

    target, text = meta["target"], meta.get("text_columns", [])
    X, Xt = train.drop(columns=[target]), test.drop(columns=[target])
    if text:
        # LightGBM cannot read free text: a default TF-IDF is the plain baseline for it.
        vec = TfidfVectorizer(min_df=2, max_features=20000)
        X = sparse.csr_matrix(vec.fit_transform(X[text[0]].fillna("")), dtype=np.float32)
        Xt = sparse.csr_matrix(vec.transform(Xt[text[0]].fillna("")), dtype=np.float32)
    else:
        for col in X.columns:
            if not pd.api.types.is_numeric_dtype(X[col]) or pd.api.types.is_bool_dtype(X[col]):
                cats = pd.CategoricalDtype(sorted(X[col].dropna().astype(str).unique()))
                X[col] = X[col].astype(str).where(X[col].notna()).astype(cats)
                Xt[col] = Xt[col].astype(str).where(Xt[col].notna()).astype(cats)
    if meta["task"] == "regression":
        model = LGBMRegressor(random_state=seed, verbose=-1).fit(X, train[target])
        return {"pred": model.predict(Xt).tolist()}
    model = LGBMClassifier(random_state=seed, verbose=-1).fit(X, train[target].astype(str))
    return _proba_frame(model.predict_proba(Xt), list(model.classes_))


def run_flaml(train, test, meta, budget, seed):
    from flaml import AutoML

    target = meta["target"]
    X, y = train.drop(columns=[target]), train[target]
    automl = AutoML()
    task = "regression" if meta["task"] == "regression" else "classification"
    if task == "classification":
        y = y.astype(str)
    automl.fit(
        X, y, task=task, time_budget=budget, metric=OPTIMISE[meta["task"]], seed=seed, verbose=0
    )
    Xt = test.drop(columns=[target])
    if task == "regression":
        return {"pred": automl.predict(Xt).tolist(), "best": automl.best_estimator}
    out = _proba_frame(automl.predict_proba(Xt), list(automl.classes_))
    out["best"] = automl.best_estimator
    return out


def run_autogluon(train, test, meta, budget, seed):
    from autogluon.tabular import TabularPredictor

    target = meta["target"]
    metric = {"binary": "roc_auc", "multiclass": "log_loss", "regression": "r2"}[meta["task"]]
    problem = meta["task"]
    data = train.copy()
    if problem != "regression":
        data[target] = data[target].astype(str)
    with tempfile.TemporaryDirectory() as path:
        predictor = TabularPredictor(
            label=target, eval_metric=metric, problem_type=problem, path=path, verbosity=0
        ).fit(data, time_limit=budget)
        Xt = test.drop(columns=[target])
        if problem == "regression":
            return {"pred": predictor.predict(Xt).to_numpy().tolist()}
        proba = predictor.predict_proba(Xt)
        out = _proba_frame(proba.to_numpy(), list(proba.columns))
        out["best"] = predictor.model_best
        return out


def run_mlharbor(train, test, meta, budget, seed):
    import pyarrow as pa

    from mlharbor.data.schema import infer_schema
    from mlharbor.models.automl import run_automl

    target = meta["target"]
    data = train.copy()
    if meta["task"] != "regression":
        data[target] = data[target].astype(str)
    schema = infer_schema(pa.Table.from_pandas(data, preserve_index=False))
    result = run_automl(data, schema, target=target, time_budget=budget, seed=seed)
    Xt = test.drop(columns=[target])
    extra = {
        "best": result.best_name,
        "candidates": len(result.leaderboard),
        "timings": result.timings,  # the search's own clock: search + refit vs the budget
    }
    if meta["task"] == "regression":
        return {"pred": result.pipeline.predict(Xt).tolist(), **extra}
    return {**_proba_frame(result.pipeline.predict_proba(Xt), result.classes), **extra}


SYSTEMS = {
    "lightgbm": run_lightgbm,
    "flaml": run_flaml,
    "autogluon": run_autogluon,
    "mlharbor": run_mlharbor,
}


def main() -> None:
    system, data_dir, budget, out = sys.argv[1], Path(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
    train, test, meta = _load(data_dir)
    started = time.perf_counter()
    result = SYSTEMS[system](train, test, meta, budget, int(os.environ.get("BENCH_SEED", "0")))
    result["seconds"] = round(time.perf_counter() - started, 2)
    Path(out).write_text(json.dumps(result))


if __name__ == "__main__":
    main()
