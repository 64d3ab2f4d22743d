"""The handlers of the job kinds the hub registers: each opens the hub in the job process
and runs its workflow over it.

The hub layer's half of the job kinds (see ``JOB_KINDS`` in :mod:`mlharbor.hub`): the
workflows are written against small service protocols and never import the hub, so the
one place that builds the services — the hub — hands them over here. Importing this module
imports the workflows, which is why the fork server that starts job attempts preloads it.
"""

from __future__ import annotations

import threading
from typing import Any

from mlharbor.config import Settings
from mlharbor.hub import Hub
from mlharbor.jobs import JobContext, retry_errors
from mlharbor.workflows import automl, score, train


def train_job(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """The ``train`` job (:func:`mlharbor.workflows.train.train_job`) over the hub."""
    with Hub.open(ctx.settings, migrate=False) as hub:
        return train.train_job(ctx, params, hub)


# The count @retry_errors put on the workflow's handler (a function attribute).
@retry_errors(automl.automl_job.retry_errors)  # type: ignore[attr-defined]
def automl_job(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """The ``automl`` job (:func:`mlharbor.workflows.automl.automl_job`) over the hub."""
    with Hub.open(ctx.settings, migrate=False) as hub:
        return automl.automl_job(ctx, params, hub)


def score_job(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """The ``score`` job (:func:`mlharbor.workflows.score.score_job`) over the hub."""
    with Hub.open(ctx.settings, migrate=False) as hub:
        return score.score_job(ctx, params, hub, process_hub)


_hubs: dict[str, Hub] = {}
_hubs_lock = threading.Lock()


def process_hub(settings: Settings) -> Hub:
    """One hub per process and database, so a process scoring many chunks loads once.

    Thread-safe: a Dask worker runs several chunks at once, and two hubs would load the
    model twice, at the same time (see :func:`mlharbor.registry.persist.load_trusted`)."""
    key = settings.resolved_database_url()
    with _hubs_lock:
        if key not in _hubs:
            _hubs[key] = Hub.open(settings, migrate=False)
        return _hubs[key]
