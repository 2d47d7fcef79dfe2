"""Chart specifications for plotly.js, built on the server and drawn by ``static/charts.js``.

A spec is plain data (traces and a layout) embedded as JSON; no user text is ever evaluated.
Plotly renders a small subset of HTML in labels, so user-supplied names are entity-escaped
before they go into a spec: ``<script>`` is drawn as those characters.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from html import escape
from typing import Any

__all__ = ["Chart", "bar_chart", "clean", "label", "line_chart", "thin", "times"]

Chart = dict[str, Any]


def label(text: object) -> str:
    """User text made safe for plotly's pseudo-HTML labels."""
    return escape(str(text), quote=True)


def clean(values: Iterable[Any]) -> list[float | None]:
    """Numbers for JSON: NaN and infinities become gaps (JSON has no NaN)."""
    out: list[float | None] = []
    for v in values:
        f = float(v) if v is not None else math.nan
        out.append(f if math.isfinite(f) else None)
    return out


def times(values: Iterable[float]) -> list[str]:
    """Unix seconds as ISO timestamps plotly puts on a date axis."""
    return [datetime.fromtimestamp(float(v), UTC).strftime("%Y-%m-%d %H:%M:%S") for v in values]


def thin(x: Any, y: Any, limit: int = 5000) -> tuple[list[Any], list[Any]]:
    """At most ``limit`` evenly spaced points of a long curve (the first and last kept)."""
    xs, ys = (
        list(x.tolist() if hasattr(x, "tolist") else x),
        list(y.tolist() if hasattr(y, "tolist") else y),
    )
    if len(xs) <= limit:
        return xs, ys
    keep = sorted({round(i * (len(xs) - 1) / (limit - 1)) for i in range(limit)})
    return [xs[i] for i in keep], [ys[i] for i in keep]


def _layout(title: str, x_title: str, y_title: str, **extra: Any) -> dict[str, Any]:
    return {
        "title": {"text": label(title), "font": {"size": 14}},
        "xaxis": {"title": {"text": label(x_title)}},
        "yaxis": {"title": {"text": label(y_title)}},
        "margin": {"l": 60, "r": 20, "t": 40, "b": 50},
        "height": 300,
        "legend": {"orientation": "h"},
        **extra,
    }


def line_chart(
    title: str,
    series: Sequence[tuple[str, Sequence[Any], Sequence[Any]]],
    *,
    x_title: str = "step",
    y_title: str = "",
    markers: bool = True,
) -> Chart:
    """One line per ``(name, x, y)``; markers make each point countable in the page."""
    return {
        "data": [
            {
                "type": "scatter",
                "mode": "lines+markers" if markers else "lines",
                "name": label(name),
                "x": list(x),
                "y": clean(y),
            }
            for name, x, y in series
        ],
        "layout": _layout(title, x_title, y_title),
    }


def bar_chart(
    title: str,
    names: Sequence[str],
    values: Sequence[float],
    *,
    low: Sequence[float] | None = None,
    high: Sequence[float] | None = None,
    y_title: str = "",
) -> Chart:
    """Bars with optional interval whiskers from ``low`` to ``high``."""
    trace: dict[str, Any] = {
        "type": "bar",
        "x": [label(n) for n in names],
        "y": clean(values),
        "marker": {"color": "#5c6bc0"},
    }
    if low is not None and high is not None:
        trace["error_y"] = {
            "type": "data",
            "symmetric": False,
            "array": clean(h - v for h, v in zip(high, values, strict=True)),
            "arrayminus": clean(v - lo for lo, v in zip(low, values, strict=True)),
        }
    return {"data": [trace], "layout": _layout(title, "", y_title, showlegend=False)}
