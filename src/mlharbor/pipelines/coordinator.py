"""The server side of pipelines: queued runs are run, lost ones resumed, schedules kept.

A :class:`Coordinator` thread runs beside the API (``role="all"``). It claims queued runs
(one replica wins each), runs each in its own thread, queuing the steps' jobs on the
worker pool; it requeues a run whose runner went silent (a stopped server), which then
resumes from its finished steps; and it starts scheduled pipelines at their cron times,
each time once across replicas.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from mlharbor.pipelines.records import PipelineStore, RunState
from mlharbor.pipelines.runner import LEASE_SECONDS, Runner, next_fire, owner_id, submit

if TYPE_CHECKING:
    from mlharbor.hub import Hub

log = logging.getLogger(__name__)

#: Runs one server runs at once; more wait queued (their steps' jobs share the pool anyway).
MAX_RUNNING = 2


class Coordinator:
    """Runs queued pipeline runs and scheduled pipelines while the server runs."""

    def __init__(self, hub: Hub, *, poll_seconds: float = 1.0) -> None:
        self.hub = hub
        self.store = PipelineStore(hub.sessions)
        self.poll_seconds = poll_seconds
        self.owner = owner_id()
        self._stop = threading.Event()
        self._running: set[int] = set()
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(MAX_RUNNING, thread_name_prefix="pipeline-run")
        self._thread = threading.Thread(target=self._loop, name="pipelines", daemon=True)

    def start(self) -> Coordinator:
        self._thread.start()
        return self

    def _loop(self) -> None:
        last_recovery = 0.0
        while not self._stop.is_set():
            try:
                now = time.time()
                if now - last_recovery > LEASE_SECONDS / 3:
                    self.store.recover_lost(LEASE_SECONDS)
                    last_recovery = now
                self.fire_schedules(now)
                self._claim()
            except Exception:  # a database hiccup: try again on the next tick
                log.exception("pipeline coordinator tick failed")
            self._stop.wait(self.poll_seconds)

    def fire_schedules(self, now: float | None = None) -> list[int]:
        """Queue a run of every scheduled pipeline whose time has come; the run ids."""
        now = time.time() if now is None else now
        started = []
        for pipeline in self.store.definitions():
            if not pipeline.schedule or pipeline.next_fire is None or pipeline.next_fire > now:
                continue
            following = next_fire(pipeline.schedule, now) or now
            if not self.store.claim_fire(pipeline.name, pipeline.next_fire, following):
                continue  # another replica started it
            try:
                run = submit(self.hub, pipeline.source, origin="schedule")
                started.append(run.id)
            except Exception as exc:  # a file that no longer runs (a dataset deleted)
                log.warning("scheduled pipeline %s could not start: %s", pipeline.name, exc)
        return started

    def _claim(self) -> None:
        with self._lock:
            if len(self._running) >= MAX_RUNNING:
                return
        run = self.store.claim_queued(self.owner)
        if run is None:
            return
        with self._lock:
            self._running.add(run.id)
        self._pool.submit(self._execute, run.id)

    def _execute(self, run_id: int) -> None:
        try:
            Runner(self.hub).execute(run_id)
        except Exception as exc:
            log.exception("pipeline run %s failed", run_id)
            self.store.finish_run(
                run_id, RunState.FAILED, error={"message": f"{type(exc).__name__}: {exc}"}
            )
        finally:
            with self._lock:
                self._running.discard(run_id)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop claiming; runs in progress are left to be resumed by the next server."""
        self._stop.set()
        self._thread.join(timeout)
        self._pool.shutdown(wait=False, cancel_futures=True)
