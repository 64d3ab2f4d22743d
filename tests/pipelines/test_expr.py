"""The gate and filter language: what it computes, and that nothing in it reaches Python."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from mlharbor.pipelines import expr

SCORES = {"f1": 0.80, "roc_auc": 0.9, "champion": {"f1": 0.78}, "params": {"gain": 0.01}}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("f1 > champion.f1 + 0.01", True),
        ("f1 > champion.f1 + 0.05", False),
        ("f1 >= champion.f1 + params.gain and roc_auc > 0.85", True),
        ("not (f1 < 0.5) or false", True),
        ("(f1 - champion.f1) * 100 > 1.5", True),
        ("-f1 < -0.7", True),
        ("roc_auc / 2 == 0.45", True),
        ("f1 in [0.8, 0.9]", True),
        ("'a' not in ['b', 'c']", True),
        ("champion.f1 != null", True),
        ("1e-3 < 0.01", True),
    ],
)
def test_gates_compute_what_they_say(text: str, expected: bool) -> None:
    assert expr.evaluate(expr.parse(text), SCORES) is expected


def test_a_missing_champion_is_told_apart_from_an_unknown_name() -> None:
    with pytest.raises(expr.MissingValue) as missing:
        expr.evaluate(expr.parse("f1 > champion.f1"), {"f1": 0.8, "champion": None})
    assert missing.value.name == "champion"
    with pytest.raises(expr.ExpressionError, match="unknown name 'f2'; known here: champion, f1"):
        expr.evaluate(expr.parse("f2 > 0.5"), {"f1": 0.8, "champion": None})
    with pytest.raises(expr.ExpressionError, match="champion has no field 'f1'"):
        expr.evaluate(expr.parse("champion.f1 > 0"), {"champion": 3})


def test_filters_work_on_whole_columns() -> None:
    frame = pd.DataFrame({"spam": [0, None, 1, 1], "kind": ["a", "b", "c", "a"]})
    columns = {c: frame[c] for c in frame}
    kept = expr.evaluate(expr.parse("spam != null and kind in ['a', 'c']"), columns)
    assert kept.tolist() == [True, False, True, True]
    assert expr.evaluate(expr.parse("not spam == null"), columns).tolist() == [
        True,
        False,
        True,
        True,
    ]
    named = {"shot type": frame["kind"]}
    assert expr.evaluate(expr.parse("`shot type` == 'a'"), named).tolist() == [
        True,
        False,
        False,
        True,
    ]


ATTACKS = [
    "__import__('os').system('touch PWNED')",
    "f1.__class__.__mro__",
    "champion.__dict__",
    "_private",
    "open('PWNED', 'w')",
    "eval('1')",
    "exec('import os')",
    "lambda: 1",
    "[x for x in champion]",
    "f1 if True else 0",
    "f1; import os",
    "f1 ** 99999999",
    "f1 @ f1",
    "{'a': 1}",
    "f1[0]",
    "f1 = 1",
    "`__class__`",
    "'\\x5f\\x5fclass\\x5f\\x5f'",
    "f1 > 0 # comment",
    "globals()",
]


@pytest.mark.parametrize("text", ATTACKS)
def test_attacker_inputs_are_refused_and_run_nothing(
    text: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(expr.ExpressionError):
        expr.evaluate(expr.parse(text), SCORES)
    assert not (tmp_path / "PWNED").exists()


def test_calls_are_no_part_of_the_grammar() -> None:
    # A name followed by '(' is an error at the '(': there is nothing to call.
    with pytest.raises(expr.ExpressionError, match=r"found '\(' at position 4"):
        expr.parse("len(f1)")


def test_deep_nesting_and_long_text_are_refused_without_a_crash() -> None:
    with pytest.raises(expr.ExpressionError, match="nests deeper"):
        expr.parse("(" * 40 + "1" + ")" * 40)
    with pytest.raises(expr.ExpressionError, match="nests deeper"):
        expr.parse("not " * 40 + "true")
    with pytest.raises(expr.ExpressionError, match="nests deeper"):
        expr.parse("-" * 40 + "1")
    with pytest.raises(expr.ExpressionError, match="longer than 500"):
        expr.parse("1 + " * 200 + "1")
    with pytest.raises(expr.ExpressionError, match="too large"):
        expr.parse("9" * 30)


def test_wrong_types_and_division_by_zero_are_errors_not_crashes() -> None:
    for text in ("'a' + 1", "'a' < 1", "f1 / 0", "null < 1", "-'a'"):
        with pytest.raises(expr.ExpressionError):
            expr.evaluate(expr.parse(text), SCORES)


def test_names_lists_what_an_expression_reads() -> None:
    assert expr.names(expr.parse("f1 > champion.f1 and x in [1]")) == {
        ("f1",),
        ("champion", "f1"),
        ("x",),
    }
