from __future__ import annotations

import json

import pytest
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

from mlharbor.errors import InvalidInputError
from mlharbor.models import (
    CATALOG,
    Task,
    get_spec,
    model_names,
    parse_params,
    resolve_model,
    validate_params,
)

REQUIRED = {
    "dummy",
    "logistic-regression",
    "linear-regression",
    "ridge",
    "lasso",
    "elastic-net",
    "decision-tree",
    "random-forest",
    "extra-trees",
    "hist-gradient-boosting",
    "lightgbm",
    "k-nearest-neighbors",
    "linear-svm",
    "rbf-svm",
    "naive-bayes",
}


def test_catalog_has_every_promised_model() -> None:
    assert set(model_names()) >= REQUIRED


@pytest.mark.parametrize(
    "name", ["random-forest", "RandomForestClassifier", "rf", "Random_Forest", "RANDOMFOREST"]
)
def test_aliases_resolve_and_the_task_picks_the_variant(name: str) -> None:
    assert resolve_model(name, Task.BINARY)[1] is RandomForestClassifier
    assert resolve_model(name, "regression")[1] is RandomForestRegressor


def test_unknown_model_lists_the_valid_names() -> None:
    with pytest.raises(InvalidInputError, match="unknown model 'xgboost'") as err:
        get_spec("xgboost")
    assert "random-forest" in str(err.value) and "lightgbm" in str(err.value)


def test_regression_only_model_refuses_a_classification_task() -> None:
    with pytest.raises(InvalidInputError, match="does not serve multiclass") as err:
        resolve_model("lasso", Task.MULTICLASS)
    assert "logistic-regression" in str(err.value)


def test_unknown_parameter_lists_the_valid_ones() -> None:
    spec = get_spec("logistic-regression")
    with pytest.raises(InvalidInputError, match="unknown parameter 'n_estimators'") as err:
        validate_params(spec, {"n_estimators": 10}, Task.BINARY)
    assert "max_iter" in str(err.value) and err.value.details["valid"]


def test_bad_value_gets_the_estimators_own_message() -> None:
    with pytest.raises(InvalidInputError, match="'n_estimators' parameter of Random"):
        validate_params(get_spec("rf"), {"n_estimators": "lots"}, Task.BINARY)


def test_lightgbm_parameters_are_type_checked_before_training() -> None:
    with pytest.raises(InvalidInputError, match="'learning_rate' must be a number"):
        validate_params(get_spec("lightgbm"), {"learning_rate": "fast"}, Task.BINARY)


def test_string_parameters_from_a_cli_are_typed() -> None:
    params = parse_params(
        [
            "n_estimators=300",
            "max_depth=none",
            "max_features=0.5",
            "bootstrap=false",
            "criterion=entropy",
        ]
    )
    assert params == {
        "n_estimators": 300,
        "max_depth": None,
        "max_features": 0.5,
        "bootstrap": False,
        "criterion": "entropy",
    }
    assert validate_params(get_spec("rf"), params, Task.BINARY) == params
    assert parse_params('{"C": "2.5"}') == {"C": 2.5}
    with pytest.raises(InvalidInputError, match="name=value"):
        parse_params(["oops"])


def test_make_applies_defaults_seed_and_user_parameters() -> None:
    est = get_spec("rf").make(Task.REGRESSION, {"n_estimators": "7"}, seed=42)
    assert isinstance(est, RandomForestRegressor)
    assert est.n_estimators == 7 and est.random_state == 42 and est.n_jobs == 1


@pytest.mark.parametrize("spec", CATALOG, ids=lambda s: s.name)
def test_every_search_space_gives_valid_parameters(spec) -> None:
    optuna = pytest.importorskip("optuna")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for task in spec.tasks:
        trial = study.ask()
        spec.make(task, spec.search_space(trial, task))


def test_the_catalog_describes_itself_as_json() -> None:
    listed = [spec.to_dict() for spec in CATALOG]
    json.dumps(listed)
    forest = next(entry for entry in listed if entry["name"] == "random-forest")
    assert "rf" in forest["aliases"] and "RandomForestClassifier" in forest["aliases"]
    assert forest["estimators"]["regression"]["class"] == "RandomForestRegressor"
    assert "n_estimators" in forest["estimators"]["classification"]["parameters"]


def form_sends(model: str, task: str, *, every: bool = False) -> dict[str, object]:
    """The ``params`` the train form's script sends for ``model`` untouched (only fields whose
    shown value differs from their default), or with ``every`` field sent at what it shows,
    as a REST caller copying the form would. Mirrors ``paramValue``/``changedParams`` in
    ``ui/static/pages-data.js``: a select shows its default when it is an option, else its
    first option; a number input shows nothing for a value that is not a number."""
    from mlharbor.ui.forms import param_fields

    sent: dict[str, object] = {}
    for f in param_fields(model, task):
        shown = f.default_text
        if f.kind == "choice" and shown not in f.choices:
            shown = f.choices[0]
        elif f.kind in ("int", "float"):
            try:
                float(shown)
            except ValueError:
                shown = ""
        if every or shown != f.default_text:
            sent[f.name] = None if shown == "" else shown
    return sent


CASES = [(spec.name, task.value) for spec in CATALOG for task in sorted(spec.tasks)]


@pytest.mark.parametrize(("model", "task"), CASES)
def test_the_untouched_train_form_sends_nothing_and_every_field_at_its_default_is_valid(
    model: str, task: str
) -> None:
    # LogisticRegression's penalty defaults to a hidden "deprecated" in scikit-learn 1.9: the
    # select showed "elasticnet" instead, and sent it, and training failed.
    assert form_sends(model, task) == {}
    spec = get_spec(model)
    params = validate_params(spec, form_sends(model, task, every=True), task)
    assert spec.make(Task(task), params).get_params()  # builds, nothing refused


def test_deprecated_parameters_are_not_offered_by_the_form() -> None:
    from mlharbor.ui.forms import param_fields

    assert "penalty" not in {f.name for f in param_fields("logistic-regression", "binary")}
    assert "probability" not in {f.name for f in param_fields("rbf-svm", "binary")}
    hgb = {f.name: f for f in param_fields("hist-gradient-boosting", "binary")}
    assert hgb["early_stopping"].choices == ["auto", "true", "false"]
