"""Prediction input checked against a model's signature: right columns, right types.

A model's signature lists the columns it was trained on with their semantic type and the
pandas dtype they had. Input for prediction often arrives less typed than that (JSON
records, CSV text, form fields): each column is brought back to its training type, and
anything that cannot be is refused with the column and the offending values named, rather
than failing deep inside scikit-learn.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from mlharbor.errors import InvalidInputError
from mlharbor.prep.inputs import InputValueError, cast_column, truth_value
from mlharbor.values import plain

#: How many of a categorical column's levels the signature keeps (the most frequent).
TOP_LEVELS = 50


def prepare_input(
    frame: pd.DataFrame | Iterable[Mapping[str, Any]],
    signature: Mapping[str, Any],
    *,
    drop: Iterable[str] = (),
) -> pd.DataFrame:
    """The model's input columns from ``frame``, in order, cast to their training types.

    Parameters
    ----------
    frame : pandas.DataFrame or iterable of dict
        The rows to predict on; columns the model does not use are ignored.
    signature : mapping
        ``ModelVersionRecord.signature`` / ``TrainResult.signature``.
    drop : iterable of str, default=()
        Columns to remove first (Mini-ML-Platform's ``columns_to_drop``).

    Returns
    -------
    pandas.DataFrame
        Exactly the signature's input columns.

    Raises
    ------
    InvalidInputError
        A missing column (the expected ones listed), or values that do not fit a column's
        type (column and examples named).

    Examples
    --------
    >>> sig = {"inputs": [{"name": "age", "dtype": "float64"}]}
    >>> prepare_input([{"age": "42", "name": "x"}], sig)["age"].tolist()
    [42.0]
    """
    if not isinstance(frame, pd.DataFrame):
        frame = pd.DataFrame(list(frame))
    frame = frame.drop(columns=[c for c in drop if c in frame.columns])
    inputs = list(signature.get("inputs") or [])
    expected = [str(col["name"]) for col in inputs]
    missing = [name for name in expected if name not in frame.columns]
    if missing:
        raise InvalidInputError(
            f"the input lacks the column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(map(repr, missing))}; the model expects: {', '.join(expected)}",
            missing=missing,
            expected=expected,
        )
    if not expected:  # an uploaded model that recorded no column names
        return frame
    return pd.DataFrame(
        {col["name"]: _cast(frame[col["name"]], col) for col in inputs}, index=frame.index
    )


def describe_values(values: pd.Series, semantic_type: str) -> dict[str, Any]:
    """What a prediction form needs to know of a training column, kept in the signature.

    ``n_missing`` always; numbers and dates their ``range`` (min, median, max); categorical
    columns (integer-coded ones too) their most frequent ``levels`` as ``[value, count]``
    pairs with ``n_levels``;
    yes/no columns the original spelling of each truth value as ``labels``, so that a form
    (or a JSON ``true``) can send what the model was trained on.

    Examples
    --------
    >>> describe_values(pd.Series(["yes", "no", "yes"]), "boolean")["labels"]
    {'true': 'yes', 'false': 'no'}
    """
    present = values.dropna()
    out: dict[str, Any] = {"n_missing": int(values.isna().sum())}
    if semantic_type == "boolean":
        out["labels"] = _labels(present)
        out["levels"] = _levels(present)
        return out
    if pd.api.types.is_bool_dtype(values.dtype):
        out["labels"] = {"true": True, "false": False}
        return out
    if pd.api.types.is_numeric_dtype(values.dtype):
        numbers = pd.to_numeric(present, errors="coerce").dropna()
        if len(numbers):
            out["range"] = {
                "min": plain(numbers.min()),
                "median": plain(numbers.median()),
                "max": plain(numbers.max()),
            }
            out["integer"] = bool((numbers == numbers.round()).all())
        if semantic_type == "integer_categorical":
            # Codes such as 1/2/3 are levels to pick from, as the preprocessing treats them.
            out["levels"] = _levels(present)
            out["n_levels"] = int(present.nunique())
        return out
    if semantic_type == "datetime" or pd.api.types.is_datetime64_any_dtype(values.dtype):
        parsed = pd.to_datetime(present, errors="coerce", format="mixed", utc=True).dropna()
        if len(parsed):
            times = parsed.dt.tz_convert(None)
            out["date_only"] = bool((times == times.dt.normalize()).all())
            fmt = "%Y-%m-%d" if out["date_only"] else "%Y-%m-%dT%H:%M"
            out["range"] = {"min": times.min().strftime(fmt), "max": times.max().strftime(fmt)}
        return out
    if semantic_type == "categorical":
        out["levels"] = _levels(present)
        out["n_levels"] = int(present.astype(str).nunique())
    return out


def _levels(present: pd.Series) -> list[list[Any]]:
    counts = present.map(plain).value_counts()
    return [[plain(value), int(n)] for value, n in counts.head(TOP_LEVELS).items()]


def _labels(present: pd.Series) -> dict[str, Any]:
    """The most frequent original spelling of true and of false (``yes``/``no``, ``Y``/``N``)."""
    labels: dict[str, Any] = {}
    for value, _ in present.map(plain).value_counts().items():
        truth = truth_value(value)
        if truth is not None:
            labels.setdefault("true" if truth else "false", value)
    return {"true": labels.get("true", True), "false": labels.get("false", False)}


def _cast(values: pd.Series, column: Mapping[str, Any]) -> pd.Series:
    try:
        return cast_column(values, column)
    except InputValueError as exc:
        raise InvalidInputError(str(exc), column=exc.column) from None
