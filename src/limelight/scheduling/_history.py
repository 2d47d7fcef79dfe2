"""Reading firings back: recent ones, a deployment's next tick, and the chain of what fired what.

A chain follows ``run_finished`` events: run B was started by a firing of event #12, which run
A's finishing published (its ``source`` is ``run:A/7``), which was started by a firing of a tick.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from limelight.core import clock
from limelight.core.config import Config
from limelight.scheduling._deploy import Deployment
from limelight.store import open_store
from limelight.store.schema import deployments, firings, published_events, runs

__all__ = ["Firing", "firing_chain", "next_firing", "recent_firings"]


@dataclass(frozen=True)
class Firing:
    id: int
    deployment: str
    flow: str
    reason: str
    tick: float | None
    event_id: int | None
    event_name: str | None
    event_source: str | None
    status: str
    run_id: int | None
    run_status: str | None
    claimed_by: str
    claimed_at: float
    error: str | None

    @property
    def run(self) -> str | None:
        return None if self.run_id is None else f"{self.flow}/{self.run_id}"

    @property
    def fired_by(self) -> str:
        if self.reason == "schedule" and self.tick is not None:
            return f"tick {clock_text(self.tick)}"
        origin = f" from {self.event_source}" if self.event_source else ""
        return f"event {self.event_name} #{self.event_id}{origin}"


def clock_text(at: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _query() -> Any:
    return (
        sa.select(
            firings,
            deployments.c.name.label("deployment"),
            deployments.c.flow,
            published_events.c.name.label("event_name"),
            published_events.c.source.label("event_source"),
            runs.c.status.label("run_status"),
        )
        .join(deployments, deployments.c.id == firings.c.deployment_id)
        .outerjoin(published_events, published_events.c.id == firings.c.event_id)
        .outerjoin(runs, runs.c.id == firings.c.run_id)
    )


def _firing(row: Any) -> Firing:
    return Firing(**{name: getattr(row, name) for name in Firing.__dataclass_fields__})


def recent_firings(
    deployment: str | None = None, *, limit: int = 50, config: Config | None = None
) -> list[Firing]:
    query = _query().order_by(firings.c.id.desc()).limit(limit)
    if deployment is not None:
        query = query.where(deployments.c.name == deployment)
    with open_store(config).metadata.connect() as conn:
        return [_firing(r) for r in conn.execute(query)]


def next_firing(deployment: Deployment) -> float | None:
    """When the deployment's schedule ticks next (None: it has no schedule or is paused)."""
    spec = deployment.schedule
    if spec is None or deployment.status != "active":
        return None
    return spec.next_tick(clock.now())


def firing_chain(flow: str, run_id: int, *, config: Config | None = None) -> list[Firing]:
    """The firings that led to run ``flow/run_id``, the earliest first."""
    chain: list[Firing] = []
    seen: set[tuple[str, int]] = set()
    with open_store(config).metadata.connect() as conn:
        while (flow, run_id) not in seen:
            seen.add((flow, run_id))
            row = conn.execute(
                _query().where(firings.c.run_id == run_id, deployments.c.flow == flow)
            ).first()
            if row is None:
                break
            firing = _firing(row)
            chain.append(firing)
            source = firing.event_source or ""
            if not source.startswith("run:"):
                break
            flow, _, text = source[4:].rpartition("/")
            if not text.isdigit():
                break
            run_id = int(text)
    return chain[::-1]
