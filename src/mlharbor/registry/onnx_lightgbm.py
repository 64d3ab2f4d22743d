"""LightGBM converters for skl2onnx, borrowed from onnxmltools.

skl2onnx converts scikit-learn steps only; a pipeline ending in an ``LGBMClassifier`` or
``LGBMRegressor`` converts once onnxmltools' LightGBM converter is registered for those
classes (skl2onnx's documented recipe, "Convert a pipeline with a LightGBM classifier").
"""

from __future__ import annotations

import threading

_lock = threading.Lock()
_done = False


def register_lightgbm_converters() -> None:
    """Teach skl2onnx to convert LightGBM's scikit-learn estimators (once per process)."""
    global _done
    with _lock:
        if _done:
            return
        from lightgbm import LGBMClassifier, LGBMRegressor
        from onnxmltools.convert.lightgbm.operator_converters.LightGbm import convert_lightgbm
        from skl2onnx import update_registered_converter
        from skl2onnx.common.shape_calculator import (
            calculate_linear_classifier_output_shapes,
            calculate_linear_regressor_output_shapes,
        )

        update_registered_converter(
            LGBMClassifier,
            "LightGbmLGBMClassifier",
            calculate_linear_classifier_output_shapes,
            convert_lightgbm,
            options={"nocl": [True, False], "zipmap": [True, False, "columns"]},
        )
        update_registered_converter(
            LGBMRegressor,
            "LightGbmLGBMRegressor",
            calculate_linear_regressor_output_shapes,
            convert_lightgbm,
            options={"split": None},
        )
        _done = True
