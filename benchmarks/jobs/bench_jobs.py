"""Benchmark of the job system: overhead of a trivial job, and Dask fan-out speed-up.

Run from the repository root::

    PYTHONPATH=src .venv/bin/python benchmarks/jobs/bench_jobs.py [--jobs 30] [--repeats 3]

1. Overhead: a ``noop`` job, submit → ``succeeded`` as a client polling the database sees
   it, run by the embedded pool (:class:`LocalWorkerPool`, one worker process, each attempt
   in a process of its own), on SQLite and on PostgreSQL, with the default poll interval
   (0.5 s) and a short one (0.05 s). Median and p90 over ``--jobs`` jobs after 3 warm-ups.
2. Speed-up: the ``demo_cv`` fan-out (5-fold cross-validation of a random forest on
   scikit-learn's breast-cancer data) through :class:`DaskExecutor` on a
   ``distributed.LocalCluster`` with 1 worker and with 2 workers (processes, one thread
   each). Workers are warmed up (imports) first; median of ``--repeats`` runs.

The machine is shared, so ``/proc/loadavg`` is printed with each figure.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from mlharbor.config import Settings
from mlharbor.jobs import DaskExecutor, JobsConfig, JobState, JobStore, LocalWorkerPool
from mlharbor.jobs.builtin import _fold_score, cross_validation_tasks
from mlharbor.store.db import make_engine, upgrade

PG_URL = os.environ.get(
    "MLHARBOR_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
OUT = Path(__file__).with_name("out")


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def _migrated(url: str) -> str:
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    return url


def _run_overhead(url: str, jobs: int, config: JobsConfig) -> dict[str, Any]:
    settings = Settings(database_url=url, workers=1)
    store = JobStore.from_url(url)
    samples: list[float] = []
    with LocalWorkerPool(settings, config=config):
        for i in range(jobs + 3):
            start = time.perf_counter()
            job = store.submit("noop", {})
            while (state := store.get(job.id).state) is not JobState.SUCCEEDED:
                assert not state.is_terminal, state
                time.sleep(0.005)
            if i >= 3:  # the first jobs pay for starting the fork server
                samples.append(time.perf_counter() - start)
    store.close()
    samples.sort()
    return {
        "jobs": jobs,
        "poll_seconds": config.poll_seconds,
        "median_ms": round(statistics.median(samples) * 1000, 1),
        "p90_ms": round(samples[int(0.9 * (len(samples) - 1))] * 1000, 1),
        "min_ms": round(samples[0] * 1000, 1),
        "loadavg": loadavg(),
    }


def bench_overhead(jobs: int) -> list[dict[str, Any]]:
    rows = []
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    pg_name = f"mlh_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{pg_name}"'))
    pg = make_url(PG_URL).set(database=pg_name).render_as_string(hide_password=False)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            backends = {"sqlite": f"sqlite:///{tmp}/bench.db", "postgresql": pg}
            for backend, url in backends.items():
                _migrated(url)
                for poll in (0.5, 0.05):
                    config = replace(JobsConfig(), poll_seconds=poll)
                    row = {"backend": backend, **_run_overhead(url, jobs, config)}
                    print(json.dumps(row), flush=True)
                    rows.append(row)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)'))
        admin.dispose()
    return rows


def _timed_fold(task: dict[str, Any]) -> tuple[float, float, float]:
    # Wall and CPU time of the task itself: on a shared machine their ratio shows how much
    # of a core each Dask worker really got.
    wall, cpu = time.perf_counter(), time.process_time()
    score = _fold_score(task)
    return score, time.perf_counter() - wall, time.process_time() - cpu


def bench_dask(repeats: int, n_estimators: int) -> list[dict[str, Any]]:
    from distributed import LocalCluster

    tasks = cross_validation_tasks(folds=5, n_estimators=n_estimators, seed=0)
    rows = []
    for n_workers in (1, 2):
        with (
            LocalCluster(
                n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None
            ) as cluster,
            DaskExecutor(cluster.scheduler_address) as ex,
        ):
            ex.map(_fold_score, cross_validation_tasks(folds=n_workers * 2, n_estimators=2))
            times, cpu_share = [], []
            for _ in range(repeats):
                start = time.perf_counter()
                out = ex.map(_timed_fold, tasks)
                times.append(time.perf_counter() - start)
                cpu_share.append(sum(c for _, _, c in out) / sum(w for _, w, _ in out))
            scores = [score for score, _, _ in out]
            row = {
                "dask_workers": n_workers,
                "folds": 5,
                "n_estimators": n_estimators,
                "median_s": round(statistics.median(times), 2),
                "runs_s": [round(t, 2) for t in times],
                "task_cpu_share": round(statistics.median(cpu_share), 2),
                "mean_accuracy": round(sum(scores) / len(scores), 4),
                "loadavg": loadavg(),
            }
            print(json.dumps(row), flush=True)
            rows.append(row)
    rows[1]["speedup_vs_1"] = round(rows[0]["median_s"] / rows[1]["median_s"], 2)
    print(json.dumps({"speedup_2_vs_1": rows[1]["speedup_vs_1"]}), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--n-estimators", type=int, default=300)
    parser.add_argument("--skip-overhead", action="store_true")
    parser.add_argument("--skip-dask", action="store_true")
    args = parser.parse_args()
    import dask
    import distributed
    import sklearn
    import sqlalchemy

    report: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}",
        "python": sys.version.split()[0],
        "versions": {
            "dask": dask.__version__,
            "distributed": distributed.__version__,
            "scikit-learn": sklearn.__version__,
            "sqlalchemy": sqlalchemy.__version__,
        },
        "loadavg_start": loadavg(),
    }
    print(json.dumps(report), flush=True)
    if not args.skip_overhead:
        report["overhead"] = bench_overhead(args.jobs)
    if not args.skip_dask:
        report["dask"] = bench_dask(args.repeats, args.n_estimators)
    report["loadavg_end"] = loadavg()
    OUT.mkdir(exist_ok=True)
    path = OUT / f"bench-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    path.write_text(json.dumps(report, indent=2))
    print(f"written {path}")


if __name__ == "__main__":
    main()
