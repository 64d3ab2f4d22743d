"""``mlharbor run`` and ``mlharbor runs``: pipeline files, run here or on a server."""

from __future__ import annotations

import time
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import typer

from mlharbor.cli.common import app, console, err_console, open_client, open_hub, run, target

STATE_STYLE = {
    "pending": "dim",
    "running": "bold blue",
    "done": "green",
    "cached": "cyan",
    "failed": "bold red",
    "skipped": "dim",
    "succeeded": "bold green",
    "queued": "dim",
}


def parse_param_options(items: list[str] | None) -> dict[str, str]:
    """``["budget=60", "seed=1"]`` → ``{"budget": "60", "seed": "1"}``."""
    params: dict[str, str] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise typer.BadParameter(f"{item!r}: write NAME=VALUE", param_hint="--param")
        params[name.strip()] = value
    return params


@app.command("run")
def run_command(
    file: Annotated[Path, typer.Argument(help="The pipeline file (YAML).", dir_okay=False)],
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", help="A parameter as NAME=VALUE; repeatable."),
    ] = None,
    from_step: Annotated[
        str | None,
        typer.Option("--from", help="Resume: reuse the steps before STEP from the last run."),
    ] = None,
    url: Annotated[
        str | None, typer.Option(help="Run on this server (default: here, or MLHARBOR_URL).")
    ] = None,
    api_key: Annotated[str | None, typer.Option(help="API key for --url.")] = None,
    wait: Annotated[bool, typer.Option(help="Follow the run until it ends.")] = True,
) -> None:
    """Run a pipeline file: each step in order, unchanged steps reused, a summary at the end."""
    if not file.is_file():
        err_console.print(f"[bold red]error:[/] no pipeline file at {file}", highlight=False)
        raise typer.Exit(3)
    text = file.read_text(encoding="utf-8")
    params = parse_param_options(param)
    if url or target.url:
        target.url = url or target.url
        target.api_key = api_key or target.api_key
        done = _run_remote(file, text, params, from_step, wait)
    else:
        done = _run_local(file, text, params, from_step)
    if done is None:
        return
    print_summary(done)
    if done["state"] != "succeeded":
        raise typer.Exit(1)


def _run_local(
    file: Path, text: str, params: dict[str, str], from_step: str | None
) -> dict[str, Any]:
    from mlharbor.api.routes.pipelines import PipelineRunPublic
    from mlharbor.pipelines import PipelineStore, run_pipeline

    with open_hub() as hub, Progress() as progress:
        store = PipelineStore(hub.sessions)

        def changed(run_id: int) -> None:
            progress.show(PipelineRunPublic.of(store.get_run(run_id)).model_dump(mode="json"))

        finished = run(
            lambda: run_pipeline(
                hub,
                text,
                params=params,
                base_dir=file.resolve().parent,
                from_step=from_step,
                on_change=changed,
                on_start=lambda r: progress.started(r.id, r.pipeline),
            )
        )
        return PipelineRunPublic.of(finished).model_dump(mode="json")


def _run_remote(
    file: Path, text: str, params: dict[str, str], from_step: str | None, wait: bool
) -> dict[str, Any] | None:
    from mlharbor.pipelines.spec import load_pipeline

    pipeline = run(lambda: load_pipeline(text, params))
    with open_client() as client:
        inputs: dict[str, str] = {}
        for step in pipeline.spec.steps:
            if step.kind == "ingest" and step.path:
                # The server reads no local paths: the file is uploaded (only once: the
                # server keeps known content as the same version) and named in `inputs`.
                path = (file.resolve().parent / step.path).resolve()
                stored = run(partial(client.datasets.upload, path, name=step.name))
                inputs[step.id] = f"{stored['dataset']}@{stored['version']}"
                console.print(f"uploaded {path.name} as {inputs[step.id]}")
        started = run(
            lambda: client.pipelines.run(
                text, params=params, from_step=from_step, inputs=inputs or None
            )
        )
        console.print(f"run {started['id']} of {started['pipeline']} queued on {target.url}")
        if not wait:
            return None
        with Progress() as progress:
            progress.started(started["id"], started["pipeline"])
            return run(lambda: client.pipelines.wait(started["id"], on_update=progress.show))


class Progress:
    """Live step states: a Rich table on a terminal, a line per change otherwise."""

    def __init__(self) -> None:
        self._live: Any = None
        self._seen: dict[str, tuple[str, str]] = {}
        self._last = 0.0

    def __enter__(self) -> Progress:
        if err_console.is_terminal:
            from rich.live import Live

            self._live = Live(console=err_console.real(), transient=True, refresh_per_second=4)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(None, None, None)

    def started(self, run_id: int, pipeline: str) -> None:
        err_console.print(f"run {run_id} of pipeline {pipeline}", highlight=False)

    def show(self, data: dict[str, Any]) -> None:
        if self._live is not None:
            now = time.monotonic()
            if now - self._last > 0.2 or data["state"] in ("succeeded", "failed"):
                self._live.update(steps_table(data, live=True))
                self._last = now
            return
        for step in data["steps"]:
            key = (step["state"], step["message"] if step["state"] != "running" else "")
            if self._seen.get(step["step"]) != key and step["state"] != "pending":
                self._seen[step["step"]] = key
                detail = f" – {step['message']}" if step["message"] else ""
                err_console.print(f"  {step['step']}: {step['state']}{detail}", highlight=False)


def steps_table(data: dict[str, Any], *, live: bool = False) -> Any:
    from rich.table import Table

    table = Table(title=None if live else f"run {data['id']} of {data['pipeline']}")
    for column in ("step", "kind", "state", "time", "job", "what happened"):
        table.add_column(column, overflow="fold")
    for step in data["steps"]:
        state = step["state"]
        if state == "running":
            state = f"running {100 * step['progress']:.0f}%"
        seconds = step.get("seconds")
        table.add_row(
            step["step"],
            step["kind"],
            f"[{STATE_STYLE.get(step['state'], '')}]{state}[/]",
            "" if seconds is None else f"{seconds:.1f} s",
            str(step["job_id"] or ""),
            step["message"],
        )
    return table


def print_summary(data: dict[str, Any]) -> None:
    """The run's steps, its parameters, key metrics and where to see it."""
    console.print(steps_table(data))
    params = ", ".join(f"{k}={v}" for k, v in data["params"].items()) or "none"
    console.print(f"parameters: {params}", highlight=False)
    shown = {
        k: v
        for k, v in data["metrics"].items()
        if k.split(".", 1)[-1] in ("f1", "roc_auc", "accuracy", "r2", "rmse", "n_drifted")
    }
    if shown:
        console.print(
            "metrics: " + ", ".join(f"{k} {v:.4g}" for k, v in shown.items()), highlight=False
        )
    style = STATE_STYLE.get(data["state"], "")
    seconds = data.get("seconds")
    took = f" in {seconds:.1f} s" if seconds is not None else ""
    console.print(f"run {data['id']}: [{style}]{data['state']}[/]{took}")
    if data.get("error"):
        step = data["error"].get("step")
        where = f"step {step}: " if step else ""
        err_console.print(f"[bold red]error:[/] {where}{data['error']['message']}", highlight=False)
    console.print(
        f"compare runs at /pipelines (mlharbor serve) or GET /api/v1/pipelines/runs/{data['id']}",
        highlight=False,
    )


@app.command("runs")
def runs_command(
    pipeline: Annotated[str | None, typer.Option(help="Only this pipeline's runs.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=200)] = 20,
) -> None:
    """List pipeline runs, newest first."""
    if target.url:
        with open_client() as client:
            found = run(lambda: client.pipelines.list(pipeline=pipeline, limit=limit))
    else:
        from mlharbor.api.routes.pipelines import PipelineRunPublic
        from mlharbor.pipelines import PipelineStore

        with open_hub() as hub:
            runs, total = PipelineStore(hub.sessions).list_runs(pipeline=pipeline, limit=limit)
            found = {
                "data": [PipelineRunPublic.of(r).model_dump(mode="json") for r in runs],
                "count": total,
            }
    from rich.table import Table

    table = Table(title=f"{found['count']} pipeline run(s)")
    for column in ("run", "pipeline", "state", "parameters", "started", "seconds"):
        table.add_column(column)
    for item in found["data"]:
        table.add_row(
            str(item["id"]),
            item["pipeline"],
            f"[{STATE_STYLE.get(item['state'], '')}]{item['state']}[/]",
            ", ".join(f"{k}={v}" for k, v in item["params"].items()),
            (item["started_at"] or "")[:19],
            "" if item["seconds"] is None else f"{item['seconds']:.1f}",
        )
    console.print(table)
