"""Tracking against MLflow: logging metrics, reading them back, and searching 10,000 runs.

Both on SQLite. MLflow (latest from PyPI, in its own virtual environment) uses
``mlflow.set_tracking_uri("sqlite:///<tmp>/mlflow.db")``; Limelight a temporary
``LIMELIGHT_HOME``. Each repetition starts from a fresh store, and the timed work is:

1. one at a time: ``mlflow.log_metric`` vs ``run.log_metric`` for one metric over N steps, then
   ``mlflow.end_run()`` vs ``run.end()``: the clock stops when the values are committed;
2. batched: 10 metrics x N/10 steps, ``MlflowClient().log_batch`` with ``Metric`` objects (built
   inside the timing) vs ``run.log_metrics`` per step, then the end of the run (one flush);
3. reading the batch run back: ``MlflowClient().get_metric_history`` per metric vs
   ``metric_history(run)``; both are checked to return every value logged.

MLflow one at a time logs fewer values (1,000; 100 with ``--quick``): it commits each value on
its own (about 50 values/s here), and values/s is the figure compared. Then 10,000 runs (2,000
with ``--quick``) with two params and two metrics each are seeded into both systems and
``mlflow.search_runs(filter_string="metrics.ndcg > 0.4 and params.l2 = '500'")`` is timed
against ``search_runs(where="metrics.ndcg > 0.4 and params.l2 = 500")``; both must return the
same number of runs as the seed data says. MLflow is seeded through its own SQLAlchemy models in
one session (its ``log_batch`` per run commits several times per run); Limelight through its
public API (``start_run(params=...)``, ``log_metric``, ``end``). After one untimed search each,
7 searches (5 with ``--quick``) alternate between the two (MLflow's in a peer process that waits
for each request). Logging: medians of 3 repetitions, alternating between the two.

    python benchmarks/tracking_vs_mlflow.py [--quick] [--profile]

``--profile`` runs only Limelight's side under cProfile and prints where the time goes.

Prints a table and ends with one line of JSON (medians and ratios Limelight / MLflow).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.peers import peer_python, run_in_peer

MLFLOW_REQUIREMENTS = ["mlflow"]
KEYS = 10  # metrics in the batched run
WHERE_LIMELIGHT = "metrics.ndcg > 0.4 and params.l2 = 500"
WHERE_MLFLOW = "metrics.ndcg > 0.4 and params.l2 = '500'"
TARGETS = {"single": 1000.0, "batch": 20.0, "search": 10.0}


@dataclass(frozen=True)
class Sizes:
    reps: int
    searches: int  # timed searches in each system
    values: int  # Limelight one at a time, and both batched
    mlflow_single: int  # MLflow one at a time
    runs: int  # seeded for the search


FULL = Sizes(3, 7, 10_000, 1_000, 10_000)
QUICK = Sizes(3, 5, 2_000, 100, 2_000)


def value_at(i: int) -> float:
    """The i-th value logged (the same in both systems)."""
    return math.sin(i) * 0.5 + 0.5


# -- MLflow, in its own venv ----------------------------------------------------------------------
MLFLOW_COMMON = r"""
import json, logging, math, sys, time, warnings
warnings.filterwarnings("ignore")
logging.disable(logging.WARNING)
import mlflow
from mlflow import MlflowClient

def value_at(i):
    return math.sin(i) * 0.5 + 0.5
"""

MLFLOW_LOGGING = (
    MLFLOW_COMMON
    + r"""
folder, n_single, n_batch, keys = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
mlflow.set_tracking_uri(f"sqlite:///{folder}/mlflow.db")
mlflow.set_experiment("bench")  # creates the schema: not timed
client = MlflowClient()

mlflow.start_run()
started = time.perf_counter()
for i in range(n_single):
    mlflow.log_metric("loss", value_at(i), step=i)
mlflow.end_run()
single = time.perf_counter() - started

run_id = mlflow.start_run().info.run_id
started = time.perf_counter()
batch = [
    mlflow.entities.Metric(f"m{k}", value_at(s * keys + k), int(time.time() * 1000), s)
    for s in range(n_batch // keys)
    for k in range(keys)
]
client.log_batch(run_id, metrics=batch)
mlflow.end_run()
batched = time.perf_counter() - started

started = time.perf_counter()
history = [client.get_metric_history(run_id, f"m{k}") for k in range(keys)]
read = time.perf_counter() - started
got = sorted((m.step * keys + int(m.key[1:]), m.value) for h in history for m in h)
print(json.dumps({"version": mlflow.__version__, "single": single, "batch": batched,
                  "read": read, "read_values": got}))
"""
)

MLFLOW_SEARCH = (
    MLFLOW_COMMON
    + r"""
import uuid
folder, seed_file, where = sys.argv[1], sys.argv[2], sys.argv[3]
uri = f"sqlite:///{folder}/mlflow.db"
mlflow.set_tracking_uri(uri)
experiment_id = mlflow.create_experiment("search")
from mlflow.entities import RunStatus, LifecycleStage
from mlflow.store.tracking.dbmodels.models import (
    SqlLatestMetric, SqlMetric, SqlParam, SqlRun, SqlTag,
)
store = MlflowClient()._tracking_client.store
seed = json.loads(open(seed_file).read())
started = time.perf_counter()
now = int(time.time() * 1000)
rows = []
for i, run in enumerate(seed):
    run_id = uuid.uuid4().hex
    rows.append(SqlRun(
        run_uuid=run_id, name=f"run-{i}", source_type="LOCAL", source_name="seed",
        entry_point_name="", user_id="bench", status=RunStatus.to_string(RunStatus.FINISHED),
        start_time=now + i, end_time=now + i + 1, source_version="",
        lifecycle_stage=LifecycleStage.ACTIVE,
        artifact_uri=f"{folder}/artifacts/{run_id}", experiment_id=int(experiment_id),
    ))
    rows.append(SqlTag(key="mlflow.runName", value=f"run-{i}", run_uuid=run_id))
    for key, value in run["params"].items():
        rows.append(SqlParam(key=key, value=str(value), run_uuid=run_id))
    for key, value in run["metrics"].items():
        rows.append(SqlMetric(key=key, value=value, timestamp=now + i, step=0, is_nan=False,
                              run_uuid=run_id))
        rows.append(SqlLatestMetric(key=key, value=value, timestamp=now + i, step=0,
                                    is_nan=False, run_uuid=run_id))
with store.ManagedSessionMaker() as session:
    session.add_all(rows)
seeded = time.perf_counter() - started

def search():
    return mlflow.search_runs(experiment_ids=[experiment_id], filter_string=where)

count = len(search())  # warm-up, not timed
print(json.dumps({"seed": seeded, "count": count}), flush=True)
for line in sys.stdin:  # one timed search per line, so that the caller can alternate
    started = time.perf_counter()
    found = search()
    elapsed = time.perf_counter() - started
    print(json.dumps({"search": elapsed, "count": len(found)}), flush=True)
"""
)


def _last_json(output: str) -> dict[str, Any]:
    return json.loads(output.strip().splitlines()[-1])


# -- Limelight, in this process -------------------------------------------------------------------
def _fresh_home(parent: Path, name: str) -> Path:
    home = parent / name
    os.environ["LIMELIGHT_HOME"] = str(home)
    return home


def _close_store() -> None:
    from limelight.store import open_store

    open_store().dispose()


def limelight_logging(folder: Path, n_single: int, n_batch: int) -> dict[str, Any]:
    """One repetition of the three logging measurements, in a fresh LIMELIGHT_HOME."""
    from limelight.tracking import metric_history, start_run

    _fresh_home(folder, "limelight")
    run = start_run(experiment="bench")  # creates the schema: not timed
    started = time.perf_counter()
    for i in range(n_single):
        run.log_metric("loss", value_at(i), step=i)
    run.end()
    single = time.perf_counter() - started

    run = start_run(experiment="bench")
    started = time.perf_counter()
    names = [f"m{k}" for k in range(KEYS)]
    for s in range(n_batch // KEYS):
        run.log_metrics({names[k]: value_at(s * KEYS + k) for k in range(KEYS)}, step=s)
    run.end()
    batched = time.perf_counter() - started

    started = time.perf_counter()
    history = metric_history(run)
    read = time.perf_counter() - started
    got = sorted(
        (int(step) * KEYS + int(name[1:]), float(value))
        for name, h in history.items()
        for step, value in zip(h.steps, h.values, strict=True)
    )
    _close_store()
    return {"single": single, "batch": batched, "read": read, "read_values": got}


def limelight_seed(folder: Path, seed: list[dict[str, Any]]) -> float:
    """Seed the runs through the public API in a fresh LIMELIGHT_HOME; the seconds it took."""
    from limelight.tracking import start_run

    _fresh_home(folder, "limelight-search")
    started = time.perf_counter()
    for run_data in seed:
        run = start_run(experiment="search", params=run_data["params"])
        for name, value in run_data["metrics"].items():
            run.log_metric(name, value)
        run.end()
    return time.perf_counter() - started


def limelight_search(runs: int) -> tuple[float, int]:
    """One timed search of the seeded runs: (seconds, runs found)."""
    from limelight.tracking import search_runs

    started = time.perf_counter()
    found = search_runs(flow="search", where=WHERE_LIMELIGHT, limit=runs + 1)
    return time.perf_counter() - started, len(found)


class MlflowSearch:
    """The MLflow side of the search, in a peer process that seeds, then searches on request."""

    def __init__(self, python: Path, folder: Path, seed: list[dict[str, Any]]) -> None:
        seed_file = folder / "seed.json"
        seed_file.write_text(json.dumps(seed))
        self.process = subprocess.Popen(
            [str(python), "-c", MLFLOW_SEARCH, str(folder), str(seed_file), WHERE_MLFLOW],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        ready = self._answer()
        self.seed_seconds, self.count = float(ready["seed"]), int(ready["count"])

    def _answer(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.startswith("{"):
                return dict(json.loads(line))
        raise RuntimeError(f"the MLflow search process ended ({self.process.wait()})")

    def search(self) -> tuple[float, int]:
        assert self.process.stdin is not None
        self.process.stdin.write("search\n")
        self.process.stdin.flush()
        answer = self._answer()
        return float(answer["search"]), int(answer["count"])

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(timeout=60)


def search_phase(python: Path, sizes: Sizes, seed: list[dict[str, Any]]) -> dict[str, Any]:
    """Seed both systems, then alternate timed searches (one untimed warm-up each)."""
    result: dict[str, Any] = {"limelight": [], "mlflow": []}
    with tempfile.TemporaryDirectory(prefix="tracking-search-") as tmp:
        peer = MlflowSearch(python, Path(tmp), seed)
        try:
            result["mlflow_seed"], result["mlflow_count"] = peer.seed_seconds, peer.count
            result["limelight_seed"] = limelight_seed(Path(tmp), seed)
            _, result["limelight_count"] = limelight_search(sizes.runs)  # warm-up
            for _ in range(sizes.searches):
                for name, search in (
                    ("limelight", lambda: limelight_search(sizes.runs)),
                    ("mlflow", peer.search),
                ):
                    seconds, count = search()
                    if count != result[f"{name}_count"]:
                        raise RuntimeError(
                            f"{name} found {count} runs, then {result[f'{name}_count']}"
                        )
                    result[name].append(seconds)
        finally:
            peer.close()
            _close_store()
    return result


def make_seed(runs: int) -> list[dict[str, Any]]:
    rng = random.Random(20_26)
    return [
        {
            "params": {"l2": rng.choice([100, 500, 1000]), "factors": rng.choice([32, 64, 128])},
            "metrics": {"ndcg": round(rng.random(), 6), "recall": round(rng.random(), 6)},
        }
        for _ in range(runs)
    ]


# -- the run --------------------------------------------------------------------------------------
def _check_values(who: str, got: list[Any], n: int) -> None:
    expected = [(i, value_at(i)) for i in range(n)]
    if len(got) != n or any(
        g[0] != e[0] or abs(g[1] - e[1]) > 1e-12 for g, e in zip(got, expected, strict=True)
    ):
        raise RuntimeError(f"{who} read back {len(got)} values, not the {n} it logged")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer values and runs (< 2 min)")
    parser.add_argument("--profile", action="store_true", help="cProfile Limelight's logging")
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    os.environ.pop("LIMELIGHT_DB", None)
    if args.profile:
        _profile(sizes)
        return
    python = peer_python("mlflow-tracking", MLFLOW_REQUIREMENTS)

    clock = time.perf_counter()
    lime: list[dict[str, Any]] = []
    mlf: list[dict[str, Any]] = []
    for rep in range(sizes.reps):
        with tempfile.TemporaryDirectory(prefix="ll-track-") as tmp:
            lime.append(limelight_logging(Path(tmp), sizes.values, sizes.values))
        with tempfile.TemporaryDirectory(prefix="mlf-track-") as tmp:
            out = run_in_peer(
                python,
                MLFLOW_LOGGING,
                tmp,
                str(sizes.mlflow_single),
                str(sizes.values),
                str(KEYS),
            )
            mlf.append(_last_json(out))
        _check_values("Limelight", lime[-1].pop("read_values"), sizes.values)
        _check_values("MLflow", mlf[-1].pop("read_values"), sizes.values)
        elapsed = time.perf_counter() - clock
        print(f"[{elapsed:5.0f} s] logging, repetition {rep + 1} done", file=sys.stderr, flush=True)

    seed = make_seed(sizes.runs)
    expected = sum(r["metrics"]["ndcg"] > 0.4 and r["params"]["l2"] == 500 for r in seed)
    found = search_phase(python, sizes, seed)
    if not found["limelight_count"] == found["mlflow_count"] == expected:
        raise RuntimeError(
            f"search counts differ: Limelight {found['limelight_count']}, MLflow "
            f"{found['mlflow_count']}, expected {expected}"
        )
    elapsed = time.perf_counter() - clock
    print(f"[{elapsed:5.0f} s] search done", file=sys.stderr, flush=True)
    report(sizes, lime, mlf, found, mlf[0]["version"])


def report(
    sizes: Sizes,
    lime: list[dict[str, Any]],
    mlf: list[dict[str, Any]],
    found: dict[str, Any],
    version: str,
) -> None:
    def rate(rows: list[dict[str, Any]], key: str, n: int) -> float:
        return statistics.median(n / r[key] for r in rows)

    counts = {
        "single": (sizes.values, sizes.mlflow_single),
        "batch": (sizes.values, sizes.values),
        "read": (sizes.values, sizes.values),
    }
    labels = {
        "single": "log_metric one at a time + end",
        "batch": f"batch ({KEYS} metrics x {sizes.values // KEYS} steps) + end",
        "read": f"read history ({KEYS} metrics)",
    }
    print(
        f"\nTracking on SQLite: Limelight vs MLflow {version}, medians of {sizes.reps} "
        "(fresh store each repetition)"
    )
    print(
        f"{'operation':40} {'values LL/MLflow':>17} {'LL values/s':>12} "
        f"{'MLflow v/s':>11} {'ratio':>8} {'target':>8}"
    )
    summary: dict[str, Any] = {"mlflow_version": version, "reps": sizes.reps}
    met: dict[str, bool] = {}
    for key, (n_lime, n_mlf) in counts.items():
        ours, theirs = rate(lime, key, n_lime), rate(mlf, key, n_mlf)
        ratio = ours / theirs
        target = TARGETS.get(key)
        if target is not None:
            met[key] = ratio >= target
        print(
            f"{labels[key]:40} {f'{n_lime:,}/{n_mlf:,}':>17} {ours:12,.0f} {theirs:11,.0f} "
            f"{ratio:7,.1f}x {f'>={target:,.0f}x' if target else '':>8}"
        )
        summary[f"{key}_limelight_values_per_s"] = round(ours, 1)
        summary[f"{key}_mlflow_values_per_s"] = round(theirs, 1)
        summary[f"{key}_ratio"] = round(ratio, 2)
    ours_s = statistics.median(found["limelight"])
    theirs_s = statistics.median(found["mlflow"])
    ratio = theirs_s / ours_s
    met["search"] = ratio >= TARGETS["search"]
    print(
        f"\nsearch_runs over {sizes.runs:,} runs ({WHERE_LIMELIGHT}): "
        f"{found['limelight_count']:,} matches in both; {sizes.searches} searches each, alternating"
    )
    print(f"{'system':24} {'median s':>9} {'best s':>8}  all s")
    for name, key in (("Limelight search_runs", "limelight"), ("mlflow.search_runs", "mlflow")):
        times = found[key]
        every = " ".join(f"{t:.3f}" for t in times)
        print(f"{name:24} {statistics.median(times):9.3f} {min(times):8.3f}  {every}")
    print(f"speed-up: {ratio:.1f}x (target >= {TARGETS['search']:.0f}x)")
    print(
        f"seeding (not compared): Limelight public API {found['limelight_seed']:.1f} s, "
        f"MLflow SQLAlchemy models in one session {found['mlflow_seed']:.1f} s"
    )
    print("targets met: " + ", ".join(f"{k} {'yes' if v else 'NO'}" for k, v in met.items()))
    summary.update(
        search_runs=sizes.runs,
        search_matches=found["limelight_count"],
        search_limelight_s=round(ours_s, 4),
        search_mlflow_s=round(theirs_s, 4),
        search_ratio=round(ratio, 2),
        targets_met=met,
    )
    print(json.dumps(summary))


def _profile(sizes: Sizes) -> None:
    """Where Limelight's time goes: one repetition of logging and of search, under cProfile."""
    import cProfile
    import pstats

    with tempfile.TemporaryDirectory(prefix="ll-prof-") as tmp:
        profiler = cProfile.Profile()
        profiler.enable()
        limelight_logging(Path(tmp), sizes.values, sizes.values)
        limelight_seed(Path(tmp), make_seed(sizes.runs))
        limelight_search(sizes.runs)
        profiler.disable()
        _close_store()
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)


if __name__ == "__main__":
    main()
