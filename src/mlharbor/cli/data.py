"""Commands for serving, datasets, API keys and the database."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from mlharbor.cli.common import (
    app,
    console,
    datasets_app,
    db_app,
    err_console,
    human_size,
    keys_app,
    open_client,
    open_hub,
    progress_bar,
    run,
    target,
    version_json,
)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    insecure: Annotated[
        bool, typer.Option(help="Allow binding a non-loopback address without API keys.")
    ] = False,
    role: Annotated[
        str,
        typer.Option(
            help="all: API, UI and worker pool; predict: a predict-only replica (no training "
            "code, no worker)."
        ),
    ] = "all",
) -> None:
    """Start the API and UI with embedded defaults (SQLite and a local data folder)."""
    import uvicorn

    from mlharbor.api.app import ROLES, create_app
    from mlharbor.api.observability import configure_logging
    from mlharbor.config import get_settings

    if role not in ROLES:
        err_console.print(f"[bold red]error:[/] unknown role {role!r}; roles: {', '.join(ROLES)}")
        raise typer.Exit(2)
    settings = get_settings()
    host = host or settings.host
    port = port or settings.port
    refuse_open_bind(host, settings.auth_enabled, insecure)
    configure_logging(settings.log_level)
    console.print(
        f"mlharbor serving on [bold]http://{host}:{port}[/] "
        f"(role: {role}, data: {settings.data_dir.resolve()}, docs: /docs)"
    )
    # The app serves the host name it is bound to, and sets Secure cookies off loopback;
    # links back to it (MLflow runs) name the address it listens on.
    app = create_app(settings.model_copy(update={"host": host, "port": port}), role=role)
    # uvicorn's own cap (16 MiB by default) would close bigger messages before the setting.
    ws_max = settings.max_ws_message_bytes
    uvicorn.run(app, host=host, port=port, log_level="warning", ws_max_size=ws_max)


def refuse_open_bind(host: str, auth_enabled: bool, insecure: bool) -> None:
    """Exit when asked to serve a non-loopback address without API keys."""
    if not is_loopback(host) and not auth_enabled and not insecure:
        err_console.print(
            f"[bold red]error:[/] refusing to serve {host} without API keys: anyone on the "
            "network could use it. Set MLHARBOR_AUTH_ENABLED=true (and create a key with "
            "'mlharbor keys create --scope admin'), or pass --insecure."
        )
        raise typer.Exit(6)


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address or name."""
    import ipaddress

    if host in ("localhost", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@app.command()
def ingest(
    source: Annotated[str, typer.Argument(help="A file path or an http(s) URL.")],
    name: Annotated[str | None, typer.Option(help="Dataset name (default: from the file).")] = None,
    description: Annotated[str, typer.Option(help="A description of the dataset.")] = "",
) -> None:
    """Ingest a CSV/TSV, Parquet, JSON, JSON Lines or Excel file as a dataset version."""
    is_url = "://" in source
    path = Path(source)
    if not is_url and not path.is_file():
        err_console.print(f"[bold red]error:[/] no such file: {source}")
        raise typer.Exit(3)
    if target.url:
        with open_client() as client:
            v = run(
                lambda: (
                    client.datasets.from_url(source, name=name)
                    if is_url
                    else client.datasets.upload(path, name=name, description=description)
                )
            )
    else:
        with open_hub() as hub, progress_bar() as report:
            if is_url:
                result = run(
                    lambda: hub.datasets.ingest_url(
                        source, name=name, description=description, progress=report
                    )
                )
            else:
                result = run(
                    lambda: hub.datasets.ingest_file(
                        path, name=name, description=description, progress=report
                    )
                )
        v = {**version_json(result.version), "created": result.created}
    verb = "created" if v["created"] else "unchanged: identical to"
    console.print(
        f"[green]{verb}[/] dataset [bold]{v['dataset']}[/] version {v['version']}: "
        f"{v['n_rows']:,} rows × {v['n_columns']} columns"
    )
    _print_schema(v)


def _print_schema(v: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table(title=f"{v['dataset']} v{v['version']}", show_lines=False)
    for col in ("column", "type", "meaning", "missing", "distinct", "why"):
        table.add_column(col, overflow="fold")
    for c in v["columns"]:
        table.add_row(
            c["name"],
            c["storage_type"],
            c["semantic_type"],
            f"{c['n_missing']:,}",
            f"{c['n_distinct']:,}",
            c["evidence"],
        )
    console.print(table)
    for note in v["notes"]:
        console.print(f"[yellow]note:[/] {note}")


@datasets_app.command("list")
def datasets_list(
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
) -> None:
    """List datasets, newest first."""
    if target.url:
        with open_client() as client:
            page = run(lambda: client.datasets.list(limit=limit))
    else:
        from mlharbor.api.schemas import DatasetPublic

        with open_hub() as hub:
            rows, total = hub.datasets.list(limit=limit)
        page = {"data": [DatasetPublic.of(d).model_dump(mode="json") for d in rows], "count": total}
    if not page["data"]:
        console.print("no datasets yet: add one with [bold]mlharbor ingest FILE[/]")
        return
    from rich.table import Table

    table = Table(title=f"{page['count']} dataset(s)")
    for col in ("name", "versions", "rows", "columns", "size", "updated"):
        table.add_column(col)
    for d in page["data"]:
        v = d["versions"][-1]
        table.add_row(
            d["name"],
            str(len(d["versions"])),
            f"{v['n_rows']:,}",
            str(v["n_columns"]),
            human_size(v["size_bytes"]),
            v["created_at"][:16].replace("T", " "),
        )
    console.print(table)


@datasets_app.command("show")
def datasets_show(
    name: Annotated[str, typer.Argument(help="Dataset name or id.")],
    version: Annotated[int | None, typer.Option(help="Version (default: latest).")] = None,
) -> None:
    """Show a dataset version's columns and types."""
    if target.url:
        with open_client() as client:
            v = run(lambda: client.datasets.version(name, version))
    else:
        with open_hub() as hub:
            v = version_json(run(lambda: hub.datasets.get_version(name, version)))
    console.print(
        f"[bold]{v['dataset']}[/] version {v['version']}: {v['n_rows']:,} rows × "
        f"{v['n_columns']} columns, {human_size(v['size_bytes'])}, from {v['source']}"
    )
    _print_schema(v)


@app.command()
def insights(
    dataset: Annotated[str, typer.Argument(help="Dataset name or id.")],
    target_column: Annotated[
        str | None, typer.Option("--target", help="Column to predict.")
    ] = None,
    version: Annotated[int | None, typer.Option(help="Version (default: latest).")] = None,
    html: Annotated[Path | None, typer.Option(help="Also write the HTML report here.")] = None,
) -> None:
    """Profile a dataset: columns, quality warnings and, with --target, what predicts it."""
    if target.url:
        with open_client() as client:
            result = run(
                lambda: client.datasets.insights(dataset, target=target_column, version=version)
            )
            page = client.datasets.insights_html(dataset, target=target_column) if html else ""
    else:
        with open_hub() as hub:
            result = run(lambda: hub.insights.get(dataset, version=version, target=target_column))
            if html:
                from mlharbor.data.insights import render_insights_html

                page = render_insights_html(result)
    print_insights(result)
    if html:
        html.write_text(page, encoding="utf-8")
        console.print(f"report written to {html}")


def print_insights(result: dict[str, Any]) -> None:
    """A readable summary of insights: the table, the target, the warnings."""
    t = result["table"]
    console.print(
        f"[bold]{t['n_rows']:,} rows × {t['n_columns']} columns[/]; "
        f"{t['missing_cells']:,} missing cells, {t['duplicate_rows']:,} duplicate rows"
    )
    tgt = result.get("target") or {}
    if tgt.get("task"):
        console.print(
            f"target [bold]{tgt.get('column')}[/]: {tgt['task']} ({tgt.get('reason', '')})"
        )
        features = tgt.get("features") or []
        if features:
            from rich.table import Table

            table = Table(title="what predicts the target (mutual information)")
            table.add_column("feature")
            table.add_column("score", justify="right")
            for f in features[:10]:
                score = f.get("mutual_information", f.get("score"))
                table.add_row(
                    str(f.get("column", f.get("name"))),
                    f"{score:.4f}" if isinstance(score, float) else str(score),
                )
            console.print(table)
    warnings = result.get("warnings") or []
    if warnings:
        console.print(f"[bold yellow]{len(warnings)} warning(s)[/]")
        for w in warnings:
            console.print(f"  [yellow]•[/] {w['message']}", highlight=False)
    else:
        console.print("[green]no quality warnings[/]")


@keys_app.command("create")
def keys_create(
    scope: Annotated[list[str], typer.Option(help="read, predict, train or admin; repeatable.")],
    name: Annotated[str, typer.Option(help="What the key is for.")] = "key",
) -> None:
    """Create an API key and print its secret (shown once)."""
    with open_hub() as hub:
        info, token = run(lambda: hub.keys.create(name, scope))
    console.print(
        f"created key {info.id} ({info.name}) with scopes {', '.join(s.value for s in info.scopes)}"
    )
    console.print("[bold]store it now; it is not shown again:[/]")
    print(token)


@keys_app.command("list")
def keys_list() -> None:
    """List API keys (never their secrets)."""
    with open_hub() as hub:
        keys = hub.keys.list()
    from rich.table import Table

    table = Table(title=f"{len(keys)} key(s)")
    for col in ("id", "name", "prefix", "scopes", "created", "last used", "revoked"):
        table.add_column(col)
    for k in keys:
        table.add_row(
            str(k.id),
            k.name,
            k.prefix,
            ", ".join(k.scopes),
            k.created_at.strftime("%Y-%m-%d %H:%M"),
            k.last_used_at.strftime("%Y-%m-%d %H:%M") if k.last_used_at else "-",
            "yes" if k.revoked_at else "",
        )
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[int, typer.Argument(help="The key's id.")]) -> None:
    """Revoke an API key."""
    with open_hub() as hub:
        info = run(lambda: hub.keys.revoke(key_id))
    console.print(f"revoked key {info.id} ({info.name})")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply database migrations up to the newest."""
    from mlharbor.config import get_settings

    settings = get_settings()
    with open_hub():
        pass
    console.print(f"database up to date: {settings.resolved_database_url()}")
