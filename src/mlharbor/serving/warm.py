"""Load newly registered model versions before their first request.

A training job registers its model in a job process; the serving process would otherwise
load it (the skops file, the ONNX conversion and its check) on the first prediction, which
then takes seconds. :class:`VersionWarmer` watches the registry from the serving process,
so this works whichever process or host registered the version: every ``interval``
seconds it asks the database for versions added since it last looked and loads each into
the predictor's cache. Nothing heavy is imported here until there is something to load, so
starting a server stays quick.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from mlharbor.store.orm import Job, ModelVersion, RegisteredModel

log = logging.getLogger(__name__)
#: Modules a first load needs (seconds of imports), imported once a job is running so that
#: they are ready by the time it registers its model.
LOAD_STACK = ("mlharbor.serving.predictor", "skops.io", "mlharbor.serving.onnx")


class VersionWarmer:
    """A daemon thread loading every newly registered version into the predictor.

    Parameters
    ----------
    sessions : sessionmaker
        The metadata database.
    predictor : callable
        Returns the :class:`~mlharbor.serving.predictor.Predictor` to warm (called only when
        there is a version to load, so a server that never predicts never builds one).
    interval : float
        Seconds between looks at the registry.
    """

    def __init__(
        self, sessions: sessionmaker[Session], predictor: Callable[[], Any], interval: float
    ) -> None:
        self.sessions = sessions
        self.predictor = predictor
        self.interval = interval
        self.loaded: list[tuple[str, int]] = []  # (model, version) warmed, newest last
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mlharbor-warm", daemon=True)
        self._last_id: int | None = None
        self._stack_ready = False

    def start(self) -> VersionWarmer:
        """Start watching; versions registered before this call are left alone."""
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop watching; waits up to ``timeout`` seconds for a load under way."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.step()
            except Exception:  # a database hiccup: try again at the next look
                log.warning("could not look for new model versions", exc_info=True)
            self._stop.wait(self.interval)

    def step(self) -> None:
        """One look: load what was registered since the last one."""
        with self.sessions() as session:
            if self._last_id is None:
                self._last_id = session.scalar(select(func.max(ModelVersion.id))) or 0
                return
            new = session.execute(
                select(RegisteredModel.name, ModelVersion.version, ModelVersion.id)
                .join(RegisteredModel, ModelVersion.model_id == RegisteredModel.id)
                .where(ModelVersion.id > self._last_id)
                .order_by(ModelVersion.id)
            ).all()
            running = (
                not new
                and not self._stack_ready
                and session.scalar(select(Job.id).where(Job.state == "running").limit(1))
            )
        if running:
            self._import_stack()
        for name, number, version_id in new:
            self._last_id = max(self._last_id, version_id)
            self._load(name, number)

    def _import_stack(self) -> None:
        import importlib

        for module in LOAD_STACK:
            try:
                importlib.import_module(module)
            except ImportError:
                log.warning("could not import %s to serve new models", module)
        self._stack_ready = True

    def _load(self, name: str, number: int) -> None:
        try:
            predictor = self.predictor()
            predictor.load(predictor.resolve(name, number))
        except Exception:  # the first request will load it, and report what is wrong
            log.warning("could not preload model %s version %s", name, number, exc_info=True)
            return
        self.loaded.append((name, number))
        log.info("model %s version %s loaded for serving", name, number)
