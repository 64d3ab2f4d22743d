"""Pipeline files: what a valid one gives, and errors that name the line, step and field."""

from __future__ import annotations

import textwrap

import pytest

from mlharbor.pipelines import PipelineError, load_pipeline
from mlharbor.pipelines.dag import check_graph

GOOD = """\
name: churn
params:
  budget: 20
  share: 0.2
  model: logistic-regression
  refit: true
steps:
  - id: data
    kind: ingest
    url: https://example.com/churn.csv
  - id: split
    kind: split
    dataset: ${steps.data.dataset}
    fraction: ${params.share}
    into: [train, production]
  - id: search
    kind: automl
    dataset: ${steps.split.train}
    target: churned
    time_budget: ${params.budget}
    models: ["${params.model}", decision-tree]
  - id: promote
    kind: promote
    model: ${steps.search.model}
    if: f1 > champion.f1 + 0.01
"""


def error_of(text: str, **params: str) -> PipelineError:
    with pytest.raises(PipelineError) as caught:
        load_pipeline(textwrap.dedent(text), params or None)
    return caught.value


def test_a_valid_file_gives_typed_params_and_run_order() -> None:
    pipeline = load_pipeline(GOOD, {"budget": "45", "refit": "no"})
    assert pipeline.params == {
        "budget": 45,
        "share": 0.2,
        "model": "logistic-regression",
        "refit": False,
    }
    search = pipeline.spec.steps[2]
    assert search.time_budget == 45  # a whole reference keeps the parameter's type
    assert search.models == ["logistic-regression", "decision-tree"]
    assert search.dataset == "${steps.split.train}"  # filled in when the run gets there
    assert check_graph(pipeline) == ["data", "split", "search", "promote"]
    assert len(pipeline.file_hash) == 64


def test_an_unknown_field_names_its_line_step_and_field() -> None:
    text = GOOD.replace("    target: churned\n", "    target: churned\n    budgett: 3\n")
    error = error_of(text)
    assert error.line == 20
    assert "step search: budgett: unknown field" in error.message
    assert error.message.startswith("line 20: ")


def test_a_value_of_the_wrong_type_names_its_line() -> None:
    error = error_of(GOOD.replace("time_budget: ${params.budget}", "time_budget: [1, 2]"))
    assert error.line == 20 and "step search: time_budget" in error.message


def test_a_parameter_that_does_not_fit_its_default_is_refused() -> None:
    error = error_of(GOOD, budget="sixty")
    assert "parameter 'budget' takes a whole number (its default is 20), got 'sixty'" in str(
        error.message
    )
    error = error_of(GOOD, budgett="60")
    assert "unknown parameter 'budgett'" in error.message and "budget" in error.message


def test_an_unknown_step_kind_and_a_missing_kind_name_the_step_line() -> None:
    error = error_of(GOOD.replace("kind: automl", "kind: autoML"))
    assert error.line == 16 and "unknown step kind" in error.message and "automl" in error.message
    error = error_of(GOOD.replace("    kind: automl\n", ""))
    assert error.line == 16 and "needs a 'kind'" in error.message


def test_yaml_errors_duplicate_keys_anchors_and_tags_name_the_line() -> None:
    assert error_of("name: x\nsteps: [\n").line is not None
    duplicate = error_of(
        GOOD.replace("    target: churned\n", "    target: churned\n    target: x\n")
    )
    assert duplicate.line == 20 and "'target' appears twice" in duplicate.message
    anchored = "name: x\nbase: &b {kind: ingest}\nsteps:\n  - *b\n"
    assert "anchors and aliases" in error_of(anchored).message
    tagged = "name: x\nsteps:\n  - !!python/object:os.system {}\n"
    assert "tags" in error_of(tagged).message


def test_references_to_no_step_or_no_output_and_cycles_are_refused() -> None:
    error = error_of(GOOD.replace("${steps.search.model}", "${steps.serch.model}"))
    assert error.line == 24 and "'${steps.serch.model}' names no step" in error.message
    error = error_of(GOOD.replace("${steps.search.model}", "${steps.search.modle}"))
    assert "has no such output" in error.message and "model" in error.message
    cyclic = GOOD.replace("dataset: ${steps.data.dataset}", "dataset: ${steps.search.model}")
    assert "cycle: split → search → split" in error_of(cyclic).message
    assert (
        "not another step" in error_of(GOOD.replace("if: f1", "needs: [ghost]\n    if: f1")).message
    )


def test_two_steps_with_one_id_are_refused_at_the_second() -> None:
    error = error_of(GOOD.replace("id: promote", "id: split"))
    assert error.line == 22 and "two steps are called 'split'" in error.message


def test_a_gate_that_does_not_parse_names_its_line_and_position() -> None:
    error = error_of(GOOD.replace("f1 > champion.f1 + 0.01", "f1 >> champion.f1"))
    assert error.line == 25 and "step promote: if:" in error.message and "position" in error.message
    error = error_of(GOOD.replace("f1 > champion.f1 + 0.01", "__import__('os')"))
    assert error.line == 25 and "may not start with '_'" in error.message


def test_a_schedule_must_be_cron() -> None:
    assert load_pipeline("schedule: '0 3 * * *'\n" + GOOD).spec.schedule == "0 3 * * *"
    error = error_of("schedule: 'every day'\n" + GOOD)
    assert error.line == 1 and "not a cron expression" in error.message


def test_an_ingest_step_takes_exactly_one_source() -> None:
    error = error_of(GOOD.replace("url: https", "dataset: churn\n    url: https"))
    assert error.line == 8 and "exactly one of path, url, dataset or rdataset" in error.message
    error = error_of(GOOD.replace("url: https://example.com/churn.csv", "rdataset: ../../etc"))
    assert "rdataset" in error.message


def test_huge_or_binary_files_are_refused() -> None:
    with pytest.raises(PipelineError, match="over 256 KB"):
        load_pipeline("#" * (257 * 1024))
    with pytest.raises(PipelineError, match="not UTF-8"):
        load_pipeline(b"name: \xff\xfe\n")
    with pytest.raises(PipelineError, match="a mapping"):
        load_pipeline("- just\n- a list\n")


def test_the_pipelines_package_exports_a_pinned_set_of_names() -> None:
    import mlharbor.pipelines as package

    assert sorted(package.__all__) == [
        "Pipeline",
        "PipelineError",
        "PipelineSpec",
        "PipelineStore",
        "RunInfo",
        "RunState",
        "Runner",
        "StepInfo",
        "StepState",
        "load_pipeline",
        "run_pipeline",
        "submit",
    ]
    assert all(hasattr(package, name) for name in package.__all__)
