"""Apache Airflow 3 as the scheduler benchmark's peer: an Asset event to its DAG's task start.

Airflow runs in its own venv (benchmarks/peers.py) with its own home and SQLite database:
``airflow standalone`` (API server, scheduler, DAG processor, triggerer). A DAG scheduled on an
Asset has one task; the script records an asset event through the API, and the latency is the
task instance's start minus the asset event's timestamp, as Airflow records both.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

AIRFLOW = "apache-airflow==3.3.2"

DAG = """
from airflow.sdk import DAG, Asset, task

ASSET = Asset("limelight_bench_evt")

with DAG(dag_id="on_asset", schedule=[ASSET], catchup=False, max_active_runs=64) as dag:
    @task
    def start():
        return 1

    start()
"""

# run inside Airflow's venv, with AIRFLOW_HOME set: record asset events, read the latencies back
PROBE = r"""
import json, sys, time
from airflow.utils.session import create_session
from airflow.models.asset import AssetModel, AssetEvent
from airflow.models.taskinstance import TaskInstance
from airflow.models.dagrun import DagRun
from airflow.assets.manager import AssetManager
from sqlalchemy import select

mode, count = sys.argv[1], int(sys.argv[2])
if mode == "publish":
    from airflow.models.dag import DagModel
    from sqlalchemy import update

    deadline = time.time() + 240
    while True:  # the DAG processor registers the DAG and its asset; then unpause it
        try:
            with create_session() as session:
                dag = session.scalar(select(DagModel).where(DagModel.dag_id == "on_asset"))
                found = session.scalar(select(AssetModel).where(AssetModel.name == "limelight_bench_evt"))
                if dag is not None and found is not None:
                    session.execute(update(DagModel).where(DagModel.dag_id == "on_asset").values(is_paused=False))
                    break
        except Exception:  # the database is not migrated yet
            pass
        if time.time() > deadline:
            raise SystemExit("the DAG was not registered in 240 s")
        time.sleep(1.0)
    time.sleep(5)  # the scheduler sees the DAG unpaused
    for _ in range(count):
        with create_session() as session:
            asset = session.scalar(select(AssetModel).where(AssetModel.name == "limelight_bench_evt"))
            AssetManager.register_asset_change(asset=asset, session=session)
        time.sleep(1.0)
    print(json.dumps({"published": count}))
else:
    with create_session() as session:
        events = [e.timestamp.timestamp() for e in session.scalars(select(AssetEvent).order_by(AssetEvent.id))]
        starts = [t.start_date.timestamp() for t in session.scalars(select(TaskInstance).where(TaskInstance.dag_id == "on_asset").order_by(TaskInstance.start_date)) if t.start_date]
    print(json.dumps({"events": events, "starts": starts}))
"""


def run_airflow(*, quick: bool) -> dict[str, Any]:
    """Latency figures, or ``{"skipped": why}`` when Airflow cannot run here."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from peers import peer_python, run_in_peer

    try:
        python = peer_python("airflow", [AIRFLOW])
    except Exception as exc:  # a failed install is the reason to report
        return {"skipped": f"installing {AIRFLOW} failed: {exc}"}
    home = Path(tempfile.mkdtemp(prefix="airflow-bench-"))
    (home / "dags").mkdir()
    (home / "dags" / "on_asset.py").write_text(DAG)
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__DAGS_FOLDER=str(home / "dags"),
        AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC="1",
        AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="5",
        AIRFLOW__API__PORT="18793",
        AIRFLOW__API__HOST="127.0.0.1",
        AIRFLOW__CORE__EXECUTION_API_SERVER_URL="http://127.0.0.1:18793/execution/",
        PATH=f"{python.parent}{os.pathsep}{env.get('PATH', '')}",
    )
    log = open(home / "standalone.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [str(python.parent / "airflow"), "standalone"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        while not (home / "airflow.db").exists() and proc.poll() is None:
            time.sleep(1)
        if proc.poll() is not None:
            tail = (home / "standalone.log").read_text(errors="replace")[-1500:]
            return {"skipped": f"airflow standalone exited: {tail}"}
        count = 5 if quick else 30
        probe_env = {**env}
        old = dict(os.environ)
        os.environ.clear()
        os.environ.update(probe_env)
        try:
            run_in_peer(python, PROBE, "publish", str(count), timeout=600)
            deadline = time.monotonic() + 120
            while True:  # until every event's task has started (or two minutes have passed)
                data = json.loads(run_in_peer(python, PROBE, "read", "0", timeout=600))
                if len(data["starts"]) >= len(data["events"]) or time.monotonic() > deadline:
                    break
                time.sleep(5)
        finally:
            os.environ.clear()
            os.environ.update(old)
        events, starts = data["events"], data["starts"]
        latencies = []
        for event in events:  # each event's task: the first start after it not yet matched
            later = [s for s in starts if s >= event]
            if later:
                latencies.append(later[0] - event)
                starts.remove(later[0])
        if not latencies:
            log_text = (home / "standalone.log").read_text(errors="replace")
            lines = [ln for ln in log_text.splitlines() if "on_asset" in ln or "rror" in ln]
            return {"skipped": "no task started after the asset events: " + " | ".join(lines[-8:])}
        latencies.sort()
        return {
            "version": AIRFLOW,
            "latency_median_s": statistics.median(latencies),
            "latency_p99_s": latencies[min(len(latencies) - 1, round(0.99 * (len(latencies) - 1)))],
            "latency_n": len(latencies),
            "events": len(events),
        }
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    import sys

    print(json.dumps(run_airflow(quick="--quick" in sys.argv)))
