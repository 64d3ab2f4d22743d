"""Drift between two stored datasets, on the hub."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mlharbor.hub import Hub


def test_a_column_inferred_differently_in_the_two_datasets_is_still_compared(
    sqlite_hub: Hub, tmp_path: Path
) -> None:
    # 60 distinct counts read as numbers; the last 200 rows hold 6 and read as categories.
    rng = np.random.default_rng(0)
    wide = pd.DataFrame({"cc": rng.integers(0, 60, 1000), "x": rng.normal(size=1000)})
    narrow = pd.DataFrame({"cc": rng.integers(0, 6, 200), "x": rng.normal(size=200)})
    for name, frame in (("wide", wide), ("narrow", narrow)):
        frame.to_csv(tmp_path / f"{name}.csv", index=False)
        sqlite_hub.datasets.ingest_file(tmp_path / f"{name}.csv", name=name)
    kinds = {
        n: {
            c.name: c.semantic_type.value for c in sqlite_hub.datasets.get_version(n).schema.columns
        }
        for n in ("wide", "narrow")
    }
    assert kinds["wide"]["cc"] != kinds["narrow"]["cc"]  # the case this test is about
    report = sqlite_hub.monitoring.dataset_drift("wide", "narrow")
    (cc,) = [c for c in report["columns"] if c["column"] == "cc"]
    assert cc["drifted"] is True
    # The narrow dataset's own profile (as itself) is unchanged by the comparison.
    again = sqlite_hub.monitoring.dataset_drift("narrow", "narrow")
    assert not [c for c in again["columns"] if c["drifted"]]


def test_profiles_computed_for_a_report_are_stored_and_give_the_same_report(
    sqlite_hub: Hub, tmp_path: Path
) -> None:
    rng = np.random.default_rng(1)
    for name, shift in (("before", 0.0), ("after", 0.5)):
        frame = pd.DataFrame(
            {"x": rng.normal(shift, 1, 3000), "c": rng.choice(list("abcdefgh"), 3000)}
        )
        frame.to_csv(tmp_path / f"{name}.csv", index=False)
        sqlite_hub.datasets.ingest_file(tmp_path / f"{name}.csv", name=name)
    artifacts = sqlite_hub.artifacts
    computed = sqlite_hub.monitoring.dataset_drift("before", "after")
    stored = artifacts.list("monitoring/datasets")
    assert len(stored) == 2
    assert sqlite_hub.monitoring.dataset_drift("before", "after") == computed


def test_a_report_is_the_same_whichever_profiles_were_stored(
    sqlite_hub: Hub, tmp_path: Path
) -> None:
    rng = np.random.default_rng(2)
    for name, shift in (("a", 0.0), ("b", 0.3), ("c", 0.6)):
        frame = pd.DataFrame(
            {
                "x": rng.normal(shift, 1, 2000),
                "rare": rng.choice([f"r{i}" for i in range(400)], 2000),  # Monte Carlo
                "c": rng.choice(list("abc"), 2000),
            }
        )
        frame.to_csv(tmp_path / f"{name}.csv", index=False)
        sqlite_hub.datasets.ingest_file(tmp_path / f"{name}.csv", name=name)
    monitoring = sqlite_hub.monitoring
    first = monitoring.dataset_drift("a", "b")  # both computed
    mixed = monitoring.dataset_drift("a", "c")  # a stored, c computed
    assert monitoring.dataset_drift("a", "b") == first  # both stored
    assert monitoring.dataset_drift("a", "c") == mixed
    some = monitoring.dataset_drift("a", "c", columns=["rare", "x"])
    by_name = {c["column"]: c for c in mixed["columns"]}
    assert some["columns"] == [by_name["rare"], by_name["x"]]
