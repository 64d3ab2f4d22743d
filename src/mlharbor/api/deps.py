"""Dependencies shared by the routers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from mlharbor.hub import Hub


async def get_hub(request: Request) -> Hub:
    """The app's hub. ``async`` although it does no I/O: FastAPI runs a plain ``def``
    dependency in its threadpool, a hop that cost more than a single-row prediction."""
    return request.app.state.hub


HubDep = Annotated[Hub, Depends(get_hub)]
