"""What the runs pages show: one page of a filtered, sorted run list, a run, runs side by side.

The run list is one SQL query for the page (``LIMIT``/``OFFSET``), one ``COUNT`` and three small
queries for the params, tags and latest metrics of the page's runs, so it stays fast with tens
of thousands of runs. The ``where`` box takes the tracking filter grammar.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from limelight.core.errors import InvalidInputError, NotFoundError
from limelight.flows.client import Run, Task
from limelight.store import Store
from limelight.store.schema import flows, runs
from limelight.tracking import RunSummary, count_runs, metric_history, search_runs
from limelight.ui._params import parse_run_ref, whole_number

__all__ = [
    "PAGE_SIZES",
    "STATUSES",
    "RunPage",
    "artifact_preview",
    "compare_runs",
    "flow_graph",
    "flow_names",
    "list_runs",
    "resume_lineage",
]

STATUSES = ("running", "succeeded", "failed", "interrupted")
PAGE_SIZES = (25, 50, 100, 200)
PREVIEW_BYTES = 64 * 1024
_SAFE_PREVIEW = ("json", "npy", "arrow", "pandas")


@dataclass
class RunPage:
    """A page of runs and what it takes to draw the pager."""

    rows: list[RunSummary]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))


def list_runs(
    store: Store,
    *,
    flow: str = "",
    status: str = "",
    tag: str = "",
    where: str = "",
    order: str = "",
    page: str | None = None,
    per_page: str | None = None,
) -> RunPage:
    """One page of the runs matching the filters, newest first unless ``order`` says otherwise.

    A page past the last one is a :class:`NotFoundError` (page 1 always exists).
    """
    number = 1 if page in (None, "") else whole_number(str(page), "page")
    size = 50 if per_page in (None, "") else whole_number(str(per_page), "per_page")
    if size not in PAGE_SIZES:
        raise InvalidInputError(f"per_page must be one of {', '.join(map(str, PAGE_SIZES))}")
    if status and status not in STATUSES:
        raise InvalidInputError(f"unknown status {status!r}; choose from {', '.join(STATUSES)}")
    total = count_runs(
        store=store, flow=flow or None, where=where, status=status or None, tag=tag or None
    )
    last = max(1, math.ceil(total / size))
    if number > last:
        raise NotFoundError(
            f"there is no page {number}: the {total} matching runs fill {last} "
            f"page{'s' if last > 1 else ''} of {size}"
        )
    rows = search_runs(
        store=store,
        flow=flow or None,
        where=where,
        status=status or None,
        tag=tag or None,
        order_by=order or None,
        limit=size,
        offset=(number - 1) * size,
    )
    return RunPage(rows, total, number, size)


def flow_names(store: Store) -> list[str]:
    """Every flow (or notebook experiment) that has a run, for the filter box."""
    with store.metadata.connect() as conn:
        return list(conn.execute(sa.select(runs.c.flow).distinct().order_by(runs.c.flow)).scalars())


def flow_graph(store: Store, run: Run) -> dict[str, Any]:
    """The flow's static graph (from the flows table), else one built from the run's steps."""
    with store.metadata.connect() as conn:
        graph = conn.execute(sa.select(flows.c.graph).where(flows.c.name == run.flow_name)).scalar()
    if isinstance(graph, str):
        graph = json.loads(graph)
    if isinstance(graph, dict) and graph:
        return graph
    return {s.name: {"next": [], "kind": s.kind or "linear", "foreach": None} for s in run.steps()}


def resume_lineage(store: Store, run: Run) -> tuple[list[int], list[int]]:
    """The runs this one resumed from (nearest first), and the runs that resumed from it."""
    ancestors: list[int] = []
    with store.metadata.connect() as conn:
        origin = run.origin_run_id
        while origin is not None and origin not in ancestors and len(ancestors) < 100:
            ancestors.append(int(origin))
            origin = conn.execute(
                sa.select(runs.c.origin_run_id).where(runs.c.id == origin)
            ).scalar()
        children = list(
            conn.execute(
                sa.select(runs.c.id).where(runs.c.origin_run_id == run.id).order_by(runs.c.id)
            ).scalars()
        )
    return ancestors, children


def artifact_preview(store: Store, task: Task, name: str) -> str | None:
    """A short text view of a small artifact of a safe type; None when it is not shown.

    Pickled objects are never unpickled by the dashboard: their type is shown instead.
    """
    ref = task.artifacts[name]
    if ref.serializer not in _SAFE_PREVIEW or ref.size > PREVIEW_BYTES:
        return None
    try:
        value = store.artifacts.load(ref)
    except Exception as exc:  # a broken blob shows as such, it does not break the page
        return f"(could not load: {type(exc).__name__})"
    if ref.serializer == "json":
        text = json.dumps(value, indent=1, default=str)
    elif ref.serializer == "npy":
        import numpy as np

        text = np.array2string(value, threshold=50, edgeitems=5)
    else:
        text = str(value.slice(0, 10) if hasattr(value, "slice") else value.head(10))
    return text if len(text) <= 2000 else text[:2000] + "…"


def compare_runs(
    store: Store, refs: list[str]
) -> tuple[list[RunSummary], list[str], list[str], dict[str, dict[str, Any]]]:
    """Runs side by side: rows, the union of param and metric names, and each metric's curves.

    Each of ``refs`` is ``FLOW/ID`` (a run of another flow with that id is not it) or a bare
    ``ID``.
    """
    if len(refs) < 1:
        raise InvalidInputError("pick runs to compare: /compare?run=FLOW/ID&run=FLOW/ID")
    if len(refs) > 20:
        raise InvalidInputError(f"compare at most 20 runs at a time, not {len(refs)}")
    wanted = [parse_run_ref(str(text)) for text in refs]
    numbers = list(dict.fromkeys(number for _, number in wanted))
    found = {r.id: r for r in search_runs(store=store, run_ids=numbers, limit=len(numbers))}
    missing = [
        text
        for text, (flow, number) in zip(refs, wanted, strict=True)
        if number not in found or (flow is not None and found[number].flow != flow)
    ]
    if missing:
        raise NotFoundError(f"there is no run {', '.join(map(str, missing))}")
    rows = [found[n] for n in numbers]
    param_names = sorted({k for r in rows for k in r.params})
    metric_names = sorted({k for r in rows for k in r.metrics})
    curves: dict[str, dict[str, Any]] = {}
    for row in rows:
        for name, history in metric_history(row.id, config=store.config).items():
            curves.setdefault(name, {})[f"{row.flow}/{row.id}"] = history
    return rows, param_names, metric_names, curves
