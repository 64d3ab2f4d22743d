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

import numpy as np
import pandas as pd

from mlharbor.data.schema import BOOLEAN_TOKENS
from mlharbor.errors import InvalidInputError

_EXAMPLES = 3


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


def _cast(values: pd.Series, column: Mapping[str, Any]) -> pd.Series:
    dtype = str(column.get("dtype") or "").lower()
    if not dtype:
        return values
    if dtype.startswith(("bool", "boolean")):
        return _to_bool(values)
    if dtype.startswith(("int", "uint", "float", "double", "decimal")):
        numbers = _checked(values, pd.to_numeric(values, errors="coerce"), "a number")
        return _finite(numbers)
    if dtype.startswith(("datetime", "timestamp")):
        # utc: a column may mix offsets ("2024-02-03", "…T10:00:00+01:00", summer and winter
        # time), which pandas refuses to put in one column otherwise.
        parsed = pd.to_datetime(values, errors="coerce", format="mixed", utc=True)
        return _checked(values, parsed, "a date")
    text = values.map(lambda v: v if _missing(v) else str(v)).astype(object)
    if column.get("semantic_type") == "datetime":
        # Dates kept as text in training are parsed by the model with their own format;
        # here it is only checked that each one is a date at all.
        _checked(text, pd.to_datetime(text, errors="coerce", format="mixed", utc=True), "a date")
    return text


def _finite(numbers: pd.Series) -> pd.Series:
    # Infinity passes the cast but no estimator takes it: refuse it here, by column.
    values = numbers.to_numpy(dtype=float, na_value=np.nan)
    infinite = np.isinf(values)
    if infinite.any():
        raise InvalidInputError(
            f"column {numbers.name!r} must hold finite numbers; {int(infinite.sum())} value(s) "
            "are infinite (send null for a missing value)",
            column=str(numbers.name),
        )
    return numbers


def _to_bool(values: pd.Series) -> pd.Series:
    tokens = {**BOOLEAN_TOKENS, "1": True, "0": False, "1.0": True, "0.0": False}

    def convert(value: Any) -> Any:
        if _missing(value) or isinstance(value, bool | np.bool_):
            return value
        return tokens.get(str(value).strip().lower(), _BAD)

    converted = values.map(convert)
    bad = converted.map(lambda v: v is _BAD)
    if bad.any():
        _refuse(values.name, values[bad], "true or false")
    return converted.astype(object)


def _checked(original: pd.Series, converted: pd.Series, kind: str) -> pd.Series:
    bad = converted.isna() & ~original.map(_missing)
    if bad.any():
        _refuse(original.name, original[bad], kind)
    return converted


def _refuse(name: Any, bad: pd.Series, kind: str) -> None:
    examples = ", ".join(repr(v) for v in bad.unique()[:_EXAMPLES])
    raise InvalidInputError(
        f"column {name!r} must hold {kind}; {len(bad)} value(s) do not, e.g. {examples}",
        column=str(name),
    )


def _missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, str):
        return value.strip() == ""
    return isinstance(value, float) and np.isnan(value)


_BAD = object()
