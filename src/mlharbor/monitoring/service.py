"""The monitoring service: drift of a model version's traffic, or between two datasets.

Reports are JSON-ready dicts shaped for the API, the CLI and the UI's charts (see
:func:`mlharbor.monitoring.drift.compare_profiles` for the per-column part).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from mlharbor.config import Settings
from mlharbor.errors import HarborError, InvalidInputError, NotFoundError
from mlharbor.monitoring import reference as refs
from mlharbor.monitoring.drift import (
    MAX_THREADS,
    DriftThresholds,
    compare_column,
    compare_profiles,
    grade,
)
from mlharbor.monitoring.logs import parse_since, parse_span, read_log
from mlharbor.monitoring.sketch import SEMANTIC_KINDS, ColumnKind, profile_column, profile_table
from mlharbor.store.artifacts import ArtifactStore

if TYPE_CHECKING:  # annotations only: a dataset drift report needs neither pandas nor models
    import pandas as pd

    from mlharbor.data.datasets import DatasetService, DatasetVersionInfo
    from mlharbor.registry import ModelRegistry, ModelVersionRecord

log = logging.getLogger(__name__)
DATASET_PROFILES = "monitoring/datasets"
MAX_WINDOWS = 200


class MonitoringService:
    """Reference profiles, drift reports and traffic timelines of model versions."""

    def __init__(
        self,
        settings: Settings,
        artifacts: ArtifactStore,
        registry: ModelRegistry | Callable[[], ModelRegistry],
        datasets: DatasetService,
    ) -> None:
        self.settings = settings
        self.artifacts = artifacts
        # A callable is asked on first use: a report on two datasets never needs the
        # registry, and building it imports the registry's service and model-file code.
        self._registry = registry
        self.datasets = datasets

    @property
    def registry(self) -> ModelRegistry:
        """The model registry (built on first use when given as a callable)."""
        if callable(self._registry):
            self._registry = self._registry()
        return self._registry

    @property
    def thresholds(self) -> DriftThresholds:
        return DriftThresholds.from_settings(self.settings)

    # ---- references ---------------------------------------------------------------------

    def store_reference(
        self, version: ModelVersionRecord, frame: pd.DataFrame, pipeline: Any = None
    ) -> dict[str, Any]:
        """Profile ``frame`` (the training data) as the reference of ``version``."""
        reference = refs.build_reference(
            frame,
            model=version.model,
            version=version.version,
            task=version.task,
            target=version.target,
            signature=version.signature,
            settings=version.lineage.get("settings"),
            pipeline=pipeline,
            dataset_version_id=version.dataset_version_id,
        )
        self.artifacts.put_bytes(refs.reference_key(version.id), refs.encode(reference))
        return reference

    def reference(self, name: str, ref: int | str = "latest") -> dict[str, Any]:
        """The reference profile of a model version, built now if it has none yet.

        Raises
        ------
        NotFoundError
            Unknown model or version, or a version registered without a dataset.
        """
        version = self.registry.get_version(name, ref)
        key = refs.reference_key(version.id)
        if self.artifacts.exists(key):
            return refs.decode(self.artifacts.get_bytes(key))
        if version.dataset_version_id is None:
            raise NotFoundError(
                f"model {version.model!r} version {version.version} was registered without a "
                "dataset, so it has no reference to compare with; compare two datasets instead"
            )
        dataset = self._dataset_by_id(version)
        frame = self.datasets.read_table(dataset).to_pandas()
        pipeline = self.registry.load_pipeline(version.model, version.version)
        return self.store_reference(version, frame, pipeline)

    def _dataset_by_id(self, version: ModelVersionRecord) -> DatasetVersionInfo:
        lineage = version.lineage
        name, number = lineage.get("dataset"), lineage.get("dataset_version")
        if name is None or number is None:
            raise NotFoundError(
                f"model {version.model!r} version {version.version} does not record which "
                "dataset version it was trained on"
            )
        return self.datasets.get_version(name, int(number))

    # ---- drift of a model's traffic -----------------------------------------------------

    def model_drift(
        self,
        name: str,
        ref: int | str = "latest",
        *,
        since: str | None = None,
        until: datetime | None = None,
        columns: list[str] | None = None,
    ) -> dict[str, Any]:
        """Drift of the predictions logged for a model version, against its reference.

        Raises
        ------
        NotFoundError
            Unknown model, no reference, or no predictions logged in the window.
        InvalidInputError
            A bad ``since`` or an unknown column.
        """
        version = self.registry.get_version(name, ref)
        until = until or datetime.now(UTC)
        start = parse_since(since, until, self.settings.monitor_window)
        reference = self.reference(version.model, version.version)
        self._check_columns(columns, reference)
        traffic = read_log(self.artifacts, version.model, version.version, start, until)
        if traffic.is_empty():
            raise NotFoundError(
                f"no predictions of model {version.model!r} version {version.version} were "
                f"logged between {start:%Y-%m-%d %H:%M} and {until:%Y-%m-%d %H:%M} UTC"
            )
        report = self._compare_traffic(reference, traffic, columns, self.importance(version))
        return {
            "model": version.model,
            "version": version.version,
            "since": start.isoformat(),
            "until": until.isoformat(),
            "n_predictions": traffic.height,
            "n_requests": traffic.get_column("_request_id").n_unique(),
            **report,
        }

    def importance(self, version: ModelVersionRecord) -> dict[str, float]:
        """The version's permutation importance per input column (empty if it has none)."""
        if "feature_importance" not in version.artifacts:
            return {}
        try:
            raw = self.registry.read_artifact(
                version.model, version.version, "feature_importance", "json"
            )
            rows = json.loads(raw).get("features", [])
        except (HarborError, ValueError, OSError):
            log.warning("feature importance of %s v%s unreadable", version.model, version.version)
            return {}
        return {str(r["feature"]): float(r.get("importance_mean") or 0.0) for r in rows}

    def _compare_traffic(
        self,
        reference: dict[str, Any],
        traffic: pl.DataFrame,
        columns: list[str] | None,
        importance: dict[str, float] | None = None,
    ) -> dict[str, Any]:
        kinds = {n: c["kind"] for n, c in reference["columns"].items() if n in traffic.columns}
        current = profile_table(traffic, kinds)
        limits = self.thresholds
        report = compare_profiles(reference, current, limits, columns=columns)
        report["prediction"] = None
        if reference.get("prediction") and "_prediction" in traffic.columns:
            kind = refs.prediction_kind(reference["task"])
            profile = profile_column(traffic.get_column("_prediction"), kind)
            report["prediction"] = compare_column(
                "prediction", reference["prediction"], profile, limits
            )
            if report["prediction"] is not None:
                report["prediction"]["source"] = reference.get("prediction_source")
        return grade(report, limits, importance=importance, prediction=report["prediction"])

    @staticmethod
    def _check_columns(columns: list[str] | None, reference: dict[str, Any]) -> None:
        unknown = [c for c in columns or [] if c not in reference["columns"]]
        if unknown:
            raise InvalidInputError(
                f"columns {unknown} are not monitored inputs of this model; its inputs: "
                f"{', '.join(reference['columns'])}",
                columns=unknown,
            )

    def timeline(
        self,
        name: str,
        ref: int | str = "latest",
        *,
        since: str | None = None,
        window: str | None = "1d",
        until: datetime | None = None,
        drift: bool = True,
        fit: bool = False,
    ) -> dict[str, Any]:
        """Volume, latency and drift share of a model version per time window (charts).

        With ``fit``, the windows run from the first to the last logged prediction rather
        than over the whole requested span, so an hour of traffic in a week's view is not
        one bar; ``window=None`` then picks the width from that span (at most ``MAX_BARS``
        bars).
        """
        version = self.registry.get_version(name, ref)
        until = until or datetime.now(UTC)
        start = parse_since(since, until, self.settings.monitor_window)
        traffic = read_log(self.artifacts, version.model, version.version, start, until)
        lo, hi = start, until
        if fit and not traffic.is_empty():
            times = traffic.get_column("_time").dt.convert_time_zone("UTC")
            first, last = times.min(), times.max()
            # The extremes of a non-empty Datetime column; polars types them as any literal.
            assert isinstance(first, datetime) and isinstance(last, datetime)
            window = window or auto_window(last - first)
            step = parse_span(window, what="window")
            lo = max(start, _floor(first, step))
            hi = min(until, _floor(last, step) + step)
        window = window or auto_window(until - start)
        step = parse_span(window, what="window")
        if (hi - lo) / step > MAX_WINDOWS:
            raise InvalidInputError(
                f"{window} windows over this span make more than {MAX_WINDOWS}; "
                "choose a longer window",
                field="window",
            )
        reference = self.reference(version.model, version.version) if drift else None
        importance = self.importance(version) if drift else None
        windows = []
        for w_lo, w_hi in _windows(lo, hi, step):
            part = _between(traffic, w_lo, w_hi)
            row: dict[str, Any] = {"start": w_lo.isoformat(), "end": w_hi.isoformat()}
            row["n_predictions"] = part.height
            row |= _latency(part)
            if reference is not None and part.height:
                report = self._compare_traffic(reference, part, None, importance)
                row["drift_share"] = report["dataset"]["share"]
                row["drift_status"] = report["dataset"]["status"]
                row["drifted_columns"] = report["dataset"]["drifted_columns"]
                pred = report["prediction"]
                row["prediction_drift"] = None if pred is None else pred["effect"]
            windows.append(row)
        return {
            "model": version.model,
            "version": version.version,
            "since": lo.isoformat(),
            "until": hi.isoformat(),
            "requested_since": start.isoformat(),
            "window": window,
            "windows": windows,
        }

    # ---- drift between datasets ---------------------------------------------------------

    def dataset_drift(
        self, reference: str, current: str, *, columns: list[str] | None = None
    ) -> dict[str, Any]:
        """Drift between two dataset versions (``name``, or ``name@version``).

        Raises
        ------
        NotFoundError
            Unknown dataset or version.
        """
        ref_version = self.dataset_version(reference)
        cur_version = self.dataset_version(current)
        limits = self.thresholds
        # The two are read and profiled side by side (Arrow and polars release the GIL).
        # The current data is profiled as the reference was: type inference on fewer rows
        # can read a column differently (8 distinct counts: categorical; 60: numeric), and
        # columns are only comparable as one kind.
        early = _EarlyComparisons(limits, columns)
        with (
            ThreadPoolExecutor(max_workers=2, thread_name_prefix="profile") as pool,
            early,
        ):
            pending = pool.submit(
                self._dataset_profile, cur_version, like=ref_version, on_column=early.current
            )
            ref_profile, ref_key = self._dataset_profile(ref_version, on_column=early.reference)
            cur_profile, cur_key = pending.result()
            # New profiles are written while the columns are compared, not before.
            writes = [
                pool.submit(self._store_profile, key, profile)
                for profile, key in ((ref_profile, ref_key), (cur_profile, cur_key))
                if key is not None
            ]
            self._check_columns(columns, ref_profile)
            report = compare_profiles(
                ref_profile, cur_profile, limits, columns=columns, compared=early.results()
            )
            for write in writes:
                write.result()
        return {
            "reference": {"dataset": ref_version.dataset, "version": ref_version.version},
            "current": {"dataset": cur_version.dataset, "version": cur_version.version},
            **report,
        }

    def dataset_version(self, text: str) -> DatasetVersionInfo:
        name, _, number = str(text).partition("@")
        if number and not number.lstrip("vV").isdigit():
            raise InvalidInputError(
                f"dataset reference {text!r}: write NAME or NAME@VERSION (a number)"
            )
        return self.datasets.get_version(name, int(number.lstrip("vV")) if number else None)

    def _dataset_profile(
        self,
        version: DatasetVersionInfo,
        like: DatasetVersionInfo | None = None,
        *,
        on_column: Callable[[str, dict[str, Any]], None],
    ) -> tuple[dict[str, Any], str | None]:
        """The profile of a version; with ``like``, its shared columns profiled as the kinds
        ``like``'s schema gives them. Also the key to store it under when it was computed
        here (``None`` when it was stored already). ``on_column`` gets each column's profile
        as it is made or read."""
        kinds = self._kinds(version)
        key = f"{DATASET_PROFILES}/{version.id}-{version.content_hash[:16]}.json"
        if like is not None:
            theirs = self._kinds(like)
            changed = {n: theirs[n] for n in kinds if n in theirs and theirs[n] != kinds[n]}
            if changed:
                kinds.update(changed)
                digest = hashlib.sha256(json.dumps(changed, sort_keys=True).encode()).hexdigest()
                key = key.removesuffix(".json") + f"-as-{digest[:12]}.json"
        if self.artifacts.exists(key):
            stored = refs.decode(self.artifacts.get_bytes(key))
            for name, column in stored["columns"].items():
                on_column(name, column)
            return stored, None
        table = self.datasets.read_table(version, list(kinds))
        return profile_table(table, kinds, on_column=on_column), key

    def _store_profile(self, key: str, profile: dict[str, Any]) -> None:
        self.artifacts.put_bytes(key, refs.encode(profile))

    @staticmethod
    def _kinds(version: DatasetVersionInfo) -> dict[str, str]:
        return {
            c.name: SEMANTIC_KINDS[c.semantic_type.value]
            for c in version.schema.columns
            if c.semantic_type.value in SEMANTIC_KINDS
        }


class _EarlyComparisons:
    """Columns of counts compared as soon as both datasets' profiles of them are made.

    The chi-square Monte Carlo of one sparse column can take as long as profiling both
    tables; started while the numeric columns are still being profiled, it no longer runs
    alone after them. Numeric columns cost little to compare and wait for the report.
    """

    def __init__(self, limits: DriftThresholds, columns: list[str] | None) -> None:
        self.limits = limits
        self.wanted = None if columns is None else set(columns)
        self.made: tuple[dict[str, Any], dict[str, Any]] = ({}, {})
        self.pending: dict[str, Future[dict[str, Any] | None]] = {}
        self.lock = threading.Lock()
        workers = min(os.cpu_count() or 1, MAX_THREADS)
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="drift")

    def __enter__(self) -> _EarlyComparisons:
        return self

    def __exit__(self, *exc: object) -> None:
        self.pool.shutdown(wait=True)

    def reference(self, name: str, profile: dict[str, Any]) -> None:
        self._arrived(0, name, profile)

    def current(self, name: str, profile: dict[str, Any]) -> None:
        self._arrived(1, name, profile)

    def _arrived(self, side: int, name: str, profile: dict[str, Any]) -> None:
        if profile.get("kind") == ColumnKind.NUMERIC.value:
            return
        if self.wanted is not None and name not in self.wanted:
            return
        with self.lock:
            self.made[side][name] = profile
            other = self.made[1 - side].get(name)
            if other is None or name in self.pending:
                return
            ref, cur = (profile, other) if side == 0 else (other, profile)
            self.pending[name] = self.pool.submit(compare_column, name, ref, cur, self.limits)

    def results(self) -> dict[str, dict[str, Any] | None]:
        """The comparisons started, by column name (waiting for those still running)."""
        return {name: future.result() for name, future in self.pending.items()}


#: Widths an automatic window is picked from: the smallest giving at most MAX_BARS bars.
AUTO_WINDOWS = ("1m", "5m", "15m", "1h", "6h", "1d", "7d")
MAX_BARS = 48


def auto_window(span: timedelta) -> str:
    """The narrowest window of ``AUTO_WINDOWS`` that cuts ``span`` into at most MAX_BARS bars."""
    return next((w for w in AUTO_WINDOWS if span / parse_span(w) <= MAX_BARS), AUTO_WINDOWS[-1])


def _floor(moment: datetime, step: timedelta) -> datetime:
    """``moment`` rounded down to a multiple of ``step`` since the epoch (bars on round times)."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return epoch + step * ((moment.astimezone(UTC) - epoch) // step)


def _windows(start: datetime, until: datetime, step: timedelta) -> list[tuple[datetime, datetime]]:
    out = []
    lo = start
    while lo < until:
        out.append((lo, min(lo + step, until)))
        lo += step
    return out


def _between(frame: pl.DataFrame, lo: datetime, hi: datetime) -> pl.DataFrame:
    if frame.is_empty():
        return frame
    times = pl.col("_time").dt.convert_time_zone("UTC")
    return frame.filter((times >= lo) & (times < hi))


def _latency(part: pl.DataFrame) -> dict[str, Any]:
    if part.is_empty():
        return {"n_requests": 0, "latency_ms_p50": None, "latency_ms_p95": None}
    # Latency is per request: every row of a request carries the same figure.
    per_request = part.unique("_request_id").get_column("_latency_ms").to_numpy()
    return {
        "n_requests": len(per_request),
        "latency_ms_p50": round(float(np.percentile(per_request, 50)), 3),
        "latency_ms_p95": round(float(np.percentile(per_request, 95)), 3),
    }
