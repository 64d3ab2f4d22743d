"""Imported by the job fork server only: imports what job attempts will need.

The names come from the environment variable :data:`mlharbor.jobs.starter.WARM_ENV`, set
while the fork server starts (:func:`mlharbor.jobs.starter.attempt_context`);
``package.module:function`` entries are called after import (a warm-up step such as
drawing a first figure). Whatever fails is logged and skipped
(:func:`mlharbor.jobs.starter.warm`): the fork server must start even if an optional
library is missing or broken.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import os
import sys

from mlharbor.jobs.starter import WARM_ENV, warm

_PARENT = os.getppid()

for _entry in filter(None, os.environ.get(WARM_ENV, "").split(",")):
    # The process that started us has gone (a command that failed before its job came):
    # nobody will ask for an attempt, and its output may be read until we leave too.
    if os.getppid() != _PARENT:
        os._exit(0)
    warm(_entry.strip())

# Everything imported so far lives as long as the fork server: keep it out of the garbage
# collector's sight, so a collection in an attempt does not walk (and, by touching each
# object, copy into the attempt's memory) the whole preloaded heap.
gc.freeze()

_SERVER_PID = os.getpid()


def _leave_at_once() -> None:
    """End the fork server without tearing its heap down (0.15–0.3 s of freeing objects).

    The server leaves when its last client has gone, and until it has, whoever reads the
    client's output through a pipe (a script running ``mlharbor train``) waits for it: the
    server holds the client's stdout and stderr, which its attempts write to. It owns
    nothing that needs closing (attempts run in processes of their own and record their
    outcome themselves). Registered after multiprocessing's own exit handler, so it runs
    first; processes forked from the server never run it (they leave with ``os._exit``,
    and the pid check covers any that would not).
    """
    if os.getpid() != _SERVER_PID:
        return
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # closed or broken: nothing to say
            stream.flush()
    os._exit(0)


atexit.register(_leave_at_once)
