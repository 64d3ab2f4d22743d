"""Prediction input brought back to the types a model was trained on, column by column.

Production rows seldom arrive typed as the training table was: ``pandas.read_csv`` reads a
column of ``true``/``false`` as booleans where training had the text ``"true"``, whole
numbers as integers where training had floats, an empty column as float ``NaN``; JSON sends
native booleans, integers and nulls. :func:`cast_column` casts one column to what the model
saw in training (booleans spelled as the training file spelled them), or raises
:class:`InputValueError` naming the column and a few of the values that do not fit.

:class:`mlharbor.prep.input_step.InputTypes` is the same cast as a scikit-learn step. This
module travels with exported models (``code/``): it imports only pandas and NumPy (not even
scikit-learn: a server casting requests must start without the training stack), never the
rest of mlharbor.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

#: Spellings of true and false (as :data:`mlharbor.data.schema.BOOLEAN_TOKENS`, which a test
#: pins equal: this module cannot import it), plus the 0/1 a number column spells them with.
TOKENS = {
    "true": True,
    "false": False,
    "t": True,
    "f": False,
    "yes": True,
    "no": False,
    "y": True,
    "n": False,
    "1": True,
    "0": False,
    "1.0": True,
    "0.0": False,
}
_EXAMPLES = 3
_NUMBERS = ("int", "uint", "float", "double", "decimal")


class InputValueError(ValueError):
    """Values of ``column`` that do not fit the type the model was trained on."""

    def __init__(self, message: str, column: str) -> None:
        super().__init__(message)
        self.column = column


def truth_value(value: Any) -> bool | None:
    """The truth a boolean column's value spells (yes/no, Y/N, true/false, 1/0), or ``None``.

    Examples
    --------
    >>> truth_value("Yes"), truth_value(0), truth_value("maybe")
    (True, False, None)
    """
    if isinstance(value, bool | np.bool_):
        return bool(value)
    return TOKENS.get(str(value).strip().lower())


def is_missing(value: Any) -> bool:
    """``None``, NaN, NaT, ``pd.NA`` or blank text."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, str):
        return value.strip() == ""
    return isinstance(value, float | np.floating) and bool(np.isnan(value))


def cast_column(values: pd.Series, column: Mapping[str, Any]) -> pd.Series:
    """``values`` cast to the training type ``column`` records (a model signature's input).

    Booleans take the training file's spelling (``labels``: a JSON ``true`` or a pandas
    ``True`` becomes ``"yes"`` for a model trained on yes/no); numbers become floats; dates
    kept as timestamps in training are parsed; text stays text, a boolean spelled as a
    category seen in training (``levels``) and a whole float as the integer a CSV wrote.

    Raises
    ------
    InputValueError
        Values that are not of the column's type (column and examples named).
    """
    values = _unwrapped(values)
    dtype = str(column.get("dtype") or "").lower()
    if not dtype:
        return values
    if dtype.startswith("bool"):
        return _to_bool(values)
    labels = column.get("labels")
    if column.get("semantic_type") == "boolean" and isinstance(labels, Mapping):
        # Trained on yes/no: a JSON true, "TRUE" or "Y" means the model's own "yes".
        values = values.map(lambda v: _relabel(v, labels))
    if dtype.startswith(_NUMBERS):
        numbers = pd.to_numeric(values, errors="coerce")
        # Numbers already (a batch read from Parquet): none can fail the cast, and checking
        # each value in Python would cost more than the prediction.
        if not pd.api.types.is_numeric_dtype(values.dtype):
            numbers = _checked(values, numbers, "a number")
        return _finite(numbers)
    if dtype.startswith(("datetime", "timestamp")):
        # utc: a column may mix offsets ("2024-02-03", "…T10:00:00+01:00", summer and winter
        # time), which pandas refuses to put in one column otherwise.
        parsed = pd.to_datetime(values, errors="coerce", format="mixed", utc=True)
        return _checked(values, parsed, "a date")
    if isinstance(values.dtype, pd.StringDtype):
        text = values.astype(object)  # text already: the same objects, without a Python loop
    elif values.dtype == object and set(map(type, values)) <= {str, type(None)}:
        text = values
    else:
        known = _known(column)
        text = values.map(lambda v: v if is_missing(v) else spell(v, known)).astype(object)
    if column.get("semantic_type") == "datetime":
        # Dates kept as text in training are parsed by the model with their own format;
        # here it is only checked that each one is a date at all.
        _checked(text, pd.to_datetime(text, errors="coerce", format="mixed", utc=True), "a date")
    return text


def spell(value: Any, known: frozenset[str] = frozenset()) -> str:
    """``value`` as the text a training category spelled it.

    A boolean becomes the category of ``known`` that spells its truth (``"true"`` where
    pandas read ``True``), a whole float the integer a CSV file wrote (``"2"``, not the
    ``"2.0"`` pandas makes of a column with gaps); anything else ``str(value)``.

    Examples
    --------
    >>> spell(True, frozenset({"true", "false", "unsure"})), spell(2.0), spell("a")
    ('true', '2', 'a')
    """
    if isinstance(value, bool | np.bool_):
        for level in sorted(known):
            if TOKENS.get(level.strip().lower()) is bool(value) and not level[:1].isdigit():
                return level
        return str(bool(value))
    if isinstance(value, float | np.floating) and float(value).is_integer():
        text = str(value)
        return text if text in known else str(int(value))
    return str(value)


def _known(column: Mapping[str, Any]) -> frozenset[str]:
    levels = column.get("levels") or []
    return frozenset(str(level[0]) for level in levels if level and isinstance(level[0], str))


def _unwrapped(values: pd.Series) -> pd.Series:
    """Values MLflow's scoring server wraps as 0-d arrays (``instances`` records without a
    signature) as the plain values they are."""
    if values.dtype == object and any(isinstance(v, np.ndarray) for v in values):
        return values.map(lambda v: v.item() if isinstance(v, np.ndarray) and v.ndim == 0 else v)
    return values


def _finite(numbers: pd.Series) -> pd.Series:
    # Infinity passes the cast but no estimator takes it: refuse it here, by column.
    values = numbers.to_numpy(dtype=float, na_value=np.nan)
    infinite = np.isinf(values)
    if infinite.any():
        raise InputValueError(
            f"column {numbers.name!r} must hold finite numbers; {int(infinite.sum())} value(s) "
            "are infinite (send null for a missing value)",
            column=str(numbers.name),
        )
    return numbers


def _relabel(value: Any, labels: Mapping[str, Any]) -> Any:
    if is_missing(value):
        return value
    truth = truth_value(value)
    return value if truth is None else labels.get("true" if truth else "false", value)


_BAD = object()


def _to_bool(values: pd.Series) -> pd.Series:
    def convert(value: Any) -> Any:
        if is_missing(value) or isinstance(value, bool | np.bool_):
            return value
        return TOKENS.get(str(value).strip().lower(), _BAD)

    converted = values.map(convert)
    bad = converted.map(lambda v: v is _BAD)
    if bad.any():
        _refuse(values.name, values[bad], "true or false")
    return converted.astype(object)


def _checked(original: pd.Series, converted: pd.Series, kind: str) -> pd.Series:
    bad = converted.isna() & ~original.map(is_missing)
    if bad.any():
        _refuse(original.name, original[bad], kind)
    return converted


def _refuse(name: Any, bad: pd.Series, kind: str) -> None:
    examples = ", ".join(repr(v) for v in bad.unique()[:_EXAMPLES])
    raise InputValueError(
        f"column {name!r} must hold {kind}; {len(bad)} value(s) do not, e.g. {examples}",
        column=str(name),
    )
