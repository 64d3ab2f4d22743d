"""Map a function over items in forked copies of this process, while it works on.

For the many small fits of one training job (cross-validation folds, learning-curve points)
where a process pool would cost more to start and to feed than the fits take: a fork
inherits the imported libraries and the data, and only the results travel back (pickled,
through a pipe). Only for a job process, which is single-threaded: forking a process whose
other threads hold locks is unsafe.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import struct
import sys
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class fork_later(Generic[R]):
    """``[fn(item) for item in items]`` started now in ``workers`` forked children (default:
    one per core); call the object to wait for the results, in input order.

    This process goes on with its own work meanwhile: for a job whose small fits need not
    wait for the model it fits itself. The children take the items one at a time from a
    shared queue, and when this process waits it takes the items no child has started yet:
    a process that ends its own work early helps instead of waiting. An item whose child
    failed (``fn`` raised, or the child died) is computed here when waited for, so an error
    is raised here as ``fn`` raised it; :meth:`stop` ends children not waited for.
    """

    def __init__(
        self, fn: Callable[[T], R], items: Sequence[T], workers: int | None = None
    ) -> None:
        self.fn, self.items = fn, items
        self.pids: list[int] = []
        self.reads: list[int] = []
        self.results: list[R] | None = None
        self.queue = -1
        if not items or sys.platform != "linux":
            return
        # Every item's index, queued before any child starts: a read of one record from a
        # pipe is atomic, so each index is taken by exactly one process.
        self.queue, ahead = os.pipe()
        with os.fdopen(ahead, "wb") as out:
            out.write(b"".join(_RECORD.pack(i) for i in range(len(items))))
        for _ in range(max(1, min(workers or os.cpu_count() or 1, len(items)))):
            read, write = os.pipe()
            pid = os.fork()
            if pid == 0:  # the child: take items until none is left, then leave
                code = 1
                try:
                    os.close(read)
                    self._serve(write)
                    code = 0
                finally:
                    os._exit(code)
            os.close(write)
            self.pids.append(pid)
            self.reads.append(read)

    def _serve(self, write: int) -> None:
        """In a child: compute queued items, sending each result as soon as it is done."""
        with os.fdopen(write, "wb") as out:
            while (i := self._take()) is not None:
                payload = pickle.dumps(self.fn(self.items[i]), protocol=pickle.HIGHEST_PROTOCOL)
                out.write(_FRAME.pack(i, len(payload)) + payload)
                out.flush()

    def _take(self) -> int | None:
        record = os.read(self.queue, _RECORD.size)
        return _RECORD.unpack(record)[0] if record else None

    def __call__(self) -> list[R]:
        if self.results is not None:
            return self.results
        done: dict[int, R] = {}
        try:
            if self.queue >= 0:
                while (i := self._take()) is not None:  # what no child has started yet
                    done[i] = self.fn(self.items[i])
            for pid, read in zip(self.pids, self.reads, strict=True):
                done.update(_received(read))
                os.waitpid(pid, 0)
            self.pids, self.reads = [], []
            for i in range(len(self.items)):  # a child failed on it (or there were none)
                if i not in done:
                    done[i] = self.fn(self.items[i])
        finally:
            self.stop()
        self.results = [done[i] for i in range(len(self.items))]
        return self.results

    def stop(self) -> None:
        """End the children not waited for yet (after an error elsewhere)."""
        for pid, read in zip(self.pids, self.reads, strict=True):
            os.close(read)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        self.pids, self.reads = [], []
        if self.queue >= 0:
            os.close(self.queue)
            self.queue = -1


_RECORD = struct.Struct("<I")  # an item's index in the queue
_FRAME = struct.Struct("<IQ")  # a result's item index and length, before its pickle


def _received(read: int) -> dict[int, Any]:
    """The results a child sent before it ended (all of them, unless it failed)."""
    with os.fdopen(read, "rb") as pipe:
        data = pipe.read()
    results: dict[int, Any] = {}
    at = 0
    while at + _FRAME.size <= len(data):
        i, size = _FRAME.unpack_from(data, at)
        at += _FRAME.size
        if at + size > len(data):
            break  # cut short by the child's death: computed here instead
        with contextlib.suppress(Exception):  # one that does not unpickle: computed here
            results[i] = pickle.loads(data[at : at + size])
        at += size
    return results


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
