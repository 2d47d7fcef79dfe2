"""Tasks no worker can run fail after the placement timeout, and the run can be resumed.

Real Dask clusters on loopback: a scheduler with no workers, a worker that dies mid-run, and a
step asking for a GPU no worker has. The placement timeout is 2 s here (the default is 120 s).
Flows are steered through files: worker processes do not see environment variables set later.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from limelight.flows import Flow, FlowFailed, Param, current, resources, retry, step
from limelight.flows._distributed import missing_for
from limelight.store import Store
from limelight.store.schema import tasks

TIMEOUT = "2"


class Sturdy(Flow):
    """``work`` kills its own worker on its first attempt while ``<sync>/kill`` exists."""

    sync = Param(default="")

    @step
    def start(self):
        self.base = 10
        self.next(self.work)

    @retry(times=1)
    @step
    def work(self):
        if current.retry_count == 0 and (Path(self.sync) / "kill").exists():
            os.kill(os.getpid(), signal.SIGKILL)
        self.value = self.base + 1
        self.next(self.end)

    @step
    def end(self):
        self.final = self.value * 2


class NeedsGpu(Flow):
    @step
    def start(self):
        self.next(self.train, self.report)

    @resources(gpu=1)
    @step
    def train(self):
        self.trained = True
        self.next(self.join)

    @step
    def report(self):
        self.reported = True
        self.next(self.join)

    @step
    def join(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass


@pytest.fixture
def empty_cluster() -> Iterator[Any]:
    """A Dask scheduler on 127.0.0.1 with no workers (``allowed-failures: 0``, as documented)."""
    import dask
    from distributed import LocalCluster

    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        cluster = LocalCluster(
            n_workers=0,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
        )
    try:
        yield cluster
    finally:
        cluster.close()


@pytest.fixture
def on_empty(home: Path, empty_cluster: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("LIMELIGHT_EXECUTOR", "dask")
    monkeypatch.setenv("LIMELIGHT_CLUSTER_ADDRESS", empty_cluster.scheduler_address)
    monkeypatch.setenv("LIMELIGHT_PLACEMENT_TIMEOUT", TIMEOUT)
    return str(empty_cluster.scheduler_address)


def _worker(address: str) -> subprocess.Popen[bytes]:
    """A single-threaded worker without a nanny (nothing restarts it), stopped by its pid."""
    command = [sys.executable, "-m", "distributed.cli.dask_worker", address, "--nthreads", "1"]
    return subprocess.Popen(
        [*command, "--no-nanny", "--host", "127.0.0.1", "--no-dashboard"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.kill()
    process.wait(30)


def _wait_for_workers(cluster: Any, n: int) -> None:
    from distributed import Client

    with Client(cluster.scheduler_address, set_as_default=False) as client:
        client.wait_for_workers(n, timeout=60)


def _statuses(home: Path, run_id: int) -> dict[str, str]:
    import sqlalchemy as sa

    from limelight.core.config import resolve_config

    store = Store(resolve_config())
    try:
        with store.metadata.connect() as conn:
            rows = conn.execute(
                sa.select(tasks.c.step, tasks.c.status).where(tasks.c.run_id == run_id)
            )
            return {row.step: row.status for row in rows}
    finally:
        store.dispose()


def test_a_cluster_without_workers_fails_the_run_after_the_timeout_then_resume_works(
    on_empty: str, empty_cluster: Any, tmp_path: Path, home: Path
) -> None:
    address = re.escape(on_empty)
    with pytest.raises(FlowFailed, match=rf"no workers at {address} for 2 s") as failed:
        Sturdy.run(sync=str(tmp_path))
    origin = failed.value.run.refresh()
    assert origin.finished and not origin.successful
    assert _statuses(home, origin.id) == {"start": "failed"}  # nothing left "running"
    start = origin["start"].task
    assert start.attempts == 1 and "placement timeout" in start.error
    assert "LIMELIGHT_PLACEMENT_TIMEOUT" in start.error

    empty_cluster.scale(1)
    _wait_for_workers(empty_cluster, 1)
    run = Sturdy.resume()
    assert run.successful and run.origin_run_id == origin.id
    assert run.data.final == 22


def test_a_run_whose_workers_all_die_fails_after_the_timeout_then_resume_works(
    on_empty: str, empty_cluster: Any, tmp_path: Path, home: Path
) -> None:
    (tmp_path / "kill").touch()
    worker = _worker(on_empty)
    try:
        _wait_for_workers(empty_cluster, 1)
        with pytest.raises(
            FlowFailed, match=rf"no workers at {re.escape(on_empty)} for 2 s"
        ) as failed:
            Sturdy.run(sync=str(tmp_path))
    finally:
        _stop(worker)
    origin = failed.value.run.refresh()
    assert _statuses(home, origin.id) == {"start": "succeeded", "work": "failed"}
    work = origin["work"].task
    assert work.attempts == 2  # the killed attempt, then the retry that found no worker
    assert "no workers" in work.error

    (tmp_path / "kill").unlink()
    worker = _worker(on_empty)
    try:
        _wait_for_workers(empty_cluster, 1)
        run = Sturdy.resume()
    finally:
        _stop(worker)
    assert run.successful and run["start"].task.reused
    assert run.data.final == 22


def test_a_step_asking_for_a_gpu_no_worker_has_fails_alone_after_the_timeout(
    on_dask: Path, dask_cluster: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIMELIGHT_PLACEMENT_TIMEOUT", TIMEOUT)
    address = re.escape(dask_cluster.scheduler_address)
    with pytest.raises(
        FlowFailed, match=rf"no worker with resources \{{'GPU': 1\.0\}} at {address} for 2 s"
    ) as failed:
        NeedsGpu.run()
    run = failed.value.run.refresh()
    assert run["report"].task.successful  # the other branch ran
    assert run["train"].task.status == "failed"
    assert Sturdy.run(sync=str(on_dask)).successful  # and the cluster is none the worse


def test_what_is_missing_is_said_from_what_the_workers_declare() -> None:
    assert missing_for({"CPU": 1.0}, []) == "no workers"
    assert missing_for({"CPU": 1.0}, [], kind="node") == "no nodes"
    assert missing_for({}, [{}]) is None
    assert missing_for({"GPU": 1.0}, [{}, {"CPU": 8.0}]) == "no worker with resources {'GPU': 1.0}"
    assert missing_for({"GPU": 1.0, "CPU": 2.0}, [{"GPU": 1.0, "CPU": 1.0}, {"CPU": 4.0}]) == (
        "no worker with resources {'GPU': 1.0, 'CPU': 2.0}"
    )
    assert missing_for({"GPU": 1.0, "CPU": 2.0}, [{"GPU": 2.0, "CPU": 2.0}]) is None


def test_on_ray_a_step_asking_for_what_no_node_has_fails_after_the_timeout(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.scale._fake_ray import FakeRay  # not at the top: workers import this file

    fake = FakeRay()
    monkeypatch.setitem(sys.modules, "ray", fake)
    monkeypatch.setenv("RAY_ADDRESS", "ray://head:10001")
    monkeypatch.setenv("LIMELIGHT_PLACEMENT_TIMEOUT", TIMEOUT)
    try:
        with pytest.raises(
            FlowFailed,
            match=r"no node with resources \{'CPU': 1\.0, 'GPU': 1\.0\} at ray://head:10001 for 2 s",
        ) as failed:
            NeedsGpu.run(executor="ray")
    finally:
        fake.pool.shutdown()
    run = failed.value.run.refresh()
    assert run["report"].task.successful
    assert run["train"].task.status == "failed" and not fake.initialized
