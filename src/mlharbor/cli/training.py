"""Commands for training, jobs, workers and registered models."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from mlharbor.cli.common import (
    app,
    console,
    err_console,
    fail,
    make_typer,
    open_client,
    open_hub,
    progress_bar,
    queue_job,
    run,
    target,
)
from mlharbor.cli.early import start_fork_server
from mlharbor.cli.options import request_options
from mlharbor.errors import error_from_dict
from mlharbor.workflows.requests import TrainRequest

jobs_app = make_typer("Follow, list and cancel jobs.")
models_app = make_typer("Registered models, versions and aliases.")
app.add_typer(jobs_app, name="jobs")
app.add_typer(models_app, name="models")


@app.command()
def worker(
    concurrency: Annotated[
        int | None, typer.Option(help="Jobs at once (default: workers).")
    ] = None,
) -> None:
    """Run a worker that claims queued jobs from the database until stopped (Ctrl-C)."""
    from mlharbor.config import get_settings
    from mlharbor.jobs import run_worker

    settings = get_settings()
    with open_hub():
        pass  # migrations first, so the worker never meets an old schema
    console.print(f"worker running on {settings.resolved_database_url()} (Ctrl-C to stop)")
    run_worker(settings, concurrency=concurrency or settings.workers)


def _fail(job: dict[str, Any]) -> None:
    if job["state"] == "cancelled":
        err_console.print(f"[yellow]job {job['id']} was cancelled[/]")
        raise typer.Exit(1)
    error = error_from_dict(job.get("error") or {"message": "no reason recorded"})
    fail(error, prefix=f"job {job['id']} failed: ")


def _follow(job_id: int, *, run_here: bool) -> dict[str, Any]:
    with progress_bar() as report:

        def update(job: Any) -> None:
            data = job if isinstance(job, dict) else job.to_dict()
            report(data["progress"], data["message"][:40])

        if target.url:
            with open_client() as client:
                return client.jobs.wait(job_id, on_update=update)
        with open_hub() as hub:
            return hub.wait(job_id, run_here=run_here, on_update=update).to_dict()


def _print_metrics(version: dict[str, Any]) -> None:
    from rich.table import Table

    metrics = version.get("metrics", {})
    table = Table(
        title=f"{version['model']} v{version['version']} ({version['task']}, "
        f"{version['estimator']})"
    )
    table.add_column("metric")
    table.add_column("test", justify="right")
    table.add_column("cross-validation", justify="right")
    cv = metrics.get("cv", {})
    for name, value in metrics.get("test", {}).items():
        fold = cv.get(name)
        table.add_row(
            name,
            f"{value:.4f}" if isinstance(value, float) else str(value),
            f"{fold['mean']:.4f} ± {fold['std']:.4f}" if fold else "",
        )
    console.print(table)


@app.command()
@request_options(TrainRequest, skip={"dataset", "params"})
def train(
    dataset: Annotated[str, typer.Argument(help="Dataset name or id, or a file to ingest.")],
    param: Annotated[
        list[str] | None, typer.Option(help="A model parameter, name=value; repeatable.")
    ] = None,
    wait: Annotated[bool, typer.Option(help="Wait for the job and show the result.")] = True,
    options: dict[str, Any] | None = None,
) -> None:
    """Train one model on a dataset (a name, or a file to ingest first) and register it."""
    # Checked before a file is ingested; a server checks the model's parameters itself.
    fields = {"dataset": dataset, "params": _params(param), **(options or {})}
    request = run(lambda: TrainRequest.parse(fields, catalog=not target.url))
    if wait and not target.url:
        # First: the jobs' fork server imports the ML stack (seconds) while this process
        # ingests the file and queues the job. Started already when the command line was
        # read (cli.early); not yet when the app is called from Python.
        start_fork_server()
    if Path(dataset).is_file():
        request.dataset = _ingest_for_training(Path(dataset))
    job = queue_job("train", request)
    console.print(
        f"job {job['id']} queued: train {job['params']['model']} on "
        f"{job['params']['dataset']} → {job['params']['name']}"
    )
    if not wait:
        return
    done = _follow(job["id"], run_here=not target.url)
    if done["state"] != "succeeded":
        _fail(done)
    result = done["result"]
    _print_version(result["model"], result["version"])


def _ingest_for_training(path: Path) -> str:
    if target.url:
        with open_client() as client:
            v = run(lambda: client.datasets.upload(path))
        dataset, version, rows = v["dataset"], v["version"], v["n_rows"]
    else:
        with open_hub() as hub:
            info = run(lambda: hub.datasets.ingest_file(path)).version
        dataset, version, rows = info.dataset, info.version, info.n_rows
    console.print(f"dataset {dataset} version {version}: {rows:,} rows")
    return str(dataset)


def _params(items: list[str] | None) -> dict[str, Any]:
    from mlharbor.models import parse_params

    return run(lambda: parse_params(items or []))


def _print_version(name: str, ref: int | str) -> None:
    if target.url:
        with open_client() as client:
            version = run(lambda: client.models.version(name, ref))
    else:
        with open_hub() as hub:
            version = run(lambda: hub.models.get_version(name, ref)).to_dict()
    _print_metrics(version)
    aliases = ", ".join(version["aliases"]) or "none"
    console.print(f"aliases: {aliases}; artifacts: {', '.join(sorted(version['artifacts']))}")
    for note in version.get("lineage", {}).get("notes", []):
        console.print(f"[yellow]note:[/] {note}")


@jobs_app.command("list")
def jobs_list(
    state: Annotated[str | None, typer.Option(help="queued, running, succeeded...")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 20,
) -> None:
    """List jobs, newest first."""
    if target.url:
        with open_client() as client:
            jobs = run(lambda: client.jobs.list(state=state, limit=limit))["data"]
    else:
        with open_hub() as hub:
            jobs = [j.to_dict() for j in run(lambda: hub.jobs.list(state=state, limit=limit))]
    if not jobs:
        console.print("no jobs yet: start one with [bold]mlharbor train DATASET --target COL[/]")
        return
    from rich.table import Table

    table = Table(title=f"{len(jobs)} job(s)")
    for col in ("id", "kind", "state", "progress", "message", "created"):
        table.add_column(col)
    for j in jobs:
        table.add_row(
            str(j["id"]),
            j["kind"],
            j["state"],
            f"{j['progress']:.0%}",
            (j.get("error") or {}).get("message", j["message"])[:60],
            j["created_at"][:19].replace("T", " "),
        )
    console.print(table)


@jobs_app.command("show")
def jobs_show(job_id: Annotated[int, typer.Argument()]) -> None:
    """Show a job's state, result or error."""
    if target.url:
        with open_client() as client:
            job = run(lambda: client.jobs.get(job_id))
    else:
        with open_hub() as hub:
            job = run(lambda: hub.jobs.get(job_id)).to_dict()
    console.print(
        f"job {job['id']} ({job['kind']}): [bold]{job['state']}[/], "
        f"{job['progress']:.0%} {job['message']}"
    )
    if job.get("error"):
        console.print(f"[red]error:[/] {job['error'].get('message')}", highlight=False)
    if job.get("result"):
        console.print(job["result"])


@jobs_app.command("follow")
def jobs_follow(job_id: Annotated[int, typer.Argument()]) -> None:
    """Show a job's progress until it ends."""
    done = _follow(job_id, run_here=False)
    if done["state"] != "succeeded":
        _fail(done)
    console.print(f"job {job_id} succeeded")


@jobs_app.command("cancel")
def jobs_cancel(job_id: Annotated[int, typer.Argument()]) -> None:
    """Cancel a job."""
    if target.url:
        with open_client() as client:
            job = run(lambda: client.jobs.cancel(job_id))
    else:
        with open_hub() as hub:
            job = run(lambda: hub.jobs.request_cancel(job_id)).to_dict()
    console.print(
        f"job {job_id}: {job['state']}"
        + (" (cancel requested)" if job["state"] == "running" else "")
    )


@models_app.command("list")
def models_list() -> None:
    """List registered models."""
    if target.url:
        with open_client() as client:
            models = run(client.models.list)["data"]
    else:
        with open_hub() as hub:
            models = [m.to_dict() for m in hub.models.list_models()]
    if not models:
        console.print("no models yet: train one with [bold]mlharbor train DATASET --target COL[/]")
        return
    from rich.table import Table

    table = Table(title=f"{len(models)} model(s)")
    for col in ("name", "latest", "aliases", "created"):
        table.add_column(col)
    for m in models:
        aliases = ", ".join(f"{a}→v{v}" for a, v in m["aliases"].items())
        latest = str(m["latest_version"] or "none")  # none: every version was deleted
        table.add_row(m["name"], latest, aliases, m["created_at"][:16].replace("T", " "))
    console.print(table)


@models_app.command("show")
def models_show(
    name: Annotated[str, typer.Argument(help="Model name, or NAME@ALIAS / NAME/VERSION.")],
) -> None:
    """Show a model version's metrics, aliases and artifacts."""
    from mlharbor.registry.records import split_model_ref

    model, ref = split_model_ref(name)
    _print_version(model, ref)


@models_app.command("alias")
def models_alias(
    name: Annotated[str, typer.Argument()],
    alias: Annotated[str, typer.Argument(help="e.g. champion")],
    version: Annotated[str, typer.Argument(help="Version number or another alias.")],
) -> None:
    """Point an alias at a version (promote, or roll back)."""
    if target.url:
        with open_client() as client:
            v = run(lambda: client.models.set_alias(name, alias, version))
    else:
        with open_hub() as hub:
            v = run(lambda: hub.models.set_alias(name, alias, version)).to_dict()
    console.print(f"{name}@{alias} → version {v['version']}")


@models_app.command("export")
def models_export(
    model: Annotated[str, typer.Argument(help="NAME@ALIAS, NAME/VERSION or NAME (latest).")],
    out: Annotated[Path, typer.Option(help="Folder (mlflow) or file (onnx) to write.")],
    format: Annotated[str, typer.Option("--format", help="mlflow or onnx.")] = "mlflow",
) -> None:
    """Export a version as an MLflow model directory or an ONNX file."""
    from mlharbor.registry.records import split_model_ref

    name, ref = split_model_ref(model)
    if target.url:
        if format == "mlflow" and out.exists() and any(out.iterdir()):
            err_console.print(f"[bold red]error:[/] {out} already exists and is not empty")
            raise typer.Exit(5)
        with open_client() as client:
            run(lambda: client.models.export(name, ref, out, format=format))
    else:
        with open_hub() as hub:
            run(lambda: hub.models.export(name, ref, out, format))
    hint = f"  (mlflow models serve -m {out} --env-manager local)" if format == "mlflow" else ""
    console.print(f"exported {name}@{ref} as {format} to {out}{hint}")


@models_app.command("delete")
def models_delete(
    model: Annotated[str, typer.Argument(help="NAME (the whole model) or NAME@VERSION.")],
    force: Annotated[
        bool, typer.Option("--force", help="Delete a version even if an alias holds it.")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a model version, or a whole registered model, with its files."""
    from mlharbor.registry.records import split_model_ref

    name, version = split_model_ref(model) if "@" in model or "/" in model else (model, None)
    what = f"{name} version {version}" if version is not None else f"model {name} (every version)"
    if not yes and not typer.confirm(f"delete {what}?", default=False):
        err_console.print("aborted: nothing deleted")
        raise typer.Exit(1)
    if target.url:
        with open_client() as client:
            run(lambda: client.models.delete(name, version, force=force))
    else:
        with open_hub() as hub:
            if version is None:
                run(lambda: hub.models.delete_model(name))
            else:
                run(lambda: hub.models.delete_version(name, version, force=force))
    console.print(f"deleted {what}")
