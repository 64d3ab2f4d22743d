"""Benchmark mlharbor's drift report against Evidently's DataDriftPreset, side by side.

Two scenarios on generated data (see ``data.py``: 20 columns, 11 numeric and 9
categorical, among them an unchanged 5,000-level categorical):

* accuracy and speed: a 100,000-row reference and a 100,000-row current set where exactly
  4 columns changed (mean shift, variance change, category frequency change, a new
  category); a tool should flag those 4 and none of the 16 others;
* false alarms: two independent 1,000,000-row samples of one distribution; every flag is a
  false alarm.

mlharbor is timed from pandas frames to verdicts, both profiles included (in production
the reference profile is stored at registration, so a report costs less). Evidently runs
in its own virtual environment that this script creates in
``benchmarks/drift/.venv-evidently``; it is never a dependency of mlharbor.

Run from the repository root::

    nice -n 5 .venv/bin/python benchmarks/drift/bench_drift.py
    .venv/bin/python benchmarks/drift/bench_drift.py --rows 20000 --big-rows 100000 --skip-evidently

Results are printed and written to ``benchmarks/drift/out/results.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from data import CATEGORICAL, CHANGED, NUMERIC, make_frame  # noqa: E402

OUT = HERE / "out"
VENV = HERE / ".venv-evidently"
EVIDENTLY = ["evidently==0.7.23", "pandas<3", "pyarrow"]


def ensure_evidently() -> Path:
    """The Evidently venv's Python, created on first use."""
    python = VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    probe = subprocess.run([str(python), "-c", "import evidently"], capture_output=True)
    if probe.returncode != 0:
        subprocess.run([str(python), "-m", "pip", "install", "-q", *EVIDENTLY], check=True)
    return python


def run_evidently(python: Path, rows: int, changed: bool, repeats: int) -> dict:
    proc = subprocess.run(
        [
            str(python),
            str(HERE / "evidently_runner.py"),
            str(rows),
            str(int(changed)),
            str(repeats),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_mlharbor(rows: int, changed: bool, repeats: int) -> dict:
    import mlharbor
    from mlharbor.monitoring import compare_profiles, profile_table

    reference = make_frame(rows, 1, changed=False)
    current = make_frame(rows, 2, changed=changed)
    kinds = {c: "numeric" for c in NUMERIC} | {c: "categorical" for c in CATEGORICAL}
    times, stored, report = [], [], None
    for _ in range(repeats):
        started = time.perf_counter()
        ref_profile = profile_table(reference, kinds)
        middle = time.perf_counter()
        report = compare_profiles(ref_profile, profile_table(current, kinds))
        ended = time.perf_counter()
        times.append(ended - started)
        stored.append(ended - middle)
    columns = {
        r["column"]: {
            "method": r["method"],
            "distance": r["distance"],
            "noise": r["noise"],
            "effect": r["effect"],
            "p_value": r["p_value"],
            "drifted": r["drifted"],
        }
        for r in report["columns"]
    }
    return {
        "tool": "mlharbor",
        "version": mlharbor.__version__,
        "seconds": times,
        "median_seconds": statistics.median(times),
        "median_seconds_with_stored_reference": statistics.median(stored),
        "flagged": sorted(report["dataset"]["drifted_columns"]),
        "columns": columns,
    }


def score(result: dict, changed: bool) -> dict:
    flagged = set(result["flagged"])
    expected = set(CHANGED) if changed else set()
    return {
        "caught": sorted(flagged & expected),
        "missed": sorted(expected - flagged),
        "false_alarms": sorted(flagged - expected),
    }


def machine() -> dict:
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--big-rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--big-repeats", type=int, default=1)
    parser.add_argument("--skip-evidently", action="store_true")
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    scenarios = [
        ("four_changed", args.rows, True, args.repeats),
        ("same_distribution", args.big_rows, False, args.big_repeats),
    ]
    python = None if args.skip_evidently else ensure_evidently()
    results: dict = {"date": datetime.now(UTC).isoformat(), "machine": machine()}
    for name, rows, changed, repeats in scenarios:
        entry: dict = {"rows": rows, "changed_columns": CHANGED if changed else []}
        print(f"== {name}: {rows:,} vs {rows:,} rows", flush=True)
        mine = run_mlharbor(rows, changed, repeats)
        entry["mlharbor"] = {**mine, **score(mine, changed)}
        print(f"mlharbor  {mine['median_seconds']:.2f}s  {score(mine, changed)}", flush=True)
        if python is not None:
            theirs = run_evidently(python, rows, changed, repeats)
            entry["evidently"] = {**theirs, **score(theirs, changed)}
            ratio = theirs["median_seconds"] / mine["median_seconds"]
            entry["speedup"] = round(ratio, 1)
            print(
                f"evidently {theirs['median_seconds']:.2f}s  {score(theirs, changed)}  "
                f"mlharbor is {ratio:.1f}x faster",
                flush=True,
            )
        results[name] = entry
    (OUT / "results.json").write_text(json.dumps(results, indent=2))
    print(f"written {OUT / 'results.json'}")


if __name__ == "__main__":
    main()
