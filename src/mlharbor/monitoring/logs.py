"""Reading the prediction log back, and the ground-truth labels sent for it."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from mlharbor.errors import InvalidInputError
from mlharbor.serving.predlog import PREFIX, partition
from mlharbor.store.artifacts import ArtifactStore

if TYPE_CHECKING:  # polars loads when a log is read, not when the server starts
    import polars as pl

_SPAN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$", re.IGNORECASE)
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
MAX_LABELS = 1_000_000
MAX_SPAN = timedelta(days=3660)


def parse_span(text: str, *, what: str = "span") -> timedelta:
    """``"7d"``, ``"24h"``, ``"30m"``, ``"2w"``, ``"90s"`` as a timedelta."""
    match = _SPAN.match(text or "")
    if not match:
        raise InvalidInputError(
            f"{what} {text!r} is not a duration; write a number and a unit (s, m, h, d, w), "
            "e.g. 7d or 12h",
            field=what,
        )
    try:
        span = timedelta(**{_UNITS[match.group(2).lower()]: float(match.group(1))})
    except OverflowError:
        span = timedelta.max
    if span > MAX_SPAN:
        raise InvalidInputError(f"{what} {text!r} is longer than ten years", field=what)
    if span <= timedelta(0):
        raise InvalidInputError(f"{what} {text!r} must be longer than zero", field=what)
    return span


def parse_since(text: str | None, now: datetime, default: str = "7d") -> datetime:
    """A start time: a duration back from ``now`` (``7d``) or an ISO 8601 timestamp."""
    text = text or default
    if _SPAN.match(text):
        return now - parse_span(text, what="since")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInputError(
            f"since {text!r} is neither a duration (7d, 12h) nor an ISO 8601 time",
            field="since",
        )
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def read_log(
    artifacts: ArtifactStore, model: str, version: int, since: datetime, until: datetime
) -> pl.DataFrame:
    """Logged predictions of a model version between ``since`` and ``until``."""
    import polars as pl

    # One listing of the version's folder, filtered by day: a window reaching far back must
    # not cost one listing per day.
    first = since.astimezone(UTC).date().isoformat()
    last = until.astimezone(UTC).date().isoformat()
    base = partition(model, version)
    frames = []
    for key in artifacts.list(base):
        day = key[len(base) + 1 :].split("/", 1)[0]
        if key.endswith(".parquet") and first <= day <= last:
            frames.append(_read_frame(artifacts, key))
    if not frames:
        return pl.DataFrame()
    frame = pl.concat(frames, how="diagonal_relaxed")
    times = pl.col("_time").dt.convert_time_zone("UTC")
    return frame.filter((times >= since) & (times <= until)).sort("_time")


def _read_frame(artifacts: ArtifactStore, key: str) -> pl.DataFrame:
    import polars as pl

    with artifacts.open(key) as fh:
        frame = pl.from_arrow(pq.read_table(fh))
    assert isinstance(frame, pl.DataFrame)  # a table converts to a frame (arrays to a Series)
    return frame


def labels_prefix(model: str) -> str:
    """Labels belong to a model, not a version: request ids are unique across versions and
    an alias may have moved between the prediction and its label."""
    return f"{PREFIX}/{model}/labels"


@dataclass(frozen=True)
class LabelItem:
    """One ground-truth label as sent: its place in the batch, request, row and value."""

    index: int
    request_id: str
    row: int | None
    label: Any


def parse_labels(items: Any) -> list[LabelItem]:
    """Check the shape of sent labels: ``[{"request_id", "label", "row" (optional)}]``."""
    if not isinstance(items, list) or not items:
        raise InvalidInputError('send "labels": a list of {"request_id", "label"} objects')
    if len(items) > MAX_LABELS:
        raise InvalidInputError(f"at most {MAX_LABELS:,} labels per request")
    parsed = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or "request_id" not in item or "label" not in item:
            raise InvalidInputError(
                f"labels[{i}] needs a request_id and a label, got {str(item)[:80]}"
            )
        row = item.get("row")
        if row is not None and (not isinstance(row, int) or isinstance(row, bool) or row < 0):
            raise InvalidInputError(f"labels[{i}].row must be a whole number from 0")
        label = item["label"]
        if label is None or isinstance(label, dict | list):
            raise InvalidInputError(f"labels[{i}].label must be a single value")
        parsed.append(LabelItem(i, str(item["request_id"])[:64], row, label))
    return parsed


def label_text(label: Any) -> str:
    """A label as it is stored: text, booleans as ``true``/``false``."""
    return str(label).lower() if isinstance(label, bool) else str(label)


def store_labels(artifacts: ArtifactStore, model: str, items: Any) -> int:
    """Keep ground-truth labels for logged requests; return how many were stored.

    Each item is ``{"request_id", "label"}`` (the label of every row of that request) or
    ``{"request_id", "row", "label"}``. Only their shape is checked here; the API checks
    them against the prediction log and the model first (:mod:`mlharbor.monitoring.labels`).
    """
    return write_labels(artifacts, model, parse_labels(items))


def write_labels(artifacts: ArtifactStore, model: str, labels: list[LabelItem]) -> int:
    """Write checked labels as one Parquet file (all of them or, on error, none)."""
    table = pa.table(
        {
            "_request_id": [x.request_id for x in labels],
            "_row": pa.array([x.row for x in labels], type=pa.int64()),
            "_label": [label_text(x.label) for x in labels],
            "_received": pa.array(
                [datetime.now(UTC)] * len(labels), type=pa.timestamp("us", "UTC")
            ),
        }
    )
    key = f"{labels_prefix(model)}/part-{datetime.now(UTC):%Y%m%d%H%M%S%f}-"
    key += f"{uuid.uuid4().hex[:8]}.parquet"
    with artifacts.staging(".parquet") as staged:
        pq.write_table(table, staged)
        artifacts.commit(key, staged)
    return len(labels)


def read_labels(artifacts: ArtifactStore, model: str) -> pl.DataFrame:
    """Every label sent for a model, the latest per request row."""
    import polars as pl

    frames = []
    for key in artifacts.list(labels_prefix(model)):
        frames.append(_read_frame(artifacts, key))
    if not frames:
        return pl.DataFrame(schema={"_request_id": pl.Utf8, "_row": pl.Int64, "_label": pl.Utf8})
    frame = pl.concat(frames).sort("_received")
    return frame.unique(["_request_id", "_row"], keep="last", maintain_order=True)


def join_labels(log: pl.DataFrame, labels: pl.DataFrame) -> pl.DataFrame:
    """Logged rows that have a label, with the label in ``_label``."""
    import polars as pl

    if log.is_empty() or labels.is_empty():
        return pl.DataFrame()
    log = log.with_columns(pl.col("_row").cast(pl.Int64))
    by_row = labels.filter(pl.col("_row").is_not_null()).select("_request_id", "_row", "_label")
    whole = labels.filter(pl.col("_row").is_null()).select(
        "_request_id", pl.col("_label").alias("_label_all")
    )
    out = log.join(by_row, on=["_request_id", "_row"], how="left")
    out = out.join(whole, on="_request_id", how="left")
    out = out.with_columns(pl.coalesce("_label", "_label_all").alias("_label")).drop("_label_all")
    return out.filter(pl.col("_label").is_not_null())
