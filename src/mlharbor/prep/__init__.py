"""The preprocessing factory: a dataset schema in, a scikit-learn ``ColumnTransformer`` out.

Names resolve on first use, so that the feature plan (``prep.plan``, which a training
request is checked with) is imported without scikit-learn.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlharbor.lazy import lazy_exports

_EXPORTS = {
    "DatetimeFeatures": "mlharbor.prep.dates",
    "FeaturePlan": "mlharbor.prep.plan",
    "TextFeatures": "mlharbor.prep.text",
    "apply_overrides": "mlharbor.prep.plan",
    "feature_origins": "mlharbor.prep.factory",
    "make_preprocessor": "mlharbor.prep.factory",
    "native_categorical_columns": "mlharbor.prep.factory",
    "plan_features": "mlharbor.prep.plan",
}

__all__ = [
    "DatetimeFeatures",
    "FeaturePlan",
    "TextFeatures",
    "apply_overrides",
    "feature_origins",
    "make_preprocessor",
    "native_categorical_columns",
    "plan_features",
]

if TYPE_CHECKING:
    from mlharbor.prep.dates import DatetimeFeatures
    from mlharbor.prep.factory import (
        feature_origins,
        make_preprocessor,
        native_categorical_columns,
    )
    from mlharbor.prep.plan import FeaturePlan, apply_overrides, plan_features
    from mlharbor.prep.text import TextFeatures


__getattr__ = lazy_exports("mlharbor.prep", globals(), _EXPORTS)
