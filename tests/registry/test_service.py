from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from mlharbor.errors import ConflictError, InvalidInputError, NotFoundError
from mlharbor.models.evaluate import artifact_names
from mlharbor.registry import ModelRegistry, suggest_model_name
from mlharbor.registry.persist import content_hash
from mlharbor.store.orm import ModelVersion
from tests.training_data import FRAMES, TARGETS

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_registering_numbers_versions_and_moves_latest(registry: ModelRegistry, trained):
    lineage = {"dataset_hash": "abc", "at": datetime(2026, 1, 1, tzinfo=UTC)}
    first = registry.register("churn", trained["binary"], lineage=lineage)
    second = registry.register("churn", trained["binary"])
    assert (first.version, second.version) == (1, 2)
    assert first.aliases == ["latest"]
    assert registry.get_version("churn", "latest").version == 2
    assert registry.get_version("churn", 1).aliases == []
    assert first.task == "binary" and first.target == "diagnosis"
    assert first.estimator == "LogisticRegression"
    assert first.metrics["test"]["roc_auc"] > 0.8 and "roc_auc" in first.metrics["cv"]
    assert first.signature["inputs"][0]["semantic_type"] == "numeric"
    assert first.lineage["dataset_hash"] == "abc"
    assert "scikit-learn" in first.lineage["library_versions"]
    assert first.params["max_iter"] == 2000
    json.dumps(first.to_dict())


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression", "text"])
def test_a_registered_model_loads_back_to_identical_predictions(registry, trained, task):
    result = trained[task]
    registry.register(f"model-{task}", result)
    loaded = registry.load_pipeline(f"model-{task}", "latest")
    X = FRAMES[task]().drop(columns=TARGETS[task])
    np.testing.assert_array_equal(loaded.predict(X), result.pipeline.predict(X))
    version = registry.get_version(f"model-{task}", 1)
    assert set(version.artifacts) == set(artifact_names(result.task))
    for name in version.artifacts:
        assert registry.read_artifact(f"model-{task}", 1, name, "png").startswith(PNG_MAGIC)
        json.loads(registry.read_artifact(f"model-{task}", "latest", name, "json"))


def test_versions_are_found_by_number_or_alias(registry: ModelRegistry, trained) -> None:
    for _ in range(3):
        registry.register("best_model", trained["regression"])
    champion = registry.set_alias("best_model", "champion", 2)
    assert champion.version == 2 and champion.aliases == ["champion"]
    for ref in (2, "2", "v2", "champion"):
        assert registry.get_version("best_model", ref).version == 2
    registry.set_alias("best_model", "champion", "latest")
    assert registry.get_version("best_model", "champion").aliases == ["champion", "latest"]
    model = registry.get_model("best_model")
    assert model.latest_version == 3 and model.aliases == {"champion": 3, "latest": 3}
    assert [v.version for v in model.versions] == [1, 2, 3]
    registry.delete_alias("best_model", "champion")
    assert registry.get_model("best_model").aliases == {"latest": 3}


def test_missing_things_are_named_with_what_exists(registry: ModelRegistry, trained) -> None:
    registry.register("churn", trained["binary"])
    with pytest.raises(NotFoundError, match=r"no registered model named 'nope'.*churn"):
        registry.get_version("nope", 1)
    with pytest.raises(NotFoundError, match="no version 9; its versions: 1"):
        registry.get_version("churn", 9)
    with pytest.raises(NotFoundError, match=r"no version or alias 'champion'.*latest"):
        registry.get_version("churn", "champion")
    with pytest.raises(NotFoundError, match="no alias 'champion'"):
        registry.delete_alias("churn", "champion")
    with pytest.raises(NotFoundError, match=r"no artifact 'shap'.*roc_curve"):
        registry.read_artifact("churn", 1, "shap")
    with pytest.raises(InvalidInputError, match="unknown artifact format 'svg'"):
        registry.read_artifact("churn", 1, "roc_curve", "svg")


@pytest.mark.parametrize("alias", ["latest", "v2", "12", "has space", "-x", ""])
def test_bad_or_managed_aliases_are_refused(registry: ModelRegistry, trained, alias) -> None:
    registry.register("churn", trained["binary"])
    with pytest.raises(InvalidInputError, match="alias"):
        registry.set_alias("churn", alias, 1)


def test_latest_cannot_be_deleted(registry: ModelRegistry, trained) -> None:
    registry.register("churn", trained["binary"])
    with pytest.raises(InvalidInputError, match="managed by the registry"):
        registry.delete_alias("churn", "latest")


@pytest.mark.parametrize("name", ["../etc/passwd", "1model", "a b", "", "x" * 129, "ok/../no"])
def test_invalid_model_names_are_refused(registry: ModelRegistry, trained, name) -> None:
    with pytest.raises(InvalidInputError, match="invalid model name"):
        registry.register(name, trained["binary"])


def test_list_models_summarises_each_model(registry: ModelRegistry, trained) -> None:
    registry.register("b-model", trained["regression"])
    registry.register("a-model", trained["text"])
    registry.register("a-model", trained["text"])
    listed = registry.list_models()
    assert [(m.name, m.latest_version) for m in listed] == [("a-model", 2), ("b-model", 1)]
    json.dumps([m.to_dict() for m in listed])


def test_an_external_sklearn_model_is_registered_after_a_safe_load(registry) -> None:
    X = np.arange(40, dtype=float).reshape(20, 2)
    frame = pd.DataFrame(X, columns=["a", "b"])
    model = LinearRegression().fit(frame, X[:, 0] * 2)
    version = registry.register_external("uploaded", sio.dumps(model), target="y")
    assert version.task == "regression" and version.estimator == "LinearRegression"
    assert [c["name"] for c in version.signature["inputs"]] == ["a", "b"]
    loaded = registry.load_pipeline("uploaded", 1)
    np.testing.assert_allclose(loaded.predict(frame), model.predict(frame))


def test_a_malicious_upload_is_refused_and_nothing_is_registered(registry) -> None:
    data = sio.dumps(FunctionTransformer(os.system))
    with pytest.raises(InvalidInputError, match=r"never loads: posix\.system"):
        registry.register_external("evil", data)
    assert registry.list_models() == []


def test_a_store_file_swapped_for_a_malicious_one_is_refused_at_load(
    registry: ModelRegistry, trained
) -> None:
    # Someone who can write the store and the database: the hash matches, the check does not.
    version = registry.register("churn", trained["binary"])
    evil = sio.dumps(make_pipeline(FunctionTransformer(os.system), LogisticRegression()))
    registry.artifacts.local_path(_model_key(registry, version.id)).write_bytes(evil)
    with registry.session_factory.begin() as session:
        session.get_one(ModelVersion, version.id).content_hash = content_hash(evil)
    with pytest.raises(ConflictError, match=r"stored model file holds .* posix\.system"):
        registry.load_pipeline("churn", 1)


def test_a_tampered_model_file_is_not_loaded(registry: ModelRegistry, trained) -> None:
    version = registry.register("churn", trained["binary"])
    path = registry.artifacts.local_path(_model_key(registry, version.id))
    path.write_bytes(path.read_bytes() + b"x")
    with pytest.raises(ConflictError, match="does not match its recorded hash"):
        registry.load_pipeline("churn", 1)


def _model_key(registry: ModelRegistry, version_id: int) -> str:
    with registry.session_factory() as session:
        return session.get_one(ModelVersion, version_id).artifact_key


def test_concurrent_registrations_get_distinct_versions(registry: ModelRegistry, trained):
    with ThreadPoolExecutor(max_workers=4) as pool:
        versions = list(
            pool.map(lambda _: registry.register("race", trained["regression"]).version, range(4))
        )
    assert sorted(versions) == [1, 2, 3, 4]
    assert registry.get_version("race", "latest").version == 4


def test_suggested_names_are_always_valid(registry: ModelRegistry, trained) -> None:
    for parts in [("titanic.csv", "Survived"), ("2024 sales/../x", "€"), ("",), ("a" * 300,)]:
        name = suggest_model_name(*parts)
        assert registry.register(name, trained["regression"]).model == name
