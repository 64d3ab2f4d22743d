"""Runs on the real path: jobs, the registry, the cache, failures and resuming."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlharbor.hub import Hub
from mlharbor.pipelines import PipelineError, PipelineStore, run_pipeline, submit
from tests.pipelines.conftest import LIGHT_PIPELINE, TRAIN_PIPELINE, write_churn

pytestmark = pytest.mark.slow


def states(run: object) -> dict[str, str]:
    return {s.step: str(s.state) for s in run.steps}  # type: ignore[attr-defined]


def test_a_rerun_reuses_unchanged_steps_and_a_changed_param_reruns_what_it_touches(
    sqlite_hub: Hub, tmp_path: Path
) -> None:
    write_churn(tmp_path)
    first = run_pipeline(sqlite_hub, TRAIN_PIPELINE, base_dir=tmp_path)
    assert first.state == "succeeded", first.error
    assert states(first) == dict.fromkeys(["data", "split", "fit", "promote", "drift"], "done")
    fit = first.step("fit")
    assert fit.job_id is not None and fit.outputs["model"] == "churn@1"
    assert fit.inputs["dataset"]["dataset"] == "churn-train"
    assert len(fit.inputs["dataset"]["hash"]) == 64 and len(fit.cache_key or "") == 64
    assert first.step("promote").outputs["promoted"] is True  # no champion yet
    assert sqlite_hub.models.get_version("churn", "champion").version == 1
    assert "fit.accuracy" in first.metrics and first.file_hash

    again = run_pipeline(sqlite_hub, TRAIN_PIPELINE, base_dir=tmp_path)
    assert again.state == "succeeded"
    assert states(again) == {
        "data": "cached",  # the same content: the same dataset version
        "split": "cached",
        "fit": "cached",
        "promote": "done",  # it reads the registry every time
        "drift": "cached",
    }
    assert again.step("fit").reused_from == first.id
    assert again.step("fit").job_id == fit.job_id  # no new job, no new model version
    assert [v.version for v in sqlite_hub.models.get_model("churn").versions] == [1]
    assert again.step("promote").outputs["reason"] == "v1 already holds champion"

    reseeded = run_pipeline(sqlite_hub, TRAIN_PIPELINE, params={"seed": "7"}, base_dir=tmp_path)
    assert reseeded.state == "succeeded"
    assert states(reseeded)["split"] == "cached" and states(reseeded)["fit"] == "done"
    assert reseeded.step("fit").outputs["model"] == "churn@2"
    assert reseeded.params["seed"] == 7
    promote = reseeded.step("promote")
    assert promote.outputs["champion"] == "churn@1"
    assert promote.outputs["promoted"] is (promote.metrics["promoted"] == 1)

    # A step whose output was deleted is not reused: the model is trained again.
    sqlite_hub.models.delete_version("churn", 2, force=True)
    retrained = run_pipeline(sqlite_hub, TRAIN_PIPELINE, params={"seed": "7"}, base_dir=tmp_path)
    assert states(retrained)["fit"] == "done"
    assert retrained.step("fit").outputs["model"] == "churn@3"


def test_a_failed_step_stops_the_run_and_from_resumes_after_the_fix(
    sqlite_hub: Hub, tmp_path: Path
) -> None:
    write_churn(tmp_path)
    failed = run_pipeline(
        sqlite_hub, TRAIN_PIPELINE, params={"target": "loyalty"}, base_dir=tmp_path
    )
    assert failed.state == "failed"
    assert failed.error["step"] == "fit" and "loyalty" in failed.error["message"]
    assert states(failed) == {
        "data": "done",
        "split": "done",
        "fit": "failed",
        "promote": "skipped",
        "drift": "skipped",
    }
    assert "loyalty" in failed.step("fit").message

    resumed = run_pipeline(
        sqlite_hub, TRAIN_PIPELINE, params={"target": "churned"}, from_step="fit", base_dir=tmp_path
    )
    assert resumed.state == "succeeded", resumed.error
    assert resumed.resumed_from == failed.id and resumed.from_step == "fit"
    assert states(resumed)["data"] == "cached" and states(resumed)["split"] == "cached"
    assert resumed.step("split").reused_from == failed.id
    assert resumed.step("split").outputs == failed.step("split").outputs
    assert states(resumed)["fit"] == "done"

    with pytest.raises(PipelineError, match="no such step; steps: data, split, fit"):
        submit(sqlite_hub, TRAIN_PIPELINE, origin="cli", from_step="fitt", local_files=True)


def test_from_needs_the_earlier_steps_in_the_last_run(sqlite_hub: Hub, tmp_path: Path) -> None:
    with pytest.raises(PipelineError, match="has no earlier run to resume"):
        submit(sqlite_hub, LIGHT_PIPELINE, origin="cli", from_step="drift")
    sqlite_hub.datasets.ingest_file(write_churn(tmp_path), name="churn")
    failed = run_pipeline(sqlite_hub, LIGHT_PIPELINE, params={"where": "ghost > 1"})
    assert failed.state == "failed" and "unknown name 'ghost'" in failed.error["message"]
    with pytest.raises(PipelineError, match="has no result for step\\(s\\) split"):
        submit(sqlite_hub, LIGHT_PIPELINE, origin="cli", from_step="quality")


def test_a_split_keeps_the_rows_asked_for_in_time_order(sqlite_hub: Hub, tmp_path: Path) -> None:
    sqlite_hub.datasets.ingest_file(write_churn(tmp_path), name="churn")
    run = run_pipeline(sqlite_hub, LIGHT_PIPELINE, params={"where": "plan != 'pro'"})
    assert run.state == "succeeded", run.error
    split = run.step("split").outputs
    train = sqlite_hub.datasets.read_table(
        sqlite_hub.datasets.get_version(*_ref(split["train"]))
    ).to_pandas()
    production = sqlite_hub.datasets.read_table(
        sqlite_hub.datasets.get_version(*_ref(split["production"]))
    ).to_pandas()
    assert "pro" not in set(train["plan"]) | set(production["plan"])
    assert len(production) == round(0.25 * (len(train) + len(production)) + 0.49)
    assert train["signed_up"].max() < production["signed_up"].min()
    store = PipelineStore(sqlite_hub.sessions)
    assert store.get_run(run.id).step("drift").outputs["n_drifted"] >= 1  # signed_up moved


def _ref(text: str) -> tuple[str, int]:
    name, _, version = text.partition("@")
    return name, int(version)


def test_quality_warnings_chosen_in_fail_on_stop_the_run(sqlite_hub: Hub, tmp_path: Path) -> None:
    sqlite_hub.datasets.ingest_file(write_churn(tmp_path), name="churn")
    strict = LIGHT_PIPELINE.replace(
        "    target: churned\n", "    target: churned\n    fail_on: [missing_values]\n"
    )
    run = run_pipeline(sqlite_hub, strict)
    assert run.state == "failed" and run.error["step"] == "quality"
    assert "quality warning(s) it fails on" in run.error["message"]
    assert "fee" in run.error["message"]  # the column with gaps
    assert run.step("drift").state == "skipped"
    typo = run_pipeline(sqlite_hub, strict.replace("[missing_values]", "[missing]"))
    assert "unknown warning kind(s) missing" in typo.error["message"]
    assert "missing_values" in typo.error["message"]
