"""Data insights: a fast profile of a dataset version, with the target in view.

``compute_insights`` returns JSON-ready data meant to be computed once per dataset version
and target and stored; ``summarize_insights`` cuts it down to what the ML-Hub WebSocket
sends, and ``render_insights_html`` makes a self-contained report of it.
"""

from __future__ import annotations

from mlharbor.data.insights.engine import MAX_EXACT_ROWS, compute_insights
from mlharbor.data.insights.quality import WarningKind
from mlharbor.data.insights.report import render_insights_html
from mlharbor.data.insights.summary import summarize_insights
from mlharbor.data.insights.target import Task

__all__ = [
    "MAX_EXACT_ROWS",
    "Task",
    "WarningKind",
    "compute_insights",
    "render_insights_html",
    "summarize_insights",
]
