"""How job attempts start: a fork server that has imported what they need, once.

Light on purpose (the standard library and the registry of job kinds), so that a command
that will run a job soon (``mlharbor train``) starts the fork server first thing, before
its own imports, and the seconds of the server's imports overlap the command's work.
"""

from __future__ import annotations

import importlib
import logging
import multiprocessing
import os
import sys
import threading
from multiprocessing import forkserver
from typing import Any

from mlharbor.jobs.handlers import registered_kinds

log = logging.getLogger(__name__)

# Imported once by the fork server, so no attempt pays for them (missing ones are skipped).
PRELOAD = ["mlharbor.jobs.runner", "mlharbor.jobs.builtin", "mlharbor.config"]
#: Each database's driver: the fork server preloads its worker's (both when not told).
DRIVERS = {
    "sqlite": ["sqlalchemy.dialects.sqlite.pysqlite"],
    "postgresql": ["sqlalchemy.dialects.postgresql.psycopg", "psycopg"],
}
#: What the ML job handlers import lazily, imported (or called, for ``module:function``)
#: by the fork server after :data:`PRELOAD` and the handler modules of every registered job
#: kind, so an attempt starts with the ML stack in memory instead of spending seconds of its
#: time on imports. A failing entry is logged and skipped; it never stops the fork server.
#: First what a training needs to start, then what it needs only later (:data:`WARM_LATER`).
WARM_FIRST = [
    "pandas",
    "pyarrow.parquet",
    "sklearn.ensemble",
    "sklearn.model_selection",
    "lightgbm",
    "mlharbor.models.catalog",
    "mlharbor.models.evaluate",
    "mlharbor.models.train",
]
#: What a training needs only once it has started fitting: charts, the model file, the
#: drift reference. A fork server started ``quick`` leaves these to the attempt, which
#: imports them (:func:`warm_rest`) while its first fits run on the other cores.
WARM_LATER = [
    "matplotlib.backends.backend_agg",
    "mlharbor.models.plots:warm_up",
    "skops.io",  # a second: it walks every scikit-learn estimator to build its trusted list
    "mlharbor.registry.allowlist:all_allowed",  # the model-file check a registration runs
    "mlharbor.monitoring.service",
]
WARM_STACK = [*WARM_FIRST, *WARM_LATER]
#: The fork server's warm-up reads the names to import from this variable.
WARM_ENV = "_MLHARBOR_FORKSERVER_WARM"  # not a setting: no MLHARBOR_ prefix


def warm_list(*, quick: bool = False) -> list[str]:
    """What the fork server imports after :data:`PRELOAD`: each registered handler's module,
    then :data:`WARM_STACK` (only :data:`WARM_FIRST` if ``quick``)."""
    handlers = [path.partition(":")[0] for path in registered_kinds().values()]
    return list(dict.fromkeys([*handlers, *(WARM_FIRST if quick else WARM_STACK)]))


#: The warm-up entries done in this process (inherited by the attempts of a fork server).
_warmed: set[str] = set()


def warm(entry: str) -> None:
    """Import ``package.module`` (and call ``function`` for ``package.module:function``),
    once per process; whatever fails is logged and skipped: a job that needs it will raise
    the same error where it is seen."""
    if entry in _warmed:
        return
    _warmed.add(entry)
    module_name, _, function = entry.partition(":")
    try:
        module = importlib.import_module(module_name)
        if function:
            getattr(module, function)()
    except Exception:
        log.warning("could not preload %s", entry, exc_info=True)


def rest_to_warm() -> bool:
    """Whether :func:`warm_rest` has imports to do here (the fork server was ``quick``)."""
    return any(entry not in _warmed for entry in WARM_LATER)


def warm_rest() -> None:
    """Import what a ``quick`` fork server left to its attempts (:data:`WARM_LATER`); nothing
    where the fork server imported it. For a job that has work running on the other cores
    (its first fits) and so a core's worth of time to spare before it needs these."""
    for entry in WARM_LATER:
        warm(entry)


_context_lock = threading.Lock()
_context_ready = threading.Event()
_context: Any = None


def preload_list(database_url: str | None = None) -> list[str]:
    """What the fork server imports before its warm-up: :data:`PRELOAD` and the driver of
    the database at ``database_url`` (of every database in :data:`DRIVERS` when None)."""
    backend = (database_url or "").split(":", 1)[0].split("+", 1)[0]
    drivers = DRIVERS.get(backend) or [m for names in DRIVERS.values() for m in names]
    return [*PRELOAD, *drivers]


def start_attempt_server(database_url: str | None = None, *, quick: bool = False) -> None:
    """Start the fork server and its imports in the background, if not started yet.

    A command that will run a job soon (``mlharbor train``) calls this first, so the
    seconds of imports overlap its own work instead of following it. ``database_url``
    names the database the jobs will use, whose driver is preloaded. ``quick`` (for a
    command that runs one job) preloads only what an attempt needs to start
    (:data:`WARM_FIRST`): its job starts a second or more sooner, and imports the rest
    itself while its first fits run (:func:`warm_rest`), when the second core would
    otherwise have sat idle during the warm-up. A server's pool, which runs many jobs,
    preloads everything.
    """
    if _context_ready.is_set() or _context_lock.locked():
        return
    threading.Thread(
        target=attempt_context,
        args=(database_url,),
        kwargs={"quick": quick},
        name="mlharbor-forkserver-start",
        daemon=True,
    ).start()


def attempt_context(database_url: str | None = None, *, quick: bool = False) -> Any:
    """The multiprocessing context job attempts start from (made once per process).

    On Linux a fork server that has imported the job modules and the ML stack once (see
    :data:`WARM_STACK`; :data:`WARM_FIRST` only if ``quick``), so an attempt starts in
    milliseconds with what it needs imported, and inherits no threads or connections;
    elsewhere spawn. The first call decides ``quick``.
    """
    global _context
    if sys.platform != "linux":
        return multiprocessing.get_context("spawn")
    with _context_lock:
        if _context is not None:
            return _context
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([*preload_list(database_url), "mlharbor.jobs.warm"])
        # Python 3.11's fork server ignores the parent's sys.path and reads only PYTHONPATH,
        # so lend it ours while it starts; otherwise it could import another copy of mlharbor.
        lent = {
            "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
            WARM_ENV: ",".join(warm_list(quick=quick)),
        }
        saved = {name: os.environ.get(name) for name in lent}
        os.environ.update(lent)
        try:
            forkserver.ensure_running()
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
        # The server imports (seconds, with the ML stack) before it forks anything. Wait for
        # that here, before any job is claimed: otherwise the first start blocks the loop,
        # heartbeats stop, and a just-claimed job can look lost.
        warm = context.Process(target=_warm_up, name="mlharbor-forkserver-warm-up")
        warm.start()
        warm.join()
        _context = context
        _context_ready.set()
        return context


def _warm_up() -> None:
    """Nothing: a first child of the fork server, started once its imports are done."""
