"""A self-contained HTML report of the insights: no scripts, fonts or images from elsewhere."""

from __future__ import annotations

import math
from functools import cache
from typing import TYPE_CHECKING, Any

from mlharbor.data.insights._template import TEMPLATE

if TYPE_CHECKING:
    import jinja2


@cache
def _template() -> jinja2.Template:
    # Built on first render: `mlharbor insights` without --html never imports Jinja.
    import jinja2

    env = jinja2.Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True)
    return env.from_string(TEMPLATE)


def render_insights_html(insights: dict[str, Any]) -> str:
    """Render a result of ``compute_insights`` as one HTML page.

    Histograms are inline SVG, the association heat map a coloured table, so the page
    opens offline and can be downloaded as a single file.

    Parameters
    ----------
    insights : dict
        A result of ``compute_insights``.

    Returns
    -------
    str
        A complete HTML document.

    Examples
    --------
    >>> import pyarrow as pa
    >>> from mlharbor.data.schema import infer_schema
    >>> from mlharbor.data.insights import compute_insights
    >>> t = pa.table({"x": [1.0, 2.0, 2.5, 4.0]})
    >>> render_insights_html(compute_insights(t, infer_schema(t))).startswith("<!doctype html>")
    True
    """
    template = _template()
    return template.render(
        insights=insights,
        num=_number,
        pct=_percent,
        bars=_bars,
        heat=_heat,
        stats=_stats_rows,
    )


def _number(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if value == 0 or not math.isfinite(value):
        return str(value)
    if abs(value) >= 10**6 or abs(value) < 10**-3:
        return f"{value:.{digits - 1}e}"
    return f"{value:,.{digits}g}" if abs(value) < 1000 else f"{value:,.1f}"


def _percent(value: float | None) -> str:
    if value is None:
        return "-"
    if 0 < value < 0.001:
        return "<0.1%"
    return f"{value:.1%}"


def _bars(
    histogram: dict[str, Any] | None, width: int = 320, height: int = 80
) -> list[dict[str, Any]]:
    """Rectangles of an SVG histogram: x, y, width, height and a tooltip."""
    if not histogram or not histogram["counts"]:
        return []
    counts, edges = histogram["counts"], histogram["bin_edges"]
    top = max(counts) or 1
    step = width / len(counts)
    return [
        {
            "x": round(k * step, 2),
            "y": round(height - height * c / top, 2),
            "w": round(max(step - 1, 1), 2),
            "h": round(height * c / top, 2),
            "title": f"{_number(edges[k])} to {_number(edges[k + 1])}: {c:,}",
        }
        for k, c in enumerate(counts)
    ]


def _heat(value: float | None) -> str:
    """A background colour for an association strength in 0..1."""
    if value is None:
        return "#f4f4f4"
    strength = max(0.0, min(1.0, abs(value)))
    light = round(97 - 55 * strength)
    return f"hsl(210, 70%, {light}%)"


def _stats_rows(col: dict[str, Any]) -> list[tuple[str, str]]:
    """The label/value rows of a column's statistics table, by its type."""
    rows = [
        ("missing", f"{_number(col['n_missing'])} ({_percent(col['missing_share'])})"),
        ("distinct", f"{_number(col['n_distinct'])} ({_percent(col['distinct_share'])})"),
    ]
    numeric = col.get("numeric")
    if numeric:
        rows += [(k, _number(numeric[k])) for k in ("min", "p05", "p25", "median", "p75", "p95")]
        rows += [(k, _number(numeric[k])) for k in ("max", "mean", "std", "skew", "iqr")]
        rows += [
            ("zeros", f"{_number(numeric['n_zeros'])} ({_percent(numeric['zeros_share'])})"),
            (
                "negative",
                f"{_number(numeric['n_negative'])} ({_percent(numeric['negative_share'])})",
            ),
            (
                "outliers (IQR)",
                f"{_number(numeric['n_outliers'])} ({_percent(numeric['outliers_share'])})",
            ),
        ]
    dates = col.get("datetime")
    if dates:
        rows += [
            ("first", str(dates["min"])),
            ("last", str(dates["max"])),
            ("span (days)", _number(dates["span_days"])),
            ("granularity", str(dates["granularity"])),
        ]
    text = col.get("text")
    if text:
        length = text["length"]
        rows += [(f"length {k}", _number(length[k])) for k in ("min", "median", "mean", "max")]
        if text.get("words"):
            rows.append(("words per value (mean)", _number(text["words"]["mean"])))
    boolean = col.get("boolean")
    if boolean:
        rows += [
            ("true", _number(boolean["n_true"])),
            ("false", _number(boolean["n_false"])),
            ("true share", _percent(boolean["true_share"])),
        ]
    return rows
