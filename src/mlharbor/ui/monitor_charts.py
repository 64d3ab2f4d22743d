"""Plotly figures of the monitoring page, drawn from the monitoring API's JSON."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import pairwise
from typing import Any

from mlharbor.ui.charts import BLUE, GREY, ORANGE, figure

RED = "#c93c3c"
AMBER = "#e8a300"
LEGEND = {"orientation": "h", "y": 1.12, "x": 0, "font": {"size": 11}}


def _times(windows: list[dict[str, Any]]) -> list[str]:
    # Each window is drawn at its middle; plotly reads ISO times as a date axis.
    return [_middle(w) for w in windows]


def _middle(w: dict[str, Any]) -> str:
    start, end = datetime.fromisoformat(w["start"]), datetime.fromisoformat(w["end"])
    return (start + (end - start) / 2).isoformat()


def _width_ms(windows: list[dict[str, Any]]) -> list[float]:
    return [
        0.9
        * (datetime.fromisoformat(w["end"]) - datetime.fromisoformat(w["start"])).total_seconds()
        * 1000
        for w in windows
    ]


def time_axis(timeline: dict[str, Any]) -> dict[str, Any]:
    """The windows' span (first to last logged prediction) and half a window either side.

    The timeline is already fitted to the traffic, so a burst of requests fills the axis
    instead of a sliver at one end of a week.
    """
    windows = timeline.get("windows") or []
    lo = datetime.fromisoformat(windows[0]["start"] if windows else timeline["since"])
    hi = datetime.fromisoformat(windows[-1]["end"] if windows else timeline["until"])
    pad = (hi - lo) / max(2 * len(windows), 2) if windows else (hi - lo) / 20
    return {"type": "date", "range": [(lo - pad).isoformat(), (hi + pad).isoformat()]}


def drift_share(timeline: dict[str, Any], threshold: float) -> dict[str, Any]:
    """Share of drifted columns per window, with the dataset verdict's threshold."""
    windows = timeline["windows"]
    x = _times(windows)
    shares = [w.get("drift_share") for w in windows]
    # The window's own verdict: red when serious, amber on any drift, blue when none.
    status = {"bad": RED, "warn": AMBER}
    colours = [status.get(w.get("drift_status") or "", BLUE) for w in windows]
    bars = {
        "type": "bar",
        "x": x,
        "y": shares,
        "width": _width_ms(windows),
        "marker": {"color": colours},
        "hovertemplate": "%{x}<br>%{y:.0%} of columns drifted<extra></extra>",
        "name": "drift share",
    }
    line = {
        "type": "scatter",
        "mode": "lines",
        "x": time_axis(timeline)["range"],
        "y": [threshold, threshold],
        "line": {"color": GREY, "dash": "dash", "width": 1},
        "hovertemplate": f"threshold {threshold:.0%}<extra></extra>",
        "name": "threshold",
    }
    return figure(
        [bars, line], xaxis=time_axis(timeline), yaxis={"range": [0, 1.02], "tickformat": ".0%"}
    )


def volume(timeline: dict[str, Any]) -> dict[str, Any]:
    """Predictions per window."""
    windows = timeline["windows"]
    trace = {
        "type": "bar",
        "x": _times(windows),
        "y": [w["n_predictions"] for w in windows],
        "width": _width_ms(windows),
        "marker": {"color": BLUE},
        "hovertemplate": "%{x}<br>%{y} predictions<extra></extra>",
    }
    return figure(
        [trace],
        xaxis=time_axis(timeline),
        yaxis={"title": {"text": "predictions"}, "rangemode": "tozero"},
    )


def latency(timeline: dict[str, Any]) -> dict[str, Any]:
    """Request latency p50 and p95 per window."""
    windows = timeline["windows"]
    x = _times(windows)
    traces = [
        {
            "type": "scatter",
            "mode": "lines+markers",
            "x": x,
            "y": [w.get(f"latency_ms_{p}") for w in windows],
            "name": p,
            "connectgaps": False,
            "line": {"color": colour},
            "hovertemplate": f"%{{x}}<br>{p} %{{y:.1f}} ms<extra></extra>",
        }
        for p, colour in (("p50", BLUE), ("p95", ORANGE))
    ]
    return figure(
        traces,
        showlegend=True,
        legend=LEGEND,
        xaxis=time_axis(timeline),
        yaxis={"title": {"text": "ms"}, "rangemode": "tozero"},
    )


def performance(
    perf: dict[str, Any], timeline: dict[str, Any] | None = None
) -> dict[str, Any] | None:
    """The main metric per window against the registered baseline."""
    windows = [w for w in perf.get("windows") or [] if w.get("n_labelled")]
    if not windows:
        return None
    metric = perf["metric"]
    x = _times(windows)
    traces = [
        {
            "type": "scatter",
            "mode": "lines+markers",
            "x": x,
            "y": [w["metrics"].get(metric) for w in windows],
            "name": metric,
            "line": {"color": BLUE},
            "text": [f"{w['n_labelled']} labels" for w in windows],
            "hovertemplate": f"%{{x}}<br>{metric} %{{y:.3f}} (%{{text}})<extra></extra>",
        }
    ]
    if perf.get("baseline") is not None:
        traces.append(
            {
                "type": "scatter",
                "mode": "lines",
                "x": [perf["since"], perf["until"]],
                "y": [perf["baseline"]] * 2,
                "name": "at registration",
                "line": {"color": GREY, "dash": "dash", "width": 1},
            }
        )
    return figure(
        traces,
        showlegend=True,
        legend=LEGEND,
        xaxis=time_axis(timeline or perf),
        yaxis={"title": {"text": metric}},
    )


def column(
    chart: dict[str, Any] | None, name: str, kind: str | None = None
) -> dict[str, Any] | None:
    """Reference against current for one column: shares per bin or per label.

    ``kind`` is the column's type as the page names it: a ``date`` is tested on epoch
    seconds but drawn on a date axis, a ``text`` column's histogram is of its lengths.
    """
    if not chart:
        return None
    axis: dict[str, Any] = {"title": {"text": name}}
    if chart["type"] == "histogram":
        edges = chart["edges"]
        x: list[Any] = [(a + b) / 2 for a, b in pairwise(edges)]
        width: list[float] = [b - a for a, b in pairwise(edges)]
        text = [f"{a:.4g} – {b:.4g}" for a, b in pairwise(edges)]
        if kind == "date":
            x = [_stamp(v) for v in x]
            width = [1000 * w for w in width]  # a date axis measures in milliseconds
            text = [f"{_stamp(a)[:16]} – {_stamp(b)[:16]}" for a, b in pairwise(edges)]
            axis["type"] = "date"
        elif kind == "text":
            axis["title"]["text"] = f"{name}: length in characters"
        extra: dict[str, Any] = {"width": width, "text": text, "textposition": "none"}
        hover = "%{text}<br>%{y:.1%} of rows"
        layout: dict[str, Any] = {"barmode": "overlay", "bargap": 0}
    else:
        x = chart["labels"]
        extra = {}
        hover = "%{x}<br>%{y:.1%} of rows"
        layout = {"barmode": "group"}
    traces = [
        {
            "type": "bar",
            "x": x,
            "y": chart[side],
            "name": side,
            "opacity": 0.6 if chart["type"] == "histogram" else 1,
            "marker": {"color": colour},
            "hovertemplate": hover + f"<extra>{side}</extra>",
            **extra,
        }
        for side, colour in (("reference", GREY), ("current", BLUE))
    ]
    return figure(
        traces,
        height=220,
        showlegend=True,
        legend=LEGEND,
        xaxis=axis,
        yaxis={"tickformat": ".0%"},
        **layout,
    )


def _stamp(seconds: float) -> str:
    """Epoch seconds (how a profile keeps dates) as the ISO time Plotly reads."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S")
