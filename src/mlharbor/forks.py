"""Map a function over items in forked copies of this process, while it works on.

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
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class fork_later(Generic[R]):
    """``[fn(item) for item in items]`` started now in ``workers`` forked children (default:
    one per core), none of it here; call the object to wait for the results, in input order.

    This process goes on with its own work meanwhile: for a job whose small fits need not
    wait for the model it fits itself. A child that fails has its share computed here when
    waited for (see :class:`in_fork`); :meth:`stop` ends children not waited for.
    """

    def __init__(
        self, fn: Callable[[T], R], items: Sequence[T], workers: int | None = None
    ) -> None:
        n = max(1, min(workers or os.cpu_count() or 1, len(items)))
        self.count = len(items)
        self.shares = [list(range(k, len(items), n)) for k in range(n)] if items else []

        def share_of(share: list[int]) -> Callable[[], list[R]]:
            return lambda: [fn(items[i]) for i in share]

        self.waits = [in_fork(share_of(share)) for share in self.shares]

    def __call__(self) -> list[R]:
        results: dict[int, R] = {}
        try:
            for share, wait in zip(self.shares, self.waits, strict=True):
                results.update(zip(share, wait(), strict=True))
        finally:
            self.stop()
        return [results[i] for i in range(self.count)]

    def stop(self) -> None:
        """End the children not waited for yet (after an error elsewhere)."""
        for wait in self.waits:
            wait.stop()


class in_fork(Generic[R]):
    """``fn()`` started in a forked child; call the object to wait for its result.

    The result comes back pickled through a pipe. A child that fails (``fn`` raised, or it
    died) has ``fn()`` computed here instead, so an error is raised here as ``fn`` raised
    it. Where ``fork`` is missing, ``fn()`` runs here at once.
    """

    def __init__(self, fn: Callable[[], R]) -> None:
        self.fn = fn
        self.pid = 0
        self.result: R | None = None
        if sys.platform != "linux":
            self.result = fn()
            return
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: compute, hand the result over, leave without cleanup
            code = 1
            try:
                os.close(read)
                payload = pickle.dumps(fn(), protocol=pickle.HIGHEST_PROTOCOL)
                with os.fdopen(write, "wb") as out:
                    out.write(payload)
                code = 0
            finally:
                os._exit(code)
        os.close(write)
        self.pid, self.read = pid, read

    def __call__(self) -> R:
        if not self.pid:  # computed here at once (no fork), or already waited for
            return self.result if self.result is not None else self.fn()
        pid, self.pid = self.pid, 0
        with os.fdopen(self.read, "rb") as pipe:
            payload = pipe.read()
        _, status = os.waitpid(pid, 0)
        if status == 0 and payload:
            try:
                self.result = pickle.loads(payload)
                return self.result
            except Exception:  # a result that does not unpickle: computed here instead
                pass
        return self.fn()

    def stop(self) -> None:
        """End the child if it has not been waited for (after an error elsewhere)."""
        if self.pid:
            pid, self.pid = self.pid, 0
            os.close(self.read)
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
