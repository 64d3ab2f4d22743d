"""Wake-up calls from a submit to the workers of the same process tree.

A worker looks at the queue every ``poll_seconds``; a job submitted in between would wait
for that look. :meth:`JobStore.submit` calls :func:`notify_submitted` once the job is
committed, and the embedded pool (:class:`~mlharbor.jobs.pool.LocalWorkerPool`) listens and
pokes its worker through a pipe, so a job submitted to ``mlharbor serve`` starts at once.
Workers in other processes (``mlharbor worker``) still find it by polling.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable

_listeners: list[Callable[[], None]] = []
_lock = threading.Lock()


def add_listener(listener: Callable[[], None]) -> None:
    """Call ``listener()`` after every submit in this process (it must not block)."""
    with _lock:
        _listeners.append(listener)


def remove_listener(listener: Callable[[], None]) -> None:
    """Stop calling ``listener``."""
    with _lock, contextlib.suppress(ValueError):
        _listeners.remove(listener)


def notify_submitted() -> None:
    """Tell this process's listeners that a job was queued."""
    with _lock:
        listeners = list(_listeners)
    for listener in listeners:
        with contextlib.suppress(OSError):  # a pool that just stopped: its worker polls anyway
            listener()
