"""The train workflow with its small fits sequential and shared out over the cores
(``mlharbor.forks.fork_later``), in alternation in one warm process, so both meet the same load.

    PYTHONPATH=src .venv/bin/python benchmarks/jobs/bench_forks.py --runs 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from mlharbor.config import Settings
from mlharbor.forks import fork_later
from mlharbor.hub import Hub
from mlharbor.workflows.train import TrainRequest, check_request, run_training

IRIS = Path(__file__).parents[2] / "samples" / "iris.csv"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    times: dict[str, list[float]] = {"sequential": [], "shared_out": []}
    with (
        tempfile.TemporaryDirectory() as tmp,
        Hub.open(Settings(data_dir=Path(tmp), workers=0)) as hub,
    ):
        dataset = hub.datasets.ingest_file(IRIS).version.dataset
        ask = TrainRequest(
            dataset=dataset, target="variety", model="rf", params={"n_estimators": 100}
        )
        for i in range(args.runs + 1):  # the first pays for imports and first draws
            for mode, fits in (("sequential", None), ("shared_out", fork_later)):
                start = time.perf_counter()
                run_training(
                    hub,
                    check_request(hub, ask),
                    lambda fraction, message: None,
                    None,
                    background_drawing=True,
                    start_fits=fits,
                )
                if i:
                    times[mode].append(time.perf_counter() - start)
    report = {
        mode: {"median_s": round(statistics.median(t), 2), "runs_s": [round(x, 2) for x in t]}
        for mode, t in times.items()
    }
    report["loadavg"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(json.dumps(report))


if __name__ == "__main__":
    main()
