"""Benchmark mlharbor's insights against ydata-profiling, side by side in one run.

Generates a mixed 1,000,000-row x 20-column dataset (and a 100,000-row one for the
agreement check), then runs each profiler in its own subprocess so that each reports its own
peak memory: mlharbor's ``compute_insights`` (with a target; median of several runs) from
the project's Python, and ydata-profiling's full and ``minimal=True`` reports (their
description computed with ``get_description()``) from a separate virtual environment that
this script creates in ``benchmarks/insights/.venv-ydata``. ydata-profiling is never a
dependency of mlharbor.

Run from the repository root::

    .venv/bin/python benchmarks/insights/bench_insights.py            # everything
    .venv/bin/python benchmarks/insights/bench_insights.py --skip-ydata --rows 200000

Results are printed and written to ``benchmarks/insights/out/results.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the ydata venv has its own pandas; each process imports what it runs
    import pandas as pd

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
YDATA_VENV = HERE / ".venv-ydata"
YDATA_PACKAGES = ["ydata-profiling", "pyarrow", "setuptools"]
TARGET = "churn"
WORD_TEXT = (
    "price delivery quality late broken great support refund service friendly slow fast "
    "package order cheap expensive excellent terrible return works stopped easy hard app "
    "account login password update screen battery"
)


def make_dataset(n_rows: int, seed: int = 0) -> pd.DataFrame:
    """The mixed benchmark dataset as a pandas DataFrame (20 columns)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    n = n_rows

    def with_missing(values: np.ndarray, share: float) -> np.ndarray:
        values = values.astype(float)
        values[rng.random(n) < share] = np.nan
        return values

    normal = rng.normal(50, 10, n)
    uniform = rng.uniform(0, 1, n)
    plan = rng.choice(["basic", "standard", "premium", "family", "business"], n,
                      p=[0.4, 0.3, 0.15, 0.1, 0.05])  # fmt: skip
    region = np.array([f"region_{i:02d}" for i in range(30)])[rng.integers(0, 30, n)]
    users = np.array([f"user_{i:06d}" for i in range(60_000)])[rng.integers(0, 60_000, n)]
    words = np.array(WORD_TEXT.split())[rng.integers(0, len(WORD_TEXT.split()), (n, 8))]
    lengths = rng.integers(3, 9, n)
    reviews = [" ".join(row[:k]) for row, k in zip(words.tolist(), lengths.tolist(), strict=True)]
    logit = 0.08 * (normal - 50) + (plan == "premium") * 1.0 - 1.2 + rng.normal(0, 1, n)
    start = np.datetime64("2023-01-01T00:00:00")
    df = pd.DataFrame(
        {
            "age": rng.integers(18, 90, n),
            "income": with_missing(normal * 1000, 0.05),
            "score": normal,
            "score_noisy": 2 * normal + rng.normal(0, 8, n),
            "ratio": uniform,
            "ratio_copy": uniform,
            "spend": np.round(rng.lognormal(3, 1.2, n), 2),
            "visits": rng.poisson(3, n),
            "plan": plan,
            "region": np.where(rng.random(n) < 0.1, None, region),
            "user_ref": users,
            "stars": rng.integers(1, 6, n),
            "is_active": rng.random(n) < 0.7,
            "newsletter": np.where(rng.random(n) < 0.3, "yes", "no"),
            "last_seen": start + rng.integers(0, 365 * 86_400, n).astype("timedelta64[s]"),
            "signup_date": pd.to_datetime("2020-01-01")
            + pd.to_timedelta(rng.integers(0, 1500, n), unit="D"),
            "review": reviews,
            "legacy_code": with_missing(rng.normal(0, 1, n), 0.6),
            "source": "web",
            TARGET: np.where(logit > 0, "yes", "no"),
        }
    )
    df["signup_date"] = df["signup_date"].dt.strftime("%Y-%m-%d")
    return df


def dataset_path(n_rows: int) -> Path:
    path = OUT / f"mixed_{n_rows}.parquet"
    if not path.exists():
        OUT.mkdir(parents=True, exist_ok=True)
        make_dataset(n_rows).to_parquet(path, index=False)
    return path


# --- workers: each runs in its own process and prints one JSON line -----------------------


def work_mlharbor(data: Path, repeats: int, insights_out: Path | None) -> dict:
    import pyarrow.parquet as pq

    from mlharbor.data.insights import compute_insights
    from mlharbor.data.schema import infer_schema

    table = pq.read_table(data)
    started = time.perf_counter()
    schema = infer_schema(table)
    schema_seconds = time.perf_counter() - started
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = compute_insights(table, schema, target=TARGET)
        times.append(time.perf_counter() - started)
    if insights_out is not None:
        insights_out.write_text(json.dumps(result, allow_nan=False))
    return {"times": times, "schema_seconds": schema_seconds}


def work_ydata(data: Path, mode: str, description_out: Path | None) -> dict:
    import pandas as pd
    from ydata_profiling import ProfileReport

    df = pd.read_parquet(data)
    started = time.perf_counter()
    report = ProfileReport(df, minimal=(mode == "minimal"), progress_bar=False)
    description = report.get_description()
    seconds = time.perf_counter() - started
    if description_out is not None:
        variables = {
            name: {
                "type": str(var.get("type")),
                "n_missing": int(var["n_missing"]),
                "n_distinct": int(var["n_distinct"]),
                "mean": float(var["mean"]) if "mean" in var else None,
            }
            for name, var in description.variables.items()
        }
        alerts = [[a.alert_type.name, a.column_name] for a in description.alerts]
        description_out.write_text(json.dumps({"variables": variables, "alerts": alerts}))
    return {"times": [seconds]}


def run_worker() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--worker", required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--save", type=Path)
    args = parser.parse_args()
    if args.worker == "mlharbor":
        result = work_mlharbor(args.data, args.repeats, args.save)
    else:
        result = work_ydata(args.data, args.worker.removeprefix("ydata-"), args.save)
    # ru_maxrss is in KiB on Linux: the peak resident memory of this process alone.
    result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


# --- the driver -----------------------------------------------------------------------------


def ensure_ydata() -> Path:
    python = YDATA_VENV / "bin" / "python"
    check = [str(python), "-c", "import ydata_profiling, pyarrow"]
    if python.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return python
    print(f"creating {YDATA_VENV} with {' '.join(YDATA_PACKAGES)} (a few minutes)...")
    subprocess.run([sys.executable, "-m", "venv", str(YDATA_VENV)], check=True)
    pip = [str(python), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, *YDATA_PACKAGES], check=True)
    return python


def spawn(
    python: Path, worker: str, data: Path, repeats: int = 1, save: Path | None = None
) -> dict:
    command = [str(python), __file__, "--worker", worker, "--data", str(data)]
    command += ["--repeats", str(repeats)] + (["--save", str(save)] if save else [])
    env = dict(os.environ, PYTHONPATH=str(HERE.parent.parent / "src"))
    print(f"  running {worker} on {data.name}...", flush=True)
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"{worker} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def agreement(ours_path: Path, ydata_path: Path) -> dict:
    """Per-column counts compared with ydata-profiling, and which columns each flags."""
    ours = json.loads(ours_path.read_text())
    theirs = json.loads(ydata_path.read_text())
    rows, mismatches = [], []
    for col in ours["columns"]:
        var = theirs["variables"][col["name"]]
        mean = (col.get("numeric") or {}).get("mean")
        row = {
            "column": col["name"],
            "ours_type": col["semantic_type"],
            "ydata_type": var["type"],
            "missing": [col["n_missing"], var["n_missing"]],
            "distinct": [col["n_distinct"], var["n_distinct"]],
            "mean": [mean, var["mean"]],
        }
        if (
            col["n_missing"] != var["n_missing"]
            or col["n_distinct"] != var["n_distinct"]
            or (
                mean is not None
                and var["mean"] is not None
                and abs(mean - var["mean"]) > 1e-9 * max(1.0, abs(var["mean"]))
            )
        ):
            mismatches.append(row)
        rows.append(row)
    kinds = {
        "constant": ({"constant"}, {"CONSTANT"}),
        "duplicated": ({"duplicated_columns"}, set()),
        "high_missing": ({"high_missing"}, {"MISSING"}),
        "high_cardinality": ({"high_cardinality"}, {"HIGH_CARDINALITY"}),
    }
    flags = {}
    for label, (our_kinds, their_kinds) in kinds.items():
        ours_flagged = sorted(
            {c for w in ours["warnings"] if w["kind"] in our_kinds for c in w["columns"]}
        )
        theirs_flagged = sorted({c for kind, c in theirs["alerts"] if kind in their_kinds if c})
        flags[label] = {"mlharbor": ours_flagged, "ydata": theirs_flagged}
    flags["ydata_all_alerts"] = sorted({f"{kind}:{c}" for kind, c in theirs["alerts"]})
    return {"columns": rows, "mismatches": mismatches, "flags": flags}


def machine() -> dict:
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "python": platform.python_version(),
        "loadavg_before": Path("/proc/loadavg").read_text().split()[:3],
        "date_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def versions(python: Path, packages: list[str]) -> dict:
    code = (
        "import importlib.metadata as m, json; "
        f"print(json.dumps({{p: m.version(p) for p in {packages!r}}}))"
    )
    done = subprocess.run([str(python), "-c", code], capture_output=True, text=True)
    return json.loads(done.stdout) if done.returncode == 0 else {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--agreement-rows", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5, help="runs of mlharbor (median)")
    parser.add_argument("--ydata-repeats", type=int, default=1)
    parser.add_argument("--skip-ydata", action="store_true")
    parser.add_argument(
        "--agreement-only", action="store_true", help="only the 100,000-row agreement check"
    )
    args = parser.parse_args()
    if args.agreement_only:
        ydata = ensure_ydata()
        small = dataset_path(args.agreement_rows)
        ours_small, theirs_small = OUT / "ours_small.json", OUT / "ydata_small.json"
        spawn(Path(sys.executable), "mlharbor", small, 1, ours_small)
        spawn(ydata, "ydata-full", small, 1, theirs_small)
        found = agreement(ours_small, theirs_small)
        (OUT / "agreement.json").write_text(json.dumps(found, indent=2))
        print(json.dumps(found, indent=2))
        return
    OUT.mkdir(parents=True, exist_ok=True)
    results: dict = {"machine": machine(), "rows": args.rows}
    ours_python = Path(sys.executable)
    results["versions"] = versions(ours_python, ["polars", "pyarrow", "numpy", "scipy"])
    big, small = dataset_path(args.rows), dataset_path(args.agreement_rows)
    print(f"data: {big} and {small}")
    runs = {"mlharbor": spawn(ours_python, "mlharbor", big, args.repeats)}
    if not args.skip_ydata:
        ydata = ensure_ydata()
        results["versions"]["ydata"] = versions(ydata, ["ydata-profiling", "pandas", "numpy"])
        for mode in ("minimal", "full"):
            times, peaks = [], []
            for _ in range(args.ydata_repeats):
                run = spawn(ydata, f"ydata-{mode}", big)
                times += run["times"]
                peaks.append(run["peak_rss_mib"])
            runs[f"ydata-{mode}"] = {"times": times, "peak_rss_mib": max(peaks)}
        ours_small, theirs_small = OUT / "ours_small.json", OUT / "ydata_small.json"
        spawn(ours_python, "mlharbor", small, 1, ours_small)
        spawn(ydata, "ydata-full", small, 1, theirs_small)
        results["agreement"] = agreement(ours_small, theirs_small)
    results["machine"]["loadavg_after"] = Path("/proc/loadavg").read_text().split()[:3]
    for run in runs.values():
        run["median_seconds"] = statistics.median(run["times"])
    ours = runs["mlharbor"]
    for name, run in runs.items():
        if name != "mlharbor":
            run["slower_than_mlharbor"] = run["median_seconds"] / ours["median_seconds"]
            run["memory_vs_mlharbor"] = run["peak_rss_mib"] / ours["peak_rss_mib"]
    results["runs"] = runs
    (OUT / "results.json").write_text(json.dumps(results, indent=2))
    print(json.dumps({k: v for k, v in results.items() if k != "agreement"}, indent=2))
    if "agreement" in results:
        print(json.dumps(results["agreement"]["flags"], indent=2))
        print(f"per-column mismatches: {results['agreement']['mismatches']}")


if __name__ == "__main__":
    if "--worker" in sys.argv:
        run_worker()
    else:
        main()
