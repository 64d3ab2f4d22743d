"""Data insights: a fast profile of a dataset version, with the target in view.

``compute_insights`` returns JSON-ready data meant to be computed once per dataset version
and target and stored; ``summarize_insights`` cuts it down to what the ML-Hub WebSocket
sends, and ``render_insights_html`` makes a self-contained report of it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlharbor.lazy import lazy_exports

if TYPE_CHECKING:
    from mlharbor.data.insights.engine import MAX_EXACT_ROWS, compute_insights
    from mlharbor.data.insights.quality import WarningKind
    from mlharbor.data.insights.report import render_insights_html
    from mlharbor.data.insights.summary import summarize_insights
    from mlharbor.data.tasks import Task

#: The layout of a stored insights result; a new one makes every stored result stale.
FORMAT_VERSION = 1

__all__ = [
    "FORMAT_VERSION",
    "MAX_EXACT_ROWS",
    "Task",
    "WarningKind",
    "compute_insights",
    "render_insights_html",
    "summarize_insights",
]

# Resolved on first use: reading stored insights (``mlharbor insights`` a second time) needs
# the format version only, not polars and the engine.
_EXPORTS = {
    "MAX_EXACT_ROWS": "mlharbor.data.insights.engine",
    "compute_insights": "mlharbor.data.insights.engine",
    "WarningKind": "mlharbor.data.insights.quality",
    "render_insights_html": "mlharbor.data.insights.report",
    "summarize_insights": "mlharbor.data.insights.summary",
    "Task": "mlharbor.data.insights.target",
}


__getattr__ = lazy_exports("mlharbor.data.insights", globals(), _EXPORTS)
