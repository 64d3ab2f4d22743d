"""The preprocessing factory: a dataset schema in, a scikit-learn ``ColumnTransformer`` out."""

from __future__ import annotations

from mlharbor.prep.dates import DatetimeFeatures
from mlharbor.prep.factory import (
    FeaturePlan,
    apply_overrides,
    feature_origins,
    make_preprocessor,
    native_categorical_columns,
    plan_features,
)
from mlharbor.prep.text import TextFeatures

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
