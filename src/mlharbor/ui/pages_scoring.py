"""Batch scoring: pick a model version and a dataset (or upload one), run a ``score`` job."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from mlharbor.api.auth import NEEDS_READ
from mlharbor.api.deps import HubDep
from mlharbor.api.routes.jobs import JobPublic
from mlharbor.api.routes.models import ModelPublic
from mlharbor.api.schemas import DatasetPublic
from mlharbor.ui.pages_models import STATE_BADGE
from mlharbor.ui.web import page

router = APIRouter(include_in_schema=False)
SCORE = "score"


@router.get("/scoring", response_class=HTMLResponse, dependencies=NEEDS_READ)
def scoring_page(
    request: Request,
    hub: HubDep,
    model: Annotated[str | None, Query(max_length=200)] = None,
    dataset: Annotated[str | None, Query(max_length=200)] = None,
) -> HTMLResponse:
    """The scoring form and the latest scoring jobs with their downloads."""
    # The listing leaves versions out; each model's own record has them.
    models = [ModelPublic.of(hub.models.get_model(m.name)) for m in hub.models.list_models()]
    datasets, _ = hub.datasets.list(limit=500, offset=0)
    jobs = [JobPublic.of(j) for j in hub.jobs.list(kind=SCORE, limit=20)]
    return page(
        request,
        "scoring.html",
        section="scoring",
        models=models,
        datasets=[DatasetPublic.of(d) for d in datasets],
        jobs=jobs,
        badge=STATE_BADGE,
        chosen_model=model,
        chosen_dataset=dataset,
        max_upload=hub.settings.max_upload_bytes,
    )
