"""Cross-validation of one candidate on shared folds, with cached preprocessing.

Every candidate is scored on the same folds, so their out-of-fold predictions line up row
by row for ensembling and their fold scores compare pairwise for pruning. The preprocessing
of a fold depends only on the scaling a model needs, so it is fitted once per fold and kind
of scaling and reused by every candidate; text vectorisers, which do not depend on the
scaling at all, are fitted once per fold and vocabulary size and shared by every kind.

Small data may be cross-validated several times over with different shuffles (repeated
k-fold): its fold scores are noisy, and more of them make choosing between models less of a
lottery. The out-of-fold prediction of a row is then the mean over the repeats.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import RepeatedKFold, RepeatedStratifiedKFold

from mlharbor.data.schema import DatasetSchema
from mlharbor.models.catalog import ModelSpec, Scaling
from mlharbor.models.metrics import compute_metrics
from mlharbor.models.tasks import Task
from mlharbor.prep.factory import make_preprocessor
from mlharbor.prep.text import TextFeatures

PrepKey = tuple[bool, bool, bool, bool]
#: ``check(model, X)`` raises if ``model`` could not be stored, loaded back and predict ``X``
#: the same (the registry's test, handed in by the caller: models know no registry).
StorableCheck = Callable[[Any, Any], None]
#: What a fold's metrics are computed from, where it is fitted: the validation rows' true
#: targets and the classes (in the order of the probability columns).
FoldScoring = tuple[np.ndarray, list[Any] | None]
#: What :func:`fit_fold` is handed: (fold, unfitted estimator, fit matrix, fit targets,
#: validation matrix, task, time limit, storability check, thread cap, scoring). A plain
#: tuple, so that any executor can pickle it.
FoldTask = tuple[
    int,
    Any,
    Any,
    np.ndarray,
    Any,
    Task,
    float | None,
    StorableCheck | None,
    int | None,
    FoldScoring | None,
]


def prep_key(spec: ModelSpec, native: bool = False) -> PrepKey:
    """(scale, non-negative, dense, native categoricals): what a model needs from the
    preprocessing."""
    return (
        spec.scaling == Scaling.STANDARD,
        spec.scaling == Scaling.MINMAX,
        not spec.sparse,
        bool(native),
    )


@dataclass
class FoldResult:
    """The out-of-fold prediction of one fold and what it cost."""

    index: int
    prediction: np.ndarray
    fit_seconds: float
    predict_seconds: float
    #: Whether the fitted model was put through the storability check, and why it failed.
    checked: bool = False
    refused: str | None = None
    #: Seconds the check took (saving, loading and predicting a miniature of the model).
    check_seconds: float = 0.0
    #: The fold's metrics (see :func:`fold_metrics`), when the task asked for them.
    metrics: dict[str, float] | None = None
    #: The process that fitted it (several when folds fan out over the cores).
    pid: int = 0
    #: When the fit started and its result was ready (``time.time()``, comparable across
    #: the processes of one machine): which folds ran at the same time.
    started_at: float = 0.0
    ended_at: float = 0.0


@dataclass
class Folds:
    """The data AutoML searches on, its folds and the preprocessed fold matrices.

    Attributes
    ----------
    X : pandas.DataFrame
        Feature columns of the (possibly subsampled) search rows.
    y : ndarray
        Targets as given (labels or values).
    y_index : ndarray
        Class indices into ``classes`` (classification) or the values (regression).
    """

    X: pd.DataFrame
    y: np.ndarray
    y_index: np.ndarray
    classes: list[Any] | None
    task: Task
    schema: DatasetSchema
    target: str
    drop: list[str]
    n_folds: int
    seed: int
    shared: bool = False
    n_repeats: int = 1
    #: Serve the fold models (averaged) instead of one refit on all rows: small data.
    bag: bool = False
    splits: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
    prep_seconds: dict[PrepKey, float] = field(default_factory=dict)
    #: Fixed seconds of one call of a fitted preprocessing (transforming a few rows): on
    #: wide tables it, not the rows, is what permutation importance's many calls cost.
    call_seconds: dict[PrepKey, float] = field(default_factory=dict)
    _cache: dict[tuple[PrepKey, int], tuple[Any, Any]] = field(default_factory=dict)
    _text: dict[tuple[bool, int, str], TextFeatures] = field(default_factory=dict)

    def __post_init__(self) -> None:
        splitter = (RepeatedStratifiedKFold if self.task.is_classification else RepeatedKFold)(
            n_splits=self.n_folds, n_repeats=self.n_repeats, random_state=self.seed
        )
        self.splits = list(splitter.split(self.X, self.y))

    @property
    def n_splits(self) -> int:
        """How many fits one candidate's cross-validation takes (folds times repeats)."""
        return len(self.splits)

    def shares(self, native: bool = False) -> bool:
        """Whether the preprocessing is fitted once on all search rows, not per fold.

        Native categorical codes learn nothing from the target, so that preprocessing is
        shared even where target encoding makes the others per fold.
        """
        return self.shared or bool(native)

    def preprocessor(self, spec: ModelSpec, native: bool = False) -> Any:
        """A new, unfitted preprocessing step for ``spec`` (``native``: categorical codes
        first, see :func:`make_preprocessor`)."""
        scale, nonnegative, dense, native = prep_key(spec, native)
        return make_preprocessor(
            self.schema,
            target=self.target,
            task=self.task.value,
            drop=self.drop,
            scale=scale,
            nonnegative=nonnegative,
            dense=dense,
            native_categorical=native,
            seed=self.seed,
        )

    def matrices(self, spec: ModelSpec, fold: int, native: bool = False) -> tuple[Any, Any]:
        """The preprocessed (fit rows, validation rows) of ``fold`` for ``spec``."""
        if self.shares(native):
            # Unsupervised preprocessing (scaling, one-hot, TF-IDF) fitted once on every
            # search row, as other AutoML systems do: five times cheaper, and it learns
            # nothing from the targets of the validation rows.
            whole = self._fitted(spec, -1, native)[1]
            fit_idx, val_idx = self.splits[fold]
            return whole[fit_idx], whole[val_idx]
        return self._fitted(spec, fold, native)

    def _fitted(self, spec: ModelSpec, fold: int, native: bool = False) -> tuple[Any, Any]:
        pkey = prep_key(spec, native)
        key = (pkey, fold)
        if key not in self._cache:
            started = time.perf_counter()
            prep = self._reuse_text(self.preprocessor(spec, native), not spec.sparse, fold)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if fold < 0:
                    matrix = prep.fit_transform(self.X, self.y)
                    self._cache[key] = (self._keep_text(prep, not spec.sparse, fold), matrix)
                else:
                    fit_idx, val_idx = self.splits[fold]
                    fit_matrix = prep.fit_transform(self.X.iloc[fit_idx], self.y[fit_idx])
                    self._keep_text(prep, not spec.sparse, fold)
                    self._cache[key] = (fit_matrix, prep.transform(self.X.iloc[val_idx]))
            spent = time.perf_counter() - started
            self.prep_seconds[pkey] = max(self.prep_seconds.get(pkey, 0), spent)
            if pkey not in self.call_seconds:
                began = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    prep.transform(self.X.iloc[:PROBE_ROWS])
                self.call_seconds[pkey] = time.perf_counter() - began
        return self._cache[key]

    def _reuse_text(self, prep: Any, dense: bool, fold: int) -> Any:
        """``prep`` with its text steps replaced by the ones already fitted on these rows.

        TF-IDF vocabularies depend only on the rows and the vocabulary size, not on the
        scaling of the other columns, and they are most of the cost of preprocessing text.
        A fitted vectoriser goes in frozen (``fit`` leaves it as it is).
        """
        steps = []
        for name, transformer, columns in prep.transformers:
            fitted = self._text.get((dense, fold, name))
            steps.append((name, FrozenEstimator(fitted) if fitted else transformer, columns))
        return prep.set_params(transformers=steps)

    def _keep_text(self, prep: Any, dense: bool, fold: int) -> Any:
        """Remember ``prep``'s fitted text steps and unfreeze them.

        The fitted preprocessing then holds plain ``TextFeatures`` only, the same as a
        preprocessing fitted from scratch (and a type the model registry trusts).
        """
        fitted = []
        for name, transformer, columns in prep.transformers_:
            if isinstance(transformer, FrozenEstimator):
                transformer = transformer.estimator
            if isinstance(transformer, TextFeatures):
                self._text[(dense, fold, name)] = transformer
            fitted.append((name, transformer, columns))
        prep.transformers_ = fitted
        prep.set_params(
            transformers=[
                (name, t.estimator if isinstance(t, FrozenEstimator) else t, cols)
                for name, t, cols in prep.transformers
            ]
        )
        return prep

    def pending_prep(self, spec: ModelSpec, fold: int, native: bool = False) -> float:
        """Predicted seconds of preprocessing still to fit before ``fold`` can run for ``spec``.

        Zero once fitted. A kind of scaling not fitted yet is assumed to cost what the
        slowest one fitted so far did, unless its text vectorisers are fitted already
        (they are shared across kinds of scaling): on text the TF-IDF vocabulary, not the
        scaling, is the cost, and it can exceed the model's own fit many times over.
        """
        fold = -1 if self.shares(native) else fold
        if (prep_key(spec, native), fold) in self._cache:
            return 0.0
        known = self.prep_seconds.get(prep_key(spec, native))
        if known is not None:
            return known
        if any(dense == (not spec.sparse) and f == fold for dense, f, _ in self._text):
            return 0.1 * max(self.prep_seconds.values(), default=0.0)
        return max(self.prep_seconds.values(), default=0.0)

    def fitted_on_all(self, spec: ModelSpec, native: bool = False) -> tuple[Any, Any] | None:
        """The preprocessing fitted on every search row and its output, when shared."""
        if not self.shares(native):
            return None
        return self._fitted(spec, -1, native)

    def fold_task(
        self,
        spec: ModelSpec,
        estimator: BaseEstimator,
        fold: int,
        time_limit: float | None = None,
        native: bool = False,
        check: StorableCheck | None = None,
        threads: int | None = None,
        metrics: bool = False,
    ) -> FoldTask:
        """A picklable task for :func:`fit_fold` (to fan out on an executor); with
        ``check``, the fitted model is also put through it (a module-level function);
        with ``threads``, the model's ``n_jobs`` and the fit's native thread pools are
        capped to that many; with ``metrics``, the fold's metrics are computed where it is
        fitted (on a worker, beside the others, rather than in the search's process)."""
        fit_matrix, val_matrix = self.matrices(spec, fold, native)
        fit_idx, val_idx = self.splits[fold]
        model = clone(estimator)
        return (
            fold,
            model if threads is None else cap_threads(model, threads),
            fit_matrix,
            self.y[fit_idx],
            val_matrix,
            self.task,
            time_limit,
            check,
            threads,
            (self.y[val_idx], self.classes) if metrics else None,
        )


def cap_threads(estimator: BaseEstimator, threads: int) -> BaseEstimator:
    """``estimator`` with every ``n_jobs`` (its members' too) at most ``threads``.

    A fold fitted beside others, one per core or per Dask thread, must not start a thread
    per core of its own: LightGBM's ``n_jobs=None`` means every core, and ``-1`` anywhere.
    """
    params = estimator.get_params(deep=True)
    capped = {
        key: threads
        for key, value in params.items()
        if key.rsplit("__", 1)[-1] == "n_jobs"
        and (value is None or (isinstance(value, int) and not 0 < value <= threads))
    }
    return estimator.set_params(**capped) if capped else estimator


def fit_fold(item: FoldTask) -> FoldResult:
    """Fit one fold and predict its validation rows (run in-process or by a worker).

    With a time limit, boosting stops adding trees once it is spent (the trees so far are
    kept): a family's first fold has no cost history, and LightGBM on tens of thousands of
    TF-IDF columns can cost a hundred times the linear models before it.
    """
    fold, estimator, fit_matrix, y_fit, val_matrix, task, time_limit = item[:7]
    # The check, the thread cap and the scoring may be left off the end of a task.
    check = item[7] if len(item) > 7 else None
    threads = item[8] if len(item) > 8 else None
    scoring = item[9] if len(item) > 9 else None
    if threads is not None:
        # A worker process of a fan-out: one fit per core, so OpenMP and BLAS pools (which
        # default to every core) would only fight the other workers for the cores.
        with _thread_pools().limit(limits=threads):
            result = _fit_fold(
                fold, estimator, fit_matrix, y_fit, val_matrix, task, time_limit, check
            )
    else:
        result = _fit_fold(fold, estimator, fit_matrix, y_fit, val_matrix, task, time_limit, check)
    if scoring is not None:
        y_val, classes = scoring
        result.metrics = fold_metrics(task, classes, y_val, result.prediction)
    return result


def fold_metrics(
    task: Task, classes: list[Any] | None, y_true: np.ndarray, prediction: np.ndarray
) -> dict[str, float]:
    """The metrics of a fold's prediction (values, or class probabilities in the order of
    ``classes``) of the rows whose targets are ``y_true``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if task == Task.REGRESSION:
            return compute_metrics(task, y_true, prediction)
        labels = np.asarray(classes, dtype=object)[prediction.argmax(axis=1)]
        if y_true.dtype != object:
            labels = labels.astype(y_true.dtype)
        return compute_metrics(task, y_true, labels, classes=classes, proba=prediction)


def _thread_pools() -> Any:
    """This process's native thread pools (a ``threadpoolctl.ThreadpoolController``).

    Found once per process, after the model libraries are imported: finding them walks
    every loaded library, milliseconds a fold (as long as a small table's fit) that a
    worker would otherwise spend on each. A library loaded since is looked up anew.
    """
    global _CONTROLLER
    from threadpoolctl import ThreadpoolController

    if _CONTROLLER is None or _CONTROLLER[0] != _loaded_libraries():
        _CONTROLLER = (_loaded_libraries(), ThreadpoolController())
    return _CONTROLLER[1]


def _loaded_libraries() -> int:
    import sys

    return len(sys.modules)


_CONTROLLER: tuple[int, Any] | None = None


@dataclass
class FoldError:
    """A fold a worker could not fit: the model or the data refused the configuration."""

    index: int
    error: str


def fit_fold_or_error(item: FoldTask) -> FoldResult | FoldError:
    """:func:`fit_fold` for an executor: an error comes back as a value, so one refused
    configuration neither fails the other candidates' folds of a batch nor costs the
    executor its worker processes (a process pool ends them on an error)."""
    try:
        return fit_fold(item)
    except Exception as exc:  # a configuration the data or the model refuses
        return FoldError(item[0], f"{type(exc).__name__}: {exc}"[:500])


def warm_worker(_: Any = None) -> int:
    """Import what fold fits need, in a worker process, before the first fold arrives."""
    import os

    import lightgbm  # noqa: F401
    import sklearn.ensemble
    import sklearn.linear_model  # noqa: F401
    import skops.io  # noqa: F401

    # The storability check saves and loads a model: its first call would otherwise time
    # the imports, and that time prices writing the winner (see budget.write_seconds).
    import mlharbor.registry.persist  # noqa: F401

    time.sleep(0.05)  # leave the next warm-up task to a worker that has not had one
    return os.getpid()


def _fit_fold(
    fold: int,
    estimator: Any,
    fit_matrix: Any,
    y_fit: np.ndarray,
    val_matrix: Any,
    task: Task,
    time_limit: float | None,
    check: StorableCheck | None,
) -> FoldResult:
    started_at = time.time()
    started = time.perf_counter()
    fit_params = {}
    if time_limit is not None and _is_lightgbm(estimator):
        fit_params["callbacks"] = [_stop_after(started + max(time_limit, 0.5))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", FutureWarning)  # SVC(probability=True), sklearn 1.9
        estimator.fit(fit_matrix, y_fit, **fit_params)
    fitted = time.perf_counter()
    if task == Task.REGRESSION:
        prediction = np.asarray(estimator.predict(val_matrix), dtype=float)
    else:
        prediction = np.asarray(estimator.predict_proba(val_matrix), dtype=float)
    result = FoldResult(fold, prediction, fitted - started, time.perf_counter() - fitted)
    result.pid = os.getpid()
    if check is not None:
        result.checked = True
        began = time.perf_counter()
        result.refused = refusal(check, estimator, fit_matrix, y_fit)
        result.check_seconds = time.perf_counter() - began
    result.started_at, result.ended_at = started_at, time.time()
    return result


#: Rows a storability check predicts, to compare the model loaded back with the one in memory.
PROBE_ROWS = 5
#: A miniature is fitted on at most this many rows per class (or in all, for regression).
MINIATURE_ROWS = 60
#: ... with at most this many trees or iterations.
MINIATURE_SIZE = 3


def refusal(check: StorableCheck, model: Any, X: Any, y: np.ndarray) -> str | None:
    """Why a model like ``model`` cannot be stored (``check`` raised), or ``None`` if it can.

    The check runs on a miniature of ``model``: the same estimator with three trees or
    iterations, refitted on a few rows of ``X, y``. It holds the same types (they follow
    from the model's make, not its size), and saving and loading it back takes
    milliseconds where a fitted forest takes seconds. If no miniature can be fitted, the
    model itself is checked.
    """
    try:
        subject = miniature(model, X, y)
    except Exception:  # a model that needs more rows than a few: check the real one
        subject = model
    try:
        check(subject, X[:PROBE_ROWS])
    except Exception as exc:  # whatever the check raises, the model is not stored
        message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        return f"could not be stored: {message}"[:500]
    return None


def miniature(model: Any, X: Any, y: np.ndarray) -> Any:
    """``model`` cloned with at most :data:`MINIATURE_SIZE` trees or iterations and
    fitted on a few rows of every class of ``y``."""
    small = _shrunk(model)
    y = np.asarray(y)
    if y.dtype.kind == "f":
        rows = np.arange(min(len(y), MINIATURE_ROWS))
    else:
        rows = np.concatenate([np.flatnonzero(y == c)[:MINIATURE_ROWS] for c in np.unique(y)])
        rows.sort()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return small.fit(X.iloc[rows] if hasattr(X, "iloc") else X[rows], y[rows])


def _is_lightgbm(estimator: Any) -> bool:
    return type(estimator).__module__.startswith("lightgbm")


def _stop_after(end: float) -> Any:
    """A LightGBM callback that ends boosting at ``end`` (``time.perf_counter`` seconds)."""
    from lightgbm.callback import EarlyStopException

    def callback(env: Any) -> None:
        if time.perf_counter() > end:
            raise EarlyStopException(env.iteration, env.evaluation_result_list or [])

    # LightGBM orders its callbacks by this attribute of the function (no other way).
    callback.order = 40  # type: ignore[attr-defined]
    return callback


def _shrunk(model: Any) -> Any:
    """An unfitted clone of ``model`` with few trees or iterations, members included."""
    small = clone(model)
    sizes = {
        key: MINIATURE_SIZE
        for key, value in small.get_params(deep=True).items()
        if key.rsplit("__", 1)[-1] in ("n_estimators", "max_iter")
        and isinstance(value, int | np.integer)
        and value > MINIATURE_SIZE
    }
    small.set_params(**sizes)
    members = small.get_params(deep=False).get("estimators")
    if isinstance(members, list | tuple) and all(hasattr(m, "fit") for m in members):
        small.set_params(estimators=[_shrunk(m) for m in members])  # an ensemble's members
    return small
