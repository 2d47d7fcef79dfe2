"""The scheduler under load, beside Apache Airflow 3: event-to-task latency, idle CPU, chaos.

1,000 deployments (200 in --quick; half daily schedules spread over the day, half triggers on
their own event) and two ``limelight scheduler`` processes on one PostgreSQL database (a fresh
schema):

1. idle: the schedulers' CPU while nothing is due (target under 2% of a core each);
2. latency: ``publish`` to the triggered run's first step starting (median, p99; target p99 < 1 s);
3. chaos: events published steadily while one scheduler or the other is killed with SIGKILL
   (every 10 s for 30 s in --quick, every minute for 10 minutes in full) and restarted: each
   event must start exactly one run (duplicates and misses: target zero).

The peer is Apache Airflow 3 (its own venv, benchmarks/peers.py) on an equivalent DAG scheduled
on an Asset: the same event-to-task latency, on SQLite (``airflow standalone``'s default).

    python benchmarks/scheduler.py --quick
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
POSTGRES = os.environ.get(
    "LIMELIGHT_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
FLOW = """from limelight import Flow, schedule, step, trigger


@{decorator}
class {name}(Flow):
    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass
"""


def _log(message: str) -> None:
    print(f"[scheduler-bench] {message}", file=sys.stderr, flush=True)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class Bench:
    def __init__(self, config: Any) -> None:
        self.config = config
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            LIMELIGHT_HOME=str(self.config.home),
            LIMELIGHT_DB=self.config.db,
            LIMELIGHT_EXECUTOR="inline",
            PYTHONPATH=str(ROOT / "src"),
        )
        return env

    def start(self, name: str) -> None:
        code = "from limelight.cli import main; main()"
        log = open(self.config.home / f"scheduler-{name}.log", "ab")  # noqa: SIM115
        self.procs[name] = subprocess.Popen(
            [sys.executable, "-c", code, "scheduler", "--name", name],
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()

    def kill(self, name: str) -> None:
        proc = self.procs[name]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for proc in self.procs.values():
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()


def _deploy_all(config: Any, count: int) -> None:
    from limelight.scheduling import deploy

    folder = config.home / "flows"
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    for i in range(count):
        if i % 2 == 0:
            name = f"Sched{i:04d}"
            minute, hour = (i * 7) % 60, (i // 2) % 24
            decorator = f'schedule(cron="{minute} {hour} * * *")'
        else:
            name = f"Trig{i:04d}"
            decorator = f'trigger(event="evt_{i:04d}")'
        path = folder / name.lower() / f"{name.lower()}.py"  # a folder each: its code package
        path.parent.mkdir()
        path.write_text(FLOW.format(decorator=decorator, name=name))
        deploy(path, config=config)
        if (i + 1) % 200 == 0:
            _log(f"deployed {i + 1}/{count} ({time.perf_counter() - started:.0f} s)")


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _idle_cpu(bench: Bench, seconds: float) -> float:
    """Mean CPU share of one core per scheduler over ``seconds`` with nothing due."""
    pids = [p.pid for p in bench.procs.values()]
    before = [_cpu_seconds(p) for p in pids]
    start = time.monotonic()
    time.sleep(seconds)
    wall = time.monotonic() - start
    return statistics.mean((_cpu_seconds(p) - b) / wall for p, b in zip(pids, before, strict=True))


def _settle(config: Any, timeout: float) -> None:
    from limelight.store import open_store
    from limelight.store.schema import firings

    end = time.monotonic() + timeout
    metadata = open_store(config).metadata
    while time.monotonic() < end:
        with metadata.connect() as conn:
            busy = conn.execute(
                sa.select(sa.func.count()).where(
                    firings.c.status.in_(("claimed", "starting", "running"))
                )
            ).scalar_one()
        if not busy:
            return
        time.sleep(0.5)
    _log("firings still busy after the wait")


def _outcomes(config: Any, event_ids: list[int]) -> dict[int, dict[str, Any]]:
    """Per event: its firings, the runs they started, and the first step's start latency."""
    from limelight.store import open_store
    from limelight.store.schema import firings, published_events, tags, tasks

    out: dict[int, dict[str, Any]] = {
        e: {"firings": 0, "runs": 0, "latency": None} for e in event_ids
    }
    with open_store(config).metadata.connect() as conn:
        rows = conn.execute(
            sa.select(
                firings.c.id,
                firings.c.event_id,
                firings.c.run_id,
                published_events.c.created_at,
            )
            .join(published_events, published_events.c.id == firings.c.event_id)
            .where(firings.c.event_id.in_(event_ids))
        ).all()
        run_counts = dict(
            conn.execute(
                sa.select(tags.c.tag, sa.func.count())
                .where(tags.c.tag.like("firing:%"))
                .group_by(tags.c.tag)
            ).all()
        )
        starts = dict(
            conn.execute(
                sa.select(tasks.c.run_id, sa.func.min(tasks.c.started_at))
                .where(tasks.c.step == "start")
                .group_by(tasks.c.run_id)
            ).all()
        )
    for firing_id, event_id, run_id, created in rows:
        entry = out[event_id]
        entry["firings"] += 1
        entry["runs"] += run_counts.get(f"firing:{firing_id}", 0)
        if run_id in starts and starts[run_id] is not None:
            entry["latency"] = starts[run_id] - created
    return out


def run_limelight(quick: bool, count: int) -> dict[str, Any]:
    from limelight.core.config import resolve_config
    from limelight.store import open_store
    from limelight.store.published import publish_event

    schema = f"bench_sched_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(POSTGRES)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    home = Path(tempfile.mkdtemp(prefix="limelight-sched-bench-"))
    db = f"{POSTGRES}?options=-csearch_path%3D{schema}"
    config = resolve_config(home=home, db=db, environ={}).with_(executor="inline")
    bench = Bench(config)
    try:
        _deploy_all(config, count)
        triggers = [i for i in range(count) if i % 2 == 1]
        for name in ("a", "b"):
            bench.start(name)
        time.sleep(5)
        idle = _idle_cpu(bench, 8 if quick else 30)
        _log(f"idle CPU per scheduler: {idle:.2%} of a core")

        latency_events = []
        for _ in range(10 if quick else 60):
            i = random.choice(triggers)
            latency_events.append(publish_event(f"evt_{i:04d}", {"n": i}, config=config))
            time.sleep(1.0)
        _settle(config, 120)
        measured = _outcomes(config, latency_events)
        latencies = [v["latency"] for v in measured.values() if v["latency"] is not None]
        _log(f"latency: median {statistics.median(latencies):.3f} s over {len(latencies)}")

        chaos_seconds, kill_every = (30.0, 10.0) if quick else (600.0, 60.0)
        chaos_events: list[int] = []
        kills = 0
        start = time.monotonic()
        next_kill = start + kill_every
        victim = "a"
        while time.monotonic() - start < chaos_seconds:
            i = random.choice(triggers)
            chaos_events.append(publish_event(f"evt_{i:04d}", {"n": i}, config=config))
            if time.monotonic() >= next_kill:
                bench.kill(victim)
                bench.start(victim)  # the same name: the killed one's lease is taken over
                kills += 1
                victim = "b" if victim == "a" else "a"
                next_kill += kill_every
                _log(f"killed a scheduler with SIGKILL ({kills})")
            time.sleep(2.0)
        _settle(config, 180)
        outcome = _outcomes(config, chaos_events)
        duplicates = sum(max(0, v["runs"] - 1) + max(0, v["firings"] - 1) for v in outcome.values())
        misses = sum(1 for v in outcome.values() if v["runs"] == 0)
        return {
            "deployments": count,
            "latency_median_s": statistics.median(latencies),
            "latency_p99_s": _percentile(latencies, 0.99),
            "latency_n": len(latencies),
            "idle_cpu_share": idle,
            "chaos_seconds": chaos_seconds,
            "chaos_events": len(chaos_events),
            "kills": kills,
            "duplicates": duplicates,
            "misses": misses,
        }
    finally:
        bench.stop()
        open_store(config).dispose()
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter phases (under two minutes)")
    parser.add_argument("--deployments", type=int, help="default 1000 (200 with --quick)")
    parser.add_argument("--no-peer", action="store_true", help="skip Apache Airflow")
    args = parser.parse_args()
    random.seed(7)
    ours = run_limelight(args.quick, args.deployments or (200 if args.quick else 1000))
    peer: dict[str, Any] = {"skipped": "--no-peer"}
    if not args.no_peer:
        from benchmarks.scheduler_airflow import run_airflow

        peer = run_airflow(quick=args.quick)
    rows = [
        ("deployments", ours["deployments"], ""),
        (
            "publish -> first step, median (s)",
            f"{ours['latency_median_s']:.3f}",
            _peer(peer, "latency_median_s"),
        ),
        (
            "publish -> first step, p99 (s)",
            f"{ours['latency_p99_s']:.3f}",
            _peer(peer, "latency_p99_s"),
        ),
        ("idle CPU per scheduler (share of a core)", f"{ours['idle_cpu_share']:.2%}", ""),
        (
            f"chaos: events / SIGKILLs in {ours['chaos_seconds']:.0f} s",
            f"{ours['chaos_events']} / {ours['kills']}",
            "",
        ),
        ("chaos: duplicates / misses", f"{ours['duplicates']} / {ours['misses']}", ""),
    ]
    print(f"{'':44} {'Limelight':>12} {'Airflow 3':>12}")
    for label, value, other in rows:
        print(f"{label:44} {value!s:>12} {other!s:>12}")
    result: dict[str, Any] = {
        "benchmark": "scheduler",
        "quick": args.quick,
        "limelight": ours,
        "airflow": peer,
    }
    if "latency_median_s" in peer:
        result["latency_median_ratio_vs_airflow"] = (
            ours["latency_median_s"] / peer["latency_median_s"]
        )
    print(json.dumps(result))


def _peer(peer: dict[str, Any], key: str) -> str:
    return f"{peer[key]:.3f}" if key in peer else "n/a"


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
