"""The exception that stops a cancelled job, shared by the job context and the executors."""

from __future__ import annotations


class JobCancelled(BaseException):
    """Raised inside a job when it must stop because it was cancelled.

    A ``BaseException``, like ``asyncio.CancelledError``, so that a handler's
    ``except Exception`` cannot swallow a cancel.
    """
