"""Deleting model versions and whole registered models, with their files."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlharbor.errors import ConflictError, InvalidInputError, NotFoundError
from mlharbor.hub import Hub
from mlharbor.monitoring.reference import reference_key
from mlharbor.registry import ModelRegistry
from tests.serving.mixed import register


def _prefix(registry: ModelRegistry, name: str, version: int) -> str:
    """The store folder of a version: ``models/<random>``, from one of its plots' keys."""
    plots = registry.get_version(name, version).artifacts
    key = next(iter(plots.values()))["png"]["key"]
    return "/".join(key.split("/")[:2])


def test_deleting_versions_keeps_aliases_honest_and_removes_files(
    registry: ModelRegistry, trained
) -> None:
    for _ in range(3):
        registry.register("best_model", trained["regression"])
    registry.set_alias("best_model", "champion", 2)
    registry.set_alias("best_model", "best_model", 2)
    files = {v: _prefix(registry, "best_model", v) for v in (1, 2, 3)}
    assert len(registry.artifacts.list(files[2])) > 2  # the model file and its plots

    with pytest.raises(ConflictError, match=r"version 2 is pointed at by.*best_model, champion"):
        registry.delete_version("best_model", 2)
    assert registry.get_version("best_model", "champion").version == 2

    registry.delete_version("best_model", 2, force=True)
    assert registry.artifacts.list(files[2]) == []
    with pytest.raises(NotFoundError, match="no version 2; its versions: 1, 3"):
        registry.get_version("best_model", 2)
    assert registry.get_model("best_model").aliases == {"latest": 3}

    registry.delete_version("best_model", "v3")  # latest alone does not hold a version
    model = registry.get_model("best_model")
    assert model.aliases == {"latest": 1} and model.latest_version == 1
    assert registry.get_version("best_model", "latest").version == 1
    assert registry.artifacts.list(files[3]) == [] and registry.artifacts.list(files[1])

    registry.delete_version("best_model", 1)
    emptied = registry.get_model("best_model")  # the registered model stays
    assert emptied.versions == [] and emptied.aliases == {} and emptied.latest_version is None
    # Numbers are never reused: v4 cannot inherit the log and monitoring history of a deleted v3.
    assert registry.register("best_model", trained["regression"]).version == 4


def test_deleting_a_model_removes_everything_and_names_unknowns(
    registry: ModelRegistry, trained
) -> None:
    registry.register("churn", trained["binary"])
    registry.register("churn", trained["binary"])
    registry.set_alias("churn", "champion", 1)
    files = [_prefix(registry, "churn", v) for v in (1, 2)]
    changed: list[str] = []
    registry.on_change(changed.append)

    with pytest.raises(NotFoundError, match=r"no registered model named 'nope'.*churn"):
        registry.delete_model("nope")
    with pytest.raises(NotFoundError, match="no version 7; its versions: 1, 2"):
        registry.delete_version("churn", 7)
    with pytest.raises(InvalidInputError, match=r"give a version number.*'champion'"):
        registry.delete_version("churn", "champion")

    registry.delete_model("churn")
    assert changed == ["churn"]
    assert registry.list_models() == []
    assert all(registry.artifacts.list(f) == [] for f in files)
    with pytest.raises(NotFoundError, match="no registered model named 'churn'"):
        registry.get_version("churn", 1)


def test_a_deleted_version_stops_serving_and_frees_its_dataset(hub: Hub, tmp_path: Path) -> None:
    features = register(hub, tmp_path, "churn", "churn", "logistic")
    register(hub, tmp_path, "churn", "churn", "logistic", lineage=True)  # same dataset version
    row = [features.iloc[0].to_dict()]
    assert len(hub.predictor.predict("churn", "2", row).predictions) == 1
    with pytest.raises(ConflictError, match="used by model versions churn v1, churn v2"):
        hub.datasets.delete("churn")

    v2 = hub.models.get_version("churn", 2)
    hub.monitoring.reference("churn", 2)  # the drift reference is kept per version
    assert hub.artifacts.exists(reference_key(v2.id))
    hub.models.delete_version("churn", 2)
    assert not hub.artifacts.exists(reference_key(v2.id))
    with pytest.raises(NotFoundError, match="no version 2"):
        hub.predictor.predict("churn", "2", row)
    assert hub.predictor.predict("churn", "latest", row).version == 1
    with pytest.raises(ConflictError, match="used by model versions churn v1;"):
        hub.datasets.delete("churn")

    # The model's monitoring history (prediction log, checks) goes with it, so a new model
    # under the same name, numbered from 1 again, inherits nothing.
    assert hub.predlog is not None and hub.predlog.flush()
    assert hub.artifacts.list("predlog/churn")
    hub.alerts.check("churn@latest")
    assert hub.alerts.list_events(model="churn")
    hub.models.delete_model("churn")
    with pytest.raises(NotFoundError):
        hub.predictor.predict("churn", "latest", row)
    assert hub.artifacts.list("predlog/churn") == []
    assert hub.alerts.list_events(model="churn") == []
    hub.datasets.delete("churn")
    assert hub.datasets.list() == ([], 0)
