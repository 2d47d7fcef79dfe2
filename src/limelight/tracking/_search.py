"""Reading what runs recorded: metric histories and a search across runs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from limelight.core.config import Config
from limelight.core.errors import InvalidInputError, NotFoundError
from limelight.store import Store, open_store
from limelight.store.recording import metric_value_from_row
from limelight.store.schema import metrics, params, runs, tags
from limelight.tracking._filter_lexer import INT64_MAX, check_text
from limelight.tracking._filters import parse_filter, parse_order

if TYPE_CHECKING:  # numpy is imported when a history is read
    import numpy as np

__all__ = ["MetricHistory", "RunSummary", "count_runs", "metric_history", "search_runs"]


@dataclass
class MetricHistory:
    """The values one metric took in a run, in step order."""

    name: str
    steps: np.ndarray
    values: np.ndarray
    timestamps: np.ndarray

    @property
    def last(self) -> float:
        return float(self.values[-1]) if len(self.values) else float("nan")


@dataclass
class RunSummary:
    """One row of a search: the run's attributes, params, latest metrics and tags."""

    id: int
    flow: str
    kind: str
    status: str
    created_at: float
    finished_at: float | None
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)

    @property
    def pathspec(self) -> str:
        return f"{self.flow}/{self.id}"

    @property
    def duration(self) -> float | None:
        return None if self.finished_at is None else self.finished_at - self.created_at


def _run_id(run: Any) -> int:
    value = getattr(run, "id", run)
    if isinstance(value, str):
        value = value.rpartition("/")[2]
    try:
        return int(value)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{run!r} is not a run (a Run, a run id or FLOW/ID)") from None


def metric_history(
    run: Any, name: str | None = None, *, config: Config | None = None
) -> dict[str, MetricHistory]:
    """Every metric of ``run`` (or only ``name``), as arrays ordered by step."""
    import numpy as np

    run_id = _run_id(run)
    store = open_store(config)
    query = sa.select(
        metrics.c.name, metrics.c.step, metrics.c.value, metrics.c.value_text, metrics.c.timestamp
    ).where(metrics.c.run_id == run_id)
    if name is not None:
        query = query.where(metrics.c.name == name)
    with store.metadata.connect() as conn:
        if conn.execute(sa.select(runs.c.id).where(runs.c.id == run_id)).first() is None:
            raise NotFoundError(f"there is no run {run_id}")
        rows = conn.execute(query.order_by(metrics.c.name, metrics.c.step, metrics.c.id)).all()
    grouped: dict[str, list[Any]] = {}
    for row in rows:
        grouped.setdefault(row.name, []).append(row)
    if name is not None and name not in grouped:
        raise NotFoundError(f"run {run_id} has no metric {name!r}")
    return {
        key: MetricHistory(
            key,
            np.array([r.step for r in group], dtype=np.int64),
            np.array(
                [metric_value_from_row(r.value, r.value_text) for r in group], dtype=np.float64
            ),
            np.array([r.timestamp for r in group], dtype=np.float64),
        )
        for key, group in grouped.items()
    }


def _conditions(
    flow: str | None,
    where: str,
    status: str | None,
    tag: str | None,
    run_ids: Sequence[int] | None = None,
) -> list[Any]:
    found: list[Any] = []
    for what, value in (("flow", flow), ("status", status), ("tag", tag)):
        if value is not None and not isinstance(value, str):
            raise InvalidInputError(f"{what} must be text, not {type(value).__name__}")
        if value:
            check_text(value, what)
    if run_ids is not None:
        found.append(runs.c.id.in_(list(run_ids)))
    if flow:
        found.append(runs.c.flow == flow)
    if status:
        found.append(runs.c.status == status)
    if tag:
        found.append(sa.exists().where(tags.c.run_id == runs.c.id, tags.c.tag == tag))
    condition = parse_filter(where)
    if condition is not None:
        found.append(condition)
    return found


def _store(config: Config | None, store: Store | None) -> Store:
    return store if store is not None else open_store(config)


def count_runs(
    *,
    flow: str | None = None,
    where: str = "",
    status: str | None = None,
    tag: str | None = None,
    config: Config | None = None,
    store: Store | None = None,
) -> int:
    """How many runs :func:`search_runs` would find without a limit."""
    query = (
        sa.select(sa.func.count()).select_from(runs).where(*_conditions(flow, where, status, tag))
    )
    with _store(config, store).metadata.connect() as conn:
        return int(conn.execute(query).scalar() or 0)


def search_runs(
    *,
    flow: str | None = None,
    where: str = "",
    order_by: str | list[str] | None = None,
    limit: int = 1000,
    offset: int = 0,
    status: str | None = None,
    tag: str | None = None,
    run_ids: Sequence[int] | None = None,
    config: Config | None = None,
    store: Store | None = None,
) -> list[RunSummary]:
    """Runs matching ``where`` (see :mod:`limelight.tracking` for the grammar), sorted.

    ``search_runs(flow="Train", where="metrics.ndcg > 0.4 and params.l2 = 500",
    order_by="metrics.ndcg desc")``. ``limit`` and ``offset`` page through the result
    (:func:`count_runs` says how many there are); newest first after ``order_by``. ``status``,
    ``tag`` and ``run_ids`` narrow the search further.
    """
    for name, value, low in (("limit", limit, 1), ("offset", offset, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= INT64_MAX:
            raise InvalidInputError(
                f"{name} must be an int from {low} to {INT64_MAX} (int64), not {value!r}"
            )
    query = sa.select(runs).where(*_conditions(flow, where, status, tag, run_ids))
    orders = [order_by] if isinstance(order_by, str) else list(order_by or [])
    for text in orders:
        ordering = parse_order(text)
        column = ordering.expression
        query = query.order_by(
            column.desc().nulls_last() if ordering.descending else column.asc().nulls_last()
        )
    query = query.order_by(runs.c.id.desc()).limit(limit).offset(offset)
    with _store(config, store).metadata.connect() as conn:
        rows = conn.execute(query).all()
        found = {
            r.id: RunSummary(r.id, r.flow, r.kind, r.status, r.created_at, r.finished_at)
            for r in rows
        }
        _fill(conn, found)
    return list(found.values())


def _fill(conn: sa.Connection, found: dict[int, RunSummary]) -> None:
    """The params, tags and latest metrics of the runs in ``found``, in three queries a chunk."""
    ids = list(found)
    for chunk_start in range(0, len(ids), 500):
        chunk = ids[chunk_start : chunk_start + 500]
        for run_id, name, value in conn.execute(
            sa.select(params.c.run_id, params.c.name, params.c.value).where(
                params.c.run_id.in_(chunk)
            )
        ):
            found[run_id].params[name] = value
        for run_id, tag in conn.execute(
            sa.select(tags.c.run_id, tags.c.tag)
            .where(tags.c.run_id.in_(chunk))
            .order_by(tags.c.tag)
        ):
            found[run_id].tags.append(tag)
        latest = (
            sa.select(
                metrics.c.run_id,
                metrics.c.name,
                metrics.c.value,
                metrics.c.value_text,
                sa.func.row_number()
                .over(
                    partition_by=(metrics.c.run_id, metrics.c.name),
                    order_by=(metrics.c.step.desc(), metrics.c.id.desc()),
                )
                .label("rank"),
            )
            .where(metrics.c.run_id.in_(chunk))
            .subquery()
        )
        for run_id, name, value, text in conn.execute(
            sa.select(latest.c.run_id, latest.c.name, latest.c.value, latest.c.value_text).where(
                latest.c.rank == 1
            )
        ):
            found[run_id].metrics[name] = metric_value_from_row(value, text)
