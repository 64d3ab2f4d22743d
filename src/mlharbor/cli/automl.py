"""``mlharbor automl``: a leaderboard in a time budget, with a live progress bar."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from mlharbor.cli.common import app, console, open_client, open_hub, progress_bar, queue_job, target
from mlharbor.cli.training import _fail, _ingest_for_training, _print_version


@app.command()
def automl(
    dataset: Annotated[str, typer.Argument(help="Dataset name or id, or a file to ingest.")],
    target_column: Annotated[str, typer.Option("--target", help="The column to predict.")],
    budget: Annotated[
        float, typer.Option(help="Seconds for the whole search, refit included.")
    ] = 60.0,
    metric: Annotated[
        str | None, typer.Option(help="Rank by (default roc_auc / log_loss / r2).")
    ] = None,
    task: Annotated[str | None, typer.Option(help="binary, multiclass, regression, text.")] = None,
    drop: Annotated[
        list[str] | None, typer.Option(help="A column to leave out; repeatable.")
    ] = None,
    name: Annotated[str | None, typer.Option(help="Registered model name.")] = None,
    top_k: Annotated[int, typer.Option(min=1, max=10, help="Register the best k.")] = 1,
    seed: Annotated[int, typer.Option()] = 0,
    sort: Annotated[
        str | None, typer.Option(help="Sort the table by this metric or fit_seconds.")
    ] = None,
    rows: Annotated[int, typer.Option(min=1, help="Leaderboard rows to show.")] = 20,
    wait: Annotated[bool, typer.Option(help="Wait for the job and show the result.")] = True,
    refit_full: Annotated[
        bool,
        typer.Option(
            "--refit-full/--no-refit-full",
            help="Refit the winner on all rows after its test metrics (default), or keep "
            "the model fitted without the test split.",
        ),
    ] = True,
) -> None:
    """Search models for a target within a time budget; register the best as best_model."""
    if Path(dataset).is_file():
        dataset = _ingest_for_training(Path(dataset))
    # Imported here: `mlharbor serve --role predict` must not load the training stack.
    from mlharbor.workflows.automl import AutoMLRequest

    request = AutoMLRequest(
        dataset=dataset,
        target=target_column,
        time_budget=budget,
        metric=metric,
        task=task,
        drop=list(drop or []),
        name=name,
        top_k=top_k,
        seed=seed,
        refit_full=refit_full,
    )
    job = queue_job("automl", request)
    console.print(
        f"job {job['id']} queued: AutoML on {job['params']['dataset']} for "
        f"{job['params']['target']}, {budget:g} s, ranked by {job['params']['metric']}"
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
