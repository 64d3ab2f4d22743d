"""Every model AutoML can serve goes through the registry and comes back predicting the same,
and a model the registry would refuse is never the winner."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.pipeline import Pipeline

from mlharbor.errors import ConflictError
from mlharbor.hub import Hub
from mlharbor.models.automl import (
    BaggedClassifier,
    BaggedRegressor,
    WeightedEnsembleClassifier,
    WeightedEnsembleRegressor,
    run_automl,
)
from mlharbor.models.automl.leaderboard import Entry
from mlharbor.models.automl.portfolio import portfolio
from mlharbor.models.automl.register import to_train_result
from mlharbor.models.metrics import metric_kind
from mlharbor.models.tasks import Task
from mlharbor.prep.factory import native_categorical_columns, plan_features
from mlharbor.workflows.automl import check_storable

from .training_data import (
    binary_frame,
    categorical_frame,
    regression_frame,
    text_frame,
    with_schema,
)

FRAMES = {
    "binary-categorical": (lambda: categorical_frame(n=300), "churn"),
    "regression": (regression_frame, "progress"),
    "text": (text_frame, "sentiment"),
}
TEMPLATES: dict[str, Any] = {}  # target → a registrable result of its table


def _search(frame: str) -> tuple[Any, pd.DataFrame, Any]:
    """A finished run (one candidate) whose folds refit every portfolio candidate."""
    make, target = FRAMES[frame]
    df, schema = with_schema(make())
    test = df.sample(frac=0.2, random_state=1)
    train = df.drop(index=test.index).reset_index(drop=True)
    result = run_automl(train, schema, target=target, time_budget=10, max_trials=1)
    return result, test.reset_index(drop=True), schema


def _candidates(result: Any) -> list[Entry]:
    plan = plan_features(result.folds.schema, target=result.target)
    kind = metric_kind(result.task, len(result.classes or ()))
    n_categorical = len(native_categorical_columns(plan))
    candidates = portfolio(result.task, kind, len(result.y), 1, n_categorical)
    # Ten trees or iterations: the same types as the portfolio's hundreds, stored in a blink.
    small = [
        replace(c, params={k: min(v, 10) if k in SIZES else v for k, v in c.params.items()})
        for c in candidates
    ]
    return [Entry(c, trial=i, fit_seconds=[0.01]) for i, c in enumerate(small, start=1)]


SIZES = ("n_estimators", "max_iter")


def _round_trip(hub: Hub, result: Any, entry: Entry, model: Any, test: pd.DataFrame) -> None:
    X_test = test[result.features]
    if not TEMPLATES.get(result.target):  # evaluation (permutation importance) once per table
        TEMPLATES[result.target] = to_train_result(
            result, entry, model, test, X_test, result.folds.schema, artifacts=False
        )
    train_result = replace(TEMPLATES[result.target], pipeline=model, model=f"automl:{entry.name}")
    record = hub.models.register("round-trip", train_result)
    loaded = hub.models.load_pipeline("round-trip", record.version)
    assert list(loaded.predict(X_test)) == list(model.predict(X_test)), entry.name
    if result.task != Task.REGRESSION:
        np.testing.assert_allclose(loaded.predict_proba(X_test), model.predict_proba(X_test))
    answer = hub.predictor.predict("round-trip", record.version, X_test.head(5))
    assert answer.predictions == list(model.predict(X_test.head(5)))


@pytest.mark.parametrize("frame", list(FRAMES))
def test_every_model_automl_can_serve_round_trips_through_the_registry(
    sqlite_hub: Hub, frame: str
) -> None:
    result, test, _ = _search(frame)
    assert result.settings["bagged"]  # small data: boosting is served as its fold models
    entries = _candidates(result)
    served = {}
    for entry in entries:
        model = result.refit(entry)
        _round_trip(sqlite_hub, result, entry, model, test)
        served[entry.name] = model
    kinds = {type(m).__name__ for m in served.values()}
    assert kinds >= {"Pipeline", "BaggedRegressor" if frame == "regression" else "BaggedClassifier"}
    # A weighted ensemble of a bag and single pipelines, as the search builds it.
    members = [e for e in entries if e.name in served][:3]
    regression = result.task == Task.REGRESSION
    cls = WeightedEnsembleRegressor if regression else WeightedEnsembleClassifier
    ensemble = cls.from_fitted(
        [served[e.name] for e in members], [0.5, 0.3, 0.2], [e.name for e in members]
    )
    blend = Entry(members[0].candidate.__class__("ensemble", "ensemble", {}, "ensemble"), 99)
    blend.members = {e.name: w for e, w in zip(members, [0.5, 0.3, 0.2], strict=True)}
    _round_trip(sqlite_hub, result, blend, ensemble, test)


def _refusing(prefix: str):  # type: ignore[no-untyped-def]
    """The registry's check, and also refusing any model that holds a type of ``prefix``
    (as the registry refuses a type outside its allow-list)."""

    def check(model: Any, X: Any) -> None:
        types = sio.get_untrusted_types(data=sio.dumps(model))
        foreign = [t for t in types if t.startswith(prefix)]
        if foreign:
            raise ConflictError(f"the model holds types mlharbor does not load: {foreign[0]}")
        check_storable(model, X)

    return check


def test_a_make_of_model_the_registry_refuses_is_never_chosen_nor_ensembled() -> None:
    df, schema = with_schema(categorical_frame(n=300))
    result = run_automl(
        df,
        schema,
        target="churn",
        time_budget=12,
        max_trials=6,
        check_storable=_refusing("lightgbm."),
    )
    rows = {r["name"]: r for r in result.leaderboard}
    first = rows["lightgbm-defaults-native"]
    assert first["status"] == "ok" and first["score"] is not None  # scored all the same
    assert first["note"].startswith("could not be stored: the model holds types")
    assert not first["winner"] and first["ensemble_weight"] == 0
    assert "lightgbm" not in result.winner.name
    assert all("lightgbm" not in name for name in result.winner.members)
    lightgbm = [r for r in rows.values() if r["family"] == "lightgbm"]
    assert len(lightgbm) >= 2 and all("could not be stored" in r["note"] for r in lightgbm)
    assert not any(r["phase"] == "tuning" for r in lightgbm)  # not tuned either
    check_storable(result.pipeline, df.drop(columns=["churn"]).head(5))


def test_a_served_model_the_registry_refuses_is_replaced_by_the_best_that_passes() -> None:
    # Fold models are single estimators and pass; the served bag of them does not.
    df, schema = with_schema(binary_frame())  # LightGBM scores best, and is served as a bag
    result = run_automl(
        df,
        schema,
        target="diagnosis",
        time_budget=10,
        max_trials=2,
        check_storable=_refusing("mlharbor.models.automl.ensemble.Bagged"),
    )
    rows = {r["name"]: r for r in result.leaderboard}
    assert rows["lightgbm-defaults"]["score"] > rows["logistic-regression"]["score"]
    assert rows["lightgbm-defaults"]["note"].startswith("could not be stored")
    assert result.best_name == "logistic-regression" and rows["logistic-regression"]["winner"]
    assert isinstance(result.pipeline, Pipeline)
    assert not isinstance(result.pipeline, BaggedClassifier | BaggedRegressor)
    assert any("serving logistic-regression" in note for note in result.notes)
