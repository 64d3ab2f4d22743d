"""A loaded model and the fast path through it.

Measured on a single-row request (a Pipeline with preprocessing + a 200-tree random
forest), most of the time went to work done twice or done generically:

- ``pipeline.predict`` then ``pipeline.predict_proba`` ran the preprocessing and every tree
  twice; for estimators whose ``predict`` is the arg-max of ``predict_proba`` one pass is
  enough.
- building a DataFrame from records and casting it column by column with pandas costs more
  than the model for one row; a single record is cast in plain Python instead.
- the number of trees evaluated in parallel threads made joblib start a pool per call;
  with one row, ``n_jobs`` is set to 1 once at load.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt
import pandas as pd

from mlharbor.errors import InvalidInputError
from mlharbor.registry import ModelVersionRecord
from mlharbor.serving.onnx import OnnxModel
from mlharbor.values import jsonable

#: Final estimators whose ``predict`` returns ``classes_[argmax(predict_proba)]``.
ARGMAX_ESTIMATORS = frozenset(
    {
        "RandomForestClassifier",
        "ExtraTreesClassifier",
        "DecisionTreeClassifier",
        "HistGradientBoostingClassifier",
        "LGBMClassifier",
        "LogisticRegression",
        "KNeighborsClassifier",
        "GaussianNB",
        "MultinomialNB",
        "DummyClassifier",
        "CalibratedClassifierCV",
    }
)
#: Forests whose trees are summed here: the forest's own loop starts a joblib call per tree,
#: which costs more than the tree for a few rows.
FORESTS = frozenset(
    {
        "RandomForestClassifier",
        "ExtraTreesClassifier",
        "RandomForestRegressor",
        "ExtraTreesRegressor",
    }
)
#: Online requests up to this many rows use the ONNX path when the model has one; batch
#: scoring always uses the pipeline, so stored results are exactly scikit-learn's.
ONNX_ROWS = 1_000
#: Up to this many rows the trees are summed here; beyond, the forest's threads pay off.
FOREST_ROWS = 64
_NUMERIC = ("int", "uint", "float", "double", "decimal")
_DTYPES: dict[str, npt.DTypeLike] = {"number": float, "text": object}
_TEXT_TYPES = frozenset({str, type(None)})
_NUMBER_TYPES = frozenset({float, int, type(None)})
#: Label types that are JSON as they are.
_PLAIN_TYPES = frozenset({str, int, bool})
#: Checked input features: a frame, or ``{column: 1-D array}`` (numbers as float, text as
#: object) on the fast path, which never builds a frame unless scikit-learn has to answer.
Features: TypeAlias = pd.DataFrame | dict[str, np.ndarray]


@dataclass(frozen=True)
class Prediction:
    """Predictions for a batch of rows and which model version made them."""

    model: str
    version: int
    predictions: list[Any]
    classes: list[Any] | None
    probabilities: list[list[float]] | None
    ignored_columns: list[str]
    seconds: float
    unseen_categories: dict[str, list[str]] = field(default_factory=dict)
    backend: str = "sklearn"
    #: The id this call was logged under in the prediction log (labels refer to it).
    request_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, without the empty parts."""
        out: dict[str, Any] = {
            "model": self.model,
            "version": self.version,
            "predictions": self.predictions,
        }
        if self.probabilities is not None:
            out["classes"] = self.classes
            out["probabilities"] = self.probabilities
        if self.ignored_columns:
            out["ignored_columns"] = self.ignored_columns
        if self.unseen_categories:
            out["unseen_categories"] = self.unseen_categories
        if self.request_id is not None:
            out["request_id"] = self.request_id
        return out


class LoadedModel:
    """A version's fitted pipeline with what serving needs precomputed."""

    def __init__(
        self, version: ModelVersionRecord, pipeline: Any, onnx: OnnxModel | None = None
    ) -> None:
        self.version = version
        self.pipeline = pipeline
        self.onnx = onnx
        self.inputs: list[dict[str, Any]] = list(version.signature.get("inputs") or [])
        self.names = [str(c["name"]) for c in self.inputs]
        self._name_set = frozenset(self.names)
        self.proba = hasattr(pipeline, "predict_proba") and version.task != "regression"
        self.classes = [jsonable(c) for c in pipeline.classes_] if self.proba else None
        final = pipeline.steps[-1][1] if hasattr(pipeline, "steps") else pipeline
        self.argmax = self.proba and type(final).__name__ in ARGMAX_ESTIMATORS
        forest = type(final).__name__ in FORESTS and getattr(final, "n_outputs_", 0) == 1
        self.forest = final if forest and len(pipeline) > 1 else None
        self.categories = known_categories(pipeline)
        # Single records are cast in plain Python only when every column is numeric or text.
        kinds = [_kind(c) for c in self.inputs]
        self._simple = bool(self.inputs) and None not in kinds
        self._kinds = [k for k in kinds if k is not None] if self._simple else []
        #: Recent CPU seconds of a small request, and per row of a bigger one (moving
        #: averages; unknown until one is made).
        self.small_seconds = math.inf
        self.row_seconds = math.inf

    def note_small(self, seconds: float) -> None:
        """Account one small request's CPU time (for :meth:`Predictor.is_cheap`)."""
        last = self.small_seconds
        self.small_seconds = seconds if math.isinf(last) else 0.8 * last + 0.2 * seconds

    def note_rows(self, rows: int, seconds: float) -> None:
        """Account a bigger request's CPU time, per row (for :meth:`Predictor.is_cheap`)."""
        last, per_row = self.row_seconds, seconds / max(rows, 1)
        self.row_seconds = per_row if math.isinf(last) else 0.8 * last + 0.2 * per_row

    def ignored(self, columns: list[Any], drop: Collection[str] = ()) -> list[str]:
        """The input columns the model does not use."""
        if not self._name_set:
            return []
        return [str(c) for c in columns if str(c) not in self._name_set and str(c) not in drop]

    def predict_record(
        self, record: Mapping[str, Any], started: float, *, online: bool = True
    ) -> tuple[Prediction, Features]:
        """Predict one record (a dict), casting it without pandas where the signature allows;
        the prediction and the features it was made from."""
        if not self._simple:
            return self.predict_frame(pd.DataFrame([record]), started, drop=[], online=online)
        self._check_present(record)
        try:
            columns = {
                name: np.array([_cast_one(name, record[name], kind)], dtype=_DTYPES[kind])
                for name, kind in zip(self.names, self._kinds, strict=True)
            }
        except _NotPlain:  # spelled as training spelled it, by the checked path
            return self.predict_frame(pd.DataFrame([record]), started, drop=[], online=online)
        ignored = self.ignored(list(record))
        return self._answer(columns, ignored, started, online, object_text=False), columns

    def predict_columns(
        self, columns: Mapping[str, list[Any]], started: float, *, online: bool = True
    ) -> tuple[Prediction, Features]:
        """Predict rows given column by column (``{column: [values]}``, equal lengths).

        Columns of plain numbers or text are cast with NumPy at once: for 100 rows, pandas'
        per-column checks cost three times the model. Anything else (numbers sent as text,
        infinity, a date column) goes through :func:`prepare_input`, which names what is
        wrong.
        """
        if self._simple:
            self._check_present(columns)
            values: dict[str, np.ndarray] = {}
            for name, kind in zip(self.names, self._kinds, strict=True):
                cast = _cast_column(columns[name], kind)
                if cast is None:
                    break
                values[name] = cast
            else:
                ignored = self.ignored(list(columns))
                return self._answer(values, ignored, started, online), values
        return self.predict_frame(pd.DataFrame(columns), started, drop=[], online=online)

    def _check_present(self, row: Collection[str]) -> None:
        missing = [n for n in self.names if n not in row]
        if missing:
            raise InvalidInputError(
                f"the input lacks the column{'s' if len(missing) > 1 else ''} "
                f"{', '.join(map(repr, missing))}; the model expects: {', '.join(self.names)}",
                missing=missing,
                expected=self.names,
            )

    def predict_frame(
        self,
        frame: pd.DataFrame,
        started: float,
        *,
        drop: list[str],
        prepare: Callable[..., pd.DataFrame] | None = None,
        online: bool = True,
    ) -> tuple[Prediction, Features]:
        """Predict a frame, checked and cast against the signature; the prediction and the
        features it was made from."""
        if prepare is None:
            from mlharbor.models.signature import prepare_input

            prepare = prepare_input
        ignored = self.ignored(list(frame.columns), drop)
        features = prepare(frame, self.version.signature, drop=drop)
        return self._answer(features, ignored, started, online), features

    def _answer(
        self,
        features: Features,
        ignored: list[str],
        started: float,
        online: bool,
        *,
        object_text: bool = True,
    ) -> Prediction:
        """Predict checked features: a frame, or ``{column: array}`` from the fast path (made
        a frame only when scikit-learn answers; ``object_text`` keeps its text as ``object``).
        """
        unseen = self.unseen(features)
        probabilities = None
        backend = "sklearn"
        fast = None
        rows = _rows(features)
        # A category unseen in training goes to the pipeline: the converted one-hot encoder
        # has no "infrequent" bucket and onnxruntime fails on it ("Unknown Category").
        if self.onnx is not None and online and rows <= ONNX_ROWS and not unseen:
            fast = self.onnx.run(features)
        if fast is not None:
            labels, proba = fast
            backend = "onnx"
        else:
            if not isinstance(features, pd.DataFrame):
                features = _frame(features, object_text)
            if self.forest is not None and rows <= FOREST_ROWS:
                labels, proba = self._forest(features)
            elif self.proba:
                proba = np.asarray(self.pipeline.predict_proba(features))
                if self.argmax:
                    labels = np.asarray(self.pipeline.classes_).take(proba.argmax(axis=1))
                else:
                    labels = self.pipeline.predict(features)
            else:
                labels = self.pipeline.predict(features)
        if self.proba:
            assert proba is not None  # every path of a model with probabilities fills it
            probabilities = np.round(proba.astype(float), 6).tolist()
        return Prediction(
            self.version.model,
            self.version.version,
            json_labels(np.asarray(labels)),
            self.classes,
            probabilities,
            ignored,
            time.perf_counter() - started,
            unseen,
            backend,
        )

    def _forest(self, features: pd.DataFrame) -> tuple[Any, Any]:
        """The forest's own arithmetic (same trees, same order) without joblib per tree."""
        assert self.forest is not None
        transformed = self.pipeline[:-1].transform(features)
        if hasattr(transformed, "toarray"):
            transformed = transformed.toarray()
        x = np.ascontiguousarray(transformed, dtype=np.float32)
        # Each tree's fitted ``tree_`` directly: the estimator's wrapper re-checks that it
        # is fitted on every call, which was most of a tree's time for one row.
        trees = [tree.tree_ for tree in self.forest.estimators_]
        total = trees[0].predict(x).copy()
        for tree in trees[1:]:
            total += tree.predict(x)
        total /= len(trees)
        if self.proba:
            proba = total[:, : len(self.forest.classes_)]
            return np.asarray(self.forest.classes_).take(proba.argmax(axis=1)), proba
        return total[:, 0], None

    def unseen(self, features: Features) -> dict[str, list[str]]:
        """Values of categorical columns the model never saw in training (a few each)."""
        out: dict[str, list[str]] = {}
        for column, known in self.categories.items():
            if column not in features:
                continue
            values = features[column]
            if isinstance(values, pd.Series):
                distinct = values.unique()
            else:
                # Known text taken away in C first: checking each distinct value in Python
                # was 4 % of a whole 100-row request.
                distinct = set(values.tolist()) - known
            new = [v for v in distinct if not _is_missing(v) and _category(v) not in known]
            if new:
                out[column] = sorted(map(str, new))[:10]
        return out


def known_categories(pipeline: Any) -> dict[str, frozenset[str]]:
    """``{input column: categories seen in training}`` from the fitted encoders."""
    pre = pipeline.steps[0][1] if hasattr(pipeline, "steps") else None
    out: dict[str, frozenset[str]] = {}
    for _, transformer, columns in getattr(pre, "transformers_", []):
        encoder = transformer
        if hasattr(transformer, "steps"):
            encoder = next((s for _, s in transformer.steps if hasattr(s, "categories_")), None)
        categories = getattr(encoder, "categories_", None)
        if categories is None or isinstance(columns, str | slice):
            continue
        for column, cats in zip(columns, categories, strict=False):
            out[str(column)] = frozenset(_category(c) for c in cats if not _is_missing(c))
    return out


def _category(value: Any) -> str:
    """A category as text, a whole number the same however it came: a JSON ``2`` arrives as
    ``2.0`` once cast to the signature's number type, and the encoder (which compares
    numbers) knows it as ``2``; ``str`` alone called every code of such a column unseen."""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _kind(column: Mapping[str, Any]) -> str | None:
    dtype = str(column.get("dtype") or "").lower()
    if dtype.startswith(_NUMERIC):
        return "number"
    if dtype in ("object", "string", "str", "category", "large_string") and (
        column.get("semantic_type") != "datetime"
        # yes/no text: a JSON true must become the model's own "yes" (prepare_input does)
        and not (column.get("semantic_type") == "boolean" and column.get("labels"))
    ):
        return "text"
    return None


def _cast_column(values: list[Any], kind: str) -> np.ndarray | None:
    """A column as an array when every value is already of its kind; ``None`` otherwise.

    Text stays ``object`` with its missing values as they are, as ``prepare_input`` leaves
    it (pandas would copy it into Arrow strings, which then cost again downstream).
    """
    types = set(map(type, values))  # in C; a generator per value cost more
    if kind == "text":
        return np.array(values, dtype=object) if types <= _TEXT_TYPES else None
    if not types <= _NUMBER_TYPES:
        return None
    numbers = np.array(values, dtype=float)  # None becomes NaN, a missing value
    return None if np.isinf(numbers).any() else numbers


def json_labels(labels: np.ndarray) -> list[Any]:
    """Predicted labels as JSON-ready values: as :func:`jsonable` makes them, without calling
    it per value when they are already plain text, whole numbers, booleans or finite floats
    (for 100 labels, ``jsonable`` per value cost 64 µs, a tenth of onnxruntime's run of
    a LightGBM model)."""
    values: list[Any] = labels.tolist()
    types = set(map(type, values))  # in C
    if types <= _PLAIN_TYPES or (types == {float} and all(map(math.isfinite, values))):
        return values
    return [jsonable(v) for v in values]


def _rows(features: Features) -> int:
    if isinstance(features, pd.DataFrame):
        return len(features)
    return len(next(iter(features.values()))) if features else 0


def _frame(columns: Mapping[str, np.ndarray], object_text: bool) -> pd.DataFrame:
    """The fast path's columns as the frame scikit-learn expects."""
    if object_text:
        return pd.DataFrame(
            {n: pd.Series(v, dtype=object) if v.dtype == object else v for n, v in columns.items()}
        )
    # A single record's frame, as it was always built (text as pandas strings).
    return pd.DataFrame({n: v.tolist() for n, v in columns.items()})


class _NotPlain(Exception):
    """A record's value needs :func:`prepare_input`'s casting (a boolean or a number in a
    text column: ``True`` is the ``"true"`` the training file spelled)."""


def _cast_one(name: str, value: Any, kind: str) -> Any:
    if kind == "text":
        if isinstance(value, str) or _is_missing(value):
            return value
        raise _NotPlain
    if value is None:
        return math.nan
    number: float | None = None
    if isinstance(value, bool | int | float):
        number = float(value)
    elif isinstance(value, str):
        if not value.strip():
            return math.nan
        try:
            number = float(value)
        except ValueError:
            number = None
    if number is None:
        raise InvalidInputError(
            f"column {name!r} must hold a number; 1 value(s) do not, e.g. {value!r}",
            column=name,
        )
    if math.isinf(number):
        raise _not_finite(name, value)
    return number


def _not_finite(name: str, value: Any) -> InvalidInputError:
    return InvalidInputError(
        f"column {name!r} must hold a finite number; got {value!r} (send null for a missing value)",
        column=name,
    )


def _is_missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and math.isnan(value)
