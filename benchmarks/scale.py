"""The distributed executor against the engine's own tasks and against the local executor.

The same work runs three ways on this machine, interleaved round by round:

1. ``dask``: plain Dask tasks (``client.map`` then ``gather``) on a two-worker ``LocalCluster``
   on 127.0.0.1 (one thread per worker): the engine itself, the floor;
2. ``limelight-dask``: a Limelight flow whose foreach runs the same work, one Dask task per
   Limelight task, on the same cluster (``--executor dask``), with the metadata in SQLite and the
   artifacts in a local folder;
3. ``limelight-local``: the same flow on the local executor (two forked worker processes).

Two workloads: a foreach of 1,000 trivial tasks (200 with ``--quick``), and a foreach of 100
tasks of 1 s of CPU each (20 tasks of 0.25 s with ``--quick``). The flow's times are whole runs
(its ``start``, ``join`` and ``end`` tasks, connecting to the cluster and the bookkeeping
included); the engine's are the map and the gather. The peer is Dask itself, from the same
environment, because the question is what Limelight adds on top of the engine it drives (Ray is
not installed here: see docs/deploy.md). Also timed: the cluster's cold start (start, connect,
first task back). Medians of 3 rounds for the trivial tasks and 2 for the CPU tasks (1 and 1
with ``--quick``).

    python benchmarks/scale.py [--quick]

Prints a table and ends with one line of JSON (medians, and ratios against plain Dask).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from limelight.core.config import resolve_config
from limelight.flows import Flow, Param, step


def burn(seconds: float) -> int:
    """Spend ``seconds`` of CPU time (not wall time: the machine is shared)."""
    end = time.process_time() + seconds
    spins = 0
    while time.process_time() < end:
        spins += 1
    return spins


def plain_task(i: int, seconds: float) -> int:
    burn(seconds)
    return i


class Fanout(Flow):
    """A foreach of ``n`` tasks of ``seconds`` of CPU each, then a join."""

    n = Param(default=100)
    seconds = Param(default=0.0)

    @step
    def start(self):
        self.items = list(range(self.n))
        self.next(self.work, foreach="items")

    @step
    def work(self):
        burn(self.seconds)
        self.out = self.input
        self.next(self.join)

    @step
    def join(self, inputs):
        self.total = sum(i.out for i in inputs)
        self.next(self.end)

    @step
    def end(self):
        pass


def _cluster() -> tuple[Any, Any, float]:
    import dask
    from distributed import Client, LocalCluster

    started = time.perf_counter()
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        cluster = LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            # the scheduler's HTTP server (health, metrics) runs even without a dashboard, by
            # default on 8787: a free port instead, on loopback, so that two clusters can coexist
            scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
        )
    client = Client(cluster, set_as_default=False)
    client.submit(plain_task, 0, 0.0, pure=False).result()
    return cluster, client, time.perf_counter() - started


def _plain(client: Any, n: int, seconds: float) -> float:
    started = time.perf_counter()
    futures = client.map(plain_task, range(n), seconds=seconds, pure=False)
    total = sum(client.gather(futures))
    elapsed = time.perf_counter() - started
    if total != n * (n - 1) // 2:
        raise RuntimeError("plain Dask returned a wrong total")
    return elapsed


def _flow(executor: str, n: int, seconds: float) -> float:
    with tempfile.TemporaryDirectory(prefix="ll-scale-") as home:
        config = resolve_config(home=home, executor=executor, environ={})
        started = time.perf_counter()
        # the local executor gets as many workers as the cluster has; the cluster says itself
        workers = 2 if executor == "local" else None
        run = Fanout.run(n=n, seconds=seconds, config=config, max_workers=workers)
        elapsed = time.perf_counter() - started
        if run.data.total != n * (n - 1) // 2:
            raise RuntimeError(f"the flow on {executor} returned a wrong total")
    return elapsed


def measure(client: Any, n: int, seconds: float, rounds: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {"dask": [], "limelight-dask": [], "limelight-local": []}
    for _ in range(rounds):
        times["dask"].append(_plain(client, n, seconds))
        times["limelight-dask"].append(_flow("dask", n, seconds))
        times["limelight-local"].append(_flow("local", n, seconds))
    return times


def summarise(name: str, n: int, times: dict[str, list[float]]) -> dict[str, Any]:
    med = {k: statistics.median(v) for k, v in times.items()}
    return {
        "workload": name,
        "tasks": n,
        "seconds": med,
        "ms_per_task": {k: 1000 * v / n for k, v in med.items()},
        "added_ms_per_task": 1000 * (med["limelight-dask"] - med["dask"]) / n,
        "ratio_vs_dask": med["limelight-dask"] / med["dask"],
        "ratio_local_vs_dask": med["limelight-local"] / med["dask"],
        "rounds": len(times["dask"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer and shorter tasks")
    args = parser.parse_args()
    trivial_n, cpu_n, cpu_s = (200, 20, 0.25) if args.quick else (1000, 100, 1.0)
    rounds_trivial, rounds_cpu = (1, 1) if args.quick else (3, 2)

    cluster, client, cold = _cluster()
    os.environ["LIMELIGHT_CLUSTER_ADDRESS"] = cluster.scheduler_address
    try:
        _flow("dask", 4, 0.0)  # warm the workers' imports of the flow, as a second run would
        _flow("local", 4, 0.0)
        rows = [
            summarise(
                f"{trivial_n} trivial tasks",
                trivial_n,
                measure(client, trivial_n, 0.0, rounds_trivial),
            ),
            summarise(
                f"{cpu_n} tasks of {cpu_s:g} s CPU",
                cpu_n,
                measure(client, cpu_n, cpu_s, rounds_cpu),
            ),
        ]
    finally:
        client.close()
        cluster.close()

    print(f"Dask cold start (LocalCluster of 2 workers, connect, first task): {cold:.2f} s")
    print()
    header = (
        f"{'workload':<26} {'plain Dask':>11} {'Limelight/Dask':>15} {'Limelight/local':>16}"
        f" {'added ms/task':>14} {'LL-Dask/Dask':>13} {'local/Dask':>11}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        s = row["seconds"]
        print(
            f"{row['workload']:<26} {s['dask']:>10.2f}s {s['limelight-dask']:>14.2f}s "
            f"{s['limelight-local']:>15.2f}s {row['added_ms_per_task']:>14.1f} "
            f"{row['ratio_vs_dask']:>12.2f}x {row['ratio_local_vs_dask']:>10.2f}x"
        )
    print()
    for row in rows:
        per = row["ms_per_task"]
        print(
            f"{row['workload']}: ms per task (wall / tasks, 2 workers): plain Dask "
            f"{per['dask']:.1f}, Limelight on Dask {per['limelight-dask']:.1f}, "
            f"Limelight local {per['limelight-local']:.1f}"
        )
    print(
        json.dumps(
            {
                "benchmark": "scale",
                "quick": args.quick,
                "dask_cold_start_s": round(cold, 2),
                "workloads": rows,
                "target_cpu_ratio_vs_dask": 1.5,
                "cpu_ratio_vs_dask": rows[1]["ratio_vs_dask"],
            }
        )
    )


if __name__ == "__main__":
    main()
