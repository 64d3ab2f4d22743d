"""Dates in every form a user's data holds them are read as the same instant."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlharbor.prep import DatetimeFeatures


def test_date_only_parquet_columns_read_back_as_dates_are_calendar_parts(tmp_path) -> None:
    # Parquet date32 columns come back from pyarrow as datetime.date objects.
    days = [dt.date(2023, 1, 1), dt.date(2023, 6, 15), None]
    pq.write_table(pa.table({"day": pa.array(days, pa.date32())}), tmp_path / "d.parquet")
    frame = pq.read_table(tmp_path / "d.parquet").to_pandas()
    assert isinstance(frame["day"].iloc[0], dt.date)
    out = DatetimeFeatures().fit(frame).transform(frame)
    assert out[0, :3].tolist() == [2023, 1, 1] and out[1, :3].tolist() == [2023, 6, 15]
    assert np.isnan(out[2, 0]) and out[2, -1] == 1.0  # missing, and flagged
    assert "hour" not in DatetimeFeatures().fit(frame).parts_


@pytest.mark.parametrize(
    "value",
    [
        "2024-02-03T10:00:00+01:00",
        "2024-02-03T09:00:00Z",
        "2024-02-03 09:00:00",
        pd.Timestamp("2024-02-03T10:00", tz="Europe/Paris"),
        dt.datetime(2024, 2, 3, 9, 0),
        np.datetime64("2024-02-03T09:00"),
    ],
)
def test_a_timezone_aware_column_reads_any_form_of_the_same_instant(value) -> None:
    train = pd.DataFrame(
        {"when": pd.date_range("2023-03-20 08:00", periods=20, freq="7D", tz="Europe/Paris")}
    )
    fitted = DatetimeFeatures().fit(train)  # spans the summer-time change: two offsets
    assert "hour" in fitted.parts_
    out = fitted.transform(pd.DataFrame({"when": pd.Series([value], dtype=object)}))
    parts = dict(zip(fitted.parts_, out[0], strict=False))
    assert (parts["year"], parts["month"], parts["day"], parts["hour"]) == (2024, 2, 3, 9)


def test_a_plain_date_string_sent_to_a_timezone_aware_column_is_midnight_utc() -> None:
    train = pd.DataFrame({"when": pd.date_range("2023-01-01", periods=5, tz="Asia/Tokyo")})
    fitted = DatetimeFeatures().fit(train)
    mixed = pd.DataFrame({"when": ["2024-02-03", "2024-02-03T10:00:00+01:00", None]})
    out = fitted.transform(mixed)
    assert out[0, :3].tolist() == [2024, 2, 3] and np.isnan(out[2, 0])


def test_a_value_that_is_not_a_date_at_all_is_refused_by_type() -> None:
    fitted = DatetimeFeatures().fit(pd.DataFrame({"when": ["2024-01-01", "2024-01-02"]}))
    with pytest.raises(TypeError, match="type list"):
        fitted.transform(pd.DataFrame({"when": pd.Series([[1, 2]], dtype=object)}))
