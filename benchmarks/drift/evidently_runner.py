"""Run Evidently's DataDriftPreset on the benchmark data; print JSON. Runs in its own venv.

Usage (done by bench_drift.py): ``.venv-evidently/bin/python evidently_runner.py ROWS CHANGED
REPEATS`` where CHANGED is 1 (the 4-changed current set) or 0 (an unchanged current set).
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from data import CATEGORICAL, NUMERIC, make_frame


def main() -> None:
    rows, changed, repeats = int(sys.argv[1]), sys.argv[2] == "1", int(sys.argv[3])
    import evidently
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    reference = make_frame(rows, 1, changed=False)
    current = make_frame(rows, 2, changed=changed)
    definition = DataDefinition(numerical_columns=NUMERIC, categorical_columns=CATEGORICAL)
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        report = Report([DataDriftPreset()])
        snapshot = report.run(
            Dataset.from_pandas(current, data_definition=definition),
            Dataset.from_pandas(reference, data_definition=definition),
        )
        result = snapshot.dict()
        times.append(time.perf_counter() - started)
    flagged, methods = [], {}
    for metric in result["metrics"]:
        config = metric["config"]
        if not config["type"].endswith("ValueDrift"):
            continue
        method, value, threshold = config["method"], metric["value"], config["threshold"]
        # Evidently: a p-value test drifts below its threshold, a distance at or above it.
        drifted = bool(value < threshold if "p_value" in method else value >= threshold)
        value = float(value)
        methods[config["column"]] = {"method": method, "value": value, "drifted": drifted}
        if drifted:
            flagged.append(config["column"])
    print(
        json.dumps(
            {
                "tool": "evidently",
                "version": evidently.__version__,
                "seconds": times,
                "median_seconds": statistics.median(times),
                "flagged": sorted(flagged),
                "columns": methods,
            }
        )
    )


if __name__ == "__main__":
    main()
