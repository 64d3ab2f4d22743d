"""The handlers of the ML-Hub WebSocket events, and the router that serves them."""

from __future__ import annotations

import hashlib
import io
from typing import Any

from mlharbor.api.ws import blocking, event, require, router
from mlharbor.data.datasets import DatasetVersionInfo
from mlharbor.errors import InvalidInputError, NotFoundError
from mlharbor.hub import Hub

__all__ = ["router"]

# The model events register themselves on import.
import mlharbor.api.ws_model_events  # noqa: F401


def dataset_reply(hub: Hub, v: DatasetVersionInfo, rows: int = 5) -> dict[str, Any]:
    """A dataset version as the ML-Hub client sees it: identity, schema and a few rows."""
    return {
        "dataset": v.dataset,
        "version": v.version,
        "n_rows": v.n_rows,
        "n_columns": v.n_columns,
        "columns": [
            {
                "name": c.name,
                "storage_type": c.storage_type,
                "semantic_type": c.semantic_type,
                "n_missing": c.n_missing,
                "n_distinct": c.n_distinct,
            }
            for c in v.schema.columns
        ],
        "preview": hub.datasets.preview(v, rows),
        "notes": v.schema.notes,
    }


@event("file")
@blocking
def file_event(hub: Hub, msg: dict[str, Any]) -> dict[str, Any]:
    """``{"type":"file","func":"from_csv","args":[...]}``: a stored dataset or inline CSV."""
    func = msg.get("func", "from_csv")
    if func != "from_csv":
        raise InvalidInputError(f"unknown file function {func!r}; supported: from_csv")
    args = require(msg, "args", (list, dict))
    if isinstance(args, dict):
        source, name = args.get("dataset") or args.get("csv"), args.get("name")
        version = args.get("version")
    else:
        source = args[0] if args else None
        name = args[1] if len(args) > 1 and isinstance(args[1], str) else msg.get("name")
        version = None
    if not isinstance(source, str) or not source.strip():
        raise InvalidInputError(
            "from_csv needs args[0]: the name or id of an uploaded dataset, or CSV text"
        )
    if "\n" not in source:
        try:
            return dataset_reply(hub, hub.datasets.get_version(source, version))
        except NotFoundError:
            raise NotFoundError(
                f"no dataset named {source!r}; upload the file first (POST /api/v1/datasets) "
                "or send the CSV text itself in args[0]. Server paths are never read."
            )
    data = source.encode()
    result = hub.datasets.ingest_stream(
        io.BytesIO(data),
        filename="inline.csv",
        source="websocket",
        name=name or f"ws-{hashlib.sha256(data).hexdigest()[:12]}",
    )
    return {**dataset_reply(hub, result.version), "created": result.created}
