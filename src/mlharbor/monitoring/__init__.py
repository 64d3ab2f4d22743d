"""Monitoring: reference profiles, drift reports, performance once labels arrive, alerts."""

from __future__ import annotations

from mlharbor.monitoring.drift import DriftThresholds, compare_profiles
from mlharbor.monitoring.sketch import ColumnKind, profile_table

__all__ = ["ColumnKind", "DriftThresholds", "compare_profiles", "profile_table"]
