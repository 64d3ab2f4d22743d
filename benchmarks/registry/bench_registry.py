"""Registration time of large models: write the model file, check it, load it back.

Compares, on the same fitted model:

- ``joblib``: ``joblib.dump`` + ``joblib.load`` to memory, the floor (a pickle: no check);
- ``skops``: what mlharbor did before — ``skops.io.dumps``, ``get_untrusted_types`` on the
  upload, then ``get_untrusted_types`` + ``skops.io.loads`` on the load;
- ``mlharbor``: :func:`dump_pipeline` (linear-time writer, allow-list walk) +
  :func:`load_trusted` (walk + skops' audit inside one ``loads``).

Run from the repository root (a couple of minutes on 2 cores)::

    nice -n 10 .venv/bin/python benchmarks/registry/bench_registry.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import copy
import io
import statistics
import time
from collections.abc import Callable
from typing import Any

import joblib
import numpy as np
import pandas as pd
import skops.io as sio
from threadpoolctl import threadpool_limits

from mlharbor.models.automl import BaggedClassifier
from mlharbor.models.automl.portfolio import Candidate
from mlharbor.models.tasks import Task
from mlharbor.prep.text import TextFeatures
from mlharbor.registry.persist import dump_pipeline, load_trusted


def table(n: int = 5000, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """A mid-size numeric table: 5,000 rows, 20 columns, a noisy binary target."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 20)), columns=[f"x{i}" for i in range(20)])
    y = (X["x0"] + X["x1"] * X["x2"] + rng.normal(size=n) > 0).astype(int).to_numpy()
    return X, y


def reviews(n: int = 2000, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Short made-up reviews over a 6,000-word vocabulary."""
    rng = np.random.default_rng(seed)
    words = np.array([f"w{i:04d}" for i in range(6000)])
    docs = [" ".join(rng.choice(words, rng.integers(8, 30))) for _ in range(n)]
    y = np.array([int(d.count("w0") > 2) for d in docs])
    return pd.DataFrame({"review": docs}), y


def models() -> dict[str, Any]:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    X, y = table()
    out = {}
    for trees in (10, 100, 500):
        forest = RandomForestClassifier(trees, min_samples_leaf=5, random_state=0, n_jobs=1)
        out[f"random forest, {trees} trees"] = forest.fit(X, y)
    lgbm = Candidate("lightgbm", "lightgbm", {}).make(Task.BINARY, 0)  # 100 trees
    out["5-fold bag of LightGBM (AutoML)"] = BaggedClassifier(lgbm, n_folds=5).fit(X, y)
    T, ty = reviews()
    text = make_pipeline(TextFeatures(), LogisticRegression(max_iter=200))
    out["5-fold bag of TF-IDF + logistic (AutoML text)"] = BaggedClassifier(text, 5).fit(T, ty)
    return out


def joblib_round(model: Any) -> None:
    buf = io.BytesIO()
    joblib.dump(model, buf)
    buf.seek(0)
    joblib.load(buf)


def skops_round(model: Any) -> None:
    data = sio.dumps(model)
    sio.get_untrusted_types(data=data)  # the check at registration
    sio.loads(data, trusted=sio.get_untrusted_types(data=data))


def mlharbor_round(model: Any) -> None:
    load_trusted(dump_pipeline(model))


def median_seconds(run: Callable[[Any], None], model: Any, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        fresh = copy.deepcopy(model)  # dump_pipeline rewrites vocabularies in place
        start = time.perf_counter()
        run(fresh)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--slow-limit", type=float, default=20.0, help="repeat no run longer")
    parser.add_argument("--only", default="", help="run only the models whose name has this")
    parser.add_argument("--no-before", action="store_true", help="skip the old skops path")
    args = parser.parse_args()
    print("| model | file (MB) | joblib (s) | skops before (s) | mlharbor after (s) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    with threadpool_limits(limits=1):
        for name, model in models().items():
            if args.only not in name:
                continue
            size = len(dump_pipeline(copy.deepcopy(model))) / 1e6
            row = [f"{size:.1f}"]
            for run in (joblib_round, skops_round, mlharbor_round):
                if run is skops_round and args.no_before:
                    row.append("skipped")
                    continue
                once = median_seconds(run, model, 1)
                more = args.repeats - 1 if once < args.slow_limit else 0
                seconds = statistics.median(
                    [once] + [median_seconds(run, model, 1) for _ in range(more)]
                )
                row.append(f"{seconds:.2f}" + ("" if more else " (1 run)"))
            print(f"| {name} | " + " | ".join(row) + " |", flush=True)


if __name__ == "__main__":
    main()
