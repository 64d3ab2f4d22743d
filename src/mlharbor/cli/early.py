"""What the ``mlharbor`` command does before its command line is parsed.

``mlharbor train``'s job waits for the jobs' fork server's imports (seconds), so they start
before the command's own imports (Typer, Rich, the request models: about 0.2 s). Only the
command line's shape is read here; the command itself checks everything, and the fork
server leaves once this process has gone if no job came (:mod:`mlharbor.jobs.warm`).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Sequence
from pathlib import Path

#: The options given before the command that take a value (see ``cli.common._options``).
_VALUED = {"--api-key"}


def run_as_module(argv: Sequence[str]) -> None:
    """Make the ``mlharbor`` script's process the ``python -m mlharbor`` it is equivalent to.

    A process that multiprocessing starts (a job attempt from the fork server, a pool
    worker) runs its parent's main script again unless the parent ran a module: for the
    script, that is the whole command line's imports (0.2 s) and its start-up in every job.
    """
    main = sys.modules.get("__main__")
    if main is None or getattr(main, "__spec__", None) is not None or _run_again():
        return
    if argv and Path(argv[0]).name == "mlharbor":
        main.__spec__ = importlib.util.find_spec("mlharbor.__main__")


def _run_again() -> bool:
    """Whether this is multiprocessing running the parent's script in a child it starts
    (as ``__mp_main__``): then the script is not the command."""
    return "__mp_main__" in sys.modules


def trains_here(argv: Sequence[str]) -> bool:
    """Whether ``argv`` is ``mlharbor [options] train …`` that runs its job in this process
    and waits for it: not against a server (``--url``), not ``--no-wait``, not ``--help``."""
    if not argv or Path(argv[0]).name != "mlharbor" or os.environ.get("MLHARBOR_URL"):
        return False
    args = list(argv[1:])
    while args and args[0].startswith("-"):
        option = args.pop(0)
        if option.split("=", 1)[0] == "--url":
            return False
        if option in _VALUED and args:
            args.pop(0)
    if not args or args[0] != "train":
        return False
    return not {"--no-wait", "--help"} & set(args[1:])


def start_if_training(argv: Sequence[str]) -> None:
    """Start the fork server's imports now if ``argv`` will run a training here."""
    if trains_here(argv) and not _run_again():
        start_fork_server()


def start_fork_server() -> None:
    """Start the jobs' fork server ``quick``, with the driver of this folder's database, if
    not started yet (:func:`mlharbor.jobs.starter.start_attempt_server`)."""
    import mlharbor.hub  # noqa: F401  (registers the job kinds, whose handlers it preloads)
    from mlharbor.jobs.starter import start_attempt_server

    start_attempt_server(_database_url(), quick=True)


def _database_url() -> str:
    """The jobs' database, whose driver the fork server preloads. Read from the environment
    where it can only be there: the settings' own imports (pydantic, 0.1–0.2 s) would come
    first otherwise."""
    if Path(".env").exists():  # the settings may come from this file too: let them read it
        from mlharbor.config import get_settings

        return get_settings().resolved_database_url()
    return os.environ.get("MLHARBOR_DATABASE_URL") or "sqlite://"  # the default: SQLite
