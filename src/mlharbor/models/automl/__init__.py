"""AutoML: a cross-validated leaderboard of models and an ensemble, within a time budget."""

from __future__ import annotations

from mlharbor.models.automl.ensemble import (
    BaggedClassifier,
    BaggedRegressor,
    WeightedEnsembleClassifier,
    WeightedEnsembleRegressor,
    greedy_selection,
)
from mlharbor.models.automl.leaderboard import sort_rows
from mlharbor.models.automl.portfolio import DEFAULT_METRIC, METRICS, check_metric
from mlharbor.models.automl.result import AutoMLResult
from mlharbor.models.automl.search import MIN_BUDGET, AutoMLConfig, run_automl

__all__ = [
    "DEFAULT_METRIC",
    "METRICS",
    "MIN_BUDGET",
    "AutoMLConfig",
    "AutoMLResult",
    "BaggedClassifier",
    "BaggedRegressor",
    "WeightedEnsembleClassifier",
    "WeightedEnsembleRegressor",
    "check_metric",
    "greedy_selection",
    "run_automl",
    "sort_rows",
]
