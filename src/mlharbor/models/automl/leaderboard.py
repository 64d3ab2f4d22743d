"""Leaderboard entries: one per candidate, with its cross-validated metrics and costs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, SupportsFloat

import numpy as np

from mlharbor.models.automl.portfolio import METRICS, Candidate
from mlharbor.models.metrics import summarize_folds
from mlharbor.values import jsonable

if TYPE_CHECKING:
    from mlharbor.models.automl.folds import FoldResult


@dataclass
class Entry:
    """One candidate's cross-validation: fold metrics, out-of-fold predictions and costs.

    ``status`` is ``ok`` (every fold scored), ``pruned`` (stopped after early folds that
    trailed the leader), ``skipped`` (no time left for its folds) or ``failed``. A
    candidate whose model could not be stored (the registry would refuse or not load it
    back) keeps its scores but is never the winner nor in an ensemble: ``storable`` is
    false and ``note`` says why.
    """

    candidate: Candidate
    trial: int
    status: str = "ok"
    fold_scores: list[float] = field(default_factory=list)  # signed: higher is better
    fold_metrics: list[dict[str, float]] = field(default_factory=list)
    fit_seconds: list[float] = field(default_factory=list)
    predict_seconds: list[float] = field(default_factory=list)
    oof: np.ndarray | None = None
    error: str | None = None
    weight: float = 0.0
    members: dict[str, float] = field(default_factory=dict)
    storable: bool = True
    note: str | None = None
    #: The folds' results while they come in, until they are joined into ``oof``.
    oof_parts: list[FoldResult] = field(default_factory=list)
    #: An ensemble's members (empty for a single model).
    member_entries: list[Entry] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.candidate.name

    @property
    def usable(self) -> bool:
        return self.status == "ok" and self.oof is not None and self.storable

    @property
    def oof_predictions(self) -> np.ndarray:
        """``oof``, of an entry that has it (every usable one)."""
        if self.oof is None:
            raise ValueError(f"{self.name} has no out-of-fold predictions")
        return self.oof

    @property
    def models(self) -> list[Entry]:
        """The entries whose models make this one's: an ensemble's members, else itself."""
        return self.member_entries or [self]

    def refuse(self, reason: str) -> None:
        """Mark the entry as one whose model cannot be stored (``reason`` says why)."""
        self.storable, self.note = False, reason

    @property
    def signed_score(self) -> float:
        return float(np.mean(self.fold_scores)) if self.fold_scores else -np.inf

    @property
    def fold_cost(self) -> float:
        """Mean seconds to fit and predict one fold."""
        if not self.fit_seconds:
            return 0.0
        return float(np.mean(self.fit_seconds) + np.mean(self.predict_seconds))

    def to_dict(self, metric: str, kind: str) -> dict[str, Any]:
        """The JSON leaderboard row."""
        cv = summarize_folds(self.fold_metrics) if self.fold_metrics else {}
        main = cv.get(metric, {})
        return {
            "name": self.name,
            "family": self.candidate.family,
            "phase": self.candidate.phase,
            "trial": self.trial,
            "status": self.status,
            "params": jsonable(self.candidate.params),
            "metric": metric,
            "score": main.get("mean"),
            "score_std": main.get("std"),
            "higher_is_better": METRICS[kind][metric],
            "cv": cv,
            "folds": len(self.fold_scores),
            "fit_seconds": _round(np.mean(self.fit_seconds)) if self.fit_seconds else None,
            "predict_seconds": (
                _round(np.mean(self.predict_seconds)) if self.predict_seconds else None
            ),
            "ensemble_weight": round(self.weight, 4),
            "members": {k: round(v, 4) for k, v in self.members.items()},
            "error": self.error,
            "note": self.note,
        }


def ranked(entries: Sequence[Entry]) -> list[Entry]:
    """Best first: scored entries by score (those that cannot be stored after the others),
    then pruned, skipped and failed ones."""
    order = {"ok": 0, "pruned": 1, "skipped": 2, "failed": 3}
    return sorted(
        entries,
        key=lambda e: (order.get(e.status, 4), not e.storable, -e.signed_score, e.trial),
    )


def sort_rows(
    rows: Sequence[dict[str, Any]], by: str | None = None, *, descending: bool | None = None
) -> list[dict[str, Any]]:
    """Leaderboard rows sorted by a metric's CV mean (or ``fit_seconds``/``predict_seconds``).

    By default the better value comes first (the metric's own direction); rows without the
    value go last.
    """
    if by is None:
        return list(rows)
    lower_better = {"rmse", "mae", "mape", "log_loss", "fit_seconds", "predict_seconds"}
    if descending is None:
        if by == "score":
            descending = bool(next((r.get("higher_is_better", True) for r in rows), True))
        else:
            descending = by not in lower_better

    def value(row: dict[str, Any]) -> float | None:
        found: float | None
        if by in ("fit_seconds", "predict_seconds", "trial", "score"):
            found = row.get(by)
        else:
            found = (row.get("cv") or {}).get(by, {}).get("mean")
        return found

    present = [(v, r) for r in rows if (v := value(r)) is not None]
    missing = [r for r in rows if value(r) is None]
    present.sort(key=lambda pair: pair[0], reverse=descending)
    return [r for _, r in present] + missing


def _round(value: SupportsFloat) -> float:
    return round(float(value), 4)
