"""Path and query parameters shared by the routes and pages (FastAPI's markers).

Numbers that name a row are bounded by their column (INTEGER): past it, a clear 422 naming
the parameter, never a database error. Apart from :mod:`mlharbor.api.schemas`, so that the
CLI can print the API's models without importing FastAPI.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

from mlharbor.limits import MAX_ID

#: A numeric id or version in a path.
IdPath = Annotated[int, Path(ge=1, le=MAX_ID)]
#: An optional version number in a query (default: the latest).
VersionQuery = Annotated[int | None, Query(ge=1, le=MAX_ID)]
#: An event sequence number in a query: start after it (0: from the beginning).
SeqQuery = Annotated[int, Query(ge=0, le=MAX_ID)]
