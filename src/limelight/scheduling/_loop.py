"""The scheduler: fire schedules and triggers, each exactly once, however many schedulers run.

Exactly once is a row: a firing is claimed by inserting ``(deployment, claim_key)`` into
``firings``, whose unique key lets one insert win on SQLite and PostgreSQL alike (``tick:<t>``
for a schedule's tick, ``event:<id>`` for an event). The winner hands the firing to a runner
process (``_runner``), which takes it with a compare-and-set and records the run it starts in
the run's own first transaction. A recovery pass re-hands firings that were claimed but never
taken (their scheduler was killed), and re-opens those whose runner died before its run
existed: nothing is skipped, nothing runs twice.

Time comes from ``core/clock.py`` (a simulated clock lets a day pass in seconds); the claims'
own bookkeeping (leases, grace periods) uses the wall clock.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import socket
import sys
import time
from dataclasses import dataclass, field
from functools import partial
from multiprocessing.context import ForkServerContext
from multiprocessing.process import BaseProcess
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from limelight.core import clock
from limelight.core.config import Config, resolve_config
from limelight.core.errors import LimelightError
from limelight.core.processes import pid_alive, sigint_held
from limelight.flows._records import STALE_AFTER
from limelight.scheduling._deploy import Deployment
from limelight.scheduling._spec import EventSpec
from limelight.store import open_store
from limelight.store.metadata import insert_once
from limelight.store.published import NOTIFY_CHANNEL, publish_event
from limelight.store.schema import deployments, firings, published_events, runs, schedulers

__all__ = ["SchedulerAlreadyRunning", "SchedulerLoop"]

LEASE_TTL = 15.0  # seconds without a heartbeat after which a scheduler's name is free again
CLAIM_GRACE = 5.0  # seconds a claimed firing waits for its own scheduler's runner
STARTING_TIMEOUT = 120.0  # seconds a runner on another host may take from its take to its run
PAUSE_ENV = "LIMELIGHT_SCHEDULER_PAUSE_AFTER_CLAIM"  # tests: seconds between claim and hand-off
_EVENT_LOG_NAMES = {"new_impressions": "impressions", "new_feedback": "feedback"}


class SchedulerAlreadyRunning(LimelightError):
    """A live scheduler holds this name (on this machine: its pid is alive)."""


def _runner_alive(firing: Any, now: float) -> bool:
    """Whether the runner (``host:pid``) of a starting or running firing is alive.

    On this host its pid says. On another host: a runner still ``starting`` is alive for
    ``STARTING_TIMEOUT`` after it took the firing, and one whose run is ``running`` while the
    run's heartbeat is fresh (the run's scheduler writes it from a thread every few seconds).
    """
    if not firing.runner:
        return False
    host, _, pid = firing.runner.rpartition(":")
    if host == socket.gethostname():
        return pid_alive(int(pid))
    if firing.status == "starting":
        return now - (firing.started_at or firing.claimed_at) < STARTING_TIMEOUT
    beat = firing.heartbeat_at if firing.heartbeat_at is not None else firing.started_at
    return firing.run_status == "running" and now - (beat or 0.0) < STALE_AFTER


@dataclass
class _Pending:
    """What an ``all`` trigger has seen since its deployment last fired."""

    events: dict[int, Any] = field(default_factory=dict)  # index of EventSpec -> event row


class SchedulerLoop:
    """One scheduler process. ``run_once()`` is one pass; ``serve()`` passes until stopped."""

    def __init__(
        self,
        config: Config | None = None,
        *,
        name: str | None = None,
        poll: float = 0.5,
        new_events_every: int = 10_000,
        inline: bool = False,
    ) -> None:
        self.config = config or resolve_config()
        self.store = open_store(self.config)
        self.name = name or socket.gethostname()
        self.me = f"{socket.gethostname()}:{os.getpid()}"
        self.poll, self.new_events_every, self.inline = poll, new_events_every, inline
        self._deployments: list[Deployment] = []
        self._by_event: dict[str, list[Deployment]] = {}  # event name -> who waits for it
        self._stamp: Any = None
        self._next_due: dict[int, float] = {}
        self._cursor: int | None = None
        self._start_after: dict[int, int] = {}
        self._pending: dict[tuple[int, int], _Pending] = {}
        self._children: list[BaseProcess] = []
        self._listener: Any = None
        self._last_beat = self._last_recover = self._last_log_check = 0.0
        self._log_rows: dict[str, int] = {}
        self._handed: dict[int, float] = {}  # firing id -> when recovery last handed it off
        self.fired: list[int] = []  # firing ids this scheduler claimed

    # -- the lease ------------------------------------------------------------------------------
    def acquire(self) -> None:
        """Take this scheduler's name, or refuse clearly when a live scheduler holds it."""
        now = time.time()
        host = socket.gethostname()

        def work(conn: Connection) -> None:
            row = conn.execute(sa.select(schedulers).where(schedulers.c.name == self.name)).first()
            if row is not None and now - row.heartbeat_at < LEASE_TTL:
                alive = row.host != host or pid_alive(row.pid)
                if alive and not (row.host == host and row.pid == os.getpid()):
                    raise SchedulerAlreadyRunning(
                        f"a scheduler named {self.name!r} is already running (pid {row.pid} on "
                        f"{row.host}); stop it first, or give this one another name: "
                        "limelight scheduler --name OTHER"
                    )
            conn.execute(schedulers.delete().where(schedulers.c.name == self.name))
            lease = {"name": self.name, "host": host, "pid": os.getpid()}
            conn.execute(schedulers.insert().values(**lease, started_at=now, heartbeat_at=now))

        self.store.metadata.transaction(work)
        self._last_beat = now

    def _heartbeat(self) -> None:
        now = time.time()
        if now - self._last_beat < LEASE_TTL / 5:
            return

        def work(conn: Connection) -> int:
            done = conn.execute(
                schedulers.update()
                .where(schedulers.c.name == self.name, schedulers.c.pid == os.getpid())
                .values(heartbeat_at=now)
            )
            return int(done.rowcount)

        if not self.store.metadata.transaction(work):
            raise SchedulerAlreadyRunning(f"scheduler {self.name!r}: another process took the name")
        self._last_beat = now

    def release(self) -> None:
        def work(conn: Connection) -> None:
            conn.execute(
                schedulers.delete().where(
                    schedulers.c.name == self.name, schedulers.c.pid == os.getpid()
                )
            )

        self.store.metadata.transaction(work)

    # -- one pass -------------------------------------------------------------------------------
    def run_once(self) -> list[int]:
        """One pass: schedules, events, recovery. The firings claimed in it (their ids)."""
        before = len(self.fired)
        self._heartbeat()
        self._refresh()
        self._fire_schedules()
        self._watch_event_log()
        self._fire_events()
        self._recover()
        self._reap()
        return self.fired[before:]

    def serve(self, *, duration: float | None = None) -> None:
        """Pass every ``poll`` seconds (until ``duration`` seconds have passed, if given)."""
        end = None if duration is None else time.monotonic() + duration
        self.acquire()
        if not self.inline:  # start the warm fork server now, not at the first firing
            from multiprocessing import forkserver

            _runner_context()
            forkserver.ensure_running()
        self._listener = self.store.metadata.listener(NOTIFY_CHANNEL)
        try:
            while end is None or time.monotonic() < end:
                started = time.monotonic()
                try:
                    # a Ctrl-C mid-pass waits for the pass: a claim is never left un-handed
                    with (
                        contextlib.nullcontext() if self.inline else sigint_held(deliver_after=True)
                    ):
                        self.run_once()
                except SchedulerAlreadyRunning:
                    raise
                except LimelightError as exc:  # the database hiccuped: the next pass retries
                    print(f"scheduler {self.name}: pass failed, retrying: {exc}", file=sys.stderr)
                self._wait(max(0.0, self.poll - (time.monotonic() - started)))
        finally:
            if self._listener is not None:
                self._listener.close()
            self.release()

    def _wait(self, seconds: float) -> None:
        """Sleep ``seconds``, or less when PostgreSQL notifies that an event was published."""
        if self._listener is None:
            time.sleep(seconds)
            return
        try:
            for _ in self._listener.notifies(timeout=seconds, stop_after=1):
                pass
            for _ in self._listener.notifies(timeout=0):  # drain what came with it
                pass
        except Exception:  # the listening connection broke: poll from now on
            self._listener = None
            time.sleep(seconds)

    def _refresh(self) -> None:
        with self.store.metadata.connect() as conn:
            stamp = conn.execute(
                sa.select(sa.func.count(), sa.func.max(deployments.c.updated_at))
            ).one()
            if tuple(stamp) == self._stamp:
                return
            rows = conn.execute(sa.select(deployments).where(deployments.c.status == "active"))
            self._deployments = [Deployment.from_row(r) for r in rows]
            fired = dict(
                conn.execute(
                    sa.select(firings.c.deployment_id, sa.func.max(firings.c.event_id)).group_by(
                        firings.c.deployment_id
                    )
                ).all()
            )
        self._stamp = tuple(stamp)
        self._next_due.clear()
        self._by_event = {}
        for d in self._deployments:
            for name in {e.name for t in d.triggers for e in t.events}:
                self._by_event.setdefault(name, []).append(d)
        self._start_after = {
            d.id: max(d.since_event, int(fired.get(d.id) or 0))
            for d in self._deployments
            if d.triggers
        }
        if self._start_after:
            lowest = min(self._start_after.values())
            self._cursor = lowest if self._cursor is None else min(self._cursor, lowest)

    # -- claims ---------------------------------------------------------------------------------
    def _claim(
        self,
        deployment: Deployment,
        key: str,
        *,
        reason: str,
        tick: float | None = None,
        event_id: int | None = None,
        params: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> int | None:
        values = {
            "deployment_id": deployment.id,
            "claim_key": key,
            "reason": reason,
            "tick": tick,
            "event_id": event_id,
            "params": params or {},
            "status": "failed" if error else "claimed",
            "error": error,
            "claimed_by": self.me,
            "claimed_at": time.time(),
            "finished_at": time.time() if error else None,
        }
        new = self.store.metadata.transaction(lambda c: insert_once(c, firings, values))
        if new is None:
            return None
        claimed = int(new)
        self.fired.append(claimed)
        if error is None:
            pause = float(os.environ.get(PAUSE_ENV) or 0)
            if pause:
                time.sleep(pause)  # tests kill -9 the scheduler here, between claim and hand-off
            self._hand_off(claimed)
        return claimed

    def _hand_off(self, firing_id: int) -> None:
        if self.inline:
            from limelight.scheduling._runner import run_firing

            run_firing(firing_id, self.config)
            return
        logs = self.config.home / "logs" / "firings"
        logs.mkdir(parents=True, exist_ok=True)
        child = _runner_context().Process(
            target=_run_detached, args=(firing_id, self.config, str(logs / f"{firing_id}.log"))
        )
        child.start()
        self._children.append(child)

    def _reap(self) -> None:
        alive = []
        for child in self._children:
            if child.is_alive():
                alive.append(child)
            else:
                child.join()
        self._children = alive

    def wait_for_runners(self, timeout: float = 120.0) -> None:
        end = time.monotonic() + timeout
        for child in self._children:
            child.join(max(0.1, end - time.monotonic()))
        self._children = []

    # -- schedules ------------------------------------------------------------------------------
    def _fire_schedules(self) -> None:
        now = clock.now()
        for deployment in self._deployments:
            spec = deployment.schedule
            if spec is None or now < self._next_due.get(deployment.id, -1.0):
                continue
            with self.store.metadata.connect() as conn:
                last = conn.execute(
                    sa.select(sa.func.max(firings.c.tick)).where(
                        firings.c.deployment_id == deployment.id
                    )
                ).scalar()
            after = max(
                float(last or 0.0), deployment.updated_at
            )  # paused or redeployed: not caught up
            ticks = list(spec.ticks(after, now))
            if not spec.catchup:
                ticks = ticks[-1:]  # missed ticks are skipped; the latest one runs
            for tick in ticks:
                self._claim(deployment, f"tick:{tick:.0f}", reason="schedule", tick=tick)
            self._next_due[deployment.id] = spec.next_tick(now)

    # -- events ---------------------------------------------------------------------------------
    def _fire_events(self) -> None:
        if self._cursor is None:
            return
        with self.store.metadata.connect() as conn:
            rows = conn.execute(
                sa.select(published_events)
                .where(published_events.c.id > self._cursor)
                .order_by(published_events.c.id)
                .limit(1000)
            ).all()
        for event in rows:
            for deployment in self._by_event.get(event.name, ()):
                if event.id > self._start_after.get(deployment.id, event.id):
                    self._offer(deployment, event)
            self._cursor = event.id

    def _offer(self, deployment: Deployment, event: Any) -> None:
        for index, trig in enumerate(deployment.triggers):
            hits = [i for i, s in enumerate(trig.events) if s.matches(event.name, event.payload)]
            if not hits:
                continue
            if trig.mode == "any":
                self._claim_event(deployment, event, [(trig.events[hits[0]], event)])
                return
            pending = self._pending.setdefault((deployment.id, index), _Pending())
            for i in hits:
                pending.events[i] = event
            if len(pending.events) == len(trig.events):
                chosen = [(trig.events[i], e) for i, e in sorted(pending.events.items())]
                self._pending.pop((deployment.id, index))
                self._claim_event(deployment, event, chosen)
                return

    def _claim_event(
        self, deployment: Deployment, event: Any, matched: list[tuple[EventSpec, Any]]
    ) -> None:
        params: dict[str, Any] = {}
        error = None
        for spec, seen in matched:
            for param, field_name in spec.parameters.items():
                if field_name not in seen.payload:
                    error = (
                        f"deployment {deployment.name}: event {seen.name!r} (#{seen.id}) has no "
                        f"field {field_name!r} in its payload for parameter {param!r}; its "
                        f"fields: {', '.join(sorted(seen.payload)) or 'none'}"
                    )
                    break
                params[param] = seen.payload[field_name]
        self._claim(
            deployment,
            f"event:{event.id}",
            reason="event",
            event_id=event.id,
            params=None if error else params,
            error=error,
        )

    def _watch_event_log(self) -> None:
        """Publish ``new_impressions`` / ``new_feedback`` each time the log grew by N rows."""
        wanted = {
            e.name
            for d in self._deployments
            for t in d.triggers
            for e in t.events
            if e.name in _EVENT_LOG_NAMES
        }
        now = time.time()
        if not wanted or now - self._last_log_check < 5.0:
            return
        self._last_log_check = now
        for name in sorted(wanted):
            rows = _count_event_log(self.config, _EVENT_LOG_NAMES[name])
            bucket = rows // self.new_events_every
            previous = self._log_rows.get(name)
            self._log_rows[name] = rows
            if bucket and (previous is None or bucket > previous // self.new_events_every):
                publish_event(
                    name,
                    {"rows": rows, "new_rows": rows - (previous or 0)},
                    source=f"scheduler:{self.name}",
                    dedup_key=f"{name}:{bucket}",
                    config=self.config,
                )

    # -- recovery -------------------------------------------------------------------------------
    def _recover(self) -> None:
        """Hand off claims whose scheduler died; re-open takes whose runner died before its run."""
        now = time.time()
        if now - self._last_recover < 1.0:
            return
        self._last_recover = now
        with self.store.metadata.connect() as conn:
            stuck = conn.execute(
                sa.select(
                    firings.c.id,
                    firings.c.status,
                    firings.c.runner,
                    firings.c.run_id,
                    firings.c.claimed_at,
                    firings.c.started_at,
                    runs.c.status.label("run_status"),
                    runs.c.heartbeat_at,
                )
                .select_from(firings.outerjoin(runs, runs.c.id == firings.c.run_id))
                .where(
                    firings.c.status.in_(("claimed", "starting", "running")),
                    firings.c.claimed_at < now - CLAIM_GRACE,
                )
            ).all()
        for firing in stuck:
            if firing.status == "claimed":
                if now - self._handed.get(firing.id, 0.0) > 30.0:
                    self._handed[firing.id] = now
                    self._hand_off(firing.id)  # the runner's compare-and-set lets one through
            elif not _runner_alive(firing, now):
                self.store.metadata.transaction(partial(_reopen, firing=firing))


_context: ForkServerContext | None = None
_PRELOAD = ["limelight.scheduling._runner", "limelight.flows._launch", "limelight.flows._loading"]


def _runner_context() -> ForkServerContext:
    """A fork server that has imported the runner once: a hand-off forks a warm process
    (milliseconds) instead of starting Python and importing SQLAlchemy again (a second)."""
    global _context
    if _context is None:
        context = cast(ForkServerContext, mp.get_context("forkserver"))
        context.set_forkserver_preload(_PRELOAD)
        _context = context
    return _context


def _run_detached(firing_id: int, config: Config, log: str) -> None:
    """The runner in a forked child: its own session (a scheduler killed leaves it running)."""
    os.setsid()
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    from limelight.scheduling._runner import run_firing

    run_firing(firing_id, config)


def _reopen(conn: Connection, firing: Any) -> None:
    if firing.status == "starting":  # no run exists: start it again (once: compare-and-set)
        conn.execute(
            firings.update()
            .where(firings.c.id == firing.id, firings.c.status == "starting")
            .values(status="claimed", runner=None)
        )
        return
    status = conn.execute(sa.select(runs.c.status).where(runs.c.id == firing.run_id)).scalar()
    done = status if status in ("succeeded", "failed", "interrupted") else "failed"
    conn.execute(
        firings.update()
        .where(firings.c.id == firing.id, firings.c.status == "running")
        .values(
            status=done,
            error=None if done == "succeeded" else "the runner died",
            finished_at=time.time(),
        )
    )


def _count_event_log(config: Config, kind: str) -> int:
    """Rows of ``kind`` in the event log, counted by DuckDB over the files a scan names."""
    from limelight.store.event_queries import connect, events_relation, scan_events

    if not config.events:
        return 0
    scan = scan_events(config.events, kind)
    if not scan.files:
        return 0
    con = connect()
    try:
        relation = events_relation(con, scan, ["request_id"])
        return int(con.execute(f"SELECT count(*) FROM {relation}").fetchone()[0])  # type: ignore[index]
    finally:
        con.close()
