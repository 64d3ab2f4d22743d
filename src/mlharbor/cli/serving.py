"""Commands for serving one model (like ``mlflow models serve``) and batch scoring."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from mlharbor.cli.common import app, console, err_console, open_client, open_hub, run, target
from mlharbor.cli.data import refuse_open_bind


@app.command("serve-model")
def serve_model(
    model: Annotated[str, typer.Argument(help="NAME@ALIAS, NAME/VERSION or NAME (latest).")],
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", "-p", help="Port to listen on.")] = 5002,
    insecure: Annotated[
        bool, typer.Option(help="Allow binding a non-loopback address without API keys.")
    ] = False,
) -> None:
    """Serve one model on /invocations, /ping, /health and /version, like mlflow models serve."""
    import uvicorn

    from mlharbor.api.observability import configure_logging
    from mlharbor.api.single import create_model_app, load_model
    from mlharbor.config import get_settings
    from mlharbor.hub import Hub
    from mlharbor.registry.records import split_model_ref

    settings = get_settings()
    refuse_open_bind(host, settings.auth_enabled, insecure)
    name, ref = split_model_ref(model)
    settings = settings.model_copy(update={"host": host})
    # One hub for the check and the server: the model is loaded once, here (failing with the
    # registry's message rather than in the server's startup), and served from its cache.
    with Hub.open(settings) as hub:
        described = run(lambda: load_model(hub, name, ref))
        configure_logging(settings.log_level)
        console.print(f"serving {described} on [bold]http://{host}:{port}/invocations[/]")
        app_ = create_model_app(settings, name, ref, hub=hub)
        try:
            uvicorn.run(app_, host=host, port=port, log_level="warning")
        except OSError as exc:  # the port is taken, or the address not ours
            err_console.print(f"[bold red]error:[/] cannot listen on {host}:{port}: {exc}")
            raise typer.Exit(1)


@app.command()
def score(
    model: Annotated[str, typer.Argument(help="NAME@ALIAS, NAME/VERSION or NAME (latest).")],
    dataset: Annotated[str, typer.Argument(help="A dataset name, or a file to ingest first.")],
    dataset_version: Annotated[int | None, typer.Option(help="Default: the newest.")] = None,
    output: Annotated[
        str | None, typer.Option(help="Name of the scored dataset; default DATASET-scored-MODEL.")
    ] = None,
    chunk_rows: Annotated[int, typer.Option(min=1_000, max=1_000_000)] = 50_000,
    out: Annotated[
        Path | None, typer.Option(help="Also save the scored rows here (.csv or .parquet).")
    ] = None,
    wait: Annotated[bool, typer.Option(help="Wait for the job and show the result.")] = True,
) -> None:
    """Score a dataset with a model version as a job; the result is a new dataset."""
    from mlharbor.cli.training import _fail, _follow, _ingest_for_training
    from mlharbor.registry.records import split_model_ref

    if Path(dataset).is_file():
        dataset = _ingest_for_training(Path(dataset))
    name, ref = split_model_ref(model)
    options: dict[str, Any] = {
        "dataset_version": dataset_version,
        "output": output,
        "chunk_rows": chunk_rows,
    }
    if target.url:
        with open_client() as client:
            job = run(lambda: client.jobs.submit_score(f"{name}@{ref}", dataset, **options))
    else:
        from mlharbor.workflows.score import ScoreRequest

        request = ScoreRequest(model=name, ref=ref, dataset=dataset, **options)
        with open_hub() as hub:
            job = run(lambda: hub.submit_score(request)).to_dict()
    p = job["params"]
    console.print(
        f"job {job['id']} queued: score {p['dataset']} v{p['dataset_version']} with "
        f"{p['model']} v{p['ref']} → {p['output']}"
    )
    if not wait:
        return
    done = _follow(job["id"], run_here=not target.url)
    if done["state"] != "succeeded":
        _fail(done)
    r = done["result"]
    console.print(
        f"scored {r['rows']:,} rows in {r['chunks']} chunk(s): dataset [bold]{r['dataset']}[/] "
        f"version {r['dataset_version']} (columns added: {', '.join(r['columns'])})"
    )
    if out is not None:
        _save(r["dataset"], r["dataset_version"], out)
        console.print(f"saved {out}")


def _save(dataset: str, version: int, out: Path) -> None:
    fmt = "csv" if out.suffix.lower() == ".csv" else "parquet"
    if target.url:
        with open_client() as client:
            run(lambda: client.datasets.download(dataset, out, format=fmt, version=version))
        return
    with open_hub() as hub, open(out, "wb") as f:
        v = run(lambda: hub.datasets.get_version(dataset, version))
        chunks = hub.datasets.iter_csv(v) if fmt == "csv" else hub.datasets.iter_file(v)
        for chunk in chunks:
            f.write(chunk)
