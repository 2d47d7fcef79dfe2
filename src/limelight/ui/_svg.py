"""Pictures drawn on the server as SVG: a flow's graph and a run's task timeline (Gantt).

Every piece of text that came from a user (step names, task paths) goes through
:func:`html.escape`, so a name like ``<script>`` is drawn as text, never run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

__all__ = ["STATUS_COLORS", "GanttBar", "gantt_svg", "graph_layout", "graph_svg"]

STATUS_COLORS = {
    "succeeded": "#2e7d32",
    "reused": "#78909c",
    "failed": "#c62828",
    "running": "#1565c0",
    "pending": "#bdbdbd",
    "interrupted": "#ef6c00",
}
_KIND_FILL = {
    "start": "#e3f2fd",
    "end": "#e8f5e9",
    "foreach": "#fff3e0",
    "branch": "#f3e5f5",
    "join": "#ede7f6",
    "linear": "#fafafa",
}
NODE_W, NODE_H, GAP_X, GAP_Y = 150, 44, 40, 46


def graph_layout(graph: Mapping[str, Mapping[str, Any]]) -> dict[str, tuple[int, int]]:
    """(layer, slot) of each step: layer is the longest path from a root, slot the order in it."""
    names = list(graph)
    parents: dict[str, list[str]] = {n: [] for n in names}
    for name in names:
        for child in graph[name].get("next") or []:
            if child in parents:
                parents[child].append(name)
    depth: dict[str, int] = {}

    def layer(name: str, seen: frozenset[str]) -> int:
        if name in depth:
            return depth[name]
        if name in seen:  # a cycle cannot be drawn in layers; cut it
            return 0
        above = [layer(p, seen | {name}) for p in parents[name]]
        depth[name] = 1 + max(above) if above else 0
        return depth[name]

    for name in names:
        layer(name, frozenset())
    slots: dict[int, int] = {}
    placed: dict[str, tuple[int, int]] = {}
    for name in sorted(names, key=lambda n: (depth[n], names.index(n))):
        slot = slots.get(depth[name], 0)
        slots[depth[name]] = slot + 1
        placed[name] = (depth[name], slot)
    return placed


def graph_svg(graph: Mapping[str, Mapping[str, Any]], statuses: Mapping[str, str]) -> str:
    """The flow's graph, top to bottom, each step coloured by its kind and outlined by status."""
    placed = graph_layout(graph)
    if not placed:
        return '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>'
    widest = max(sum(1 for v in placed.values() if v[0] == d) for d, _ in placed.values())
    layers = max(d for d, _ in placed.values()) + 1
    width = widest * (NODE_W + GAP_X) + GAP_X
    height = layers * (NODE_H + GAP_Y) + GAP_Y

    def centre(name: str) -> tuple[float, float]:
        d, s = placed[name]
        in_layer = sum(1 for v in placed.values() if v[0] == d)
        offset = (width - in_layer * (NODE_W + GAP_X) + GAP_X) / 2
        return offset + s * (NODE_W + GAP_X) + NODE_W / 2, GAP_Y + d * (NODE_H + GAP_Y) + NODE_H / 2

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="flow-graph" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="flow graph">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>',
    ]
    for name, node in graph.items():
        x1, y1 = centre(name)
        for child in node.get("next") or []:
            if child not in placed:
                continue
            x2, y2 = centre(child)
            y1b, y2b = y1 + NODE_H / 2, y2 - NODE_H / 2
            mid = (y1b + y2b) / 2
            parts.append(
                f'<path class="edge" d="M{x1:.0f},{y1b:.0f} C{x1:.0f},{mid:.0f} {x2:.0f},{mid:.0f} '
                f'{x2:.0f},{y2b:.0f}" fill="none" stroke="#555" marker-end="url(#arrow)"/>'
            )
            if node.get("foreach"):
                parts.append(
                    f'<text x="{(x1 + x2) / 2 + 6:.0f}" y="{mid:.0f}" font-size="11" '
                    f'fill="#8d6e63">foreach {escape(str(node["foreach"]))}</text>'
                )
    for name, node in graph.items():
        x, y = centre(name)
        kind = str(node.get("kind") or "linear")
        status = statuses.get(name, "not run")
        stroke = STATUS_COLORS.get(status, "#9e9e9e")
        label = name if len(name) <= 20 else name[:19] + "…"
        parts.append(
            f'<g class="node" data-step="{escape(name)}" data-status="{escape(status)}">'
            f"<title>{escape(name)} ({escape(kind)}): {escape(status)}</title>"
            f'<rect x="{x - NODE_W / 2:.0f}" y="{y - NODE_H / 2:.0f}" width="{NODE_W}" '
            f'height="{NODE_H}" rx="8" fill="{_KIND_FILL.get(kind, "#fafafa")}" '
            f'stroke="{stroke}" stroke-width="2.5"/>'
            f'<text x="{x:.0f}" y="{y - 3:.0f}" text-anchor="middle" font-size="13" '
            f'font-weight="600">{escape(label)}</text>'
            f'<text x="{x:.0f}" y="{y + 13:.0f}" text-anchor="middle" font-size="10" '
            f'fill="#666">{escape(kind)} · {escape(status)}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)


@dataclass(frozen=True)
class GanttBar:
    """One task on the timeline."""

    label: str
    status: str
    start: float | None
    end: float | None


def gantt_svg(bars: Sequence[GanttBar], now: float) -> str:
    """Tasks as horizontal bars on one time axis (unfinished tasks run up to ``now``)."""
    timed = [b for b in bars if b.start is not None]
    row_h, label_w, plot_w = 22, 220, 640
    height = 30 + row_h * max(1, len(bars))
    if not timed:
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" class="gantt" width="{label_w + plot_w + 20}"'
            f' height="40"><text x="4" y="24" font-size="12">no task has started</text></svg>'
        )
    t0 = min(b.start for b in timed if b.start is not None)
    t1 = max((b.end if b.end is not None else now) for b in timed)
    span = max(t1 - t0, 1e-3)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="gantt" width="{label_w + plot_w + 20}" '
        f'height="{height}" role="img" aria-label="task timeline">',
        f'<text x="{label_w}" y="14" font-size="11" fill="#666">0 s</text>'
        f'<text x="{label_w + plot_w}" y="14" font-size="11" fill="#666" text-anchor="end">'
        f"{span:.3g} s</text>",
    ]
    for i, bar in enumerate(bars):
        y = 22 + i * row_h
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 13}" font-size="12" text-anchor="end">'
            f"{escape(bar.label)}</text>"
        )
        if bar.start is None:
            continue
        end = bar.end if bar.end is not None else now
        x = label_w + (bar.start - t0) / span * plot_w
        w = max(2.0, (end - bar.start) / span * plot_w)
        took = f"{end - bar.start:.3f} s" + ("" if bar.end is not None else " so far")
        parts.append(
            f'<rect class="bar" data-status="{escape(bar.status)}" x="{x:.1f}" y="{y + 2}" '
            f'width="{w:.1f}" height="{row_h - 6}" rx="3" '
            f'fill="{STATUS_COLORS.get(bar.status, "#9e9e9e")}">'
            f"<title>{escape(bar.label)}: {escape(bar.status)}, {took}</title></rect>"
        )
    parts.append("</svg>")
    return "".join(parts)
