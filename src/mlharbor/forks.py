"""Map a function over items in forked copies of this process, on every core.

For the many small fits of one training job (cross-validation folds, learning-curve points)
where a process pool would cost more to start and to feed than the fits take: a fork
inherits the imported libraries and the data, and only the results travel back (pickled,
through a pipe). Only for a job process, which is single-threaded: forking a process whose
other threads hold locks is unsafe.
"""

from __future__ import annotations

import os
import pickle
import signal
import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def fork_map(fn: Callable[[T], R], items: Sequence[T], workers: int | None = None) -> list[R]:
    """``[fn(item) for item in items]``, the items shared out over ``workers`` processes
    (default: one per core), this one included; results in input order.

    A child that fails (``fn`` raised, or it died) has its share computed here again, so an
    error is raised here as ``fn`` raised it, and a lost child costs time, not the result.
    """
    n = min(workers or os.cpu_count() or 1, len(items))
    if n < 2 or sys.platform != "linux":
        return [fn(item) for item in items]
    shares = [list(range(k, len(items), n)) for k in range(n)]
    children: list[tuple[list[int], int, int]] = []
    try:
        for share in shares[1:]:
            children.append((share, *_start(fn, items, share)))
        results: dict[int, R] = {i: fn(items[i]) for i in shares[0]}
        while children:
            share, pid, read = children.pop(0)
            part = _collect(pid, read)
            if part is None:  # the child failed: its share again, here
                part = [fn(items[i]) for i in share]
            results.update(zip(share, part, strict=True))
    finally:
        for _, pid, read in children:  # only after an error here: stop the rest
            os.close(read)
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
    return [results[i] for i in range(len(items))]


def _start(fn: Callable[[T], R], items: Sequence[T], share: list[int]) -> tuple[int, int]:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: compute its share, hand it over, leave without cleanup
        code = 1
        try:
            os.close(read)
            payload = pickle.dumps([fn(items[i]) for i in share], protocol=pickle.HIGHEST_PROTOCOL)
            with os.fdopen(write, "wb") as out:
                out.write(payload)
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    return pid, read


def _collect(pid: int, read: int) -> list[Any] | None:
    with os.fdopen(read, "rb") as pipe:
        payload = pipe.read()
    _, status = os.waitpid(pid, 0)
    if status != 0 or not payload:
        return None
    try:
        result: list[Any] = pickle.loads(payload)
    except Exception:  # a result that does not unpickle: computed here instead
        return None
    return result
