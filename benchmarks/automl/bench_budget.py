"""AutoML budget and machine use, through the user's path on real tables.

For each table: upload to a fresh ``mlharbor serve``, submit an AutoML job with a budget,
wait for ``succeeded``. Records the wall clock from submit to ``succeeded`` against the
budget (the check: at most ``budget * 1.05 + 3`` s), what the job reports as its
``budget_seconds``, the CPU utilisation of the server's process tree (the job process and
every process it starts) during the search and during the whole job, as a share of all
cores, and how many candidates the search cross-validated.

    .venv/bin/python benchmarks/automl/bench_budget.py --budget 30
    # before and after, each table on one then the other (the same load for both); the
    # code before exported into the ignored out/ folder:
    #   B=benchmarks/automl/out/before; mkdir -p $B && git archive <commit> src | tar -x -C $B
    .venv/bin/python benchmarks/automl/bench_budget.py --src before=$B/src,after=src

Writes ``benchmarks/automl/out/budget_<label>.json`` and prints a Markdown table per label.
"""

from __future__ import annotations

import argparse
import contextlib
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
from bench_real_tables import TABLES, _free_port, _load, _wait_up

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
    timings: dict | None = None  # the job's own split: waiting, read, search, finish
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
    row.timings = result.get("timings")
    board = result.get("leaderboard") or []
    row.trials = len(board)
    row.candidates = sum(1 for r in board if r.get("status") == "ok")
    events = client.get(f"/api/v1/jobs/{job_id}/events").json()
    trials = [e for e in events if e["kind"] == "trial"]
    phases = {e["data"].get("phase"): _iso(e["created_at"]) for e in events if e["kind"] == "phase"}
    if "search" in phases and "finish" in phases:  # the job marks its search
        row.cpu_search, row.machine_busy = sampler.share(phases["search"], phases["finish"])
    elif trials:
        # Older code: a trial event's ``elapsed`` counts from the search's start.
        start = _iso(trials[0]["created_at"]) - float(trials[0]["data"].get("elapsed") or 0)
        end = _iso(trials[-1]["created_at"])
        row.cpu_search, row.machine_busy = sampler.share(max(start, sent), end)
    row.cpu_job, _ = sampler.share(sent, seen)
    return row


def _serve(work: Path, label: str, src: str) -> tuple[subprocess.Popen, int]:
    port = _free_port()
    env = {
        **os.environ,
        "MLHARBOR_DATA_DIR": str(work / label / "data"),
        "MLHARBOR_WORKERS": "1",
    }
    if src:
        env["PYTHONPATH"] = src
    (work / label).mkdir()
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("mlharbor")), "serve", "--host", "127.0.0.1",
         "--port", str(port)],
        env=env,
        stdout=(work / label / "server.log").open("w"),
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    return server, port


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=30.0)
    parser.add_argument("--tables", default=",".join(SUBSET))
    parser.add_argument(
        "--src",
        default="after=",
        help="label=PYTHONPATH,... : one server per source tree (empty: the installed code);"
        " each table runs on each in turn, so that they share the machine's load alike",
    )
    args = parser.parse_args(argv)
    wanted = args.tables.split(",")
    chosen = [t for t in TABLES if f"{t[0]}/{t[1]}" in wanted]
    trees = dict(item.split("=", 1) for item in args.src.split(","))
    OUT.mkdir(exist_ok=True)
    rows: dict[str, list[Row]] = {label: [] for label in trees}
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        work = Path(tmp)
        servers = {label: _serve(work, label, src) for label, src in trees.items()}
        for server, _ in servers.values():
            stack.callback(server.wait, 30)
            stack.callback(server.terminate)
        clients = {
            label: stack.enter_context(
                httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120)
            )
            for label, (_, port) in servers.items()
        }
        samplers = {
            label: stack.enter_context(CpuSampler(server.pid))
            for label, (server, _) in servers.items()
        }
        for client in clients.values():
            _wait_up(client)
        for table in chosen:
            for label in trees:
                row = _run_table(clients[label], samplers[label], work, table, args.budget)
                row.notes.append(label)
                rows[label].append(row)
                print(json.dumps(asdict(row)), flush=True)
    for label, got in rows.items():
        (OUT / f"budget_{label}.json").write_text(json.dumps([asdict(r) for r in got], indent=1))
        _print(label, got, args.budget)


def _print(label: str, rows: list[Row], budget: float) -> None:
    print(
        f"\n{label}\n\n| table | rows × cols | wall s (≤ {budget * 1.05 + 3:g}) | reported |"
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
