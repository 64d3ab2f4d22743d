"""The ONNX fast path: a pipeline converted with skl2onnx and run with onnxruntime.

Used only when the conversion succeeds and its answers match the scikit-learn pipeline's on
rows of the model's own dataset (labels equal wherever the pipeline is not on the fence,
probabilities within ``TOLERANCE``); otherwise the pipeline answers. Requests with a missing
text value also go to the pipeline, since ONNX string tensors have no missing value.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from mlharbor.errors import InvalidInputError
from mlharbor.registry import ModelVersionRecord

log = logging.getLogger(__name__)
TOLERANCE = 1e-3
VALIDATION_ROWS = 200


class OnnxModel:
    """An onnxruntime session over a converted pipeline, fed one array per column."""

    def __init__(self, session: Any, kinds: dict[str, str], proba: bool) -> None:
        self.session = session
        self.kinds = kinds
        self.proba = proba

    def feeds(self, features: Any) -> dict[str, np.ndarray] | None:
        """Input arrays from a frame or ``{column: array}``, or ``None`` when a text column
        has a missing value."""
        feeds: dict[str, np.ndarray] = {}
        for name, kind in self.kinds.items():
            values = features[name]
            if isinstance(values, pd.Series):
                values = values.to_numpy()
            if kind == "double":
                feeds[name] = values.astype(np.float32).reshape(-1, 1)
            elif values.dtype == object and set(map(type, values.tolist())) == {str}:
                feeds[name] = values.reshape(-1, 1)  # all text already: nothing to convert
            else:
                if pd.isna(values).any():
                    return None
                feeds[name] = values.astype(str).astype(object).reshape(-1, 1)
        return feeds

    def run(self, features: Any) -> tuple[np.ndarray, np.ndarray | None] | None:
        """Labels and probabilities, or ``None`` when this input must go to the pipeline."""
        feeds = self.feeds(features)
        if feeds is None:
            return None
        outputs = self.session.run(None, feeds)
        labels = np.asarray(outputs[0]).ravel()
        return labels, (np.asarray(outputs[1], dtype=float) if self.proba else None)


def build_onnx(
    pipeline: Any, version: ModelVersionRecord, rows: pd.DataFrame | None, proba: bool
) -> tuple[OnnxModel | None, str]:
    """The ONNX model if it converts and agrees with ``pipeline`` on ``rows``; and why not."""
    if rows is None or rows.empty:
        return None, "no validation rows (the model's dataset is unknown)"
    try:
        import onnxruntime as ort

        from mlharbor.registry.export import onnx_input_kinds, to_onnx_model

        proto = to_onnx_model(pipeline, version)
        options = ort.SessionOptions()
        # One request is one small graph run: threads cost more than they give.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(
            proto.SerializeToString(), options, providers=["CPUExecutionProvider"]
        )
        model = OnnxModel(session, onnx_input_kinds(version), proba)
        answer = model.run(rows)
        if answer is None:
            rows = rows.dropna(subset=[n for n, k in model.kinds.items() if k == "string"])
            answer = model.run(rows)
        if answer is None or rows.empty:
            return None, "no validation rows without missing text"
    except InvalidInputError as exc:
        return None, exc.message
    except Exception as exc:  # onnxruntime refusing a graph: fall back, say why
        return None, f"onnxruntime could not run the converted model: {exc}"
    labels, probabilities = answer
    reason = _disagreement(pipeline, rows, labels, probabilities)
    if reason:
        return None, reason
    return model, f"matches the pipeline on {len(rows)} rows"


def _disagreement(
    pipeline: Any, rows: pd.DataFrame, labels: np.ndarray, probabilities: np.ndarray | None
) -> str | None:
    if probabilities is None and not hasattr(pipeline, "classes_"):
        expected = np.asarray(pipeline.predict(rows), dtype=float)
        gap = np.abs(expected - labels.astype(float))
        scale = np.maximum(1.0, np.abs(expected))
        if (gap / scale).max() > TOLERANCE:
            return f"predictions differ from the pipeline's by up to {gap.max():.3g}"
        return None
    if probabilities is None:  # a classifier without probabilities (SVC): labels only
        if (np.asarray(pipeline.predict(rows)) != labels).any():
            return "labels differ from the pipeline's"
        return None
    expected = np.asarray(pipeline.predict_proba(rows), dtype=float)
    if expected.shape != probabilities.shape:
        return "probability shapes differ from the pipeline's"
    gap = np.abs(expected - probabilities).max()
    if gap > TOLERANCE:
        return f"probabilities differ from the pipeline's by up to {gap:.3g}"
    top = np.sort(expected, axis=1)
    clear = (top[:, -1] - top[:, -2]) > 2 * TOLERANCE
    classes = np.asarray(pipeline.classes_)
    if (classes.take(expected.argmax(axis=1))[clear] != labels[clear]).any():
        return "labels differ from the pipeline's"
    return None
