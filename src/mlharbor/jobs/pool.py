"""The embedded worker pool that ``mlharbor serve`` runs next to the API."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
from multiprocessing.connection import Connection
from typing import Any

from mlharbor.jobs.handlers import register, registered_kinds
from mlharbor.jobs.options import JobsConfig
from mlharbor.jobs.wake import add_listener, remove_listener
from mlharbor.jobs.worker import Worker


def _pool_main(
    settings: Any,
    concurrency: int,
    config: JobsConfig,
    kinds: dict[str, str],
    stop_event: Any,
    parent_pid: int,
    ready: Any = None,
    wake: Connection | None = None,
) -> None:
    # Ctrl-C in the terminal reaches the whole group; the API process decides when we stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # A spawned process starts with the default registry; bring the kinds the API knows.
    for kind, path in kinds.items():
        register(kind, path)
    signal.signal(signal.SIGTERM, lambda *_: stop_event.set())
    # Making the worker warms its job fork server (seconds of imports); only then is it ready.
    worker = Worker(settings, concurrency=concurrency, config=config, wake=wake)
    if ready is not None:
        ready.set()
    worker.run(stop_event, parent_pid=parent_pid)


class LocalWorkerPool:
    """A worker in a background process, running ``settings.workers`` jobs at once.

    The API process stays free of job work: each job attempt runs in a process of its
    own, and the worker process only claims, watches and records. If the API process dies,
    the worker notices and stops, and recovery by the next worker requeues what it ran.

    Parameters
    ----------
    settings : mlharbor.config.Settings
        Names the database; ``workers`` sizes the pool.
    config : JobsConfig, optional
        Heartbeat, lease and grace periods; default from ``settings``.

    Examples
    --------
    >>> pool = LocalWorkerPool(settings).start()  # doctest: +SKIP
    >>> ...  # serve the API
    >>> pool.stop()  # doctest: +SKIP
    """

    def __init__(self, settings: Any, *, config: JobsConfig | None = None) -> None:
        self.settings = settings
        self.config = config or JobsConfig.from_settings(settings)
        self.concurrency = max(1, int(getattr(settings, "workers", 1) or 1))
        # spawn: the API process has threads (uvicorn, database pools) that fork would copy
        self._mp = multiprocessing.get_context("spawn")
        self._stop = self._mp.Event()
        self._ready = self._mp.Event()
        self._process: multiprocessing.process.BaseProcess | None = None
        self._wake: Connection | None = None  # our end of the worker's wake-up pipe

    @property
    def pid(self) -> int | None:
        """The worker process's id while it runs."""
        return self._process.pid if self._process is not None else None

    @property
    def exitcode(self) -> int | None:
        """How the worker process ended (negative: the signal), ``None`` while it runs."""
        return self._process.exitcode if self._process is not None else None

    def is_alive(self) -> bool:
        return self._process is not None and self._process.is_alive()

    @property
    def ready(self) -> bool:
        """Whether the worker process runs and has warmed up (it claims jobs from then on)."""
        return self.is_alive() and self._ready.is_set()

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Block until :attr:`ready` (or ``timeout`` seconds); whether it is."""
        self._ready.wait(timeout)
        return self.ready

    def start(self) -> LocalWorkerPool:
        """Start the worker process and return ``self`` at once, without waiting for it.

        The process warms up in the background (its job fork server imports the job stack,
        seconds on a busy machine), so a server starting it answers ``/healthz`` meanwhile;
        :attr:`ready` says when it claims jobs.
        """
        if self.is_alive():
            return self
        self._stop.clear()
        self._ready.clear()
        self._close_wake()  # a pool restarted after dying: its old pipe and listener go
        listen, self._wake = self._mp.Pipe(duplex=False)
        # Never block a submit: when the pipe is full the worker has a wake-up pending anyway.
        os.set_blocking(self._wake.fileno(), False)
        self._process = self._mp.Process(
            target=_pool_main,
            args=(
                self.settings,
                self.concurrency,
                self.config,
                registered_kinds(),
                self._stop,
                os.getpid(),
                self._ready,
                listen,
            ),
            name="mlharbor-worker-pool",
            daemon=False,  # it starts job processes of its own
        )
        self._process.start()
        listen.close()
        add_listener(self.poke)
        return self

    def poke(self) -> None:
        """Make the worker look at the queue now (called on every submit in this process)."""
        wake = self._wake
        if wake is not None:
            with contextlib.suppress(OSError, ValueError):  # full pipe: a poke is pending
                wake.send_bytes(b"!")

    def _close_wake(self) -> None:
        remove_listener(self.poke)
        wake, self._wake = self._wake, None
        if wake is not None:
            wake.close()

    def stop(self, timeout: float | None = None) -> None:
        """Stop claiming, let running jobs finish within the grace period, requeue the rest."""
        if self._process is None:
            return
        self._stop.set()
        self.poke()  # stop now, not at the next poll
        self._close_wake()
        limit = timeout if timeout is not None else self.config.stop_grace_seconds + 10
        self._process.join(limit)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()
        self._process = None

    def kill(self) -> None:
        """End the worker process abruptly (SIGKILL), as a crash would; for tests."""
        self._close_wake()
        if self._process is not None:
            self._process.kill()
            self._process.join()
            self._process = None

    def __enter__(self) -> LocalWorkerPool:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
