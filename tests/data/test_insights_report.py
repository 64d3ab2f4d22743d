"""The short WebSocket summary and the downloadable HTML report."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from mlharbor.data.insights import compute_insights, render_insights_html, summarize_insights

from .insights_factories import as_table, titanic_like


@pytest.fixture(scope="module")
def titanic() -> dict:
    table, schema = as_table(titanic_like(n=400))
    return compute_insights(table, schema, target="Survived")


def test_summary_has_balance_and_information_gain(titanic: dict) -> None:
    summary = summarize_insights(titanic)
    assert summary["task"] == "binary" and summary["target"] == "Survived"
    assert set(summary["class_balance"]) == {"0", "1"}
    assert sum(summary["class_balance"].values()) == pytest.approx(1)
    assert next(iter(summary["information_gain"])) == "Sex"
    assert "PassengerId" not in summary["information_gain"]
    assert any("PassengerId" in message for message in summary["warnings"])


def test_summary_without_a_target() -> None:
    table, schema = as_table(pd.DataFrame({"a": [1, 2, 3]}))
    summary = summarize_insights(compute_insights(table, schema))
    assert summary["target"] is None and summary["information_gain"] == {}


def test_report_is_self_contained_html(titanic: dict) -> None:
    html = render_insights_html(titanic)
    assert html.startswith("<!doctype html>") and html.rstrip().endswith("</html>")
    assert not re.search(r"(src|href)=\"(https?:)?//", html)
    assert "<script" not in html
    for text in ("Survived", "PassengerId", "Class balance", "<svg", "Associations"):
        assert text in html


def test_report_escapes_column_names() -> None:
    table, schema = as_table(pd.DataFrame({"<b>x</b>": [1, 2, 3], "y": ["a", "b", "a"]}))
    html = render_insights_html(compute_insights(table, schema, target="y"))
    assert "<b>x</b>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html
