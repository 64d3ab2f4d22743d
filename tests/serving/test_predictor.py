"""The predictor's fast path answers exactly as the pipeline does, off the database."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import event

from mlharbor.config import Settings
from mlharbor.errors import InvalidInputError
from mlharbor.hub import Hub

from .mixed import register


@pytest.mark.parametrize("model", ["rf", "lightgbm", "logistic"])
def test_fast_path_matches_the_pipeline(sqlite_hub: Hub, tmp_path: Path, model: str) -> None:
    features = register(sqlite_hub, tmp_path, "churn", "churn", model)
    pipeline = sqlite_hub.models.load_pipeline("churn")
    expected = pipeline.predict(features)
    proba = pipeline.predict_proba(features)
    for i in range(5):  # single records take the pandas-free path
        one = sqlite_hub.predictor.predict("churn", "latest", [features.iloc[i].to_dict()])
        assert one.predictions == [expected[i]]
        np.testing.assert_allclose(one.probabilities, proba[i : i + 1], atol=1e-6)
    many = sqlite_hub.predictor.predict("churn", "latest", features)
    assert many.predictions == list(expected)
    assert many.classes == ["no", "yes"]
    np.testing.assert_allclose(many.probabilities, proba, atol=1e-6)


def test_forest_regressor_fast_path_matches(sqlite_hub: Hub, tmp_path: Path) -> None:
    features = register(sqlite_hub, tmp_path, "spend", "spend")
    expected = sqlite_hub.models.load_pipeline("spend").predict(features.iloc[:3])
    got = sqlite_hub.predictor.predict("spend", "1", features.iloc[:3])
    np.testing.assert_allclose(got.predictions, expected, rtol=1e-9)
    assert got.probabilities is None


def test_warm_predictions_do_not_touch_the_database(sqlite_hub: Hub, tmp_path: Path) -> None:
    row = register(sqlite_hub, tmp_path, "churn", "churn").iloc[0].to_dict()
    sqlite_hub.predictor.predict("churn", "latest", [row])
    statements: list[str] = []
    event.listen(sqlite_hub.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    for _ in range(20):
        sqlite_hub.predictor.predict("churn", "latest", [row])
    assert statements == []


def test_alias_move_here_is_seen_at_once_elsewhere_after_the_ttl(
    sqlite_settings: Settings, tmp_path: Path
) -> None:
    # Long enough that the steps between the replica's two reads never outlast it, even on a
    # loaded machine (0.3 s did under a full suite beside other work).
    sqlite_settings.predict_ref_ttl_seconds = 3.0
    with Hub.open(sqlite_settings) as hub, Hub.open(sqlite_settings) as replica:
        row = register(hub, tmp_path, "churn", "churn").iloc[0].to_dict()
        register(hub, tmp_path, "churn", "churn", "logistic")
        hub.models.set_alias("churn", "champion", 1)
        assert hub.predictor.predict("churn", "champion", [row]).version == 1
        # Version 2 loaded beforehand: its loading must not eat the replica's TTL below
        # (on a loaded machine it took longer than the TTL itself).
        assert hub.predictor.predict("churn", 2, [row]).version == 2
        assert replica.predictor.predict("churn", 1, [row]).version == 1  # and 1 here
        assert replica.predictor.predict("churn", "champion", [row]).version == 1
        resolved = time.monotonic()
        hub.models.set_alias("churn", "champion", 2)
        assert hub.predictor.predict("churn", "champion", [row]).version == 2
        # The replica trusts its resolution for the TTL, then asks the database again.
        assert replica.predictor.predict("churn", "champion", [row]).version == 1
        threading.Event().wait(max(0.0, resolved + 3.1 - time.monotonic()))
        assert replica.predictor.predict("churn", "champion", [row]).version == 2


def test_concurrent_requests_while_the_alias_moves(sqlite_hub: Hub, tmp_path: Path) -> None:
    features = register(sqlite_hub, tmp_path, "churn", "churn")
    register(sqlite_hub, tmp_path, "churn", "churn", "logistic")
    records = features.iloc[:4].to_dict("records")
    seen: list[int] = []
    errors: list[BaseException] = []

    # Five requests each before the alias moves, five while it moves, five after.
    before, moved = threading.Barrier(7), threading.Event()

    def client() -> None:
        try:
            for i in range(15):
                if i == 5:
                    before.wait(30)
                if i == 10:
                    moved.wait(30)
                answer = sqlite_hub.predictor.predict("churn", "champion", [records[i % 4]])
                assert len(answer.predictions) == 1
                seen.append(answer.version)
        except BaseException as exc:
            errors.append(exc)

    sqlite_hub.models.set_alias("churn", "champion", 1)
    threads = [threading.Thread(target=client) for _ in range(6)]
    for t in threads:
        t.start()
    before.wait(30)
    for version in (2, 1, 2):
        sqlite_hub.models.set_alias("churn", "champion", version)
    moved.set()
    for t in threads:
        t.join()
    assert errors == []
    assert len(seen) == 90 and set(seen) <= {1, 2}
    assert sqlite_hub.predictor.size == 2
    assert sqlite_hub.predictor.predict("churn", "champion", [records[0]]).version == 2


def test_bad_values_in_a_single_record(sqlite_hub: Hub, tmp_path: Path) -> None:
    row = register(sqlite_hub, tmp_path, "churn", "churn").iloc[0].to_dict()
    predict = sqlite_hub.predictor.predict
    for value, words in [(float("inf"), "finite"), ("-inf", "finite"), ("old", "a number")]:
        with pytest.raises(InvalidInputError, match=words) as info:
            predict("churn", "latest", [{**row, "age": value}])
        assert "'age'" in str(info.value)
        with pytest.raises(InvalidInputError, match=words):  # the frame path says the same
            predict("churn", "latest", [{**row, "age": value}, row])
    for missing in (None, float("nan"), ""):
        assert len(predict("churn", "latest", [{**row, "age": missing}]).predictions) == 1
    answer = predict("churn", "latest", [{**row, "city": "tokyo", "plan": "pro"}])
    assert answer.unseen_categories == {"city": ["tokyo"]}
    assert len(predict("churn", "latest", [{**row, "city": "tokyo"}, row]).predictions) == 2


def test_a_boolean_in_a_text_column_is_the_training_spelling_in_one_record_or_many(
    sqlite_hub: Hub, tmp_path: Path
) -> None:
    """A JSON ``true`` for a category trained as the text ``true`` (beside ``unsure``) is that
    category, whether the record comes alone (the pandas-free path) or in a batch."""
    import pandas as pd

    from mlharbor.models import train_model

    rng = np.random.default_rng(3)
    n = 300
    df = pd.DataFrame(
        {
            "consent": rng.choice(["true", "false", "unsure"], n),
            "age": rng.integers(18, 80, n).astype(float),
        }
    )
    df["churn"] = np.where((df.consent == "true") ^ (rng.random(n) < 0.1), "yes", "no")
    path = tmp_path / "consent.csv"
    df.to_csv(path, index=False)
    version = sqlite_hub.datasets.ingest_file(path).version
    assert version.schema.column("consent").semantic_type == "categorical"
    result = train_model(
        sqlite_hub.datasets.read_table(version).to_pandas(),
        version.schema,
        target="churn",
        model="rf",
        params={"n_estimators": 20},
        cv_folds=0,
        artifacts=False,
    )
    sqlite_hub.models.register("consent", result, dataset_version_id=version.id)
    for truth, text in ((True, "true"), (False, "false")):
        spelled = sqlite_hub.predictor.predict("consent", "1", [{"consent": text, "age": 40}])
        alone = sqlite_hub.predictor.predict("consent", "1", [{"consent": truth, "age": 40}])
        batch = sqlite_hub.predictor.predict(
            "consent", "1", [{"consent": truth, "age": 40}, {"consent": "unsure", "age": 40}]
        )
        assert alone.probabilities == spelled.probabilities == batch.probabilities[:1]
        assert not alone.unseen_categories and not batch.unseen_categories
