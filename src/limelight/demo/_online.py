"""The improve loop: simulated members use the served models over HTTP for a number of days.

Each simulated day: every session asks ``/v1/recommend`` (with the member's taste features as
the artwork policy's context), the simulator answers each response with plays, and the plays
go back as ``/v1/feedback``. After each day the experiment is analysed from the event log with
the anytime-valid (sequential) interval, which may be looked at daily without inflating false
positives.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from limelight.experiments import ExperimentSpec
from limelight.experiments._log_queries import analyze_event_log
from limelight.serving import Client
from limelight.sim import Online, World
from limelight.store import Store

__all__ = ["DayResult", "simulate_day", "analyse"]

_THREADS = 4


@dataclass
class DayResult:
    day: int
    sessions: int
    plays: int
    shown: int
    users: dict[str, int] = field(default_factory=dict)
    lift: float = float("nan")
    lift_low: float = float("nan")
    lift_high: float = float("nan")
    diff: float = float("nan")
    diff_low: float = float("nan")
    diff_high: float = float("nan")
    p_value: float = float("nan")
    srm_flagged: bool = False
    champion: int | None = None
    note: str = ""

    @property
    def significant_win(self) -> bool:
        return self.lift_low > 0


def _chunks(n: int, parts: int) -> list[range]:
    size = (n + parts - 1) // parts
    return [range(lo, min(n, lo + size)) for lo in range(0, n, size)]


def simulate_day(
    world: World, online: Online, url: str, day: int, k: int
) -> tuple[DayResult, list[dict[str, Any]]]:
    """One simulated day of sessions against the server at ``url``; returns the day and its answers."""
    sessions = online.sessions(1.0, start=world.config.start + day * 86_400)
    members = sessions.member_ids
    contexts = world.contexts(members) if len(members) else np.zeros((0, world.context_dim))
    answers: list[dict[str, Any]] = [{}] * len(members)

    def ask(rows: range) -> None:
        with Client(url, timeout=30.0) as client:
            for i in rows:
                answers[i] = client.recommend(
                    int(members[i]), k, context={"features": contexts[i].tolist()}
                )

    with ThreadPoolExecutor(_THREADS) as pool:
        list(pool.map(ask, _chunks(len(members), _THREADS)))
    if not len(members):
        return DayResult(day, 0, 0, 0), []
    slates = np.array(
        [[int(item["item_id"]) for item in a["items"]] for a in answers], dtype=np.int64
    )
    candidates = world.artwork_candidates(slates.reshape(-1)).reshape(*slates.shape, -1)
    chosen_arms = np.array([[int(item.get("artwork", -1)) for item in a["items"]] for a in answers])
    artworks = np.argmax(candidates == chosen_arms[..., None], axis=2)
    feedback = online.respond(members, slates, artworks, sessions.timestamps)

    def tell(rows: range) -> None:
        with Client(url, timeout=30.0) as client:
            for j in rows:
                answer = answers[feedback.rows[j]]
                client.feedback(
                    answer["request_id"],
                    int(feedback.title_ids[j]),
                    "play",
                    float(feedback.durations[j]),
                )

    with ThreadPoolExecutor(_THREADS) as pool:
        list(pool.map(tell, _chunks(len(feedback), _THREADS)))
    return DayResult(day, len(members), len(feedback), int(slates.size)), answers


def analyse(
    store: Store, spec: ExperimentSpec, result: DayResult, *, settle: Callable[[], None]
) -> DayResult:
    """The experiment's sequential read-out on everything logged so far."""
    settle()
    analysis = analyze_event_log(store.config.events, spec)
    result.users = dict(zip(analysis.variants, analysis.counts, strict=True))
    result.srm_flagged = analysis.srm.flagged
    metric = analysis.result(spec.primary_metric)
    sequential = metric.sequential
    if sequential is not None:
        result.diff, result.diff_low, result.diff_high = (
            sequential.diff,
            sequential.ci_low,
            sequential.ci_high,
        )
        result.lift, result.lift_low, result.lift_high = (
            sequential.lift,
            sequential.lift_ci_low,
            sequential.lift_ci_high,
        )
        result.p_value = sequential.p_value
    result.note = metric.note
    return result


def wait_for_events(store: Store) -> Callable[[], None]:
    """Wait until the servers' event log has committed everything it acknowledged."""
    from limelight.store.events import wait_for_commits

    def settle() -> None:
        wait_for_commits(store.config.home / "eventbuf")

    return settle
