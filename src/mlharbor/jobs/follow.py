"""Following a job's event log until the job ends, for WebSocket, SSE and the CLI."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

from mlharbor.jobs.records import JobEventInfo
from mlharbor.jobs.store import JobStore


async def follow_events(
    store: JobStore, job_id: int, after_seq: int = 0, *, poll: float = 0.5
) -> AsyncIterator[JobEventInfo]:
    """Yield the job's events after ``after_seq`` as they are written; end when the job ends.

    The database calls run in a thread, so the event loop is never blocked. Clients that
    reconnect pass the last ``seq`` they saw and miss nothing.

    Parameters
    ----------
    store : JobStore
        The job records.
    job_id : int
        The job to follow.
    after_seq : int
        Start after this event number (0: from the beginning).
    poll : float
        Seconds between looks at the database while nothing new arrives.

    Yields
    ------
    JobEventInfo
        Each event once, in order; the last one is the job's terminal event.

    Raises
    ------
    NotFoundError
        If the job does not exist (raised before the first event).

    Examples
    --------
    >>> async for event in follow_events(store, job.id):  # doctest: +SKIP
    ...     await websocket.send_json(event.to_dict())
    """
    await asyncio.to_thread(store.get, job_id)
    while True:
        events = await asyncio.to_thread(store.events, job_id, after_seq)
        for event in events:
            after_seq = event.seq
            yield event
        if not events:
            # The terminal state and its event are written in one transaction, so one more
            # read after seeing the end catches everything.
            job = await asyncio.to_thread(store.get, job_id)
            if job.state.is_terminal:
                for event in await asyncio.to_thread(store.events, job_id, after_seq):
                    yield event
                return
            await asyncio.sleep(poll)


def iter_events(
    store: JobStore, job_id: int, after_seq: int = 0, *, poll: float = 0.5
) -> Iterator[JobEventInfo]:
    """The blocking twin of :func:`follow_events`, for the CLI and scripts."""
    store.get(job_id)
    while True:
        events = store.events(job_id, after_seq)
        for event in events:
            after_seq = event.seq
            yield event
        if not events:
            if store.get(job_id).state.is_terminal:
                yield from store.events(job_id, after_seq)
                return
            time.sleep(poll)
