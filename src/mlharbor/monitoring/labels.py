"""Checking ground-truth labels before they are kept: each must belong to a logged
prediction of the model, and fit its task (a known class, or a number for regression).

A batch is stored whole or not at all: one bad label refuses it, and the error names the
first few bad ones. Request ids are looked up in the prediction log, newest files first,
stopping once every id is found; the log is written a few seconds after each prediction
(by a writer thread), so when an id is missing this process's pending predictions are
written and the log is read again before the label is refused.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from mlharbor.errors import InvalidInputError, NotFoundError
from mlharbor.monitoring.logs import LabelItem, parse_labels, write_labels
from mlharbor.registry import ModelRegistry
from mlharbor.serving.predlog import PREFIX, PredictionLog
from mlharbor.store.artifacts import ArtifactStore

SHOWN = 5  # bad labels named in the error
FLUSH_TIMEOUT = 10.0


@dataclass(frozen=True)
class Logged:
    """Where a request was logged: the model version that answered and its row count."""

    version: int
    rows: int


def add_labels(
    artifacts: ArtifactStore,
    registry: ModelRegistry,
    predlog: PredictionLog | None,
    model: str,
    items: Any,
) -> int:
    """Check sent labels against the prediction log and the model, then store them all.

    Raises
    ------
    NotFoundError
        No model ``model``.
    InvalidInputError
        A label is malformed, for a request id not in the log (or a row it does not have),
        not a class the model knows, or not a number for a regression; nothing is stored.
    """
    registry.get_model(model)
    labels = parse_labels(items)
    ids = {x.request_id for x in labels}
    logged = logged_requests(artifacts, model, ids)
    if len(logged) < len(ids) and predlog is not None:
        predlog.flush(FLUSH_TIMEOUT)  # a prediction made just now may still be queued
        logged = logged_requests(artifacts, model, ids)
    problems, unknown = [], False
    versions: dict[int, Any] = {}
    for item in labels:
        found = logged.get(item.request_id)
        if found is None:
            unknown = True
            problems.append(f"labels[{item.index}]: request {item.request_id!r} is not logged")
            continue
        if item.row is not None and item.row >= found.rows:
            problems.append(
                f"labels[{item.index}]: request {item.request_id!r} has {found.rows} row"
                f"{'s' if found.rows != 1 else ''}, so no row {item.row}"
            )
            continue
        if found.version not in versions:
            versions[found.version] = _version(registry, model, found.version)
        problem = _fits(item, versions[found.version])
        if problem:
            problems.append(f"labels[{item.index}]: {problem}")
    if problems:
        raise InvalidInputError(
            _message(model, len(labels), problems, unknown, predlog), field="labels"
        )
    return write_labels(artifacts, model, labels)


def logged_requests(artifacts: ArtifactStore, model: str, ids: set[str]) -> dict[str, Logged]:
    """The requests among ``ids`` in the model's prediction log (any version).

    Files are read newest first (labels mostly follow recent predictions) and only their
    request-id and row columns; the scan stops once every id is found. A request is written
    whole into one file, so its row count is known where it is found.
    """
    base = f"{PREFIX}/{model}/"
    files = []
    for key in artifacts.list(base.rstrip("/")):
        parts = key[len(base) :].split("/")
        # v<version>/<day>/part-<time>-<uuid>.parquet; the labels folder is not the log.
        if len(parts) == 3 and parts[0][1:].isdigit() and key.endswith(".parquet"):
            files.append((parts[1], parts[2], int(parts[0][1:]), key))
    found: dict[str, Logged] = {}
    wanted = pa.array(sorted(ids), type=pa.string())
    for _, _, version, key in sorted(files, reverse=True):
        with artifacts.open(key) as fh:
            table = pq.read_table(fh, columns=["_request_id", "_row"])
        table = table.filter(pc.is_in(table["_request_id"].cast(pa.string()), wanted))
        for rid, rows in _row_counts(table).items():
            found.setdefault(rid, Logged(version, rows))
        if len(found) == len(ids):
            break
    return found


def _row_counts(table: Any) -> dict[str, int]:
    if table.num_rows == 0:
        return {}
    grouped = table.group_by("_request_id").aggregate([("_row", "max")])
    return {
        str(rid): int(top) + 1
        for rid, top in zip(
            grouped["_request_id"].to_pylist(), grouped["_row_max"].to_pylist(), strict=True
        )
    }


def _version(registry: ModelRegistry, model: str, version: int) -> Any:
    try:
        return registry.get_version(model, version)
    except NotFoundError:
        return None  # deleted since it answered: its labels are kept unchecked


def _fits(item: LabelItem, version: Any) -> str | None:
    """Why ``item``'s label does not fit the task of ``version``, or ``None``."""
    if version is None:
        return None
    label = item.label
    if version.task == "regression":
        number = _number(label)
        if number is None or not math.isfinite(number):
            return f"{label!r} is not a number, and v{version.version} of the model is a regression"
        return None
    classes = (version.signature or {}).get("classes")
    if not classes:
        return None  # a registered model that did not say its classes
    known = {_class_key(c) for c in classes}
    if _class_key(label) in known:
        return None
    listed = ", ".join(repr(c) for c in classes[:20]) + (" …" if len(classes) > 20 else "")
    return f"{label!r} is not a class v{version.version} of the model knows ({listed})"


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value).strip())
    except ValueError:
        return None


def _class_key(value: Any) -> str:
    """One spelling per class: ``1``, ``1.0`` and ``"1"`` are one class, as in the metrics;
    booleans are ``true``/``false`` as labels are stored."""
    if isinstance(value, bool):
        return str(value).lower()
    number = _number(value)
    if number is not None and math.isfinite(number) and number == int(number):
        return str(int(number))
    return str(value).lower() if str(value).lower() in ("true", "false") else str(value)


def _message(
    model: str, total: int, problems: list[str], unknown: bool, predlog: PredictionLog | None
) -> str:
    shown = "; ".join(problems[:SHOWN])
    if len(problems) > SHOWN:
        shown += f"; and {len(problems) - SHOWN} more"
    text = (
        f"{len(problems)} of {total} label{'s' if total != 1 else ''} of model {model!r} "
        f"cannot be used, so none was stored: {shown}"
    )
    if unknown:
        text += (
            ". Request ids are checked against the prediction log, where a prediction "
            "appears within MLHARBOR_PREDLOG_FLUSH_SECONDS; send labels with the "
            "request_id a predict call answered"
        )
        if predlog is None:
            text += " (the prediction log is off here: MLHARBOR_PREDLOG_ENABLED=false)"
        elif predlog.sample_rate < 1.0:
            text += " (only a share of predictions is logged: MLHARBOR_PREDLOG_SAMPLE_RATE)"
    return text
