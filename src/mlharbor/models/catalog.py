"""The model factory: every model mlharbor trains, under the names users know it by.

Each :class:`ModelSpec` declares its canonical name, its aliases, the tasks it serves, the
estimator class per kind of task with mlharbor's defaults, the preprocessing it needs and
its Optuna search space. The training and tuning code knows nothing of a specific model.

The catalog is light: estimator classes are named by import path and imported when an
estimator is made or the parameters a user set are checked, so resolving a name, listing the
models of a task or checking a request that keeps the defaults loads neither scikit-learn
nor LightGBM (about 1.5 s of a command's start-up).
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from mlharbor.data.tasks import Task
from mlharbor.errors import InvalidInputError

if TYPE_CHECKING:
    import optuna
    from sklearn.base import BaseEstimator

CLASSIFICATION = frozenset({Task.BINARY, Task.MULTICLASS, Task.TEXT})
ALL_TASKS = frozenset(Task)
SearchSpace = Callable[["optuna.trial.BaseTrial", Task], dict[str, Any]]


class Scaling(StrEnum):
    """How numeric features must be scaled for a model."""

    NONE = "none"
    STANDARD = "standard"
    MINMAX = "minmax"  # non-negative features, for naive Bayes


def load_class(path: str) -> type[BaseEstimator]:
    """The class at ``path`` (``"package.module:Name"``), imported now if it was not yet."""
    module, _, name = path.partition(":")
    cls: type[BaseEstimator] = getattr(importlib.import_module(module), name)
    return cls


def class_name(path: str) -> str:
    """The class name of ``path`` (``"package.module:Name"``), without importing it."""
    return path.rpartition(":")[2]


@dataclass(frozen=True)
class ModelSpec:
    """One entry of the catalog.

    A spec names its estimator classes by import path: what the catalog says of a model
    (names, aliases, tasks, defaults, scaling) is known without importing scikit-learn or
    LightGBM, which load when an estimator is made or its parameters are checked.

    Attributes
    ----------
    name : str
        Canonical name, e.g. ``random-forest``.
    title : str
        Human-readable name.
    tasks : frozenset of Task
        The tasks the model serves.
    classifier_path, regressor_path : str or None
        Where the estimator class for classification and for regression tasks is
        (``"sklearn.ensemble:RandomForestClassifier"``); :attr:`classifier` and
        :attr:`regressor` are the classes themselves.
    classifier_defaults, regressor_defaults : mapping
        mlharbor's defaults, applied under the user's parameters.
    aliases : tuple of str
        Other names that resolve to this model (class names are added automatically).
    scaling : Scaling
        The feature scaling the model needs.
    sparse : bool
        Whether the model accepts sparse input (TF-IDF text features).
    max_rows : int or None
        Above this many rows the model is too slow to be worth trying (advice for AutoML).
    search_space : callable
        ``search_space(trial, task) -> params`` for Optuna tuning.
    """

    name: str
    title: str
    tasks: frozenset[Task]
    classifier_path: str | None = None
    regressor_path: str | None = None
    classifier_defaults: Mapping[str, Any] = field(default_factory=dict)
    regressor_defaults: Mapping[str, Any] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    scaling: Scaling = Scaling.NONE
    sparse: bool = True
    max_rows: int | None = None
    search_space: SearchSpace = field(default=lambda trial, task: {})

    @property
    def classifier(self) -> type[BaseEstimator] | None:
        """The estimator class for classification tasks (imported now), or None."""
        return None if self.classifier_path is None else load_class(self.classifier_path)

    @property
    def regressor(self) -> type[BaseEstimator] | None:
        """The estimator class for regression tasks (imported now), or None."""
        return None if self.regressor_path is None else load_class(self.regressor_path)

    def estimator_path(self, task: Task) -> str:
        """Where the estimator class that serves ``task`` is, without importing it.

        Raises
        ------
        InvalidInputError
            The model does not serve ``task`` (the models that do listed).
        """
        path = self.regressor_path if task == Task.REGRESSION else self.classifier_path
        if path is None or task not in self.tasks:
            raise InvalidInputError(
                f"model {self.name!r} does not serve {task.value} tasks "
                f"(it serves: {', '.join(sorted(t.value for t in self.tasks))}); "
                f"models for {task.value}: {', '.join(model_names(task))}",
                model=self.name,
                task=task.value,
            )
        return path

    def estimator_class(self, task: Task) -> type[BaseEstimator]:
        """The estimator class that serves ``task``."""
        return load_class(self.estimator_path(task))

    def defaults(self, task: Task) -> dict[str, Any]:
        """mlharbor's default parameters for ``task``."""
        if task == Task.REGRESSION:
            return dict(self.regressor_defaults)
        return dict(self.classifier_defaults)

    def make(
        self, task: Task, params: Mapping[str, Any] | None = None, *, seed: int | None = 0
    ) -> BaseEstimator:
        """A new, unfitted estimator for ``task`` with the defaults, ``params`` and ``seed``.

        Raises
        ------
        InvalidInputError
            The model does not serve ``task``, or a parameter is unknown or invalid.
        """
        params = validate_params(self, params or {}, task)
        estimator = self.estimator_class(task)(**self.defaults(task))
        if seed is not None and "random_state" in estimator.get_params(deep=False):
            estimator.set_params(random_state=seed)
        return with_probabilities(estimator.set_params(**params))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description for listing the catalog (API, UI, CLI)."""
        variants = {"classification": self.classifier, "regression": self.regressor}
        return {
            "name": self.name,
            "title": self.title,
            "aliases": list(self.all_names[1:]),
            "tasks": sorted(t.value for t in self.tasks),
            "scaling": self.scaling.value,
            "sparse": self.sparse,
            "max_rows": self.max_rows,
            "estimators": {
                kind: {
                    "class": cls.__name__,
                    "defaults": dict(
                        self.regressor_defaults
                        if kind == "regression"
                        else self.classifier_defaults
                    ),
                    "parameters": sorted(cls().get_params(deep=False)),
                }
                for kind, cls in variants.items()
                if cls is not None
            },
        }

    @property
    def all_names(self) -> tuple[str, ...]:
        """The canonical name, the aliases and the estimator class names."""
        paths = (self.classifier_path, self.regressor_path)
        return (self.name, *self.aliases, *(class_name(p) for p in paths if p))


def _key(name: str) -> str:
    return re.sub(r"[\s_\-.]", "", name).lower()


def _log(trial: optuna.trial.BaseTrial, name: str, low: float, high: float) -> float:
    return trial.suggest_float(name, low, high, log=True)


def _trees_space(trial: optuna.trial.BaseTrial, task: Task) -> dict[str, Any]:
    return {
        "n_estimators": trial.suggest_int("n_estimators", 50, 500, log=True),
        "max_depth": trial.suggest_categorical("max_depth", [None, 4, 8, 16, 32]),
        "min_samples_leaf": trial.suggest_int("min_samples_leaf", 1, 20, log=True),
        "max_features": trial.suggest_categorical("max_features", ["sqrt", "log2", 0.5, 1.0]),
    }


def _tree_space(trial: optuna.trial.BaseTrial, task: Task) -> dict[str, Any]:
    return {
        "max_depth": trial.suggest_int("max_depth", 2, 32, log=True),
        "min_samples_leaf": trial.suggest_int("min_samples_leaf", 1, 50, log=True),
    }


def _hgb_space(trial: optuna.trial.BaseTrial, task: Task) -> dict[str, Any]:
    return {
        "learning_rate": _log(trial, "learning_rate", 0.01, 0.3),
        "max_iter": trial.suggest_int("max_iter", 50, 500, log=True),
        "max_leaf_nodes": trial.suggest_int("max_leaf_nodes", 8, 128, log=True),
        "min_samples_leaf": trial.suggest_int("min_samples_leaf", 5, 100, log=True),
        "l2_regularization": _log(trial, "l2_regularization", 1e-6, 10.0),
    }


def _lgbm_space(trial: optuna.trial.BaseTrial, task: Task) -> dict[str, Any]:
    return {
        "learning_rate": _log(trial, "learning_rate", 0.01, 0.3),
        "n_estimators": trial.suggest_int("n_estimators", 50, 1000, log=True),
        "num_leaves": trial.suggest_int("num_leaves", 8, 256, log=True),
        "min_child_samples": trial.suggest_int("min_child_samples", 5, 100, log=True),
        "subsample": trial.suggest_float("subsample", 0.5, 1.0),
        "subsample_freq": 1,
        "colsample_bytree": trial.suggest_float("colsample_bytree", 0.3, 1.0),
        "reg_lambda": _log(trial, "reg_lambda", 1e-6, 10.0),
    }


def _logistic_space(trial: optuna.trial.BaseTrial, task: Task) -> dict[str, Any]:
    return {"C": _log(trial, "C", 1e-3, 1e3)}


def _alpha_space(trial: optuna.trial.BaseTrial, task: Task) -> dict[str, Any]:
    return {"alpha": _log(trial, "alpha", 1e-4, 1e2)}


def _enet_space(trial: optuna.trial.BaseTrial, task: Task) -> dict[str, Any]:
    return {
        "alpha": _log(trial, "alpha", 1e-4, 1e2),
        "l1_ratio": trial.suggest_float("l1_ratio", 0.05, 0.95),
    }


def _knn_space(trial: optuna.trial.BaseTrial, task: Task) -> dict[str, Any]:
    return {
        "n_neighbors": trial.suggest_int("n_neighbors", 1, 50, log=True),
        "weights": trial.suggest_categorical("weights", ["uniform", "distance"]),
    }


def _svm_space(trial: optuna.trial.BaseTrial, task: Task) -> dict[str, Any]:
    params = {"C": _log(trial, "C", 1e-3, 1e3)}
    if task == Task.REGRESSION:
        params["epsilon"] = _log(trial, "epsilon", 1e-3, 1.0)
    return params


def _rbf_space(trial: optuna.trial.BaseTrial, task: Task) -> dict[str, Any]:
    return {**_svm_space(trial, task), "gamma": _log(trial, "gamma", 1e-4, 1.0)}


def _nb_space(trial: optuna.trial.BaseTrial, task: Task) -> dict[str, Any]:
    return {"alpha": _log(trial, "alpha", 1e-3, 10.0)}


def _dummy_space(trial: optuna.trial.BaseTrial, task: Task) -> dict[str, Any]:
    return {}


def with_probabilities(estimator: BaseEstimator) -> BaseEstimator:
    """``estimator``, wrapped for Platt-scaled probabilities when it asks for them.

    ``SVC(probability=True)`` is deprecated in scikit-learn 1.9 (gone in 1.11, with the
    ``probA_`` skl2onnx reads); the same 5-fold Platt scaling is
    ``CalibratedClassifierCV(SVC(), method="sigmoid", ensemble=False)``, which stores and
    converts to ONNX. ``probability=False`` is dropped: setting it at all warns.
    """
    wanted = estimator.get_params(deep=False).get("probability")
    if not isinstance(wanted, bool):
        return estimator
    from sklearn.calibration import CalibratedClassifierCV

    estimator.set_params(probability="deprecated")
    return (
        CalibratedClassifierCV(estimator, method="sigmoid", ensemble=False) if wanted else estimator
    )


_FOREST = {"n_estimators": 200, "n_jobs": 1}
_LGBM = {"n_estimators": 200, "verbose": -1, "n_jobs": 1}

CATALOG: tuple[ModelSpec, ...] = (
    ModelSpec(
        "dummy",
        "Baseline (most frequent class / mean)",
        ALL_TASKS,
        "sklearn.dummy:DummyClassifier",
        "sklearn.dummy:DummyRegressor",
        {"strategy": "prior"},
        {"strategy": "mean"},
        aliases=("baseline",),
        search_space=_dummy_space,
    ),
    ModelSpec(
        "logistic-regression",
        "Logistic regression",
        CLASSIFICATION,
        "sklearn.linear_model:LogisticRegression",
        classifier_defaults={"max_iter": 2000},
        aliases=("logistic", "logreg"),
        scaling=Scaling.STANDARD,
        search_space=_logistic_space,
    ),
    ModelSpec(
        "linear-regression",
        "Linear regression (least squares)",
        frozenset({Task.REGRESSION}),
        regressor_path="sklearn.linear_model:LinearRegression",
        aliases=("linear", "ols"),
        scaling=Scaling.STANDARD,
        search_space=_dummy_space,
    ),
    ModelSpec(
        "ridge",
        "Ridge regression",
        frozenset({Task.REGRESSION}),
        regressor_path="sklearn.linear_model:Ridge",
        scaling=Scaling.STANDARD,
        search_space=_alpha_space,
    ),
    ModelSpec(
        "lasso",
        "Lasso regression",
        frozenset({Task.REGRESSION}),
        regressor_path="sklearn.linear_model:Lasso",
        regressor_defaults={"max_iter": 5000},
        scaling=Scaling.STANDARD,
        search_space=_alpha_space,
    ),
    ModelSpec(
        "elastic-net",
        "Elastic-net regression",
        frozenset({Task.REGRESSION}),
        regressor_path="sklearn.linear_model:ElasticNet",
        regressor_defaults={"max_iter": 5000},
        aliases=("enet", "elasticnet"),
        scaling=Scaling.STANDARD,
        search_space=_enet_space,
    ),
    ModelSpec(
        "decision-tree",
        "Decision tree",
        ALL_TASKS,
        "sklearn.tree:DecisionTreeClassifier",
        "sklearn.tree:DecisionTreeRegressor",
        aliases=("tree", "dt", "cart"),
        search_space=_tree_space,
    ),
    ModelSpec(
        "random-forest",
        "Random forest",
        ALL_TASKS,
        "sklearn.ensemble:RandomForestClassifier",
        "sklearn.ensemble:RandomForestRegressor",
        _FOREST,
        _FOREST,
        aliases=("rf", "forest"),
        search_space=_trees_space,
    ),
    ModelSpec(
        "extra-trees",
        "Extremely randomised trees",
        ALL_TASKS,
        "sklearn.ensemble:ExtraTreesClassifier",
        "sklearn.ensemble:ExtraTreesRegressor",
        _FOREST,
        _FOREST,
        aliases=("et", "extratrees"),
        search_space=_trees_space,
    ),
    ModelSpec(
        "hist-gradient-boosting",
        "Histogram gradient boosting",
        frozenset({Task.BINARY, Task.MULTICLASS, Task.REGRESSION}),
        "sklearn.ensemble:HistGradientBoostingClassifier",
        "sklearn.ensemble:HistGradientBoostingRegressor",
        aliases=("hgb", "histgb", "gradient-boosting", "gbm"),
        sparse=False,
        search_space=_hgb_space,
    ),
    ModelSpec(
        "lightgbm",
        "LightGBM",
        ALL_TASKS,
        "lightgbm:LGBMClassifier",
        "lightgbm:LGBMRegressor",
        _LGBM,
        _LGBM,
        aliases=("lgbm", "lgb"),
        search_space=_lgbm_space,
    ),
    ModelSpec(
        "k-nearest-neighbors",
        "k-nearest neighbours",
        ALL_TASKS,
        "sklearn.neighbors:KNeighborsClassifier",
        "sklearn.neighbors:KNeighborsRegressor",
        aliases=("knn", "k-nn", "nearest-neighbors", "kneighbors"),
        scaling=Scaling.STANDARD,
        max_rows=100_000,
        search_space=_knn_space,
    ),
    ModelSpec(
        "linear-svm",
        "Linear support vector machine",
        ALL_TASKS,
        "sklearn.svm:LinearSVC",
        "sklearn.svm:LinearSVR",
        {"max_iter": 5000},
        {"max_iter": 5000},
        aliases=("svm-linear", "linear-svc"),
        scaling=Scaling.STANDARD,
        max_rows=100_000,
        search_space=_svm_space,
    ),
    ModelSpec(
        "rbf-svm",
        "RBF-kernel support vector machine",
        frozenset({Task.BINARY, Task.MULTICLASS, Task.REGRESSION}),
        "sklearn.svm:SVC",
        "sklearn.svm:SVR",
        aliases=("svm", "svm-rbf", "kernel-svm"),
        scaling=Scaling.STANDARD,
        max_rows=10_000,
        search_space=_rbf_space,
    ),
    ModelSpec(
        "naive-bayes",
        "Complement naive Bayes (text)",
        frozenset({Task.TEXT}),
        "sklearn.naive_bayes:ComplementNB",
        aliases=("nb", "bayes", "MultinomialNB", "NaiveBayes"),
        scaling=Scaling.MINMAX,
        search_space=_nb_space,
    ),
)

_BY_KEY: dict[str, ModelSpec] = {_key(n): spec for spec in CATALOG for n in spec.all_names}


def model_names(task: Task | None = None) -> list[str]:
    """Canonical names of the models, optionally only those serving ``task``."""
    return [s.name for s in CATALOG if task is None or task in s.tasks]


def get_spec(name: str) -> ModelSpec:
    """The catalog entry for ``name`` or any of its aliases (case and ``-``/``_`` ignored).

    Raises
    ------
    InvalidInputError
        An unknown name; the message lists the valid ones.
    """
    spec = _BY_KEY.get(_key(str(name)))
    if spec is None:
        raise InvalidInputError(
            f"unknown model {name!r}; valid models: {', '.join(model_names())} "
            "(aliases such as 'rf' or 'RandomForestClassifier' work too)",
            model=name,
            valid=model_names(),
        )
    return spec


def resolve_model(name: str, task: Task | str) -> tuple[ModelSpec, type[BaseEstimator]]:
    """The catalog entry for ``name`` and the estimator class it uses for ``task``.

    Parameters
    ----------
    name : str
        Canonical name, alias or estimator class name (``random-forest``, ``rf``,
        ``RandomForestClassifier``). The classification or regression variant is picked
        from ``task``.
    task : Task or str

    Returns
    -------
    (ModelSpec, type)

    Raises
    ------
    InvalidInputError
        Unknown name (valid names listed), or a model that does not serve ``task``.

    Examples
    --------
    >>> resolve_model("RandomForestClassifier", "regression")[1].__name__
    'RandomForestRegressor'
    """
    spec = get_spec(name)
    return spec, spec.estimator_class(Task(task))


def coerce_param(value: Any) -> Any:
    """A parameter value as a CLI or form sends it (``"300"``, ``"none"``), typed.

    Non-strings are returned as they are. Strings become ``None``, booleans, ints, floats
    or JSON lists/objects when they read as such, and stay strings otherwise.
    """
    if not isinstance(value, str):
        return value
    text = value.strip()
    lowered = text.lower()
    if lowered in {"none", "null"}:
        return None
    if lowered in {"true", "false"}:
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    if text[:1] in "[{":
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            pass
    return text


def parse_params(items: Iterable[str] | Mapping[str, Any] | str | None) -> dict[str, Any]:
    """Parameters from ``key=value`` strings (CLI), a JSON object string or a mapping.

    Raises
    ------
    InvalidInputError
        An item without ``=``, or a JSON string that is not an object.

    Examples
    --------
    >>> parse_params(["n_estimators=300", "max_depth=none"])
    {'n_estimators': 300, 'max_depth': None}
    """
    if items is None:
        return {}
    if isinstance(items, str):
        try:
            parsed = json.loads(items) if items.strip() else {}
        except json.JSONDecodeError as exc:
            raise InvalidInputError(f"model parameters are not valid JSON: {exc}")
        if not isinstance(parsed, dict):
            raise InvalidInputError("model parameters must be a JSON object")
        return {str(k): coerce_param(v) for k, v in parsed.items()}
    if isinstance(items, Mapping):
        return {str(k): coerce_param(v) for k, v in items.items()}
    params: dict[str, Any] = {}
    for item in items:
        key, sep, value = str(item).partition("=")
        if not sep or not key.strip():
            raise InvalidInputError(f"parameter {item!r} is not of the form name=value")
        params[key.strip()] = coerce_param(value)
    return params


def validate_params(
    spec: ModelSpec, params: Mapping[str, Any], task: Task | str | None = None
) -> dict[str, Any]:
    """Check and type the user's parameters for a model, before any training.

    Parameters
    ----------
    spec : ModelSpec
    params : mapping
        Values may be strings, as from a CLI; see :func:`coerce_param`.
    task : Task or str, optional
        Picks the classification or regression variant; ``None`` accepts a parameter of
        either variant and checks values against the first variant that has it.

    Returns
    -------
    dict
        The parameters, typed.

    Raises
    ------
    InvalidInputError
        An unknown parameter (the valid ones listed) or a value the estimator refuses (the
        estimator's own message).
    """
    params = {str(k): coerce_param(v) for k, v in params.items()}
    if task is not None:
        paths = [spec.estimator_path(Task(task))]
    else:
        paths = [p for p in (spec.classifier_path, spec.regressor_path) if p is not None]
    if not params:
        # Nothing to check, so nothing to import: a request that keeps the model's defaults
        # is checked without scikit-learn or LightGBM (seconds of a command's start-up).
        return params
    from sklearn.base import clone

    classes = [load_class(path) for path in paths]
    valid = sorted({p for cls in classes for p in cls().get_params(deep=False)})
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise InvalidInputError(
            f"unknown parameter{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(map(repr, unknown))} for model {spec.name!r}; "
            f"valid parameters: {', '.join(valid)}",
            model=spec.name,
            unknown=unknown,
            valid=valid,
        )
    for cls in classes:
        own = {k: v for k, v in params.items() if k in cls().get_params(deep=False)}
        estimator = clone(cls()).set_params(**own)
        # Only scikit-learn's own estimators declare constraints; for others (LightGBM)
        # catch the obvious type slips here and leave the rest to their fit-time checks.
        if not hasattr(estimator, "_parameter_constraints"):
            _check_types(spec, cls(), own)
            continue
        try:
            # scikit-learn's own check of its declared constraints, private: it has no public
            # one but fit(), which would train. constraints.txt pins the version it is.
            estimator._validate_params()
        except (ValueError, TypeError) as exc:
            raise InvalidInputError(
                f"invalid parameter for model {spec.name!r}: {exc}", model=spec.name
            )
    return params


def _check_types(spec: ModelSpec, estimator: BaseEstimator, params: Mapping[str, Any]) -> None:
    defaults = estimator.get_params(deep=False)
    for key, value in params.items():
        default = defaults[key]
        if isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, int | float):
            ok = isinstance(value, int | float) and not isinstance(value, bool)
        else:
            continue
        if not ok:
            kind = "true or false" if isinstance(default, bool) else "a number"
            raise InvalidInputError(
                f"invalid parameter for model {spec.name!r}: {key!r} must be {kind}, got {value!r}",
                model=spec.name,
            )
