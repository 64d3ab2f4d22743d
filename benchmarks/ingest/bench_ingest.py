"""Ingest benchmark: a 1,000,000-row × 20-column mixed CSV to a stored Parquet version.

Compared side by side, in one run, with ``pyarrow.csv.read_csv`` alone on the same file. Each
measurement runs in its own process (so peak memory is that process's), alternating the two,
and the medians and their ratio are reported.

    .venv/bin/python benchmarks/ingest/bench_ingest.py [--rows 1000000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

OUT = Path(__file__).with_name("out")


def generate(path: Path, rows: int, seed: int = 0) -> None:
    """Write a mixed CSV: numbers, skewed values, categories, booleans, dates, text, gaps."""
    rng = np.random.default_rng(seed)
    words = np.array(
        ["alpha", "beta", "gamma", "delta", "omega", "lorem", "ipsum", "data", "model", "churn"]
    )
    chunk = 200_000
    with open(path, "wb") as fh:
        for start in range(0, rows, chunk):
            n = min(chunk, rows - start)
            income = rng.lognormal(10, 1, n)
            income[rng.random(n) < 0.05] = np.nan
            cols = {
                "id": np.arange(start, start + n),
                "age": rng.integers(18, 90, n),
                "income": income.round(2),
                "score": rng.normal(0, 1, n).round(5),
                "balance": rng.normal(1000, 300, n).round(2),
                "ratio": rng.random(n).round(4),
                "clicks": rng.poisson(3, n),
                "visits": rng.integers(0, 1000, n),
                "city": rng.choice(["Lisbon", "Porto", "Braga", "Faro", "Coimbra"], n),
                "plan": rng.choice(["free", "basic", "pro"], n, p=[0.7, 0.2, 0.1]),
                "segment": np.char.add("seg-", rng.integers(0, 50, n).astype(str)),
                "user": np.char.add("u", rng.integers(0, 500_000, n).astype(str)),
                "active": rng.choice(["true", "false"], n),
                "churn": rng.integers(0, 2, n),
                "signup": (np.datetime64("2020-01-01") + rng.integers(0, 1500, n)).astype(str),
                "comment": np.char.add(
                    np.char.add(rng.choice(words, n), " "), rng.choice(words, n)
                ),
                "country": np.full(n, "PT"),
                "temp": rng.normal(20, 5, n).round(1),
                "rating": rng.integers(1, 6, n),
                "weight": rng.normal(70, 12, n).round(1),
            }
            table = pa.table(cols)
            pacsv.write_csv(table, fh, pacsv.WriteOptions(include_header=start == 0))


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_pyarrow(path: str) -> dict:
    before, cpu = peak_rss_mb(), cpu_seconds()
    started = time.perf_counter()
    table = pacsv.read_csv(path)
    return {
        "seconds": time.perf_counter() - started,
        "cpu_seconds": cpu_seconds() - cpu,
        "rows": table.num_rows,
        "rss_before_mb": before,
    }


def run_mlharbor(path: str) -> dict:
    from mlharbor import Hub, Settings

    data = Path(tempfile.mkdtemp(prefix="mlh-bench-"))
    try:
        with Hub.open(Settings(data_dir=data)) as hub:
            before, cpu = peak_rss_mb(), cpu_seconds()
            started = time.perf_counter()
            result = hub.datasets.ingest_file(Path(path), name="bench")
            seconds = time.perf_counter() - started
            cpu = cpu_seconds() - cpu
        return {
            "seconds": seconds,
            "cpu_seconds": cpu,
            "rows": result.version.n_rows,
            "parquet_bytes": result.version.size_bytes,
            "rss_before_mb": before,
        }
    finally:
        shutil.rmtree(data, ignore_errors=True)


def child(which: str, path: str) -> None:
    result = run_pyarrow(path) if which == "pyarrow" else run_mlharbor(path)
    result["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(result))


def measure(which: str, path: Path) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", which, str(path)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--child", nargs=2, metavar=("WHICH", "PATH"))
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    OUT.mkdir(exist_ok=True)
    path = OUT / f"mixed-{args.rows}.csv"
    if not path.exists():
        print(f"generating {path} ...", flush=True)
        generate(path, args.rows)
    print(f"file: {path.stat().st_size / 1e6:.0f} MB, {args.rows:,} rows × 20 columns")
    measure("pyarrow", path)  # warm the page cache for both
    runs: dict[str, list[dict]] = {"pyarrow": [], "mlharbor": []}
    for i in range(args.repeat):
        for which in ("pyarrow", "mlharbor") if i % 2 == 0 else ("mlharbor", "pyarrow"):
            runs[which].append(measure(which, path))
            print(which, json.dumps(runs[which][-1]), flush=True)
    med = {k: statistics.median(r["seconds"] for r in v) for k, v in runs.items()}
    cpu = {k: statistics.median(r["cpu_seconds"] for r in v) for k, v in runs.items()}
    mem = {k: statistics.median(r["peak_rss_mb"] for r in v) for k, v in runs.items()}
    base = {k: statistics.median(r["rss_before_mb"] for r in v) for k, v in runs.items()}
    pairs = zip(runs["mlharbor"], runs["pyarrow"], strict=True)
    ratios = sorted(m["seconds"] / p["seconds"] for m, p in pairs)
    print()
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"load {os.getloadavg()[0]:.2f}; pyarrow {pa.__version__}"
    )
    print("| step | median s | median CPU s | peak RSS MB | RSS before the step MB |")
    print("|---|---|---|---|---|")
    for key, label in (
        ("pyarrow", "`pyarrow.csv.read_csv` alone"),
        ("mlharbor", "mlharbor ingest → stored Parquet version"),
    ):
        print(f"| {label} | {med[key]:.2f} | {cpu[key]:.2f} | {mem[key]:.0f} | {base[key]:.0f} |")
    ratio = med["mlharbor"] / med["pyarrow"]
    print(f"ratio of medians mlharbor / pyarrow: {ratio:.2f} (target ≤ 1.5)")
    print(f"ratio of CPU medians: {cpu['mlharbor'] / cpu['pyarrow']:.2f}")
    print(f"ratios of neighbouring pairs: {', '.join(f'{r:.2f}' for r in ratios)}")


if __name__ == "__main__":
    main()
