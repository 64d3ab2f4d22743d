"""Runs side by side: their parameters, metrics and step states, what differs marked."""

from __future__ import annotations

from typing import Any

from mlharbor.errors import InvalidInputError
from mlharbor.pipelines.records import RunInfo

#: The most runs one comparison shows.
MAX_COMPARED = 10


def _row(name: str, values: list[Any]) -> dict[str, Any]:
    present = [v for v in values if v is not None]
    differs = len(present) != len(values) or len({repr(v) for v in present}) > 1
    if differs and all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
        # Metrics of one model computed twice can differ in the last digit; that is not a
        # difference a person is after.
        differs = len(present) != len(values) or max(present) - min(present) > 1e-9
    return {"name": name, "values": values, "differs": differs}


def compare_runs(runs: list[RunInfo]) -> dict[str, Any]:
    """Parameters, metrics and steps of ``runs``, one row per name, ``differs`` marked.

    Raises
    ------
    InvalidInputError
        Fewer than two runs, or more than :data:`MAX_COMPARED`.
    """
    if not 2 <= len(runs) <= MAX_COMPARED:
        raise InvalidInputError(f"compare 2 to {MAX_COMPARED} runs, got {len(runs)}")
    params = sorted({name for run in runs for name in run.params})
    metrics = sorted({name for run in runs for name in run.metrics})
    steps: list[str] = []
    for run in runs:
        for step in run.steps:
            if step.step not in steps:
                steps.append(step.step)

    def step_of(run: RunInfo, name: str) -> Any:
        return next((s for s in run.steps if s.step == name), None)

    step_rows = []
    for name in steps:
        found = [step_of(run, name) for run in runs]
        row = _row(name, [str(s.state) if s else None for s in found])
        row["messages"] = [s.message if s else "" for s in found]
        row["outputs"] = [
            {k: v for k, v in (s.outputs if s else {}).items() if not isinstance(v, dict | list)}
            for s in found
        ]
        step_rows.append(row)
    return {
        "runs": [
            {
                "id": run.id,
                "pipeline": run.pipeline,
                "state": str(run.state),
                "file_hash": run.file_hash,
                "created_at": run.created_at,
                "seconds": run.seconds,
            }
            for run in runs
        ],
        "file": _row("file_hash", [run.file_hash for run in runs]),
        "params": [_row(n, [run.params.get(n) for run in runs]) for n in params],
        "metrics": [_row(n, [run.metrics.get(n) for run in runs]) for n in metrics],
        "steps": step_rows,
    }
