"""Batch scoring mechanics: a frame through the predictor, as the columns it adds.

The ``score`` job that chunks a stored dataset, fans the chunks out and stores the result
lives in :mod:`mlharbor.workflows.score`; what is here needs only a :class:`Predictor`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import pandas as pd

from mlharbor.serving.predictor import Source

if TYPE_CHECKING:
    from mlharbor.serving.predictor import Predictor

PREDICTION = "prediction"


def score_frame(
    predictor: Predictor,
    model: str,
    ref: str,
    frame: pd.DataFrame,
    taken: Iterable[Any] | None = None,
) -> pd.DataFrame:
    """Predict ``frame`` through the predictor (as a batch prediction): the new columns,
    named clear of ``taken`` (default: the frame's columns).

    The prediction log is flushed before returning: a chunk whose result is back is logged
    for good (a Dask worker may be stopped next), and the log holds no more than a chunk.
    """
    result = predictor.predict(model, ref, frame, source=Source.BATCH)
    if predictor.log is not None:
        predictor.log.flush()
    return predictions_frame(result, frame.columns if taken is None else taken)


def predictions_frame(result: Any, taken: Iterable[Any]) -> pd.DataFrame:
    """The prediction (and per-class probability) columns, named clear of ``taken``."""
    used = {str(c) for c in taken}
    out = {free_name(PREDICTION, used): result.predictions}
    if result.probabilities is not None:
        for i, label in enumerate(result.classes):
            out[free_name(f"probability_{label}", used)] = [row[i] for row in result.probabilities]
    return pd.DataFrame(out)


def free_name(name: str, used: set[str]) -> str:
    """``name``, or ``name_2``, ``name_3``… whichever is not in ``used`` (then added to it)."""
    candidate, n = name, 1
    while candidate in used:
        n += 1
        candidate = f"{name}_{n}"
    used.add(candidate)
    return candidate
