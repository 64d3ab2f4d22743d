"""Scale-out benchmark (issue #20): fan-out on Dask with 1 vs 2 workers, and a large generated
file scored with bounded memory per worker.

Run from the repository root, on an idle machine (every figure is a ratio of runs that
compete for the same cores)::

    PYTHONPATH=src .venv/bin/python benchmarks/jobs/bench_scaleout.py

1. ``cv``: the ``demo_cv`` fan-out of ``bench_jobs.py`` (5-fold cross-validation of a
   300-tree random forest, a fold per task) on a ``LocalCluster`` of 1 and of 2 workers.
2. ``automl``: :func:`run_automl` on a generated table (``make_classification``, 6,000 rows,
   20 columns, so neither repeated folds nor bagging), its folds and trials on the cluster
   through :class:`DaskExecutor`. Fixed work: ``--automl-trials`` candidates, 3 folds, a budget
   far above what they take; median wall time of ``--repeats`` runs. Then the candidates
   cross-validated within a fixed budget (``--automl-budget`` seconds), the figure a user
   feels.
3. ``score``: a ``--rows``-row CSV (default 20 M; 8 columns) written in blocks and ingested
   (the CSV ingest streams), a LightGBM model trained on 20,000 of its rows and registered,
   then the ``score`` job through the real path on a cluster of each of ``--score-workers``
   workers, each capped by Dask at ``--worker-memory``. The job runs in a child process, so
   its peak RSS is its own. Reported: rows/s, each worker's RSS after importing the stack and
   its peak, the job process's peak, and the file's decoded size (what every task held
   before scoring streamed).

Each figure is printed as a JSON line with ``/proc/loadavg`` and written to
``benchmarks/jobs/out/scaleout-<time>.json``. ``--quick`` runs every part at a tiny size to
check that the benchmark works (its figures mean nothing).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

HERE = Path(__file__).parent
OUT = HERE / "out"
sys.path.insert(0, str(HERE))

from bench_jobs import bench_dask, loadavg  # noqa: E402


def _emit(row: dict[str, Any]) -> dict[str, Any]:
    row = {**row, "loadavg": loadavg()}
    print(json.dumps(row), flush=True)
    return row


def _cluster(workers: int, memory: str | None = None) -> Any:
    from distributed import LocalCluster

    return LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        memory_limit=memory or "auto",
    )


# ---- 2. AutoML -----------------------------------------------------------------------------


def _automl_table(rows: int) -> tuple[pd.DataFrame, Any]:
    import pyarrow as pa
    from sklearn.datasets import make_classification

    from mlharbor.data.schema import infer_schema

    X, y = make_classification(rows, 20, n_informative=8, random_state=0)
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(20)]).round(5)
    frame["label"] = np.where(y == 1, "yes", "no")
    return frame, infer_schema(pa.Table.from_pandas(frame, preserve_index=False))


def _warm(ex: Any) -> None:
    from mlharbor.models.automl.folds import warm_worker

    ex.client.run(warm_worker)


def bench_automl(repeats: int, trials: int, budget: float, rows: int) -> list[dict[str, Any]]:
    from mlharbor.jobs.compute import DaskExecutor
    from mlharbor.models.automl import run_automl

    frame, schema = _automl_table(rows)
    out = []
    for workers in (1, 2):
        with _cluster(workers) as cluster, DaskExecutor(cluster.scheduler_address) as ex:
            _warm(ex)
            times, result = [], None
            for _ in range(repeats):
                started = time.perf_counter()
                result = run_automl(
                    frame, schema, target="label", time_budget=3_600, max_trials=trials,
                    cv_folds=3, map_folds=ex.map, workers=ex.workers,
                )  # fmt: skip
                times.append(time.perf_counter() - started)
            assert result is not None
            timed = run_automl(
                frame, schema, target="label", time_budget=budget, cv_folds=3,
                map_folds=ex.map, workers=ex.workers,
            )  # fmt: skip
            done = [
                e for e in timed.entries if e.status == "ok" and e.candidate.phase != "ensemble"
            ]
            out.append(
                _emit(
                    {
                        "part": "automl",
                        "dask_workers": workers,
                        "rows": rows,
                        "trials": trials,
                        "median_s": round(statistics.median(times), 2),
                        "runs_s": [round(t, 2) for t in times],
                        "tuning_trials": sum(e.candidate.phase == "tuning" for e in result.entries),
                        "best": result.winner.name,
                        f"cross_validated_in_{budget:g}_s": len(done),
                        "budget_run_total_s": timed.timings["total"],
                    }
                )
            )
    out[1]["speedup_vs_1"] = round(out[0]["median_s"] / out[1]["median_s"], 2)
    _emit({"part": "automl", "speedup_2_vs_1": out[1]["speedup_vs_1"]})
    return out


# ---- 3. Scoring a large file ---------------------------------------------------------------


def _write_csv(path: Path, rows: int, block: int = 1_000_000) -> None:
    """``rows`` rows of 8 columns, written a block at a time (bounded memory here too)."""
    rng = np.random.default_rng(0)
    cities = np.array(["paris", "lyon", "nice", "lille", "nantes"])
    for start in range(0, rows, block):
        n = min(block, rows - start)
        frame = pd.DataFrame(
            {f"x{i}": rng.normal(size=n).round(4) for i in range(5)}
            | {
                "city": cities[rng.integers(0, 5, n)],
                "visits": rng.integers(0, 50, n),
                "id": np.arange(start, start + n),
            }
        )
        frame.to_csv(path, mode="a", header=start == 0, index=False)


def _train(hub: Any, dataset: str) -> None:
    """A LightGBM model on the file's first 20,000 rows (a made-up label), as ``scorer``."""
    import pyarrow as pa

    from mlharbor.data.schema import infer_schema
    from mlharbor.models import train_model

    version = hub.datasets.get_version(dataset)
    sample = hub.datasets.read_rows(version, 0, min(version.n_rows, 20_000)).to_pandas()
    sample = sample.drop(columns=["id"])
    sample["label"] = np.where(sample["x0"] + (sample["city"] == "paris") > 0.5, "yes", "no")
    result = train_model(
        sample,
        infer_schema(pa.Table.from_pandas(sample, preserve_index=False)),
        target="label",
        model="lightgbm",
        params={"n_estimators": 50},
        cv_folds=0,
        artifacts=False,
    )
    hub.models.register("scorer", result)


def _status_mb(pid: int | str, field: str) -> float:
    """``VmRSS`` (resident now) or ``VmHWM`` (peak resident) of a process, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1e3
    return 0.0


def _rss_mb() -> float:
    return _status_mb("self", "VmRSS")


def _peak_rss_mb() -> float:
    return _status_mb("self", "VmHWM")


def _import_stack() -> float:
    """On a Dask worker: import what scoring uses; its resident memory then."""
    import mlharbor.hub
    import mlharbor.workflows.score  # noqa: F401
    from mlharbor.models.automl.folds import warm_worker

    warm_worker()
    return _rss_mb()


class PeakWatch:
    """The peak resident memory of every process under this one, sampled from /proc.

    The job runs in a process the job system forks from its fork server, a child of this
    one: it is found by its ancestry, and its ``VmHWM`` (its own peak) read until it ends.
    """

    def __init__(self) -> None:
        self.peaks: dict[int, tuple[str, float]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PeakWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        me = os.getpid()
        while not self._stop.wait(0.1):
            parents = {}
            for entry in Path("/proc").iterdir():
                if entry.name.isdigit():
                    try:
                        stat = (entry / "stat").read_text()
                        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
                    except (OSError, IndexError, ValueError):
                        continue
            for pid in parents:
                ancestor = parents.get(pid)
                while ancestor not in (None, 0, 1, me):
                    ancestor = parents.get(ancestor)
                if ancestor != me:
                    continue
                try:
                    name = (Path(f"/proc/{pid}/comm")).read_text().strip()
                    peak = _status_mb(pid, "VmHWM")
                except OSError:
                    continue
                self.peaks[pid] = (name, max(peak, self.peaks.get(pid, ("", 0.0))[1]))

    def largest(self) -> float:
        return max((peak for _, peak in self.peaks.values()), default=0.0)


def score_child(spec: dict[str, Any]) -> None:
    """The ``score`` job run by a job worker under this (child) process, as ``mlharbor
    worker`` runs it; prints its figures, the job process's peak memory among them."""
    from mlharbor.config import Settings
    from mlharbor.hub import Hub
    from mlharbor.workflows.score import ScoreRequest

    settings = Settings(**spec["settings"])
    with Hub.open(settings) as hub, PeakWatch() as watch:
        request = ScoreRequest(
            model="scorer", ref="1", dataset=spec["dataset"], chunk_rows=spec["chunk_rows"],
            output=spec["output"],
        )  # fmt: skip
        started = time.perf_counter()
        done = hub.wait(hub.submit_score(request).id, run_here=True, timeout=24 * 3600)
        seconds = time.perf_counter() - started
    largest = sorted(watch.peaks.values(), key=lambda p: -p[1])[:4]
    print(json.dumps({"state": str(done.state), "error": done.error, "seconds": seconds,
                      "result": done.result, "peak_rss_mb": watch.largest(),
                      "processes": largest}))  # fmt: skip


def bench_score(
    rows: int, workers_list: list[int], chunk_rows: int, memory: str, tmp_root: str | None
) -> list[dict[str, Any]]:
    from distributed import Client

    from mlharbor.config import Settings
    from mlharbor.hub import Hub

    out = []
    with tempfile.TemporaryDirectory(prefix="mlharbor-bench-", dir=tmp_root) as tmp:
        base = {"data_dir": str(Path(tmp) / "data"), "workers": 1,
                "max_upload_bytes": 1 << 40, "max_rows": 10**10}  # fmt: skip
        csv = Path(tmp) / "big.csv"
        started = time.perf_counter()
        _write_csv(csv, rows)
        written = time.perf_counter() - started
        with Hub.open(Settings(**base)) as hub:
            started = time.perf_counter()
            version = hub.datasets.ingest_file(csv, name="big").version
            ingested = time.perf_counter() - started
            with hub.datasets.open_parquet(version) as parquet:
                meta = parquet.metadata
                decoded = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
                groups = meta.num_row_groups
            _train(hub, "big")
        csv.unlink()
        _emit({"part": "score-setup", "rows": rows, "csv_write_s": round(written, 1),
               "ingest_s": round(ingested, 1), "ingest_rows_per_s": round(rows / ingested),
               "stored_mb": round(version.size_bytes / 1e6, 1), "row_groups": groups,
               "decoded_mb": round(decoded / 1e6, 1)})  # fmt: skip
        for workers in workers_list:
            with _cluster(workers, memory) as cluster, Client(cluster.scheduler_address) as client:
                idle = client.run(_import_stack)
                spec = {
                    "settings": {**base, "dask_address": cluster.scheduler_address},
                    "dataset": "big",
                    "chunk_rows": chunk_rows,
                    "output": f"big-scored-{workers}",
                }
                child = subprocess.run(
                    [sys.executable, __file__, "--score-child", json.dumps(spec)],
                    capture_output=True, text=True, check=False,
                )  # fmt: skip
                if child.returncode != 0:
                    raise RuntimeError(f"the score job's process failed:\n{child.stderr[-3000:]}")
                job = json.loads(child.stdout.strip().splitlines()[-1])
                if job["state"] != "succeeded":
                    raise RuntimeError(f"the score job failed: {job['error']}")
                peaks = client.run(_peak_rss_mb)
                out.append(
                    _emit(
                        {
                            "part": "score",
                            "dask_workers": workers,
                            "rows": rows,
                            "chunk_rows": chunk_rows,
                            "worker_memory_limit": memory,
                            # The job's own time (reading, scoring, storing); the wall
                            # from the submit adds starting a job worker and its fork server.
                            "job_s": job["result"]["seconds"],
                            "rows_per_s": round(rows / job["result"]["seconds"]),
                            "submit_to_done_s": round(job["seconds"], 1),
                            "worker_rss_after_imports_mb": sorted(round(v) for v in idle.values()),
                            "worker_peak_rss_mb": sorted(round(v) for v in peaks.values()),
                            "job_process_peak_rss_mb": round(job["peak_rss_mb"]),
                            # (name, peak MB) of the processes under the job's runner: the
                            # fork server (its preloaded stack) and the job's own process.
                            "job_processes": [[n, round(mb)] for n, mb in job["processes"]],
                            "file_decoded_mb": round(decoded / 1e6),
                        }
                    )
                )
    if len(out) == 2:
        speedup = round(out[1]["rows_per_s"] / out[0]["rows_per_s"], 2)
        _emit({"part": "score", f"speedup_{workers_list[1]}_vs_{workers_list[0]}": speedup})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parts", default="cv,automl,score")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cv-trees", type=int, default=300)
    parser.add_argument("--automl-trials", type=int, default=14)
    parser.add_argument("--automl-budget", type=float, default=60.0)
    parser.add_argument("--automl-rows", type=int, default=6_000)
    parser.add_argument("--rows", type=int, default=20_000_000)
    parser.add_argument("--chunk-rows", type=int, default=50_000)
    parser.add_argument("--score-workers", default="1,2")
    parser.add_argument("--worker-memory", default="1.5GiB")
    parser.add_argument("--tmp-dir", default=None, help="Where the generated data goes.")
    parser.add_argument("--quick", action="store_true", help="Tiny sizes: check it runs.")
    parser.add_argument("--score-child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.score_child:
        score_child(json.loads(args.score_child))
        return
    if args.quick:
        args.repeats, args.cv_trees, args.automl_trials = 1, 20, 12
        args.automl_budget, args.automl_rows = 15.0, 3_000
        args.rows, args.chunk_rows = 60_000, 10_000
    parts = set(args.parts.split(","))
    report: dict[str, Any] = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}",
        "python": platform.python_version(),
        "quick": args.quick,
    }
    if "cv" in parts:
        report["cv"] = bench_dask(args.repeats, args.cv_trees)
    if "automl" in parts:
        report["automl"] = bench_automl(
            args.repeats, args.automl_trials, args.automl_budget, args.automl_rows
        )
    if "score" in parts:
        workers = [int(w) for w in args.score_workers.split(",")]
        report["score"] = bench_score(
            args.rows, workers, args.chunk_rows, args.worker_memory, args.tmp_dir
        )
    OUT.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    (OUT / f"scaleout-{stamp}.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
