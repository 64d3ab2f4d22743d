"""Train one model: split, cross-validate, refit, measure, explain.

``train_model`` turns a DataFrame, its schema and a target into a fitted scikit-learn
``Pipeline`` (preprocessing + estimator) with its metrics, signature and evaluation
artifacts. Every random step takes the one ``seed``, so the same call gives the same model.
"""

from __future__ import annotations

import platform
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from importlib import metadata
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import numpy as np
import pandas as pd
from lightgbm.basic import LightGBMError
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split
from sklearn.pipeline import Pipeline

from mlharbor.data.schema import DatasetSchema
from mlharbor.errors import InvalidInputError
from mlharbor.models.catalog import (
    ModelSpec,
    Scaling,
    class_name,
    get_spec,
    parse_params,
)
from mlharbor.models.checks import task_refused
from mlharbor.models.evaluate import (
    CURVE_FRACTIONS,
    FoldCurve,
    curve_scores,
    curve_scoring,
    learning_points,
    make_artifacts,
    permutation_feature_importance,
    point_scores,
    summarize_learning_curve,
)
from mlharbor.models.metrics import compute_metrics, prediction_scores, summarize_folds
from mlharbor.models.problem import (
    Problem,
    resolve_problem,
    rows_with_target,
    target_values,
)
from mlharbor.models.signature import describe_values
from mlharbor.models.tasks import Task
from mlharbor.prep.factory import make_preprocessor
from mlharbor.prep.plan import apply_overrides
from mlharbor.values import jsonable, plain

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

Progress = Callable[[float, str], None]
LIBRARIES = ("mlharbor", "scikit-learn", "lightgbm", "numpy", "scipy", "pandas", "skops")


@dataclass
class TrainResult:
    """A trained model and everything known about how it was made.

    Attributes
    ----------
    pipeline : sklearn.pipeline.Pipeline
        ``preprocess`` (a ColumnTransformer) then ``model``; fitted on the training split.
    task, task_reason : Task, str
    model : str
        Canonical catalog name (``random-forest``).
    estimator : str
        The estimator class used (``RandomForestClassifier``).
    params : dict
        The user's parameters, typed.
    estimator_params : dict
        Every parameter of the fitted estimator (defaults included), JSON-ready.
    target : str
    metrics : dict
        ``{"test": {metric: value}, "cv": {metric: {"mean", "std", "n_folds"}}}``.
    signature : dict
        ``{"inputs": [{name, semantic_type, storage_type, dtype}], "target": {...},
        "task", "classes", "positive_class"}`` — what prediction input must look like.
    classes : list or None
        Class labels as the user gave them (strings stay strings).
    feature_importance : list of dict
        Permutation importance per original column, most important first.
    artifacts : dict
        ``{name: {"data": dict, "png": bytes}}``, see :mod:`mlharbor.models.evaluate`.
    timings : dict
        Seconds spent in ``cv``, ``fit``, ``evaluate`` and ``total``.
    versions : dict
        Versions of Python and the libraries the model depends on.
    settings : dict
        ``seed, test_size, cv_folds, drop, overrides`` and row counts.
    dropped : dict
        Columns left out of the features, with the reason.
    notes : list of str
        Remarks a user should see (rows without a target removed, ...).
    """

    pipeline: Pipeline
    task: Task
    task_reason: str
    model: str
    estimator: str
    params: dict[str, Any]
    estimator_params: dict[str, Any]
    target: str
    metrics: dict[str, Any]
    signature: dict[str, Any]
    classes: list[Any] | None
    feature_importance: list[dict[str, Any]]
    artifacts: dict[str, dict[str, Any]]
    timings: dict[str, float]
    versions: dict[str, str]
    settings: dict[str, Any]
    dropped: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def train_seconds(self) -> float:
        return self.timings.get("total", 0.0)

    def summary(self) -> dict[str, Any]:
        """Everything but the pipeline and the images, JSON-ready (for job results)."""
        return {
            "task": self.task.value,
            "task_reason": self.task_reason,
            "model": self.model,
            "estimator": self.estimator,
            "params": self.params,
            "target": self.target,
            "metrics": self.metrics,
            "signature": self.signature,
            "classes": self.classes,
            "feature_importance": self.feature_importance,
            "timings": self.timings,
            "versions": self.versions,
            "settings": self.settings,
            "dropped": self.dropped,
            "notes": self.notes,
            "artifacts": sorted(self.artifacts),
        }


@dataclass(frozen=True)
class TrainConfig:
    """How to train one model: the user's choices, as one value (see :func:`train_model`).

    Attributes
    ----------
    target : str
        The column to predict.
    model : str, default="random-forest"
        A catalog name or alias (``rf``, ``RandomForestClassifier``...).
    params : mapping, ``key=value`` strings or JSON string, optional
        Estimator parameters; strings are typed (``"300"`` → 300).
    drop : sequence of str, default=()
        Columns to leave out.
    task : Task or str, optional
        Force the task instead of detecting it from the target.
    overrides : mapping, optional
        Column semantic type or role overrides (see :func:`mlharbor.prep.apply_overrides`).
    test_size : float, default=0.2
        Share of rows held out for the test metrics (stratified for classification).
    cv_folds : int, default=5
        Folds of cross-validation on the training split; 0 skips cross-validation.
    seed : int, default=0
        Seed of the split, the folds and the estimator.
    artifacts : bool, default=True
        Compute the evaluation artifacts (the slowest step after fitting).
    refit_full : bool, default=False
        After the test metrics, refit the pipeline on every row (the test split too), as
        PyCaret's ``finalize_model`` does; the metrics stay the holdout's (the honest
        estimate) and ``settings["fitted_on"]`` says so. Ignored with a given test split.
    """

    target: str
    model: str = "random-forest"
    params: Mapping[str, Any] | Iterable[str] | str | None = None
    drop: Sequence[str] = ()
    task: Task | str | None = None
    overrides: Mapping[str, Any] | None = None
    test_size: float = 0.2
    cv_folds: int = 5
    seed: int = 0
    artifacts: bool = True
    refit_full: bool = False


def train_model(
    df: pd.DataFrame,
    schema: DatasetSchema,
    config: TrainConfig | None = None,
    *,
    test_df: pd.DataFrame | None = None,
    progress: Progress | None = None,
    map_folds: Callable[[Callable[[Any], Any], list[Any]], list[Any]] | None = None,
    background_drawing: bool = False,
    start_fits: StartFits | None = None,
    **options: Any,
) -> TrainResult:
    """Train, cross-validate and evaluate one model on a dataset.

    Parameters
    ----------
    df : pandas.DataFrame
        The dataset, with the columns of ``schema``.
    schema : DatasetSchema
        Its schema (semantic types pick the preprocessing).
    config : TrainConfig, optional
        What to train and how; ``options`` (the fields of :class:`TrainConfig`, such as
        ``target="price", cv_folds=3``) build one or replace its fields.
    test_df : pandas.DataFrame, optional
        A test split chosen by the user (as ML-Hub's ``create-model`` sends ``X_test`` and
        ``y_test``); ``df`` is then all training data and ``test_size`` is ignored.
    progress : callable, optional
        ``progress(fraction, message)``, called at each phase and fold.
    map_folds : callable, optional
        ``map_folds(fn, items) -> list``, e.g. a job's ``ctx.compute.map``, to fit the
        cross-validation folds in parallel (local processes or a Dask cluster).
    background_drawing : bool, default=False
        Draw charts in a forked child process while models are fitted (job processes only:
        see :func:`mlharbor.models.plots.render_in_background`).
    start_fits : callable, optional
        ``start_fits(fn, items) -> wait``, ``wait() -> list``: starts small fits on this
        machine's other cores (a job's :class:`mlharbor.forks.fork_later`) and returns what
        waits for their results. With it (and no ``map_folds``), the folds and the learning
        curve's points, whose only outputs are scores, are fitted there while this process
        fits, evaluates and refits the model itself.

    Returns
    -------
    TrainResult

    Raises
    ------
    InvalidInputError
        Missing or all-missing target, single-class target, a model that does not serve
        the task (e.g. a regression model on a text target), unknown or invalid
        parameters, too few rows for the folds, no usable feature, or training failing on
        the data.

    Examples
    --------
    >>> config = TrainConfig(target="Survived", cv_folds=3)
    >>> result = train_model(df, schema, config)  # doctest: +SKIP
    >>> result.metrics["test"]["roc_auc"]  # doctest: +SKIP
    0.86
    """
    config = with_options(TrainConfig, config, options)
    started = time.perf_counter()
    report = progress or (lambda fraction, message: None)
    _check_settings(config.test_size, config.cv_folds)
    _check_unique_columns(df)
    schema = apply_overrides(schema, config.overrides)
    spec = get_spec(config.model)
    user_params = parse_params(config.params)
    problem = resolve_problem(df, schema, target=config.target, drop=config.drop, task=config.task)
    found, notes = problem.task, problem.notes
    _check_serves(spec, problem)
    estimator = spec.make(found, user_params, seed=config.seed)
    missing = [name for name in problem.features if name not in df.columns]
    if missing:
        raise InvalidInputError(
            f"columns {missing} of the schema are missing from the data", columns=missing
        )
    X, y = problem.X, problem.y
    report(0.05, f"{found.value} task: {problem.task_reason}")
    X_train, X_test, y_train, y_test = _split(problem, config, test_df)
    n_folds = _fold_count(y_train, found, config.cv_folds, notes)
    if n_folds != config.cv_folds:
        config = replace(config, cv_folds=n_folds)
    pipeline = _make_pipeline(schema, spec, estimator, problem, config)

    t0 = time.perf_counter()
    side = _SideFits(pipeline, X_train, y_train, found, config, report, map_folds, start_fits)
    try:
        t1 = time.perf_counter()
        report(0.65, "fitting on the whole training split")
        _fit(pipeline, X_train, y_train, spec)
        t2 = time.perf_counter()
        classes = _classes(pipeline, found)
        test = evaluate_pipeline(pipeline, X_test, y_test, found, classes)
        report(0.72, "test metrics computed")

        importance = permutation_feature_importance(
            pipeline, X_test, y_test, task=found, n_classes=len(classes or ()), seed=config.seed
        )
        report(0.8, "feature importance computed")
        # Before the artifacts, whose learning curve may wait for the side fits: the refit
        # is this process's work meanwhile. ``pipeline`` stays the training split's model,
        # which the artifacts describe.
        t3 = time.perf_counter()
        final = pipeline
        fitted_on = f"the training split (n={len(X_train)}); test metrics from the rest"
        if config.refit_full and test_df is None:
            report(0.81, "refitting on all rows")
            final = clone(pipeline)
            _fit(final, X, y, spec)
            fitted_on = (
                f"all rows (n={len(X)}); test metrics from a {config.test_size:.0%} holdout "
                "before the refit"
            ).replace("%", " %")
        t4 = time.perf_counter()
        images: dict[str, dict[str, Any]] = {}
        if config.artifacts:
            images = make_artifacts(
                pipeline,
                task=found,
                classes=classes,
                X_train=X_train,
                y_train=y_train,
                X_test=X_test,
                y_test=y_test,
                importance=importance,
                seed=config.seed,
                cv_folds=min(3, max(2, config.cv_folds)),
                learning_points=len(CURVE_FRACTIONS),
                progress=lambda f, m: report(0.82 + 0.17 * f, m),
                background=background_drawing,
                **side.learning_curve(),
            )
        folds = side.folds()
    finally:
        side.stop()
    t5 = time.perf_counter()
    variants = {class_name(p) for p in (spec.classifier_path, spec.regressor_path) if p}
    if config.model in variants and config.model != type(estimator).__name__:
        notes.append(
            f"{config.model} was trained as {type(estimator).__name__}: the target makes "
            f"this a {found.value} task"
        )
    result = TrainResult(
        pipeline=final,
        task=found,
        task_reason=problem.task_reason,
        model=spec.name,
        estimator=type(estimator).__name__,
        params=jsonable(user_params),
        estimator_params=jsonable(estimator.get_params(deep=False)),
        target=config.target,
        metrics={"test": test, "cv": summarize_folds(folds) if folds else {}},
        signature=make_signature(
            schema, problem.features, problem.rows, config.target, found, classes
        ),
        classes=classes,
        feature_importance=importance["features"],
        artifacts=images,
        timings={
            # The folds' time in this process: all of it when fitted here, only their start
            # when they are fitted on the other cores beside the rest.
            "cv": round(t1 - t0, 3),
            "fit": round(t2 - t1, 3),
            "evaluate": round(t3 - t2 + t5 - t4, 3),
            "refit_full": round(t4 - t3, 3),
            "total": round(time.perf_counter() - started, 3),
        },
        versions=library_versions(),
        settings={
            "seed": config.seed,
            "test_size": config.test_size,
            "cv_folds": config.cv_folds,
            "drop": list(config.drop),
            "overrides": jsonable(dict(config.overrides or {})),
            "n_train": len(X_train),
            "n_test": len(X_test),
            "fitted_on": fitted_on,
        },
        dropped=problem.plan.dropped,
        notes=notes,
    )
    report(1.0, "model trained")  # registering and profiling follow: not "done"
    return result


C = TypeVar("C", bound="DataclassInstance")


def with_options(kind: type[C], config: C | None, options: Mapping[str, Any]) -> C:
    """``config``, or a ``kind`` made of ``options``, with ``options`` replacing its fields.

    Raises
    ------
    TypeError
        An option that is not a field of ``kind``, as a wrong keyword argument would.
    """
    if config is None:
        return kind(**options)
    return replace(config, **options) if options else config


def _check_unique_columns(df: pd.DataFrame) -> None:
    duplicated = sorted({str(c) for c in df.columns[df.columns.duplicated()]})
    if duplicated:
        raise InvalidInputError(
            f"the data has several columns named {', '.join(map(repr, duplicated))}",
            columns=duplicated,
        )


def _check_serves(spec: ModelSpec, problem: Problem) -> None:
    if problem.task not in spec.tasks:
        raise task_refused(spec, problem.target, problem.task, problem.task_reason)


def _split(
    problem: Problem, config: TrainConfig, test_df: pd.DataFrame | None
) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray, np.ndarray]:
    """``X_train, X_test, y_train, y_test``: a split of the rows, or the given test rows."""
    X, y, found = problem.X, problem.y, problem.task
    if test_df is None:
        _check_rows(y, found, config.cv_folds, config.test_size)
        X_train, X_test, y_train, y_test = train_test_split(
            X,
            y,
            test_size=config.test_size,
            random_state=config.seed,
            stratify=y if found.is_classification else None,
        )
    else:
        X_train, y_train = X, y
        X_test, y_test = _given_test_split(
            test_df, problem.features, problem.target, found, problem.notes
        )
        _check_given_split(y_train, y_test, found, config.cv_folds)
    return X_train, X_test, y_train, y_test


def _make_pipeline(
    schema: DatasetSchema, spec: ModelSpec, estimator: Any, problem: Problem, config: TrainConfig
) -> Pipeline:
    preprocess = make_preprocessor(
        schema,
        target=problem.target,
        task=problem.task,
        drop=config.drop,
        scale=spec.scaling == Scaling.STANDARD,
        nonnegative=spec.scaling == Scaling.MINMAX,
        dense=not spec.sparse,
        seed=config.seed,
    )
    return Pipeline([("preprocess", preprocess), ("model", estimator)])


def library_versions() -> dict[str, str]:
    """Versions of Python and of the libraries a saved model depends on."""
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def _check_settings(test_size: float, cv_folds: int) -> None:
    if not 0 < test_size < 1:
        raise InvalidInputError(f"test_size must be between 0 and 1, got {test_size}")
    if cv_folds == 1 or cv_folds < 0:
        raise InvalidInputError(f"cv_folds must be 0 (no cross-validation) or ≥ 2, got {cv_folds}")


def _given_test_split(
    test_df: pd.DataFrame, features: list[str], target: str, task: Task, notes: list[str]
) -> tuple[pd.DataFrame, np.ndarray]:
    missing = [name for name in [*features, target] if name not in test_df.columns]
    if missing:
        raise InvalidInputError(f"the test data lacks the columns {missing}", columns=missing)
    test_df = rows_with_target(test_df, target, notes)
    if test_df.empty:
        raise InvalidInputError("the test data has no rows")
    return test_df[features], target_values(test_df[target], task)


def _check_given_split(y_train: np.ndarray, y_test: np.ndarray, task: Task, cv_folds: int) -> None:
    if len(y_train) < max(cv_folds, 2):
        raise InvalidInputError(
            f"only {len(y_train)} training rows: too few for {cv_folds}-fold cross-validation"
        )
    if task.is_classification:
        unseen = sorted(map(str, set(np.unique(y_test)) - set(np.unique(y_train))))
        if unseen:
            raise InvalidInputError(
                f"the test data has classes the training data lacks: {', '.join(unseen)}",
                classes=unseen,
            )


def _check_rows(y: np.ndarray, task: Task, cv_folds: int, test_size: float) -> None:
    n_test = int(np.ceil(len(y) * test_size))
    needed = max(cv_folds, 2) + max(n_test, 1)
    if len(y) < needed:
        raise InvalidInputError(
            f"only {len(y)} rows with a target: too few for a {test_size:.0%} test split "
            f"and {cv_folds}-fold cross-validation (at least {needed} needed)",
            n_rows=len(y),
        )
    if task.is_classification:
        labels, counts = np.unique(y, return_counts=True)
        small = [(plain(lab), int(n)) for lab, n in zip(labels, counts, strict=True) if n < 2]
        if small:
            listed = ", ".join(f"{lab!r}" for lab, _ in small[:20])
            more = f" and {len(small) - 20} more" if len(small) > 20 else ""
            # Mostly-unique labels are usually numbers read as text, not classes.
            hint = (
                "; the target looks continuous: store it as numbers and train a regression"
                if len(labels) > len(y) / 2
                else ""
            )
            raise InvalidInputError(
                "some classes have a single row, too few to split into training and test: "
                f"{listed}{more}{hint}",
                classes=[str(lab) for lab, _ in small],
            )


def _fold_count(y_train: np.ndarray, task: Task, cv_folds: int, notes: list[str]) -> int:
    """The folds a stratified cross-validation can make: ``cv_folds``, or as many as the
    rarest class has training rows (a note says so), never fewer than two."""
    if not task.is_classification or cv_folds < 2:
        return cv_folds
    labels, counts = np.unique(y_train, return_counts=True)
    fewest = int(counts.min())
    if fewest >= cv_folds:
        return cv_folds
    rare = [(plain(lab), int(n)) for lab, n in zip(labels, counts, strict=True) if n < cv_folds]
    listed = ", ".join(f"{lab!r} ({n} rows)" for lab, n in rare[:20])
    if fewest < 2:
        raise InvalidInputError(
            "some classes have a single row in the training split, too few to "
            f"cross-validate: {listed}; add rows of these classes or leave them out",
            classes=[str(lab) for lab, n in rare if n < 2],
        )
    notes.append(
        f"cross-validated with {fewest} folds instead of {cv_folds}: the training split has "
        f"fewer than {cv_folds} rows of {listed}"
    )
    return fewest


class PendingFits(Protocol):
    """Fits started elsewhere: call to wait for their results (in input order)."""

    def __call__(self) -> list[Any]: ...

    def stop(self) -> None:
        """Give up on the fits not waited for (after an error here)."""


#: ``start_fits(fn, items)``: starts ``fn`` over ``items`` elsewhere, returns what waits.
StartFits = Callable[[Callable[[Any], Any], list[Any]], PendingFits]


class _SideFits:
    """The fits whose only outputs are scores: the cross-validation's folds and the
    learning curve's earlier points (see :func:`~mlharbor.models.evaluate.fold_learning_curve`).

    Without ``start_fits`` the folds are fitted at once, here one after the other or by
    ``map_folds``, and the learning curve's points are left to the artifacts. With it, the
    folds and the points are all started on the other cores at once and waited for where
    their scores are needed, while this process fits, evaluates and refits the model.
    Either way the same splits, seeds and scores.
    """

    def __init__(
        self,
        pipeline: Pipeline,
        X: pd.DataFrame,
        y: np.ndarray,
        task: Task,
        config: TrainConfig,
        report: Progress,
        map_folds: Callable[[Callable[[Any], Any], list[Any]], list[Any]] | None,
        start_fits: StartFits | None,
    ) -> None:
        self.results: list[dict[str, float]] = []
        self.curve: FoldCurve | None = None
        self.pending: PendingFits | None = None
        self.done: list[Any] | None = None
        self.points: list[tuple[np.ndarray, np.ndarray]] = []
        self.splits: list[tuple[np.ndarray, np.ndarray]] = []
        self.scoring = ""
        n = config.cv_folds
        if n < 2:
            return
        splitter = (StratifiedKFold if task.is_classification else KFold)(
            n_splits=n, shuffle=True, random_state=config.seed
        )
        self.splits = list(splitter.split(X, y))
        self.scoring = curve_scoring(task, len(np.unique(y)) if task.is_classification else 0)
        items = [
            (clone(pipeline), X.iloc[fit], y[fit], X.iloc[val], y[val], task, self.scoring)
            for fit, val in self.splits
        ]
        if map_folds is None and start_fits is not None:
            report(0.05, f"cross-validation: {n} folds shared out over the cores")
            if config.artifacts:
                self.points = learning_points(self.splits, y, task, seed=config.seed)
            tasks: list[tuple[Callable[[Any], Any], Any]] = [(fold_scores, i) for i in items]
            tasks += [(point_scores, (pipeline, X, y, p, self.scoring)) for p in self.points]
            self.pending = start_fits(_call, tasks)
            return
        if map_folds is not None:
            report(0.05, f"cross-validation: {n} folds in parallel")
            results = list(map_folds(fold_scores, items))
        else:
            results = []
            for i, item in enumerate(items):
                report(0.05 + 0.6 * i / n, f"cross-validation fold {i + 1}/{n}")
                results.append(fold_scores(item))
        self._keep(results)

    def _keep(self, results: list[dict[str, float]]) -> None:
        self.curve = FoldCurve(
            self.splits,
            [r.pop("_curve_train") for r in results],
            [r.pop("_curve_valid") for r in results],
        )
        self.results = results

    def _wait(self) -> list[Any]:
        if self.done is None:
            assert self.pending is not None
            self.done = self.pending()
            self._keep(self.done[: len(self.splits)])
        return self.done

    def learning_curve(self) -> dict[str, Any]:
        """The keyword arguments :func:`make_artifacts` takes for the learning curve."""
        if self.pending is None:
            return {"folds": self.curve}
        return {"learning_curve": self._learning_curve}

    def _learning_curve(self) -> dict[str, Any]:
        scored = self._wait()[len(self.splits) :]
        assert self.curve is not None
        return summarize_learning_curve(self.points, scored, self.curve, self.scoring)

    def folds(self) -> list[dict[str, float]]:
        """Each fold's metrics (waits for them if they are being fitted elsewhere)."""
        if self.pending is not None:
            self._wait()
        return self.results

    def stop(self) -> None:
        """End the fits still running elsewhere (after an error here); harmless after."""
        if self.pending is not None and self.done is None:
            self.pending.stop()


def _call(task: tuple[Callable[[Any], Any], Any]) -> Any:
    fn, item = task
    return fn(item)


def fold_scores(item: tuple[Any, ...]) -> dict[str, float]:
    """Fit one cross-validation fold and score it (a task a worker or Dask runs).

    Besides the metrics, ``_curve_train`` and ``_curve_valid`` hold the learning curve's
    score on the fold's fit and validation rows, so the curve need not refit the fold.
    """
    pipeline, X_fit, y_fit, X_val, y_val, task, scoring = item
    _fit(pipeline, X_fit, y_fit, None)
    scores = evaluate_pipeline(pipeline, X_val, y_val, task, _classes(pipeline, task))
    train, valid = curve_scores(pipeline, X_fit, y_fit, X_val, y_val, scoring)
    return {**scores, "_curve_train": train, "_curve_valid": valid}


def _fit(pipeline: Pipeline, X: pd.DataFrame, y: np.ndarray, spec: ModelSpec | None) -> None:
    try:
        with warnings.catch_warnings():
            # Non-convergence of a linear model is reported through its metrics, not noise.
            warnings.simplefilter("ignore", ConvergenceWarning)
            pipeline.fit(X, y)
    except (ValueError, TypeError, LightGBMError) as exc:
        # What reaches here is a parameter value only the estimator checks (LightGBM's) or
        # data it cannot learn from: either way the user's to fix, in its own words.
        name = type(pipeline.named_steps["model"]).__name__
        raise InvalidInputError(f"training {name} failed: {str(exc).strip()}", model=name)


def _classes(pipeline: Pipeline, task: Task) -> list[Any] | None:
    if not task.is_classification:
        return None
    return [plain(c) for c in pipeline.classes_]


def evaluate_pipeline(
    pipeline: Any, X: pd.DataFrame, y: np.ndarray, task: Task, classes: list[Any] | None
) -> dict[str, float]:
    """The test metrics of a fitted ``pipeline`` on ``X, y``."""
    predicted = pipeline.predict(X)
    if task == Task.REGRESSION:
        return compute_metrics(task, y, predicted)
    proba, decision = prediction_scores(pipeline, X)
    return compute_metrics(task, y, predicted, classes=classes, proba=proba, decision=decision)


def make_signature(
    schema: DatasetSchema,
    features: list[str],
    df: pd.DataFrame,
    target: str,
    task: Task,
    classes: list[Any] | None,
) -> dict[str, Any]:
    """What prediction input must look like: the model's inputs, target, task and classes."""

    def describe(name: str) -> dict[str, Any]:
        col = schema.column(name)
        return {
            "name": name,
            "semantic_type": col.semantic_type.value,
            "storage_type": col.storage_type,
            "dtype": str(df[name].dtype),
        }

    def with_values(name: str) -> dict[str, Any]:
        # Levels, ranges and yes/no spellings: what the prediction form is built from.
        semantic = schema.column(name).semantic_type.value
        return {**describe(name), **describe_values(df[name], semantic)}

    return {
        "inputs": [with_values(name) for name in features],
        "target": describe(target),
        "task": task.value,
        "classes": classes,
        "positive_class": classes[1] if classes and len(classes) == 2 else None,
    }
