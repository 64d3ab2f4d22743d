"""AutoML budget and machine use, through the user's path on real tables.

For each table: upload to a fresh ``mlharbor serve``, submit an AutoML job with a budget,
wait for ``succeeded``. Records the wall clock from submit to ``succeeded`` against the
budget (the check: at most ``budget * 1.05 + 3`` s), what the job reports as its
``budget_seconds``, the CPU utilisation of the server's process tree (the job process and
every process it starts) during the search and during the whole job, as a share of all
cores, and how many candidates the search cross-validated.

    .venv/bin/python benchmarks/automl/bench_budget.py --budget 30 --label after
    # the code before, from a source tree exported with git archive:
    .venv/bin/python benchmarks/automl/bench_budget.py --label before --src /tmp/before/src

Writes ``benchmarks/automl/out/budget_<label>.json`` and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_real_tables import TABLES, _free_port, _load

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
SUBSET = [
    "MASS/Pima.tr",
    "palmerpenguins/penguins",
    "modeldata/attrition",
    "modeldata/credit_data",
    "ISLR/Default",
    "modeldata/ames",
    "ggplot2/mpg",
    "openintro/fastfood",
]


@dataclass
class Row:
    table: str
    rows: int
    columns: int
    budget: float
    state: str = "not run"
    wall: float | None = None  # submit -> succeeded seen by the client
    server_wall: float | None = None  # finished_at - created_at of the job record
    budget_seconds: float | None = None  # what the job reports
    within: bool | None = None
    cpu_search: float | None = None  # share of all cores, during the search
    cpu_job: float | None = None  # share of all cores, submit -> succeeded
    machine_busy: float | None = None  # share of all cores busy machine-wide (/proc/stat)
    candidates: int | None = None  # cross-validated to the end (status ok)
    trials: int | None = None  # leaderboard rows of any status
    load: float | None = None
    error: str | None = None
    notes: list[str] = field(default_factory=list)


class CpuSampler:
    """CPU seconds of a process tree, sampled often enough to count short-lived children."""

    def __init__(self, root: int, every: float = 0.2) -> None:
        self.root = psutil.Process(root)
        self.every = every
        self.seen: dict[int, float] = {}
        self.samples: list[tuple[float, float, float]] = []  # (time, tree cpu s, machine busy s)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _tree_seconds(self) -> float:
        for proc in [self.root, *self.root.children(recursive=True)]:
            try:
                times = proc.cpu_times()
            except psutil.Error:
                continue
            self.seen[proc.pid] = times.user + times.system
        return sum(self.seen.values())

    def _run(self) -> None:
        while not self._stop.is_set():
            busy = psutil.cpu_times()
            machine = busy.user + busy.system + busy.nice + getattr(busy, "irq", 0.0)
            self.samples.append((time.time(), self._tree_seconds(), machine))
            self._stop.wait(self.every)

    def __enter__(self) -> CpuSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def share(self, start: float, end: float) -> tuple[float | None, float | None]:
        """(the tree's, the machine's) CPU seconds per second per core over [start, end]."""
        inside = [s for s in self.samples if start <= s[0] <= end]
        if len(inside) < 2 or inside[-1][0] - inside[0][0] <= 0:
            return None, None
        span = inside[-1][0] - inside[0][0]
        cores = psutil.cpu_count() or 1
        tree = (inside[-1][1] - inside[0][1]) / span / cores
        machine = (inside[-1][2] - inside[0][2]) / span / cores
        return round(tree, 3), round(machine, 3)


def _iso(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()


def _run_table(client: httpx.Client, sampler: CpuSampler, work: Path, table: tuple, budget: float):
    package, item, target, _why = table
    frame = _load(package, item)
    name = f"{package}_{item}".lower().replace(".", "_")
    path = work / f"{name}.csv"
    frame.to_csv(path, index=False)
    row = Row(f"{package}/{item}", len(frame), frame.shape[1], budget, load=os.getloadavg()[0])
    with path.open("rb") as fh:
        up = client.post("/api/v1/datasets", files={"file": (path.name, fh, "text/csv")})
    if up.status_code >= 300:
        row.state, row.error = f"upload {up.status_code}", up.text[:300]
        return row
    params = {"dataset": up.json()["dataset"], "target": target, "time_budget": budget}
    sent = time.time()
    sub = client.post("/api/v1/jobs", json={"kind": "automl", "params": params})
    if sub.status_code >= 300:
        row.state, row.error = f"submit {sub.status_code}", sub.text[:300]
        return row
    job_id = sub.json()["id"]
    while True:
        job = client.get(f"/api/v1/jobs/{job_id}").json()
        if job["state"] in ("succeeded", "failed", "cancelled") or time.time() > sent + 600:
            break
        time.sleep(0.1)
    seen = time.time()
    row.state = job["state"]
    row.wall = round(seen - sent, 2)
    if job.get("finished_at"):
        row.server_wall = round(_iso(job["finished_at"]) - _iso(job["created_at"]), 2)
    row.within = row.server_wall is not None and row.server_wall <= budget * 1.05 + 3
    if job["state"] != "succeeded":
        row.error = json.dumps(job.get("error"))[:400]
        return row
    result = job["result"] or {}
    row.budget_seconds = result.get("budget_seconds")
    board = result.get("leaderboard") or []
    row.trials = len(board)
    row.candidates = sum(1 for r in board if r.get("status") == "ok")
    events = client.get(f"/api/v1/jobs/{job_id}/events").json()
    trials = [e for e in events if e["kind"] == "trial"]
    if trials:
        # A trial event's ``elapsed`` counts from the search's start.
        start = _iso(trials[0]["created_at"]) - float(trials[0]["data"].get("elapsed") or 0)
        end = _iso(trials[-1]["created_at"])
        row.cpu_search, row.machine_busy = sampler.share(max(start, sent), end)
    row.cpu_job, _ = sampler.share(sent, seen)
    return row


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=30.0)
    parser.add_argument("--tables", default=",".join(SUBSET))
    parser.add_argument("--label", default="after")
    parser.add_argument("--src", default="", help="PYTHONPATH for the server (code to measure)")
    args = parser.parse_args(argv)
    wanted = args.tables.split(",")
    chosen = [t for t in TABLES if f"{t[0]}/{t[1]}" in wanted]
    OUT.mkdir(exist_ok=True)
    port = _free_port()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env = {**os.environ, "MLHARBOR_DATA_DIR": str(work / "data"), "MLHARBOR_WORKERS": "1"}
        if args.src:
            env["PYTHONPATH"] = args.src
        mlharbor = Path(sys.executable).with_name("mlharbor")
        server = subprocess.Popen(
            [str(mlharbor), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=(work / "server.log").open("w"),
            stderr=subprocess.STDOUT,
        )
        try:
            with (
                httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as client,
                CpuSampler(server.pid) as sampler,
            ):
                for _ in range(600):
                    try:
                        if client.get("/healthz").status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    time.sleep(0.1)
                for table in chosen:
                    row = _run_table(client, sampler, work, table, args.budget)
                    rows.append(row)
                    print(json.dumps(asdict(row)), flush=True)
        finally:
            server.terminate()
            server.wait(30)
    (OUT / f"budget_{args.label}.json").write_text(json.dumps([asdict(r) for r in rows], indent=1))
    print(
        f"\n| table | rows × cols | wall s (≤ {args.budget * 1.05 + 3:g}) | reported |"
        " CPU search | CPU job | machine busy | candidates (rows) | load |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r.table} | {r.rows} × {r.columns} | {r.server_wall} {'✓' if r.within else '✗'}"
            f" | {r.budget_seconds} | {_pct(r.cpu_search)} | {_pct(r.cpu_job)} |"
            f" {_pct(r.machine_busy)} | {r.candidates} ({r.trials}) | {r.load:.1f} |"
        )
    done = [r for r in rows if r.server_wall is not None]
    if done:
        print(
            f"\nmedian wall {statistics.median(r.server_wall for r in done):.1f} s, "
            f"{sum(bool(r.within) for r in done)}/{len(done)} within, median CPU search "
            f"{_pct(statistics.median(r.cpu_search or 0 for r in done))}, median candidates "
            f"{statistics.median(r.candidates or 0 for r in done)}"
        )


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.0f} %"


if __name__ == "__main__":
    main()
