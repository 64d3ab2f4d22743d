"""The preprocessing factory: a dataset schema in, a scikit-learn ``ColumnTransformer`` out.

Each semantic type gets the treatment that suits it, in one named group per kind (or per
column for datetimes and text), so every output feature traces back to the column it came
from (see :func:`feature_origins`).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    MinMaxScaler,
    OneHotEncoder,
    OrdinalEncoder,
    StandardScaler,
    TargetEncoder,
)

from mlharbor.data.schema import DatasetSchema
from mlharbor.prep.dates import DatetimeFeatures
from mlharbor.prep.plan import FeaturePlan, apply_overrides, plan_features
from mlharbor.prep.text import TextFeatures

#: Categories seen fewer times than this in training are grouped as "infrequent".
MIN_CATEGORY_COUNT = 5
#: Most integer codes one categorical column gets when passed natively to a tree model
#: (rare levels beyond these are pooled): histogram gradient boosting bins at most 255.
MAX_NATIVE_CATEGORIES = 250
#: Text vocabulary per column and analyzer when the model needs dense input.
DENSE_TEXT_FEATURES = 300


def make_preprocessor(
    schema: DatasetSchema,
    *,
    target: str | None,
    task: str | None = None,
    drop: Iterable[str] = (),
    overrides: Mapping[str, Any] | None = None,
    scale: bool = False,
    nonnegative: bool = False,
    dense: bool = False,
    native_categorical: bool = False,
    seed: int | None = 0,
) -> ColumnTransformer:
    """Build the preprocessing step for a dataset from its schema.

    Parameters
    ----------
    schema : DatasetSchema
        The inferred (or user-edited) schema of the training data.
    target : str or None
        The target column, left out of the features.
    task : str, optional
        The learning task (``binary``, ``multiclass``, ``regression``, ``text``); it picks the
        target encoder's kind. ``None`` lets the encoder infer it from the target.
    drop : iterable of str, default=()
        Columns to leave out.
    overrides : mapping, optional
        Column type or role overrides, as :func:`apply_overrides` takes.
    scale : bool, default=False
        Standardise numeric and datetime features (for linear models, k-NN, SVMs).
    nonnegative : bool, default=False
        Scale numeric and datetime features into [0, 1] instead (for naive Bayes).
    dense : bool, default=False
        Always output a dense array (for models that refuse sparse input); text
        vocabularies are then kept small.
    native_categorical : bool, default=False
        For tree models that split on categories themselves (LightGBM, histogram gradient
        boosting): every categorical column of strings, whatever its cardinality, becomes
        one column of integer codes, placed first (columns ``0 .. n-1`` of the output, with
        ``n`` from :func:`native_categorical_columns`); rare levels are pooled into one
        code, missing and unseen values become NaN. Integer-valued categoricals stay
        numbers, so trees can still split on their order (as LightGBM's pandas interface
        does). Nothing is learnt from the target.
    seed : int or None, default=0
        Seed of the target encoder's cross-fitting folds.

    Returns
    -------
    sklearn.compose.ColumnTransformer
        Unfitted; fit it on a DataFrame with the schema's column names.

    Raises
    ------
    InvalidInputError
        No usable feature left after drops (the message lists each dropped column and why),
        or a bad override.

    Examples
    --------
    >>> import pyarrow as pa
    >>> from mlharbor.data.schema import infer_schema
    >>> table = pa.table({"x": [1.0, 2.0, None, 4.0], "y": [0, 1, 0, 1]})
    >>> ct = make_preprocessor(infer_schema(table), target="y", task="binary")
    >>> [name for name, _, _ in ct.transformers]
    ['numeric']
    """
    schema = apply_overrides(schema, overrides)
    plan = plan_features(schema, target=target, drop=drop)
    scaler = _scaler(scale=scale, nonnegative=nonnegative)
    steps: list[tuple[str, Any, Any]] = []
    numeric_columns = plan.numeric
    if native_categorical:
        codes = native_categorical_columns(plan)
        if codes:
            # First, so that the model can be told the categorical columns by position.
            steps.append(("categorical", _ordinal(), codes))
        numeric_columns = [c for c in plan.order if c in {*plan.numeric, *plan.integer_categorical}]
    if numeric_columns:
        numeric = [("impute", SimpleImputer(strategy="median", add_indicator=True))]
        steps.append(("numeric", _chain(numeric, scaler), numeric_columns))
    if plan.categorical and not native_categorical:
        steps.append(("onehot", _one_hot(), plan.categorical))
    if plan.high_cardinality and not native_categorical:
        steps.append(("target", _target_encoder(task, seed, scaler), plan.high_cardinality))
    if plan.boolean:
        steps.append(
            (
                "boolean",
                OneHotEncoder(drop="if_binary", handle_unknown="ignore", sparse_output=False),
                plan.boolean,
            )
        )
    for name, fmt in plan.datetime.items():
        dates = [("parts", DatetimeFeatures(format=fmt)), ("impute", SimpleImputer())]
        steps.append((f"datetime_{name}", _chain(dates, scaler), [name]))
    for name in plan.text:
        size = DENSE_TEXT_FEATURES if dense else 20_000
        steps.append((f"text_{name}", TextFeatures(max_features=size), [name]))
    return ColumnTransformer(
        steps,
        remainder="drop",
        sparse_threshold=0.0 if dense else 0.3,
        verbose_feature_names_out=True,
    )


def feature_origins(preprocessor: ColumnTransformer) -> dict[str, str]:
    """Map each output feature of a fitted preprocessor to the input column it came from.

    Parameters
    ----------
    preprocessor : ColumnTransformer
        Fitted, as built by :func:`make_preprocessor`.

    Returns
    -------
    dict
        ``{output feature name: original column name}``.
    """
    origins: dict[str, str] = {}
    for name, transformer, columns in preprocessor.transformers_:
        if name == "remainder" or transformer == "drop" or not len(columns):
            continue
        columns = [str(c) for c in columns]
        by_length = sorted(columns, key=len, reverse=True)
        for feature in transformer.get_feature_names_out(columns):
            bare = str(feature).removeprefix("missingindicator_")
            source = next((c for c in by_length if bare.startswith(c)), columns[0])
            origins[f"{name}__{feature}"] = source
    return origins


def native_categorical_columns(plan: FeaturePlan) -> list[str]:
    """The columns a ``native_categorical`` preprocessor encodes as integer codes, in order:
    the categorical ones whose values are not integers."""
    every = [*plan.categorical, *plan.high_cardinality]
    return [c for c in every if c not in plan.integer_categorical]


def _scaler(*, scale: bool, nonnegative: bool) -> Any:
    if nonnegative:
        return MinMaxScaler(clip=True)
    if scale:
        return StandardScaler()
    return None


def _chain(steps: list[tuple[str, Any]], scaler: Any) -> Pipeline:
    if scaler is not None:
        steps = [*steps, ("scale", copy.deepcopy(scaler))]
    return Pipeline(steps)


def _one_hot() -> OneHotEncoder:
    # Rare categories pooled as "infrequent" keep the matrix small and stop a category seen
    # once in training from being all a model remembers; unseen ones map to that pool.
    return OneHotEncoder(
        handle_unknown="infrequent_if_exist",
        min_frequency=MIN_CATEGORY_COUNT,
        sparse_output=False,
    )


def _ordinal() -> OrdinalEncoder:
    # The same pooling of rare levels as one-hot encoding; missing and unseen values become
    # NaN, which LightGBM and histogram gradient boosting treat as missing.
    return OrdinalEncoder(
        handle_unknown="use_encoded_value",
        unknown_value=np.nan,
        encoded_missing_value=np.nan,
        min_frequency=MIN_CATEGORY_COUNT,
        max_categories=MAX_NATIVE_CATEGORIES,
    )


def _target_encoder(task: str | None, seed: int | None, scaler: Any) -> Any:
    kinds = {"binary": "binary", "multiclass": "multiclass", "regression": "continuous"}
    classify = str(task) in {"binary", "multiclass", "text"}
    folds = StratifiedKFold if classify else KFold
    encoder = TargetEncoder(
        target_type=kinds.get(str(task), "auto"),
        cv=folds(n_splits=5, shuffle=True, random_state=seed),
    )
    if scaler is None:
        return encoder
    return Pipeline([("encode", encoder), ("scale", copy.deepcopy(scaler))])
