from __future__ import annotations

import io
import json
import os
import zipfile

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from mlharbor.errors import InvalidInputError
from mlharbor.models import CATALOG
from mlharbor.models.train import train_model
from mlharbor.registry import TRUSTED_TYPES, dump_pipeline, load_external, load_trusted
from tests.training_data import FRAMES, TARGETS, with_schema

FAST = {
    "random-forest": {"n_estimators": 5},
    "extra-trees": {"n_estimators": 5},
    "lightgbm": {"n_estimators": 10},
    "hist-gradient-boosting": {"max_iter": 10},
}
MATRIX = [(spec.name, task.value) for spec in CATALOG for task in sorted(spec.tasks)]


def _predictions(pipeline, X):
    if hasattr(pipeline, "predict_proba"):
        try:
            return pipeline.predict_proba(X)
        except AttributeError:
            pass
    return pipeline.predict(X)


@pytest.mark.parametrize(("model", "task"), MATRIX, ids=[f"{m}-{t}" for m, t in MATRIX])
def test_every_catalog_model_round_trips_to_identical_predictions(model, task) -> None:
    df, schema = with_schema(FRAMES[task]())
    result = train_model(
        df,
        schema,
        target=TARGETS[task],
        model=model,
        params=FAST.get(model),
        cv_folds=0,
        artifacts=False,
    )
    loaded = load_trusted(dump_pipeline(result.pipeline))
    X = df.drop(columns=TARGETS[task])
    np.testing.assert_array_equal(_predictions(loaded, X), _predictions(result.pipeline, X))
    np.testing.assert_array_equal(loaded.predict(X), result.pipeline.predict(X))


def test_every_preprocessing_kind_round_trips() -> None:
    rng = np.random.default_rng(1)
    n = 150
    df = pd.DataFrame(
        {
            "amount": rng.normal(size=n),
            "colour": rng.choice(["r", "g", None], n),
            "city": [f"c{i}" for i in rng.integers(0, 40, n)],
            "member": rng.choice(["y", "n"], n),
            "joined": pd.date_range("2023-01-01", periods=n, freq="D").strftime("%Y-%m-%d"),
            "note": [" ".join(rng.choice(["ab", "cd", "ef", "gh"], 5)) for _ in range(n)],
            "label": rng.choice(["p", "q"], n),
        }
    )
    df, schema = with_schema(df)
    for model in ("logistic-regression", "decision-tree"):
        result = train_model(
            df, schema, target="label", model=model, task="binary", cv_folds=0, artifacts=False
        )
        loaded = load_trusted(dump_pipeline(result.pipeline))
        np.testing.assert_array_equal(loaded.predict_proba(df), result.pipeline.predict_proba(df))


def test_a_plain_sklearn_pipeline_from_a_user_loads_without_an_allow_list() -> None:
    X, y = np.random.default_rng(0).normal(size=(40, 3)), np.arange(40) % 2
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    loaded = load_external(sio.dumps(model))
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


class Doubler(TransformerMixin, BaseEstimator):
    def fit(self, X, y=None):
        self.n_features_in_ = np.asarray(X).shape[1]
        return self

    def transform(self, X):
        return np.asarray(X) * 2


def _custom_model() -> bytes:
    X, y = np.random.default_rng(0).normal(size=(40, 3)), np.arange(40) % 2
    return sio.dumps(make_pipeline(Doubler(), LogisticRegression()).fit(X, y))


def test_an_unknown_type_is_refused_and_listed_unless_allowed() -> None:
    data = _custom_model()
    name = f"{Doubler.__module__}.Doubler"
    with pytest.raises(InvalidInputError, match="untrusted types") as err:
        load_external(data)
    assert name in str(err.value) and err.value.details["types"] == [name]
    assert load_external(data, allow=[name]).predict(np.zeros((1, 3))).shape == (1,)


@pytest.mark.parametrize("func", [os.system, eval], ids=["os.system", "eval"])
def test_a_file_that_would_run_code_is_refused_even_when_allowed(func) -> None:
    data = sio.dumps(make_pipeline(FunctionTransformer(func), LogisticRegression()))
    untrusted = sio.get_untrusted_types(data=data)
    with pytest.raises(InvalidInputError, match="can run code"):
        load_external(data, allow=untrusted)


def test_a_forged_file_naming_os_system_as_its_class_is_refused() -> None:
    # What an attacker would write: a valid skops file whose top object is os.system.
    real = sio.dumps(FunctionTransformer())
    schema = json.loads(zipfile.ZipFile(io.BytesIO(real)).read("schema.json"))
    schema["__class__"], schema["__module__"] = "system", "os"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("schema.json", json.dumps(schema))
    for allow in ([], ["os.system"]):
        with pytest.raises(InvalidInputError, match=r"can run code.*os\.system"):
            load_external(buf.getvalue(), allow=allow)


@pytest.mark.parametrize("data", [b"not a zip at all", b"PK\x03\x04broken", b""])
def test_garbage_is_refused_as_unreadable(data: bytes) -> None:
    with pytest.raises(InvalidInputError, match=r"not a readable \.skops"):
        load_external(data)


def test_a_file_without_a_fitted_model_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="not a model with predict"):
        load_external(sio.dumps({"just": "a dict"}))
    with pytest.raises(InvalidInputError, match="not fitted"):
        load_external(sio.dumps(LogisticRegression()))


def test_the_store_refuses_types_outside_the_trusted_list() -> None:
    assert "mlharbor.prep.text.TextFeatures" in TRUSTED_TYPES
    with pytest.raises(Exception, match="not trusted"):
        load_trusted(_custom_model())
