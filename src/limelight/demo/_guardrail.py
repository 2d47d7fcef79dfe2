"""The demo's guardrail day: a bad version reaches serving, a monitor catches it, rolls it back.

The bad version ranks like the champion it was made from but its scores come out on another
scale (a unit change in its output, say), which offline ranking metrics cannot see. A monitor
compares the scores served in a short window with the champion's traffic of the day before
(normed Wasserstein distance, the default threshold) and, with ``action="rollback"``, moves ``recs@champion`` back
through the registry while members go on using the service.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from limelight.demo._online import simulate_day
from limelight.monitoring import Monitors
from limelight.registry import Registry
from limelight.sim import Online, World
from limelight.store import Store

__all__ = ["GuardrailResult", "OffScaleScores", "guardrail_day"]

MONITOR = "recs-scores-guardrail"
CHECK = "wasserstein(scores)"  # PSI's equal-width bins lose a change that hides under a long tail
WINDOW_SECONDS = 4
FLUSH_SECONDS = 1.6  # serving writes its buffered impressions every second


class OffScaleScores:
    """A recommender version gone wrong after its offline evaluation: it ranks as the version
    it wraps, but its scores are on another scale."""

    def __init__(self, inner: Any, *, scale: float = 25.0, offset: float = 3.0) -> None:
        self.inner, self.scale, self.offset = inner, scale, offset

    def recommend(self, user_ids: Any, k: int, exclude_seen: bool = True) -> Any:
        items, scores = self.inner.recommend(user_ids, k, exclude_seen=exclude_seen)
        return items, np.asarray(scores, dtype=np.float64) * self.scale + self.offset

    def __getattr__(self, name: str) -> Any:  # what serving asks of a recommender beyond that
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)


@dataclass
class GuardrailResult:
    good_version: int
    bad_version: int
    day: int
    sessions: int
    plays: int = 0
    value: float | None = None
    threshold: float | None = None
    window: tuple[float, float] | None = None
    outcome: str = "not caught"
    caught_after: float | None = None  # seconds from the bad version's move to the rollback
    why: str = ""

    def lines(self) -> list[str]:
        head = (
            f"Guardrail, day {self.day + 1}: recs/{self.bad_version} (scores on another scale) "
            f"became champion over recs/{self.good_version}; {self.sessions} sessions that day"
        )
        if self.window is None or self.value is None:
            return ["", head, f"  the monitor {MONITOR} did not catch it: {self.outcome}"]
        start, end = (datetime.fromtimestamp(t, UTC).strftime("%H:%M:%S") for t in self.window)
        return [
            "",
            head,
            f"  monitor {MONITOR}: {CHECK} = {self.value:.3g} > {self.threshold:g} in the "
            f"window {start}-{end} UTC, against the champion's traffic of the day before",
            f"  -> {self.outcome} {self.caught_after:.1f} s after the bad version reached "
            f"serving (audit log: {self.why})",
        ]


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S")


def guardrail_day(
    world: World,
    online: Online,
    url: str,
    store: Store,
    day: int,
    reference: tuple[float, float],
    out: Callable[[str], None],
) -> GuardrailResult:
    """Put a bad version behind ``recs@champion`` for simulated day ``day`` and watch it."""
    registry = Registry(store=store)
    good = registry.get("recs@champion")
    bad = registry.register(
        "recs",
        OffScaleScores(registry.load(good.ref)),
        metrics={**good.metrics, "ndcg@10": good.metrics.get("ndcg@10", 0.0) + 1e-4},
        description="the same ranking, its scores on another scale",
    )
    monitors = Monitors(store)
    if MONITOR in {m.name for m in monitors.all()}:
        monitors.delete(MONITOR)
    monitors.create(
        MONITOR,
        model="recs",
        check=CHECK,
        window=f"{WINDOW_SECONDS}s",
        reference=f"{_iso(reference[0])}..{_iso(reference[1] + 1)}",
        action="rollback",
    )
    moved_at = time.time()
    registry.set_alias(
        "recs",
        "champion",
        bad.version,
        why="offline NDCG@10 a hair better (the demo's bad version)",
    )
    result = GuardrailResult(good.version, bad.version, day, 0)
    served: list[Any] = []
    traffic = threading.Thread(
        target=lambda: served.append(
            simulate_day(world, online, url, day, world.config.row_size)[0]
        )
    )
    traffic.start()
    while traffic.is_alive() or result.window is None:
        time.sleep(1.0)
        at = time.time() - FLUSH_SECONDS
        for r in monitors.check([MONITOR], at=at):
            if r.version == bad.version and r.alert is not None:
                result.value, result.threshold = r.value, r.alert.threshold
                result.window, result.outcome = (r.window_start, r.window_end), r.alert.outcome
                result.caught_after = time.time() - moved_at
                result.why = r.alert.detail.get("rollback", "")
        if result.window is not None or (not traffic.is_alive() and at > moved_at + 10):
            break
    if result.window is not None:
        out(
            f"      monitor {MONITOR} caught recs/{bad.version}: {CHECK} = "
            f"{result.value:.3g}; {result.outcome} after {result.caught_after:.1f} s"
        )
    traffic.join()
    if served:
        result.sessions, result.plays = served[0].sessions, served[0].plays
    return result
