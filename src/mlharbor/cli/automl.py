"""``mlharbor automl``: a leaderboard in a time budget, with a live progress bar."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from mlharbor.cli.common import (
    app,
    console,
    open_client,
    open_hub,
    progress_bar,
    queue_job,
    run,
    target,
)
from mlharbor.cli.options import request_options
from mlharbor.cli.training import _fail, _ingest_for_training, _print_version
from mlharbor.workflows.requests import AutoMLRequest


@app.command()
@request_options(AutoMLRequest, skip={"dataset"}, flags={"time_budget": "--budget"})
def automl(
    dataset: Annotated[str, typer.Argument(help="Dataset name or id, or a file to ingest.")],
    sort: Annotated[
        str | None, typer.Option(help="Sort the table by this metric or fit_seconds.")
    ] = None,
    rows: Annotated[int, typer.Option(min=1, help="Leaderboard rows to show.")] = 20,
    wait: Annotated[bool, typer.Option(help="Wait for the job and show the result.")] = True,
    options: dict[str, Any] | None = None,
) -> None:
    """Search models for a target within a time budget; register the best as best_model."""
    fields = {"dataset": dataset, **(options or {})}
    request = run(lambda: AutoMLRequest.parse(fields))  # before a file is ingested
    if Path(dataset).is_file():
        request.dataset = _ingest_for_training(Path(dataset))
    job = queue_job("automl", request)
    console.print(
        f"job {job['id']} queued: AutoML on {job['params']['dataset']} for "
        f"{job['params']['target']}, {request.time_budget:g} s, ranked by "
        f"{job['params']['metric']}"
    )
    if not wait:
        return
    done = _follow_trials(job["id"])
    if done["state"] != "succeeded":
        _fail(done)
    result = done["result"]
    print_leaderboard(result, sort=sort, limit=rows)
    _print_version(result["model"], result["version"])


def _follow_trials(job_id: int) -> dict[str, Any]:
    with progress_bar() as report:

        def update(job: Any) -> None:
            data = job if isinstance(job, dict) else job.to_dict()
            report(data["progress"], data["message"][:40])

        if target.url:
            with open_client() as client:
                return client.jobs.wait(job_id, on_update=update)
        with open_hub() as hub:
            return hub.wait(job_id, run_here=True, on_update=update).to_dict()


def print_leaderboard(result: dict[str, Any], *, sort: str | None = None, limit: int = 20) -> None:
    """The leaderboard as a Rich table: CV mean ± std of every metric, times, parameters."""
    from rich.table import Table

    from mlharbor.models.automl import sort_rows

    rows = sort_rows(result["leaderboard"], sort)
    metrics = sorted(
        {m for r in rows for m in r.get("cv", {})}, key=lambda m: m != result["metric"]
    )
    # A narrow terminal shows the ranking metric only; a wide one every metric and the params.
    wide = console.width >= 140
    shown_metrics = metrics if wide else metrics[:1]
    table = Table(
        title=f"AutoML leaderboard: {result['target']} ({result['task']}), best {result['best']}"
    )
    name_width = max([len("candidate"), *(len(r["name"]) for r in rows[:limit])])
    table.add_column("#", justify="right")
    table.add_column("candidate", min_width=name_width)
    table.add_column("status")
    for metric in shown_metrics:
        table.add_column(metric, justify="right", min_width=len(metric), overflow="fold")
    table.add_column("fit s", justify="right")
    table.add_column("predict s", justify="right")
    if wide:
        table.add_column("params", overflow="fold")
    for row in rows[:limit]:
        cv = row.get("cv", {})
        cells = [
            f"{cv[m]['mean']:.4f} ± {cv[m]['std']:.4f}" if m in cv else "" for m in shown_metrics
        ]
        params = row["members"] if row["family"] == "ensemble" else row["params"]
        shown = ", ".join(f"{k}={_short(v)}" for k, v in params.items() if k != "n_jobs")
        name = f"[bold]{row['name']}[/]" if row.get("winner") else row["name"]
        table.add_row(
            str(row["rank"]),
            name,
            row["status"],
            *cells,
            _seconds(row.get("fit_seconds")),
            _seconds(row.get("predict_seconds")),
            *([shown[:60]] if wide else []),
        )
    console.print(table)
    timings = result.get("timings", {})
    console.print(
        f"{len(rows)} candidates in {timings.get('total', 0):.1f} s "
        f"(budget {timings.get('budget', 0):.1f} s for search and refit)"
    )
    if result.get("fitted_on"):
        console.print(f"registered model fitted on {result['fitted_on']}")
    for note in result.get("notes", []):
        console.print(f"[yellow]note:[/] {note}")


def _seconds(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
