"""Shared parts of the command line: the Typer apps, where commands run, error display.

A command starts like a command: importing the CLI loads Typer and nothing else (a test pins
it), and each command imports what it uses when it runs. Rich, the hub, the client, pandas and
the web stack cost from 0.1 s to seconds each; ``mlharbor --help`` needs none of them.
"""

from __future__ import annotations

import atexit
import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer

from mlharbor.errors import HarborError

if TYPE_CHECKING:
    from rich.console import Console

    from mlharbor.client import Client
    from mlharbor.data.datasets import DatasetVersionInfo
    from mlharbor.hub import Hub


def make_typer(help: str) -> typer.Typer:
    """A command group with plain (Click) help: Typer's Rich help panels import Rich and
    Markdown (about 0.2 s, half of ``mlharbor --help``) to draw boxes around the same text."""
    return typer.Typer(help=help, no_args_is_help=True, rich_markup_mode=None)


app = make_typer("mlharbor: a self-hosted machine-learning hub.")
datasets_app = make_typer("List and inspect datasets.")
db_app = make_typer("The metadata database.")
keys_app = make_typer("API keys.")
app.add_typer(datasets_app, name="datasets")
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")


class Target:
    """Where commands run: in this process (the default) or on a server (``--url``)."""

    url: str | None = None
    api_key: str | None = None


target = Target()


@app.callback()
def _options(
    url: Annotated[
        str | None, typer.Option(envvar="MLHARBOR_URL", help="Run against this server.")
    ] = None,
    api_key: Annotated[
        str | None, typer.Option(envvar="MLHARBOR_API_KEY", help="API key for --url.")
    ] = None,
) -> None:
    """mlharbor: a self-hosted machine-learning hub."""
    target.url, target.api_key = url, api_key
    exit_without_collecting()


def exit_without_collecting() -> None:
    """Freeze the process's objects when it exits, so the interpreter's last garbage
    collections skip them.

    Those collections walk every object still alive: after a report on a million rows
    (polars, Arrow, SQLAlchemy and pydantic loaded) they took 0.2-0.3 s, a tenth of the
    command, for a process whose memory the OS takes back at once. Nothing is lost that
    was promised: files and the database are closed by the commands, logging and the
    standard streams are flushed by their own exit handlers, and Python never guaranteed
    ``__del__`` of objects alive at exit.
    """
    atexit.unregister(gc.freeze)  # once, however many commands a test runs in one process
    atexit.register(gc.freeze)


@contextmanager
def open_client() -> Iterator[Client]:
    from mlharbor.client import Client

    with Client(target.url or "", api_key=target.api_key) as client:
        yield client


def version_json(v: DatasetVersionInfo) -> dict[str, Any]:
    from mlharbor.api.schemas import DatasetVersionPublic

    return DatasetVersionPublic.of(v).model_dump(mode="json")


class LazyConsole:
    """A Rich console made on first use, so that importing the CLI does not import Rich."""

    def __init__(self, *, stderr: bool = False) -> None:
        self._stderr = stderr
        self._console: Console | None = None

    def real(self) -> Console:
        """The Rich console itself (made now if it was not yet)."""
        if self._console is None:
            from rich.console import Console

            self._console = Console(stderr=self._stderr)
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real(), name)


console = LazyConsole()
err_console = LazyConsole(stderr=True)
T = TypeVar("T")

# Exit codes: 2 for a usage problem is Typer's; ours start at 3.
EXIT_CODES = {
    "invalid_input": 3,
    "unsupported_format": 3,
    "payload_too_large": 3,
    "not_found": 4,
    "conflict": 5,
    "unauthenticated": 6,
    "forbidden": 6,
}


def fail(exc: HarborError, prefix: str = "") -> NoReturn:
    """Print ``exc`` as one red line and exit with the code for its class."""
    # soft_wrap: one line however long (a list of valid options), as a terminal wraps it.
    err_console.print(f"[bold red]error:[/] {prefix}{exc.message}", highlight=False, soft_wrap=True)
    raise typer.Exit(EXIT_CODES.get(exc.code, 1))


def run(action: Callable[[], T]) -> T:
    try:
        return action()
    except HarborError as exc:
        fail(exc)


@contextmanager
def open_hub() -> Iterator[Hub]:
    from mlharbor.config import get_settings
    from mlharbor.hub import Hub

    hub = run(lambda: Hub.open(get_settings()))
    try:
        yield hub
    finally:
        hub.close()


def queue_job(kind: str, request: Any) -> dict[str, Any]:
    """Queue ``request`` as a ``kind`` job on the server given by ``--url`` or the local hub.

    Both sides name their calls alike: ``client.jobs.submit`` and ``hub.submit_<kind>``.
    A server gets the fields the user set, and fills in the rest as it would for any client.
    """
    if target.url:
        params = request.model_dump(mode="json", exclude_unset=True)
        with open_client() as client:
            return run(lambda: client.jobs.submit(kind, params))
    with open_hub() as hub:
        return run(lambda: getattr(hub, f"submit_{kind}")(request)).to_dict()


def human_size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


@contextmanager
def progress_bar() -> Iterator[Callable[[float, str], None]]:
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description:<18}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        console=err_console.real(),
        transient=True,
        disable=not err_console.is_terminal,
    ) as bar:
        task = bar.add_task("starting", total=1.0)

        def report(fraction: float, message: str) -> None:
            bar.update(task, completed=fraction, description=message)

        yield report
