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

3. The everyday loop (``--loop``), each beside its floor in the same run, median of
   ``--loop-runs``: a ``train`` job of a 100-tree random forest on ``samples/iris.csv``,
   submit → ``succeeded`` through the embedded pool (warm: one job first) against the same
   workflow (CV, fit, artifacts, registration) called in this warm process; the first
   prediction of each new version (loaded beforehand by the serving process's
   :class:`VersionWarmer`) against a cached prediction; and the whole command
   ``mlharbor train samples/iris.csv --target variety --model rf`` in a fresh data folder.
   The job timeline (seconds between its events) of the last job is printed too.

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


IRIS = Path(__file__).parents[2] / "samples" / "iris.csv"
CLI = str(Path(sys.executable).with_name("mlharbor"))
IRIS_ROW = {"sepal.length": 5.1, "sepal.width": 3.5, "petal.length": 1.4, "petal.width": 0.2}


def _ms(samples: list[float]) -> dict[str, Any]:
    return {
        "median_ms": round(statistics.median(samples) * 1000, 1),
        "runs_ms": [round(x * 1000, 1) for x in samples],
    }


def _timeline(hub: Any, job_id: int) -> list[str]:
    events = hub.jobs.events(job_id)
    out, prev = [], events[0].created_at
    for event in events:
        message = event.data.get("message", "") if event.kind == "progress" else ""
        out.append(f"{(event.created_at - prev).total_seconds():6.2f} s  {event.kind} {message}")
        prev = event.created_at
    return out


def bench_loop(runs: int, cli_runs: int) -> dict[str, Any]:
    """The train → predict loop against its floors (see the module docstring, 3.)."""
    import subprocess

    from mlharbor.forks import fork_later
    from mlharbor.hub import Hub
    from mlharbor.serving.warm import VersionWarmer
    from mlharbor.workflows.train import TrainRequest, check_request, run_training

    report: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp) / "data", workers=1)
        with Hub.open(settings) as hub:
            dataset = hub.datasets.ingest_file(IRIS).version.dataset

            def request() -> TrainRequest:
                params = {"n_estimators": 100}
                ask = TrainRequest(dataset=dataset, target="variety", model="rf", params=params)
                return check_request(hub, ask)

            floor = []
            for i in range(runs + 1):
                start = time.perf_counter()
                # As a job runs it (charts drawn in a child, small fits on every core),
                # minus the job system.
                run_training(
                    hub,
                    request(),
                    lambda fraction, message: None,
                    None,
                    background_drawing=True,
                    start_fits=fork_later,
                )
                if i:  # the first pays for imports and first draws
                    floor.append(time.perf_counter() - start)
            warmer = VersionWarmer(hub.sessions, lambda: hub.predictor, 0.25).start()
            jobs, first, cached = [], [], []
            with LocalWorkerPool(settings):
                for i in range(runs + 1):
                    start = time.perf_counter()
                    job = hub.submit_train(request())
                    while (state := hub.jobs.get(job.id).state) is not JobState.SUCCEEDED:
                        assert not state.is_terminal, hub.jobs.get(job.id).error
                        time.sleep(0.005)
                    took = time.perf_counter() - start
                    result = hub.jobs.get(job.id).result
                    name, version = result["model"], result["version"]
                    start = time.perf_counter()
                    hub.predictor.predict(name, version, [IRIS_ROW])
                    first_call = time.perf_counter() - start
                    start = time.perf_counter()
                    hub.predictor.predict(name, version, [IRIS_ROW])
                    cached_call = time.perf_counter() - start
                    if i:  # the first job waits for the pool to start
                        jobs.append(took)
                        first.append(first_call)
                        cached.append(cached_call)
                timeline = _timeline(hub, job.id)
            warmer.stop()
    report["train_job"] = {**_ms(jobs), "loadavg": loadavg()}
    report["train_floor"] = {**_ms(floor), "loadavg": loadavg()}
    report["train_job_over_floor"] = round(statistics.median(jobs) / statistics.median(floor), 2)
    report["first_prediction"] = {**_ms(first), "loadavg": loadavg()}
    report["cached_prediction"] = _ms(cached)
    report["timeline"] = timeline
    cli = []
    # The command runs in a fresh folder: a relative PYTHONPATH (``src``) would not reach
    # it there, and it would import the installed mlharbor instead of the code under test.
    import mlharbor

    package_root = str(Path(mlharbor.__file__).resolve().parents[1])
    path = os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))
    for _ in range(cli_runs):
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            subprocess.run(
                [CLI, "train", str(IRIS), "--target", "variety", "--model", "rf"],
                cwd=tmp,
                check=True,
                capture_output=True,
                env={**os.environ, "PYTHONPATH": path},
            )
            cli.append(time.perf_counter() - start)
    if cli:
        report["cli_train"] = {**_ms(cli), "loadavg": loadavg()}
    for key, value in report.items():
        print(json.dumps({key: value}), flush=True)
    return report


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--n-estimators", type=int, default=300)
    parser.add_argument("--skip-overhead", action="store_true")
    parser.add_argument("--skip-dask", action="store_true")
    parser.add_argument("--loop", action="store_true", help="the train → predict loop only")
    parser.add_argument("--loop-runs", type=int, default=5)
    parser.add_argument("--cli-runs", type=int, default=5)
    args = parser.parse_args()
    if args.loop:
        args.skip_overhead = args.skip_dask = True
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
    if args.loop:
        report["loop"] = bench_loop(args.loop_runs, args.cli_runs)
    report["loadavg_end"] = loadavg()
    OUT.mkdir(exist_ok=True)
    path = OUT / f"bench-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    path.write_text(json.dumps(report, indent=2))
    print(f"written {path}")


if __name__ == "__main__":
    main()
