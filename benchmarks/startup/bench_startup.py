"""How long a user waits for mlharbor's commands, as whole processes, before vs after.

Each scenario starts the real ``mlharbor`` command (the console script beside this Python) as
a fresh process and times it from its start to its exit, or, for the servers, to the first
200 of a health route. Every figure is the median of ``--repeats`` runs, printed beside its
floor measured in the same run: ``python -c pass`` for start-up, and the same computation in
an already warm process for ``drift`` and ``insights``.

``--before DIR`` names a second source tree (e.g. ``git archive <commit> src | tar -x -C
DIR``): each repeat then runs the before tree and this tree in turn (A B A B ...), so both
meet the same machine load.

Run from the repository root::

    flock benchmarks/.bench.lock nice -n 5 .venv/bin/python benchmarks/startup/bench_startup.py \
        --before benchmarks/startup/out/before/src --repeats 5

The data (two 100k-row tables for drift, a 1M-row table for insights, a small trained model)
is made once in ``benchmarks/startup/out/`` (gitignored).
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import resource
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
OUT = HERE / "out"
DATA = OUT / "data"
MLHARBOR = Path(sys.executable).with_name("mlharbor")


# --- the data, made once ----------------------------------------------------------------------


def prepare() -> None:
    """Ingest the drift pair, the 1M-row insights table and train a small served model."""
    if (DATA / "ready").exists():
        return
    sys.path[:0] = [str(ROOT / p) for p in ("src", "benchmarks/drift", "benchmarks/insights")]
    from bench_insights import make_dataset

    from data import make_frame
    from mlharbor import Hub, Settings
    from mlharbor.workflows.train import TrainRequest

    shutil.rmtree(DATA, ignore_errors=True)
    DATA.mkdir(parents=True)
    files = {
        "drift_ref": make_frame(100_000, 1, changed=False),
        "drift_cur": make_frame(100_000, 2, changed=True),
        "mixed": make_dataset(1_000_000),
    }
    with Hub.open(Settings(data_dir=DATA)) as hub:
        for name, frame in files.items():
            path = OUT / f"{name}.parquet"
            frame.to_parquet(path, index=False)
            hub.datasets.ingest_file(path, name=name)
        small = OUT / "churn_small.parquet"
        files["mixed"].head(5_000).drop(columns=["review", "user_ref"]).to_parquet(small)
        hub.datasets.ingest_file(small, name="churn_small")
        request = TrainRequest(
            dataset="churn_small", target="churn", model="logistic-regression",
            name="churn", alias="champion", cv_folds=0,
        )  # fmt: skip
        job = hub.submit_train(request)
        done = hub.wait(job.id, run_here=True)
        if done.state != "succeeded":
            raise SystemExit(f"training the served model failed: {done.error}")
    (DATA / "ready").write_text("ok")


def forget_caches() -> None:
    """Drop stored drift profiles and insights, so the next report computes them again."""
    shutil.rmtree(DATA / "artifacts" / "monitoring" / "datasets", ignore_errors=True)
    shutil.rmtree(DATA / "artifacts" / "insights", ignore_errors=True)
    with sqlite3.connect(DATA / "mlharbor.db") as db:
        db.execute("DELETE FROM insights")


# --- one timed run ----------------------------------------------------------------------------


def env_for(src: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(src),
        "MLHARBOR_DATA_DIR": str(DATA),
        "COLUMNS": "160",
    }


def time_command(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds of the command, and its CPU seconds (user + system, all its threads):
    the CPU figure is what a busy machine inflates least."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed: {done.stderr.decode()[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return seconds, cpu


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def time_server(args: list[str], env: dict[str, str], routes: list[str]) -> dict[str, float]:
    """Seconds from the server's start to the first 200 of each route (polled every 20 ms)."""
    # The server's log goes to a file: a pipe nobody reads fills up (64 KB: each poll below
    # is logged) and blocks the server mid-request once readiness takes more than seconds.
    with tempfile.TemporaryFile() as log:
        return _time_server(args, env, routes, log)


def _time_server(
    args: list[str], env: dict[str, str], routes: list[str], log: Any
) -> dict[str, float]:
    port = free_port()
    started = time.perf_counter()
    proc = subprocess.Popen(
        [*args, "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=log
    )
    seen: dict[str, float] = {}

    def tail() -> str:
        log.seek(0)
        return str(log.read().decode(errors="replace")[-2000:])

    try:
        while len(seen) < len(routes):
            if proc.poll() is not None:
                raise SystemExit(f"{' '.join(args)} exited: {tail()}")
            if time.perf_counter() - started > 120:
                raise SystemExit(f"{' '.join(args)}: no 200 within 120 s: {tail()}")
            for route in routes:
                if route in seen:
                    continue
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}{route}", timeout=1) as r:
                        if r.status == 200:
                            seen[route] = time.perf_counter() - started
                except OSError:
                    pass
            time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return seen


# --- scenarios --------------------------------------------------------------------------------

DRIFT = ["drift", "--reference", "drift_ref", "--current", "drift_cur", "--json"]
INSIGHTS = ["insights", "mixed", "--target", "churn"]


Scenario = Callable[[dict[str, str]], dict[str, float]]


def scenarios() -> dict[str, Scenario]:
    cli = [str(MLHARBOR)]

    def command(args: list[str], *, cold: bool = False) -> Scenario:
        def run(env: dict[str, str]) -> dict[str, float]:
            if cold:
                forget_caches()
            seconds, cpu = time_command(args, env)
            return {"": seconds, "(CPU s)": cpu}

        return run

    return {
        "python -c pass": command([sys.executable, "-c", "pass"]),
        "import mlharbor.cli": command([sys.executable, "-c", "import mlharbor.cli"]),
        "mlharbor --help": command([*cli, "--help"]),
        "mlharbor serve": lambda env: time_server([*cli, "serve"], env, ["/healthz", "/readyz"]),
        "mlharbor serve-model churn@champion": lambda env: time_server(
            [*cli, "serve-model", "churn@champion"], env, ["/ping"]
        ),
        "mlharbor drift 100k vs 100k (profiles computed)": command([*cli, *DRIFT], cold=True),
        "mlharbor drift 100k vs 100k (profiles stored)": command([*cli, *DRIFT]),
        "mlharbor insights 1M rows (computed)": command([*cli, *INSIGHTS], cold=True),
        "mlharbor insights 1M rows (stored)": command([*cli, *INSIGHTS]),
    }


WARM = r"""
import json, statistics, sys, time
sys.path.insert(0, sys.argv[1])
from bench_startup import forget_caches
from mlharbor import Hub, Settings
out = {}
with Hub.open(Settings(data_dir=sys.argv[2])) as hub:
    for cold in (True, False):
        for name, call in (
            ("drift", lambda: hub.monitoring.dataset_drift("drift_ref", "drift_cur")),
            ("insights", lambda: hub.insights.get("mixed", target="churn")),
        ):
            times = []
            for _ in range(int(sys.argv[3]) + 1):
                if cold:
                    forget_caches()
                started = time.perf_counter()
                call()
                times.append(time.perf_counter() - started)
            out[f"{name} {'computed' if cold else 'stored'}"] = statistics.median(times[1:])
print(json.dumps(out))
"""


def warm_floors(src: Path, repeats: int) -> dict[str, float]:
    """The drift and insights calls in one warm process (the first call unmeasured)."""
    done = subprocess.run(
        [sys.executable, "-c", WARM, str(HERE), str(DATA), str(repeats)],
        env=env_for(src), capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--before", type=Path, help="A source tree to compare with.")
    parser.add_argument("--after", type=Path, default=ROOT / "src", help="The tree to time.")
    parser.add_argument(
        "--only",
        action="append",
        help="Run the scenarios whose name contains this text (repeatable: any of them).",
    )
    parser.add_argument(
        "--no-compile",
        action="store_true",
        help="Leave the trees without bytecode, so every run compiles mlharbor's modules "
        "(as a source tree run with PYTHONDONTWRITEBYTECODE=1 does; an installed package has "
        "its .pyc files).",
    )
    args = parser.parse_args()
    prepare()
    trees = {"after": args.after.resolve()}
    if args.before is not None:
        trees = {"before": args.before.resolve(), **trees}
    for src in trees.values():
        if args.no_compile:
            for cache in src.rglob("__pycache__"):
                shutil.rmtree(cache)
        else:  # what installing the package does
            compileall.compile_dir(src, quiet=1)
    load = [round(x, 2) for x in os.getloadavg()]
    results: dict[str, dict[str, dict[str, float]]] = {}
    for name, run in scenarios().items():
        if args.only and not any(text in name for text in args.only):
            continue
        samples: dict[str, dict[str, list[float]]] = {tree: {} for tree in trees}
        for src in trees.values():  # one unmeasured warm-up each (page cache, .pyc)
            run(env_for(src))
        for _ in range(args.repeats):
            for tree, src in trees.items():
                for part, seconds in run(env_for(src)).items():
                    samples[tree].setdefault(part, []).append(seconds)
        for tree, parts in samples.items():
            for part, values in parts.items():
                label = f"{name} {part}".strip()
                results.setdefault(label, {})[tree] = {
                    "median": statistics.median(values),
                    "min": min(values),
                    "max": max(values),
                }
                print(f"{label:<58} {tree:<7} median {statistics.median(values):6.3f} s "
                      f"(min {min(values):.3f}, max {max(values):.3f})", flush=True)  # fmt: skip
    floors = {}
    if not args.only or any(k in text for text in args.only for k in ("drift", "insights")):
        floors = {tree: warm_floors(src, args.repeats) for tree, src in trees.items()}
        for tree, values in floors.items():
            for label, seconds in values.items():
                print(f"warm process: {label:<44} {tree:<7} median {seconds:6.3f} s")
    report = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "bytecode": "none (compiled on every run)" if args.no_compile else "compiled",
        "load_before": load,
        "load_after": [round(x, 2) for x in os.getloadavg()],
        "cores": os.cpu_count(),
        "python": sys.version.split()[0],
        "repeats": args.repeats,
        "results": results,
        "warm_floors": floors,
    }
    OUT.mkdir(exist_ok=True)
    (OUT / "results.json").write_text(json.dumps(report, indent=2))
    print(f"load {load} -> {report['load_after']}; written to {OUT / 'results.json'}")


if __name__ == "__main__":
    main()
