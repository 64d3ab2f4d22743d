"""What AutoML tries first, and the metrics it can optimise.

The portfolio is a short list of strong, diverse configurations of catalog models, cheapest
first, so that even a small budget ends with a sound model. Nothing here is tuned to a
dataset: the same list serves every table of a task, trimmed only by size (kernel SVMs and
k-NN are left out where they would be slow).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.stats import rankdata
from sklearn import metrics as skm

from mlharbor.errors import InvalidInputError
from mlharbor.models.catalog import ModelSpec, get_spec, with_probabilities
from mlharbor.models.tasks import Task

#: Metrics AutoML can rank by, per kind of task, and whether higher is better.
METRICS: dict[str, dict[str, bool]] = {
    "binary": {
        "roc_auc": True,
        "pr_auc": True,
        "accuracy": True,
        "balanced_accuracy": True,
        "f1": True,
        "log_loss": False,
    },
    "multiclass": {
        "log_loss": False,
        "roc_auc_ovr": True,
        "accuracy": True,
        "balanced_accuracy": True,
        "f1_macro": True,
    },
    "regression": {"r2": True, "rmse": False, "mae": False},
}
#: The default metric: a proper score for multiclass (it rewards good probabilities, which
#: both accuracy and AUC then follow) and the usual ones elsewhere.
DEFAULT_METRIC = {"binary": "roc_auc", "multiclass": "log_loss", "regression": "r2"}


def check_metric(metric: str | None, kind: str) -> str:
    """The metric to rank by; ``InvalidInputError`` naming the valid ones if it does not fit."""
    if metric is None:
        return DEFAULT_METRIC[kind]
    name = str(metric).strip().lower()
    if name not in METRICS[kind]:
        every = sorted({m for ms in METRICS.values() for m in ms})
        hint = "" if name in every else f" (known metrics: {', '.join(every)})"
        raise InvalidInputError(
            f"metric {metric!r} does not fit a {kind} task; use one of: "
            f"{', '.join(METRICS[kind])}{hint}",
            metric=metric,
            task=kind,
        )
    return name


def scorer(metric: str, kind: str) -> Callable[[np.ndarray, np.ndarray], float]:
    """``score(y_index_or_value, prediction)``, higher is better (losses are negated).

    Classification predictions are probability matrices and ``y`` holds class indices;
    regression predictions and ``y`` are values. Used for folds, pruning and ensembling.
    """
    sign = 1.0 if METRICS[kind][metric] else -1.0

    def score(y: np.ndarray, pred: np.ndarray) -> float:
        return sign * _raw(metric, kind, y, pred)

    return score


def _raw(metric: str, kind: str, y: np.ndarray, pred: np.ndarray) -> float:
    if kind == "regression":
        return float(
            {
                "r2": lambda: skm.r2_score(y, pred),
                "rmse": lambda: np.sqrt(np.mean((y - pred) ** 2)),
                "mae": lambda: np.mean(np.abs(y - pred)),
            }[metric]()
        )
    n = pred.shape[1]
    if metric == "log_loss":
        p = np.clip(pred[np.arange(len(y)), y], 1e-15, 1.0)
        return float(-np.mean(np.log(p)))
    if metric == "roc_auc":
        return _auc(y == 1, pred[:, 1])
    if metric == "pr_auc":
        return float(skm.average_precision_score(y, pred[:, 1]))
    if metric == "roc_auc_ovr":
        present = [k for k in range(n) if 0 < np.sum(y == k) < len(y)]
        return float(np.mean([_auc(y == k, pred[:, k]) for k in present]))
    labels = pred.argmax(axis=1)
    if metric == "accuracy":
        return float(np.mean(labels == y))
    if metric == "balanced_accuracy":
        return float(skm.balanced_accuracy_score(y, labels))
    if metric == "f1":
        return float(skm.f1_score(y, labels, zero_division=0))
    return float(skm.f1_score(y, labels, average="macro", zero_division=0))


def _auc(positive: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC as the Mann-Whitney statistic (ties count half), as scikit-learn's.

    Ensemble selection scores thousands of blends: this is about ten times faster than
    ``roc_auc_score``, whose input checks dominate on a few thousand rows.
    """
    n_pos = int(np.sum(positive))
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError("ROC AUC needs both classes among the rows scored")
    ranks = rankdata(score)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


@dataclass(frozen=True)
class Candidate:
    """One configuration to cross-validate: a catalog model and its parameters."""

    name: str
    family: str
    params: dict[str, Any] = field(default_factory=dict)
    phase: str = "portfolio"
    #: How many leading columns of the preprocessed matrix are categorical codes the model
    #: splits on itself (``make_preprocessor(native_categorical=True)``); 0: the usual
    #: one-hot / target encoding. Only for :data:`NATIVE_CATEGORICAL` families.
    native: int = 0

    def __post_init__(self) -> None:
        if self.native and self.family not in NATIVE_CATEGORICAL:
            raise ValueError(f"{self.family} cannot take categorical columns natively")

    @property
    def spec(self) -> ModelSpec:
        return get_spec(self.family)

    def make(self, task: Task, seed: int) -> Any:
        """A new estimator. Parameters come from the portfolio and the catalog's search
        spaces, not from a user, so they skip the user-facing check (which refuses
        LightGBM's keyword-only options such as ``extra_trees``)."""
        spec = self.spec
        estimator = spec.estimator_class(task)(**spec.defaults(task))
        if "random_state" in estimator.get_params(deep=False):
            estimator.set_params(random_state=seed)
        estimator.set_params(**self.params)
        if self.native:
            columns = list(range(self.native))
            # LightGBM takes it as a keyword option under an alias: its ``fit`` argument's
            # name, ``categorical_feature``, is ignored (with a warning) among the options.
            key = "categorical_column" if self.family == "lightgbm" else "categorical_features"
            estimator.set_params(**{key: columns})
        return with_probabilities(estimator)  # the SVM's probabilities: Platt scaling


#: Families that split on categorical codes themselves, as :attr:`Candidate.native` needs.
NATIVE_CATEGORICAL = frozenset({"lightgbm", "hist-gradient-boosting"})


_LGBM = {
    "learning_rate": 0.05,
    "n_estimators": 300,
    "num_leaves": 31,
    "min_child_samples": 10,
    "subsample": 0.8,
    "subsample_freq": 1,
    "colsample_bytree": 0.8,
    "reg_lambda": 1.0,
}


def portfolio(
    task: Task, kind: str, n_rows: int, threads: int, n_categorical: int = 0
) -> list[Candidate]:
    """The configurations tried first, cheapest and strongest first.

    With ``n_categorical`` categorical columns, the first LightGBM and the histogram
    gradient boosting are given them as categories (integer codes they split on
    themselves), as LightGBM's own pandas interface does; the other LightGBM variants see
    them one-hot or target-encoded, which makes the portfolio more diverse.
    """
    # OpenMP threads on small data spend more time waiting on each other than working,
    # badly so on a busy machine: below this size every model uses one thread.
    threads = threads if n_rows > 50_000 else 1
    lgbm = {**_LGBM, "n_jobs": threads}
    forest = {"n_estimators": 200, "n_jobs": threads}
    if task == Task.TEXT:
        # Naive Bayes first: the first candidate always runs, whatever it costs, and on
        # text it is the one whose fits cost next to nothing beyond the TF-IDF itself.
        return [
            Candidate("naive-bayes", "naive-bayes", {"alpha": 0.1}),
            Candidate("logistic-regression", "logistic-regression", {"C": 10.0}),
            Candidate("logistic-regression-c1", "logistic-regression", {"C": 1.0}),
            Candidate("lightgbm", "lightgbm", {**lgbm, "colsample_bytree": 0.3}),
            Candidate("extra-trees", "extra-trees", forest),
        ]
    regression = kind == "regression"
    out = [
        # LightGBM exactly as it comes (100 trees, learning rate 0.1) goes first: it is the
        # baseline everyone compares an AutoML system to, is cheap on tables, and so the
        # search can never end, however short the budget, without having tried it.
        Candidate(
            "lightgbm-defaults-native" if n_categorical else "lightgbm-defaults",
            "lightgbm",
            {"n_estimators": 100, "n_jobs": threads},
            native=n_categorical,
        ),
        Candidate("ridge", "ridge", {"alpha": 1.0})
        if regression
        else Candidate("logistic-regression", "logistic-regression", {"C": 1.0}),
        Candidate("lightgbm", "lightgbm", lgbm),
        Candidate("extra-trees", "extra-trees", forest),
        Candidate("random-forest", "random-forest", forest),
        Candidate(
            "hist-gradient-boosting-native" if n_categorical else "hist-gradient-boosting",
            "hist-gradient-boosting",
            {"learning_rate": 0.06, "max_iter": 200, "min_samples_leaf": 10},
            native=n_categorical,
        ),
        Candidate(
            "lightgbm-xt",
            "lightgbm",
            {**lgbm, "extra_trees": True, "colsample_bytree": 0.6},
        ),
    ]
    if n_rows <= 100_000:
        out.append(
            Candidate(
                "k-nearest-neighbors",
                "k-nearest-neighbors",
                {"n_neighbors": 15, "weights": "distance", "n_jobs": threads},
            )
        )
    if n_rows <= 3_000:
        svm = {"C": 3.0} if regression else {"C": 3.0, "probability": True}
        out.append(Candidate("rbf-svm", "rbf-svm", svm))
    out.append(
        Candidate(
            "lightgbm-large",
            "lightgbm",
            {
                **lgbm,
                "num_leaves": 96,
                "learning_rate": 0.03,
                "n_estimators": 500,
                "min_child_samples": 5,
                "colsample_bytree": 0.6,
            },
        )
    )
    return out


def restrict(candidates: list[Candidate], families: list[str]) -> list[Candidate]:
    """The candidates of ``families`` only (catalog names or aliases), in portfolio order.

    A family the portfolio does not try (a decision tree) is added with the catalog's
    defaults, so each family asked for is cross-validated at least once.

    Raises
    ------
    InvalidInputError
        A name the catalog does not know (the message lists the models).
    """
    wanted = list(dict.fromkeys(get_spec(name).name for name in families))
    kept = [c for c in candidates if c.family in wanted]
    for family in wanted:
        if all(c.family != family for c in kept):
            kept.append(Candidate(family, family, {}))
    return kept


#: Families worth tuning further when they lead (models with a useful search space).
TUNABLE = frozenset(
    {
        "decision-tree",
        "lightgbm",
        "hist-gradient-boosting",
        "random-forest",
        "extra-trees",
        "k-nearest-neighbors",
        "logistic-regression",
        "ridge",
        "rbf-svm",
        "naive-bayes",
    }
)


#: Rough seconds per fold of each family's portfolio configuration relative to a linear
#: model on the same matrix. Only a prior for a family's first candidate (later ones are
#: predicted from what the family really cost); erring high merely skips a slow family
#: that a tight budget could not have finished anyway.
RELATIVE_COST: dict[str, float] = {
    "naive-bayes": 0.3,
    "ridge": 0.5,
    "logistic-regression": 1.0,
    "decision-tree": 1.0,
    "k-nearest-neighbors": 1.0,
    "lightgbm": 4.0,
    "hist-gradient-boosting": 4.0,
    "rbf-svm": 4.0,
    "extra-trees": 8.0,
    "random-forest": 10.0,
}


def size_of(params: dict[str, Any]) -> float:
    """A rough cost multiplier of a configuration: its number of trees or iterations."""
    return float(params.get("n_estimators") or params.get("max_iter") or 100)
