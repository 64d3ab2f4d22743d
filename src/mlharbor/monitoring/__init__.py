"""Monitoring: reference profiles, drift reports, performance once labels arrive, alerts."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlharbor.lazy import lazy_exports

if TYPE_CHECKING:
    from mlharbor.monitoring.drift import DriftThresholds, compare_profiles
    from mlharbor.monitoring.sketch import ColumnKind, profile_table

__all__ = ["ColumnKind", "DriftThresholds", "compare_profiles", "profile_table"]

# Resolved on first use: every submodule import runs this file first, and the server imports
# the label and performance modules, which need neither SciPy nor the drift tests.
_EXPORTS = {
    "ColumnKind": "mlharbor.monitoring.sketch",
    "DriftThresholds": "mlharbor.monitoring.drift",
    "compare_profiles": "mlharbor.monitoring.drift",
    "profile_table": "mlharbor.monitoring.sketch",
}


__getattr__ = lazy_exports("mlharbor.monitoring", globals(), _EXPORTS)
