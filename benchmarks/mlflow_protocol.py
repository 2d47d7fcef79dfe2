"""MLflow's REST protocol: the same MLflow client script against ``mlflow server`` and Limelight.

Both servers run on this machine on 127.0.0.1, one process each, SQLite behind both: MLflow 3.17
as ``mlflow server --backend-store-uri sqlite:///... --workers 1`` (in its own venv, see
``mlflow_peer.py``), Limelight as ``limelight ui`` (which answers MLflow's API). One MLflow
client script (``CLIENT`` below, the same text for both) times, over HTTP:

1. ``mlflow.log_metric`` one value at a time (N calls; each is one request and one commit);
2. ``MlflowClient().log_batch`` of 1,000 metric values (R batches, median seconds);
3. ``mlflow.search_runs(filter_string="metrics.ndcg > 0.4 and params.l2 = '500'")`` over 10,000
   seeded runs (1,000 with ``--quick``), paging through every match (median of S searches).

Each server's store is seeded before it starts, in bulk through its own tables (MLflow's
SQLAlchemy models; Limelight's schema), with the same runs. The answers must be identical: the
metric history read back, the number of values a batch stored, and the sorted (run name, l2,
ndcg) of every run a search found.

    python benchmarks/mlflow_protocol.py [--quick]

The same script also runs against ``_mlflow_floor.py`` in front of Limelight, which answers the
timed calls with ready bytes (the same search response Limelight gave): the client's own floor,
and MLflow's time over it the best ratio any server could show.

Prints a table and ends with one line of JSON (medians, ratios Limelight / MLflow, the floor).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))  # this checkout's Limelight, also for the server below

from benchmarks.mlflow_peer import mlflow_python  # noqa: E402

WHERE = "metrics.ndcg > 0.4 and params.l2 = '500'"
TOKEN = "bench-token-0123456789"

CLIENT = r"""
import json, statistics, sys, time
import mlflow
from mlflow import MlflowClient
from mlflow.entities import Metric

n_single, n_batches, n_searches, where = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
client = MlflowClient()
out = {}
experiment = mlflow.set_experiment("bench")
with mlflow.start_run() as run:
    started = time.perf_counter()
    for i in range(n_single):
        mlflow.log_metric("loss", 1.0 / (i + 1), step=i)
    out["single_seconds"] = time.perf_counter() - started
    out["single_history"] = [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, "loss")]
    times = []
    for b in range(n_batches):
        metrics = [Metric(f"m{k}", float(b * 1000 + k), 1_700_000_000_000, b) for k in range(1000)]
        started = time.perf_counter()
        client.log_batch(run.info.run_id, metrics=metrics)
        times.append(time.perf_counter() - started)
    out["batch_seconds"] = times
    out["batch_stored"] = len(client.get_run(run.info.run_id).data.metrics) - 1
search = client.get_experiment_by_name("search").experiment_id
answer = None
times = []
for s in range(n_searches + 1):
    started = time.perf_counter()
    found = mlflow.search_runs(experiment_ids=[search], filter_string=where, output_format="list")
    elapsed = time.perf_counter() - started
    if s:  # the first search warms caches on both sides: not timed
        times.append(elapsed)
    answer = sorted((r.info.run_name, r.data.params["l2"], r.data.metrics["ndcg"]) for r in found)
out["search_seconds"] = times
out["search_answer"] = answer
print(json.dumps(out))
"""

SEED_MLFLOW = r"""
import json, sys, time, uuid
import mlflow
from mlflow import MlflowClient
from mlflow.entities import LifecycleStage, RunStatus
from mlflow.store.tracking.dbmodels.models import SqlLatestMetric, SqlMetric, SqlParam, SqlRun, SqlTag
folder, seed = sys.argv[1], json.loads(open(sys.argv[2]).read())
mlflow.set_tracking_uri(f"sqlite:///{folder}/mlflow.db")
experiment_id = mlflow.create_experiment("search", artifact_location=f"{folder}/artifacts")
store = MlflowClient()._tracking_client.store
now, rows = 1_700_000_000_000, []
for i, run in enumerate(seed):
    run_id = uuid.uuid4().hex
    rows.append(SqlRun(run_uuid=run_id, name=run["name"], source_type="LOCAL", source_name="seed",
        entry_point_name="", user_id="bench", status=RunStatus.to_string(RunStatus.FINISHED),
        start_time=now + i, end_time=now + i + 1, source_version="",
        lifecycle_stage=LifecycleStage.ACTIVE, artifact_uri=f"{folder}/artifacts/{run_id}",
        experiment_id=int(experiment_id)))
    rows.append(SqlTag(key="mlflow.runName", value=run["name"], run_uuid=run_id))
    for key, value in run["params"].items():
        rows.append(SqlParam(key=key, value=value, run_uuid=run_id))
    for key, value in run["metrics"].items():
        rows.append(SqlMetric(key=key, value=value, timestamp=now + i, step=0, is_nan=False, run_uuid=run_id))
        rows.append(SqlLatestMetric(key=key, value=value, timestamp=now + i, step=0, is_nan=False, run_uuid=run_id))
with store.ManagedSessionMaker() as session:
    session.add_all(rows)
"""


def seed_runs(n: int) -> list[dict[str, Any]]:
    """Deterministic runs: l2 cycles over ten values, ndcg spreads over [0, 1)."""
    return [
        {
            "name": f"run-{i}",
            "params": {"l2": str((i % 10) * 100), "lr": "0.1"},
            "metrics": {"ndcg": ((i * 7919) % 1000) / 1000, "loss": ((i * 104729) % 997) / 997},
        }
        for i in range(n)
    ]


def seed_limelight(home: Path, seed: list[dict[str, Any]]) -> None:
    """The same runs in a fresh Limelight home, in bulk through its schema."""
    from limelight.core.config import resolve_config
    from limelight.store import open_store
    from limelight.store.recording import insert_metric_rows
    from limelight.store.schema import mlflow_runs, params, run_tags, runs
    from limelight.ui._mlflow._experiments import ensure_default, insert_experiment

    store = open_store(resolve_config(home=home, cwd=home, environ={}))
    now = 1_700_000_000.0

    def work(conn: Any) -> None:
        ensure_default(conn)
        experiment = insert_experiment(conn, "search")
        first = int(conn.execute(runs.select().with_only_columns(runs.c.id)).scalars().first() or 0)
        conn.execute(
            runs.insert(),
            [
                {
                    "id": first + i + 1,
                    "flow": "search",
                    "kind": "notebook",
                    "status": "succeeded",
                    "user": "bench",
                    "created_at": now + i / 1000,
                    "finished_at": now + (i + 1) / 1000,
                }
                for i in range(len(seed))
            ],
        )
        conn.execute(
            mlflow_runs.insert(),
            [
                {
                    "run_id": first + i + 1,
                    "experiment_id": experiment,
                    "name": r["name"],
                    "lifecycle_stage": "active",
                    "status": "FINISHED",
                }
                for i, r in enumerate(seed)
            ],
        )
        conn.execute(
            run_tags.insert(),
            [
                {"run_id": first + i + 1, "key": "mlflow.runName", "value": r["name"]}
                for i, r in enumerate(seed)
            ],
        )
        conn.execute(
            params.insert(),
            [
                {"run_id": first + i + 1, "name": k, "value": v}
                for i, r in enumerate(seed)
                for k, v in r["params"].items()
            ],
        )
        insert_metric_rows(
            conn,
            [
                (first + i + 1, None, k, 0, v, None, now + i / 1000)
                for i, r in enumerate(seed)
                for k, v in r["metrics"].items()
            ],
        )

    store.metadata.transaction(work)
    store.dispose()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(url: str, proc: subprocess.Popen[bytes], seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server at {url} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"the server at {url} did not answer in {seconds} s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def run_client(
    python: Path, url: str, sizes: tuple[int, int, int], token: str | None
) -> dict[str, Any]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),
        "MLFLOW_TRACKING_URI": url,
    }
    if token:
        env["MLFLOW_TRACKING_TOKEN"] = token
    done = subprocess.run(
        [str(python), "-c", CLIENT, *map(str, sizes), WHERE],
        capture_output=True,
        text=True,
        env=env,
        timeout=3600,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the client failed against {url}:\n{done.stderr[-4000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def against_mlflow(
    python: Path, folder: Path, seed_file: Path, sizes: tuple[int, int, int]
) -> dict[str, Any]:
    folder.mkdir()
    subprocess.run(
        [str(python), "-c", SEED_MLFLOW, str(folder), str(seed_file)],
        check=True,
        capture_output=True,
        timeout=1800,
    )
    port = _free_port()
    proc = subprocess.Popen(
        [
            str(python),
            "-m",
            "mlflow",
            "server",
            "--backend-store-uri",
            f"sqlite:///{folder}/mlflow.db",
            "--artifacts-destination",
            str(folder / "artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=folder,
    )
    try:
        _wait(f"http://127.0.0.1:{port}/health", proc)
        return run_client(python, f"http://127.0.0.1:{port}", sizes, None)
    finally:
        _stop(proc)


def against_limelight(
    python: Path, home: Path, seed: list[dict[str, Any]], sizes: tuple[int, int, int]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The client against Limelight, then against the floor server in front of it."""
    seed_limelight(home, seed)
    port = _free_port()
    env = {
        **os.environ,
        "LIMELIGHT_HOME": str(home),
        "LIMELIGHT_TOKEN": TOKEN,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
    }
    for name in ("LIMELIGHT_DB", "LIMELIGHT_ARTIFACTS"):
        env.pop(name, None)
    proc = subprocess.Popen(
        [sys.executable, "-c", "from limelight.cli import main; main()", "ui", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=home,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait(f"{url}/api/2.0/mlflow/experiments/get?experiment_id=0", proc)
        ours = run_client(python, url, sizes, TOKEN)
        floor = client_floor(python, url, sizes, env)
    finally:
        _stop(proc)
    return ours, floor


def client_floor(
    python: Path, upstream: str, sizes: tuple[int, int, int], env: dict[str, str]
) -> dict[str, Any]:
    """The client script against ``_mlflow_floor.py``: ready answers, so only client and HTTP."""
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "benchmarks" / "_mlflow_floor.py"), upstream, str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        _wait(f"http://127.0.0.1:{port}/api/2.0/mlflow/experiments/get?experiment_id=0", proc)
        return run_client(python, f"http://127.0.0.1:{port}", sizes, TOKEN)
    finally:
        _stop(proc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer calls and runs (< 2 min)")
    args = parser.parse_args()
    n_single, n_batches, n_searches, n_runs = (
        (60, 5, 5, 1000) if args.quick else (300, 10, 7, 10_000)
    )
    sizes = (n_single, n_batches, n_searches)
    python = mlflow_python()
    seed = seed_runs(n_runs)
    expected = sum(1 for r in seed if r["params"]["l2"] == "500" and r["metrics"]["ndcg"] > 0.4)
    with tempfile.TemporaryDirectory(prefix="mlflow-protocol-") as tmp:
        folder = Path(tmp)
        seed_file = folder / "seed.json"
        seed_file.write_text(json.dumps(seed))
        print(f"[bench] seeding {n_runs} runs; MLflow server ...", file=sys.stderr, flush=True)
        theirs = against_mlflow(python, folder / "mlflow", seed_file, sizes)
        print("[bench] Limelight server ...", file=sys.stderr, flush=True)
        ours, floor = against_limelight(python, folder / "limelight", seed, sizes)
    identical = {
        "single": ours["single_history"] == theirs["single_history"],
        "batch": ours["batch_stored"] == theirs["batch_stored"] == 1000,
        "search": ours["search_answer"] == theirs["search_answer"]
        and len(ours["search_answer"]) == expected,
    }
    figures = {}
    for name, side in (("limelight", ours), ("mlflow", theirs), ("client_floor", floor)):
        figures[name] = {
            "single_per_s": n_single / side["single_seconds"],
            "batch_median_s": statistics.median(side["batch_seconds"]),
            "search_median_s": statistics.median(side["search_seconds"]),
        }
    ratios = {
        "single": figures["limelight"]["single_per_s"] / figures["mlflow"]["single_per_s"],
        "batch": figures["mlflow"]["batch_median_s"] / figures["limelight"]["batch_median_s"],
        "search": figures["mlflow"]["search_median_s"] / figures["limelight"]["search_median_s"],
    }
    # the best ratio any server could reach: MLflow's time over the client's own floor
    ceiling = {
        "single": figures["client_floor"]["single_per_s"] / figures["mlflow"]["single_per_s"],
        "batch": figures["mlflow"]["batch_median_s"] / figures["client_floor"]["batch_median_s"],
        "search": figures["mlflow"]["search_median_s"] / figures["client_floor"]["search_median_s"],
    }
    print(
        f"{'measure':<44}{'MLflow server':>16}{'Limelight':>14}{'ratio':>9}"
        f"{'client floor':>14}{'best ratio':>12}"
    )
    rows = [
        (
            f"log_metric one at a time ({n_single} calls), values/s",
            "single_per_s",
            "single",
            "{:.1f}",
        ),
        ("log_batch of 1,000 values, median s", "batch_median_s", "batch", "{:.4f}"),
        (
            f"search_runs over {n_runs:,} runs ({expected} found), median s",
            "search_median_s",
            "search",
            "{:.4f}",
        ),
    ]
    for label, key, ratio, fmt in rows:
        print(
            f"{label:<44}{fmt.format(figures['mlflow'][key]):>16}"
            f"{fmt.format(figures['limelight'][key]):>14}{ratios[ratio]:>8.1f}x"
            f"{fmt.format(figures['client_floor'][key]):>14}{ceiling[ratio]:>11.1f}x"
        )
    print(f"identical answers: {identical}")
    summary = {
        "benchmark": "mlflow_protocol",
        "quick": args.quick,
        "runs": n_runs,
        "single_calls": n_single,
        "found": expected,
        "limelight": figures["limelight"],
        "mlflow": figures["mlflow"],
        "client_floor": figures["client_floor"],
        "ratios": ratios,
        "best_possible_ratios": ceiling,
        "identical": identical,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
