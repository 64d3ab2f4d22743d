"""Forms the UI builds from the core: parameters from the catalog, snippets for a model."""

from __future__ import annotations

import pandas as pd

from mlharbor.models.signature import describe_values
from mlharbor.ui import charts
from mlharbor.ui.forms import input_fields, param_fields, snippets


def test_parameter_fields_carry_the_catalog_defaults_and_the_estimator_bounds() -> None:
    fields = {f.name: f for f in param_fields("rf", "binary")}
    trees = fields["n_estimators"]
    assert (trees.kind, trees.default, trees.minimum, trees.featured) == ("int", 200, 1, True)
    # An int >= 2 or a fraction in (0, 1]: the form enforces only what holds for both.
    split = fields["min_samples_split"]
    assert split.kind == "float" and split.maximum is None and not split.featured
    assert fields["class_weight"].choices[-1] == ""  # None stays choosable
    assert fields["max_features"].kind == "text"  # a number or a word such as "sqrt"
    assert "random_state" not in fields and "n_jobs" not in fields  # mlharbor's business


def test_parameter_fields_follow_the_task() -> None:
    regression = {f.name for f in param_fields("random-forest", "regression")}
    assert "class_weight" not in regression and "n_estimators" in regression


def test_prediction_form_follows_the_signature() -> None:
    signature = {
        "inputs": [
            {"name": "age", "dtype": "float64"},
            {"name": "member", "dtype": "bool"},
            {"name": "city", "dtype": "str", "semantic_type": "categorical"},
        ]
    }
    fields = input_fields(signature, {"age": 41.0, "city": "Lyon"})
    assert [(f.name, f.kind, f.example) for f in fields] == [
        ("age", "number", 41.0),
        ("member", "bool", None),
        ("city", "text", "Lyon"),
    ]


def test_a_zero_one_flag_and_integer_codes_are_offered_as_trained() -> None:
    training = pd.DataFrame({"cards": [1, 0, 1, 1], "plan": [1, 2, 2, 3]})
    signature = {
        "inputs": [
            {"name": "cards", "dtype": "int64", "semantic_type": "boolean"},
            {"name": "plan", "dtype": "int64", "semantic_type": "integer_categorical"},
        ]
    }
    for col in signature["inputs"]:
        col.update(describe_values(training[col["name"]], col["semantic_type"]))
    cards, plan = input_fields(signature, {"cards": 0, "plan": 3.0})
    # The example row's 0 is chosen, not "(missing)"; the options are the data's 1 and 0.
    assert cards.kind == "bool" and cards.selected == "0"
    assert [label for _, label, _ in cards.choices] == ["1", "0"]
    # Codes are levels to pick, sent as the numbers they are.
    assert plan.kind == "choice" and plan.integer and plan.selected == "3"
    assert [value for value, _, _ in plan.choices] == ["2", "1", "3"]


def test_snippets_quote_what_the_shell_would_break_on_and_send_keys_only_when_needed() -> None:
    row = {"name": "O'Brien", "age": 3}
    open_ = snippets("http://h", "m/x", "champion", row, auth=False)
    assert "'\\''" in open_["curl"] and "Authorization" not in open_["curl"]
    assert "/api/v1/models/m%2Fx/champion/predict" in open_["curl"]
    assert '"dataframe_split"' in open_["mlflow"] and "/invocations" in open_["mlflow"]
    secured = snippets("http://h", "m", "1", row, auth=True)
    assert "$MLHARBOR_KEY" in secured["curl"] and 'os.environ["MLHARBOR_KEY"]' in secured["python"]


def test_charts_skip_what_would_show_nothing() -> None:
    assert charts.missing_values([{"name": "a", "n_missing": 0, "missing_share": 0.0}]) is None
    assert charts.association_heatmap({"columns": ["a"], "matrix": [[1.0]]}) is None
    ident = {"semantic_type": "identifier", "top_values": [{"value": 1, "count": 1, "share": 1}]}
    assert charts.column_chart(ident) is None
    hist = charts.histogram({"of": "value", "bin_edges": [0, 1, 3], "counts": [2, 5]})
    assert hist["data"][0]["x"] == [0.5, 2.0] and hist["data"][0]["width"] == [1, 2]
