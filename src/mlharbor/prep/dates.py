"""Datetime columns as numbers a model can use: calendar parts and elapsed time.

Models cannot use a timestamp as such; what carries signal is usually the season (month, day
of year), the weekly cycle (day of week), the time of day and how long ago it was. Each
datetime column becomes those parts plus the days elapsed since the earliest date seen in
training.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Self

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import Tags
from sklearn.utils.validation import check_is_fitted, validate_data

ALL_PARTS = ("year", "month", "day", "dayofweek", "dayofyear", "hour")
_ACCESSOR = {"dayofweek": "day_of_week", "dayofyear": "day_of_year"}
_SECONDS_PER_DAY = 86_400.0


class DatetimeFeatures(TransformerMixin, BaseEstimator):
    """Calendar parts and elapsed days of one or more datetime columns.

    Accepts timestamps, strings (parsed with ``format`` when given) or numbers (read as
    seconds since the Unix epoch). Values that cannot be read are missing: their parts are
    ``NaN`` and, with ``missing_indicator``, flagged in a ``<column>__missing`` feature.

    Parameters
    ----------
    format : str or None, default=None
        ``strptime`` format of string input; ``None`` lets pandas infer it.
    parts : tuple of str or None, default=None
        Which of ``year, month, day, dayofweek, dayofyear, hour`` to emit. ``None`` emits all
        but ``hour``, plus ``hour`` when the training data has times other than midnight.
    missing_indicator : bool, default=True
        Add a 0/1 feature per column marking unreadable or missing values.

    Attributes
    ----------
    parts_ : tuple of str
        The calendar parts emitted.
    reference_ : ndarray of shape (n_features_in_,)
        Earliest training time per column, in epoch seconds; elapsed days count from it.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Defined when fitted on a DataFrame with string column names.

    Examples
    --------
    >>> import pandas as pd
    >>> X = pd.DataFrame({"when": ["2024-01-01", "2024-03-15"]})
    >>> DatetimeFeatures(format="%Y-%m-%d").fit_transform(X)[:, :3]
    array([[2024.,    1.,    1.],
           [2024.,    3.,   15.]])
    """

    def __init__(
        self,
        *,
        format: str | None = None,
        parts: tuple[str, ...] | None = None,
        missing_indicator: bool = True,
    ) -> None:
        self.format = format
        self.parts = parts
        self.missing_indicator = missing_indicator

    def fit(self, X: npt.ArrayLike, y: object = None) -> Self:
        """Learn the parts to emit and the reference time of each column."""
        values: np.ndarray = validate_data(self, X, dtype=None, ensure_all_finite=False, reset=True)
        if self.parts is not None:
            unknown = sorted(set(self.parts) - set(ALL_PARTS))
            if unknown:
                raise ValueError(f"unknown datetime parts {unknown}; valid parts: {ALL_PARTS}")
        seconds = self._to_seconds(values)
        with np.errstate(invalid="ignore"):
            reference = np.nanmin(np.where(np.isnan(seconds), np.inf, seconds), axis=0)
        self.reference_ = np.where(np.isinf(reference), 0.0, reference)
        if self.parts is not None:
            self.parts_ = tuple(self.parts)
        else:
            has_time = bool(np.nansum(np.mod(seconds, _SECONDS_PER_DAY)) > 0)
            self.parts_ = ALL_PARTS if has_time else ALL_PARTS[:-1]
        return self

    def transform(self, X: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """The calendar parts, elapsed days and missing flags, as a float array."""
        check_is_fitted(self)
        values: np.ndarray = validate_data(
            self, X, dtype=None, ensure_all_finite=False, reset=False
        )
        seconds = self._to_seconds(values)
        blocks = []
        for j in range(seconds.shape[1]):
            col = seconds[:, j]
            missing = np.isnan(col)
            stamps = pd.to_datetime(pd.Series(np.where(missing, 0, col)), unit="s")
            for part in self.parts_:
                values = getattr(stamps.dt, _ACCESSOR.get(part, part)).to_numpy(dtype=float)
                blocks.append(np.where(missing, np.nan, values))
            blocks.append((col - self.reference_[j]) / _SECONDS_PER_DAY)
            if self.missing_indicator:
                blocks.append(missing.astype(float))
        return np.column_stack(blocks) if blocks else np.empty((values.shape[0], 0))

    def get_feature_names_out(
        self, input_features: Iterable[str] | None = None
    ) -> npt.NDArray[np.object_]:
        """``<column>__<part>``, ``<column>__elapsed_days`` and ``<column>__missing``."""
        check_is_fitted(self)
        if input_features is None:
            input_features = getattr(self, "feature_names_in_", None)
        if input_features is None:
            input_features = [f"x{i}" for i in range(self.n_features_in_)]
        names: list[str] = []
        for col in input_features:
            names += [f"{col}__{part}" for part in self.parts_]
            names.append(f"{col}__elapsed_days")
            if self.missing_indicator:
                names.append(f"{col}__missing")
        return np.asarray(names, dtype=object)

    def _to_seconds(self, values: np.ndarray) -> np.ndarray:
        if values.dtype.kind in "biuf":
            return values.astype(float)
        out = np.empty(values.shape, dtype=float)
        for j in range(values.shape[1]):
            out[:, j] = self._column_seconds(values[:, j])
        return out

    def _column_seconds(self, values: np.ndarray) -> np.ndarray:
        if values.dtype.kind == "M":
            return _epoch_seconds(pd.to_datetime(pd.Series(values), utc=True))
        if values.dtype == object and all(
            isinstance(v, int | float | np.number) and not isinstance(v, bool) for v in values
        ):
            return values.astype(float)
        series = pd.Series(values, dtype=object)
        # Dates arrive as text (CSV, JSON), as dates (Parquet date32 columns read back as
        # datetime.date), as timestamps with or without a time zone, or mixed within a column.
        # Every time is taken as UTC: aware ones are converted, naive ones are read as UTC,
        # so one column with two offsets (summer and winter time) is still one column.
        temporal = series.map(_is_temporal).astype(bool)
        stamps = pd.Series(pd.NaT, index=series.index, dtype="datetime64[ns, UTC]")
        if temporal.any():
            stamps[temporal] = pd.to_datetime(series[temporal], utc=True, errors="coerce")
        rest = series[~temporal].map(_as_text)
        strings = rest[rest.notna()]
        if len(strings):
            parsed = pd.to_datetime(strings, format=self.format, utc=True, errors="coerce")
            # A value the inferred format misses (another layout, a pasted timestamp) is
            # still a date; only give up on it after pandas' own guessing fails too.
            retry = parsed.isna()
            if self.format is not None and retry.any():
                parsed[retry] = pd.to_datetime(
                    strings[retry], format="mixed", utc=True, errors="coerce"
                )
            stamps[strings.index] = parsed
        return _epoch_seconds(stamps)

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.string = True
        return tags


def _epoch_seconds(stamps: pd.Series) -> np.ndarray:
    """Seconds since the epoch of UTC or naive timestamps; ``NaN`` where missing."""
    if getattr(stamps.dt, "tz", None) is not None:
        stamps = stamps.dt.tz_convert("UTC").dt.tz_localize(None)
    stamps = stamps.astype("datetime64[ns]")
    seconds = stamps.to_numpy().astype("int64") / 1e9
    return np.where(stamps.isna().to_numpy(), np.nan, seconds)


def _is_temporal(value: object) -> bool:
    """A date or a time as an object (``datetime.date`` covers datetimes and Timestamps)."""
    return isinstance(value, date | np.datetime64) and not pd.isna(value)


def _as_text(value: object) -> object:
    """A date given as text or a number, as a string pandas can parse (missing: None)."""
    if value is None or value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, float | np.floating) and np.isnan(value):
        return None
    if isinstance(value, bool | np.bool_):
        raise TypeError(f"cannot read a date from a value of type {type(value).__name__}")
    if isinstance(value, int | float | np.number | str):
        return str(value)
    raise TypeError(f"cannot read a date from a value of type {type(value).__name__}")
