"""Deleting model versions and models over REST, with the client and on the command line."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlharbor import Client, NotFoundError
from mlharbor.cli import app
from mlharbor.config import get_settings
from mlharbor.hub import Hub
from mlharbor.monitoring.reference import reference_key
from mlharbor.serving.predlog import partition

from ..serving.mixed import register
from .conftest import LiveServer

runner = CliRunner()


def test_delete_over_rest_refuses_aliases_and_stops_serving(
    live_sqlite: LiveServer, tmp_path: Path
) -> None:
    features = register(live_sqlite.hub, tmp_path, "churn", "churn", "logistic")
    register(live_sqlite.hub, tmp_path, "churn", "churn", "logistic")
    rows = features.head(2).to_dict("records")
    with live_sqlite.client() as api:
        assert api.put("/api/v1/models/churn/aliases/champion", json={"version": 1}).is_success
        assert api.post("/api/v1/models/churn/1/predict", json=rows).status_code == 200

        refused = api.delete("/api/v1/models/churn/versions/1")
        assert refused.status_code == 409
        assert "alias(es) champion" in refused.json()["detail"]
        missing = api.delete("/api/v1/models/churn/versions/9")
        assert missing.status_code == 404 and "no version 9" in missing.json()["detail"]
        unknown = api.delete("/api/v1/models/ghost")
        assert unknown.status_code == 404 and "'ghost'" in unknown.json()["detail"]

        assert api.delete("/api/v1/models/churn/versions/1?force=true").status_code == 204
        gone = api.post("/api/v1/models/churn/1/predict", json=rows)
        assert gone.status_code == 404 and "no version 1" in gone.json()["detail"]
        assert api.get("/api/v1/models/churn").json()["aliases"] == {"latest": 2}
        assert api.delete("/api/v1/datasets/churn").status_code == 409  # v2 still uses it

    r = runner.invoke(app, ["--url", live_sqlite.url, "models", "delete", "churn@2", "--yes"])
    assert r.exit_code == 0 and "deleted churn version 2" in r.output, r.output
    with Client(live_sqlite.url) as client:
        assert client.models.get("churn")["versions"] == []
    with live_sqlite.client(headers={"Accept": "text/html"}) as browser:
        page = browser.get("/models/churn")  # the emptied model's page says why it is empty
        assert page.status_code == 404 and "no versions left" in page.text
    listing = runner.invoke(app, ["--url", live_sqlite.url, "models", "list"])
    assert "churn" in listing.output and "none" in listing.output, listing.output
    with Client(live_sqlite.url) as client:
        client.models.delete("churn")
        with pytest.raises(NotFoundError, match="no registered model named 'churn'"):
            client.models.get("churn")
        client.datasets.delete("churn")
        assert client.datasets.list()["count"] == 0


def test_deleting_a_version_over_rest_removes_its_checks_prediction_log_and_reference(
    live_sqlite: LiveServer, tmp_path: Path
) -> None:
    hub = live_sqlite.hub
    features = register(hub, tmp_path, "churn", "churn", "logistic", lineage=True)
    register(hub, tmp_path, "churn", "churn", "logistic", lineage=True)
    ids = {n: hub.models.get_version("churn", n).id for n in (1, 2)}
    rows = features.head(3).to_dict("records")
    with live_sqlite.client() as api:
        for n in (1, 2):
            assert api.post(f"/api/v1/models/churn/{n}/predict", json=rows).status_code == 200
        assert hub.predlog is not None and hub.predlog.flush()
        for n in (1, 2):
            hub.monitoring.reference("churn", n)  # stored per version on first use
            hub.alerts.check(f"churn@{n}")
        assert {e["version"] for e in hub.alerts.list_events(model="churn")} == {1, 2}
        assert all(hub.artifacts.list(partition("churn", n)) for n in (1, 2))
        assert all(hub.artifacts.exists(reference_key(ids[n])) for n in (1, 2))

        assert api.delete("/api/v1/models/churn/versions/2").status_code == 204

    # What was kept of version 2 is gone from the database and the store; version 1's stays.
    assert {e["version"] for e in hub.alerts.list_events(model="churn")} == {1}
    assert hub.artifacts.list(partition("churn", 2)) == []
    assert hub.artifacts.list(partition("churn", 1))
    assert not hub.artifacts.exists(reference_key(ids[2]))
    assert hub.artifacts.exists(reference_key(ids[1]))


def test_models_delete_asks_first_then_deletes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLHARBOR_DATA_DIR", str(tmp_path / "data"))
    with Hub.open(get_settings()) as hub:
        register(hub, tmp_path, "churn", "churn", "logistic")
        register(hub, tmp_path, "churn", "churn", "logistic")
        hub.models.set_alias("churn", "champion", 2)

    declined = runner.invoke(app, ["models", "delete", "churn@1"], input="n\n")
    assert declined.exit_code == 1 and "nothing deleted" in declined.output
    held = runner.invoke(app, ["models", "delete", "churn@2", "--yes"])
    assert held.exit_code != 0 and "champion" in held.output
    r = runner.invoke(app, ["models", "delete", "churn@2", "--force"], input="y\n")
    assert r.exit_code == 0 and "deleted churn version 2" in r.output, r.output
    assert "latest→v1" in runner.invoke(app, ["models", "list"]).output

    r = runner.invoke(app, ["models", "delete", "churn", "--yes"])
    assert r.exit_code == 0 and "deleted model churn" in r.output, r.output
    assert "no models yet" in runner.invoke(app, ["models", "list"]).output
    with Hub.open(get_settings()) as hub:
        hub.datasets.delete("churn")  # no model depends on it any more
        assert hub.datasets.list() == ([], 0)
