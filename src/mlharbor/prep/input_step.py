"""The cast of :mod:`mlharbor.prep.inputs` as a scikit-learn step, first in an exported model.

An exported model puts :class:`InputTypes` first, so that a model loaded by MLflow (or
unpickled by hand) takes what mlharbor's own ``/predict`` takes. This module travels with
exported models (``code/``), beside :mod:`mlharbor.prep.inputs`: it imports only pandas,
NumPy, scikit-learn and that module, never the rest of mlharbor.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Self

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import Tags
from sklearn.utils.validation import check_is_fitted, validate_data

from mlharbor.prep.inputs import InputValueError, cast_column


class InputTypes(TransformerMixin, BaseEstimator):
    """Rows to predict, as a frame of the model's input columns cast to their training types.

    Put first in an exported model, so that what ``pandas.read_csv`` or a JSON body makes
    of production rows predicts as mlharbor's own ``/predict`` would (see the module).

    Parameters
    ----------
    columns : list of dict or None, default=None
        The model's input columns, as its signature records them (``name``, ``dtype``,
        ``semantic_type``, ``labels``, ``levels``). ``None`` learns names and dtypes from
        the frame given to ``fit``.

    Attributes
    ----------
    columns_ : list of dict
        The columns cast, in order.
    positional_ : bool
        Fitted on an array: columns are taken by position and an array is returned.
    n_features_in_ : int

    Raises
    ------
    InputValueError
        From ``transform``: a column the model needs is missing, or holds values that do not
        fit its type (column named).

    Examples
    --------
    >>> cols = [{"name": "member", "dtype": "str", "semantic_type": "boolean",
    ...          "labels": {"true": "yes", "false": "no"}}]
    >>> InputTypes(columns=cols).fit(None).transform(pd.DataFrame({"member": [True]}))
      member
    0    yes
    """

    def __init__(self, *, columns: Sequence[Mapping[str, Any]] | None = None) -> None:
        self.columns = columns

    def fit(self, X: Any = None, y: object = None) -> Self:
        """Check ``columns``, or learn them from ``X`` when not given."""
        if self.columns is not None:
            for column in self.columns:
                if "name" not in column:
                    raise ValueError(f"an input column has no name: {column!r}")
            self.columns_ = [dict(c) for c in self.columns]
            self.positional_ = False
            self.n_features_in_ = len(self.columns_)
        else:
            checked = validate_data(self, X, dtype=None, ensure_all_finite=False, reset=True)
            frame = _frame(X if isinstance(X, pd.DataFrame) else checked, None)
            self.columns_ = [{"name": str(c), "dtype": str(frame[c].dtype)} for c in frame.columns]
            self.positional_ = not isinstance(X, pd.DataFrame)
        return self

    def transform(self, X: Any) -> pd.DataFrame | npt.NDArray[Any]:
        """The input columns, in order, cast to their training types."""
        check_is_fitted(self)
        names = [str(c["name"]) for c in self.columns_]
        if self.positional_:
            X = validate_data(self, X, dtype=None, ensure_all_finite=False, reset=False)
        frame = _frame(X, names if self.positional_ else None)
        missing = [n for n in names if n not in frame.columns]
        if missing:
            raise InputValueError(
                f"the input lacks the column{'s' if len(missing) > 1 else ''} "
                f"{', '.join(map(repr, missing))}; the model expects: {', '.join(names)}",
                column=missing[0],
            )
        out = pd.DataFrame({c["name"]: cast_column(frame[c["name"]], c) for c in self.columns_})
        out.index = frame.index
        return out.to_numpy() if self.positional_ else out

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.string = True
        tags.requires_fit = True
        return tags


def _frame(X: Any, names: list[str] | None) -> pd.DataFrame:
    """Rows as a frame: a frame, records, ``{column: values}`` (MLflow's ``instances``), one
    record as a dict of scalars, or an array (columns named ``names`` or ``x0, x1…``)."""
    if isinstance(X, pd.DataFrame):
        return X
    if isinstance(X, Mapping):
        if all(np.ndim(v) == 0 for v in X.values()):
            return pd.DataFrame([dict(X)])
        return pd.DataFrame({k: list(np.ravel(v)) for k, v in X.items()})
    if isinstance(X, list) and X and all(isinstance(r, Mapping) for r in X):
        return pd.DataFrame(X)
    array = np.asarray(X, dtype=object) if not isinstance(X, np.ndarray) else X
    if array.ndim == 1:
        array = array.reshape(-1, 1)
    if array.ndim != 2:
        raise ValueError(f"expected 2-D input, got an array of shape {array.shape}")
    names = names or [f"x{i}" for i in range(array.shape[1])]
    if len(names) != array.shape[1]:
        raise ValueError(f"X has {array.shape[1]} features, but the model expects {len(names)}")
    return pd.DataFrame(array, columns=names)
