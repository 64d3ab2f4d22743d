from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from mlharbor.errors import ConflictError, InvalidInputError
from mlharbor.models import CATALOG
from mlharbor.models.automl import BaggedClassifier, BaggedRegressor
from mlharbor.models.automl.ensemble import WeightedEnsembleRegressor
from mlharbor.models.automl.portfolio import Candidate
from mlharbor.models.tasks import Task
from mlharbor.models.train import train_model
from mlharbor.prep import make_preprocessor
from mlharbor.registry import TRUSTED_TYPES, dump_pipeline, load_external, load_trusted
from mlharbor.registry.skops_files import dumps, read_schema
from tests.training_data import FRAMES, TARGETS, categorical_frame, text_frame, with_schema

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


def test_a_plain_sklearn_pipeline_from_a_user_loads_without_any_setting() -> None:
    X, y = np.random.default_rng(0).normal(size=(40, 3)), np.arange(40) % 2
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    loaded = load_external(sio.dumps(model))
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


@pytest.mark.parametrize(
    "estimator", [HistGradientBoostingClassifier, HistGradientBoostingRegressor]
)
def test_histogram_boosting_with_categorical_features_round_trips(estimator) -> None:
    # scikit-learn 1.9 keeps FunctionTransformer(partial(check_array, ...)) inside it.
    rng = np.random.default_rng(1)
    X = np.c_[rng.integers(0, 6, 300), rng.normal(size=300)]
    y = (X[:, 0] % 2 + X[:, 1] > 0.5).astype(int)
    model = estimator(categorical_features=[0], max_iter=10, random_state=0).fit(X, y)
    schema = json.dumps(read_schema(dump_pipeline(model)))
    assert "functools" in schema and "check_array" in schema
    loaded = load_trusted(dump_pipeline(model))
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_automl_families_round_trip() -> None:
    """Bags of native-categorical LightGBM and histogram boosting, and an ensemble."""
    df, schema = with_schema(categorical_frame(300))
    X, y = df.drop(columns=["churn"]), df["churn"]
    for family, params in [("lightgbm", {"n_estimators": 10}), ("hist-gradient-boosting", {})]:
        model = Candidate("c", family, params, native=2).make(Task.BINARY, 0)
        prep = make_preprocessor(schema, target="churn", task="binary", native_categorical=True)
        bag = BaggedClassifier(Pipeline([("preprocess", prep), ("model", model)]), n_folds=3)
        bag.fit(X, y)
        loaded = load_trusted(dump_pipeline(bag))
        np.testing.assert_allclose(loaded.predict_proba(X), bag.predict_proba(X))
    Xr = np.random.default_rng(2).normal(size=(60, 3))
    yr = Xr @ [1.0, 2.0, 0.5]
    ensemble = WeightedEnsembleRegressor(
        [Ridge(), BaggedRegressor(Ridge(), n_folds=3)], weights=[0.5, 0.5], names=["r", "b"]
    ).fit(Xr, yr)
    np.testing.assert_allclose(
        load_trusted(dump_pipeline(ensemble)).predict(Xr), ensemble.predict(Xr)
    )


def test_our_files_are_skops_files_and_text_vocabularies_live_in_the_schema() -> None:
    df, schema = with_schema(text_frame())
    result = train_model(df, schema, target=TARGETS["text"], model="naive-bayes", artifacts=False)
    X = df.drop(columns=TARGETS["text"])
    expected = result.pipeline.predict(X)
    # Plain skops: one zip member per vocabulary term (a numpy.int64 each)...
    plain = sio.dumps(result.pipeline)
    ours = dump_pipeline(result.pipeline)
    # ...ours: the terms' indices as ints in schema.json, and the same predictions.
    members = len(zipfile.ZipFile(io.BytesIO(ours)).namelist())
    assert members < 50 < 400 < len(zipfile.ZipFile(io.BytesIO(plain)).namelist())
    np.testing.assert_array_equal(result.pipeline.predict(X), expected)
    np.testing.assert_array_equal(load_trusted(ours).predict(X), expected)
    # Plain skops reads our files, and writes the same schema but for whitespace.
    trusted = sio.get_untrusted_types(data=ours)
    np.testing.assert_array_equal(sio.loads(ours, trusted=trusted).predict(X), expected)
    model = LogisticRegression().fit(np.eye(4), [0, 1, 0, 1])
    assert _no_ids(read_schema(dumps(model))) == _no_ids(read_schema(sio.dumps(model)))


def _no_ids(node: object) -> object:
    """A schema without the ``__id__`` of each object (its id() at saving)."""
    if isinstance(node, dict):
        return {k: _no_ids(v) for k, v in node.items() if k != "__id__"}
    if isinstance(node, list):
        return [_no_ids(v) for v in node]
    return node


class Doubler(TransformerMixin, BaseEstimator):
    def fit(self, X, y=None):
        self.n_features_in_ = np.asarray(X).shape[1]
        return self

    def transform(self, X):
        return np.asarray(X) * 2


DOUBLER = f"{Doubler.__module__}.Doubler"


def _custom_model() -> bytes:
    X, y = np.random.default_rng(0).normal(size=(40, 3)), np.arange(40) % 2
    return sio.dumps(make_pipeline(Doubler(), LogisticRegression()).fit(X, y))


def test_an_unknown_type_is_refused_and_listed_unless_the_operator_trusts_it() -> None:
    data = _custom_model()
    with pytest.raises(InvalidInputError, match="never loads") as err:
        load_external(data)
    assert DOUBLER in str(err.value) and err.value.details["types"] == [DOUBLER]
    assert "MLHARBOR_TRUSTED_MODEL_TYPES" in str(err.value)
    assert load_external(data, extra=[DOUBLER]).predict(np.zeros((1, 3))).shape == (1,)
    with pytest.raises(ConflictError, match="never loads"):
        load_trusted(data)
    assert load_trusted(data, extra=[DOUBLER]).predict(np.zeros((1, 3))).shape == (1,)


@pytest.mark.parametrize("data", [b"not a zip at all", b"PK\x03\x04broken", b""])
def test_garbage_is_refused_as_unreadable(data: bytes) -> None:
    with pytest.raises(InvalidInputError, match=r"not a readable \.skops"):
        load_external(data)
    with pytest.raises(ConflictError, match=r"not a readable \.skops"):
        load_trusted(data)


def test_a_file_without_a_fitted_model_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="not a model with predict"):
        load_external(sio.dumps({"just": "a dict"}))
    with pytest.raises(InvalidInputError, match="not fitted"):
        load_external(sio.dumps(LogisticRegression()))


def test_the_allow_list_holds_our_types_and_no_callable_from_the_standard_library() -> None:
    assert "mlharbor.prep.text.TextFeatures" in TRUSTED_TYPES
    assert "sklearn.ensemble._forest.RandomForestClassifier" in TRUSTED_TYPES
    assert "numpy.log1p" in TRUSTED_TYPES
    for name in ("numpy.load", "numpy.fromfile", "pandas.read_csv", "scipy.io.loadmat"):
        assert name not in TRUSTED_TYPES
    assert not any(
        n.startswith(("sklearn.datasets.", "sklearn.utils._testing")) for n in TRUSTED_TYPES
    )
    data_names = {f"builtins.{t}" for t in ("dict", "list", "tuple", "set", "slice", "str", "int")}
    stdlib = sorted(n for n in TRUSTED_TYPES if n.split(".")[0] in sys.stdlib_module_names)
    assert set(stdlib) <= data_names | {
        "builtins.bool",
        "builtins.bytes",
        "builtins.bytearray",
        "builtins.complex",
        "builtins.float",
        "builtins.NoneType",
        "collections.OrderedDict",
        "collections.defaultdict",
        "functools.partial",
    }, stdlib


def test_threads_loading_model_files_at_once_in_a_new_process_all_succeed(tmp_path) -> None:
    # Two chunks scored on one Dask worker load the model at the same moment, in a process
    # whose allow-list is not built yet: it once failed half-way through scikit-learn's imports.
    X = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0], "b": [1.0, 0.0, 1.0, 0.0]})
    path = tmp_path / "model.skops"
    path.write_bytes(dump_pipeline(make_pipeline(StandardScaler(), Ridge()).fit(X, [0, 1, 2, 3])))
    script = f"""
import threading
from pathlib import Path
from mlharbor.registry import load_trusted
data = Path({str(path)!r}).read_bytes()
start, errors = threading.Barrier(4), []
def load():
    start.wait()
    try:
        load_trusted(data)
    except Exception as exc:
        errors.append(repr(exc))
threads = [threading.Thread(target=load) for _ in range(4)]
for t in threads: t.start()
for t in threads: t.join()
print(errors or "all loaded")
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.stdout.strip() == "all loaded", done.stdout + done.stderr
