"""The Dask executor on a two-worker cluster of this machine, kept on loopback.

The flows below are imported by the workers from this file (as a remote worker would), and are
steered through files in a folder given as a parameter: worker processes do not see
environment variables set after they started.
"""

from __future__ import annotations

import ipaddress
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from limelight.core.errors import ConfigError
from limelight.flows import Flow, FlowFailed, Param, Run, catch, current, resources, retry, step
from limelight.flows import timeout as timeout_after


class Wide(Flow):
    """A foreach of ``n`` tasks; task ``victim`` kills its own worker on its first attempt."""

    n = Param(default=100)
    victim = Param(default=-1)

    @step
    def start(self):
        self.items = list(range(self.n))
        self.next(self.work, foreach="items")

    @retry(times=1)
    @step
    def work(self):
        print(f"working on {self.input}", flush=True)
        if self.input == self.victim and current.retry_count == 0:
            os.kill(os.getpid(), signal.SIGKILL)  # the worker process dies mid-task
        self.square = self.input * self.input
        self.pid = os.getpid()
        self.next(self.join)

    @step
    def join(self, inputs):
        self.total = sum(i.square for i in inputs)
        self.pids = sorted({i.pid for i in inputs})
        self.next(self.end)

    @step
    def end(self):
        pass


class Flaky(Flow):
    """``middle`` fails until the file ``<sync>/fixed`` exists."""

    sync = Param(default="")

    @step
    def start(self):
        self.base = 10
        self.next(self.middle)

    @step
    def middle(self):
        print("middle runs", flush=True)
        if not (Path(self.sync) / "fixed").exists():
            raise RuntimeError("middle failed on purpose")
        self.value = self.base + 1
        self.next(self.end)

    @step
    def end(self):
        self.final = self.value * 2


class Behaviours(Flow):
    """@catch, a retry that succeeds, and @resources that no worker declares."""

    @step
    def start(self):
        self.next(self.risky, self.flaky, self.heavy)

    @catch(var="problem")
    @step
    def risky(self):
        raise KeyError("missing thing")
        self.next(self.join)

    @retry(times=2)
    @step
    def flaky(self):
        if current.retry_count < 1:
            raise ValueError("first attempt fails")
        self.seen = current.retry_count
        self.next(self.join)

    @resources(cpu=2, memory=64)
    @step
    def heavy(self):
        self.heavy_pid = os.getpid()
        self.next(self.join)

    @step
    def join(self, inputs):
        self.problem = inputs.risky.problem
        self.seen = inputs.flaky.seen
        self.heavy_pid = inputs.heavy.heavy_pid
        self.next(self.end)

    @step
    def end(self):
        pass


class Slow(Flow):
    @step
    def start(self):
        self.next(self.slow)

    @timeout_after(seconds=1)
    @step
    def slow(self):
        print("starting to sleep", flush=True)
        time.sleep(60)
        self.next(self.end)

    @step
    def end(self):
        pass


class Killed(Flow):
    """One task that kills its own worker process, with no retry."""

    @step
    def start(self):
        self.next(self.work)

    @step
    def work(self):
        print("about to die", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
        self.next(self.end)

    @step
    def end(self):
        pass


def test_foreach_of_100_across_two_workers_survives_a_killed_worker(on_dask: Path) -> None:
    run = Wide.run(n=100, victim=37)
    assert run.successful
    assert run.data.total == sum(i * i for i in range(100))
    tasks = run["work"].tasks
    assert len(tasks) == 100
    assert len(run.data.pids) >= 2, "the foreach ran on one worker only"
    assert os.getpid() not in run.data.pids
    attempts = {t.data.square: t.attempts for t in tasks}
    assert attempts[37 * 37] == 2  # killed once, retried once
    assert sum(attempts.values()) == 101


def test_a_killed_worker_is_one_failed_attempt_with_its_partial_log(on_dask: Path) -> None:
    with pytest.raises(FlowFailed) as failed:
        Killed.run()
    task = failed.value.run.refresh()["work"].task
    assert task.status == "failed" and task.attempts == 1
    assert "Dask worker running it died" in task.error
    assert "about to die" in task.stdout


def test_resume_on_the_cluster_reuses_what_succeeded(on_dask: Path, tmp_path: Path) -> None:
    sync = tmp_path / "sync"
    sync.mkdir()
    with pytest.raises(FlowFailed, match="middle failed on purpose") as failed:
        Flaky.run(sync=str(sync))
    origin = failed.value.run.refresh()
    middle = origin["middle"].task
    assert "middle runs" in middle.stdout and "RuntimeError" in middle.stderr
    (sync / "fixed").touch()
    run = Flaky.resume()
    assert run.successful and run.origin_run_id == origin.id
    assert run.data.final == 22
    assert run["start"].task.reused and not run["middle"].task.reused


def test_catch_retry_and_resources_behave_as_locally(on_dask: Path) -> None:
    run = Behaviours.run()
    assert run.data.problem["type"] == "KeyError"
    assert "missing thing" in run.data.problem["message"]
    assert run["flaky"].task.attempts == 2 and run.data.seen == 1
    assert run["heavy"].decorators["resources"] == {"cpu": 2, "gpu": 0, "memory": 64}
    assert run.data.heavy_pid != os.getpid()


def test_timeout_kills_the_engine_task(on_dask: Path) -> None:
    started = time.monotonic()
    with pytest.raises(FlowFailed, match="timed out after 1 s"):
        Slow.run()
    assert time.monotonic() - started < 30
    task = Run("Slow/1")["slow"].task
    assert task.status == "failed" and "@timeout" in task.error
    assert "starting to sleep" in task.stdout


def _tree(pid: int) -> set[int]:
    import psutil

    root = psutil.Process(pid)
    return {pid, *(child.pid for child in root.children(recursive=True))}


def _listening(pids: set[int]) -> list[tuple[str, int]]:
    """(address, pid) of every TCP listener owned by one of ``pids``, from ``ss -ltnp``."""
    out = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=True).stdout
    found = []
    for line in out.splitlines():
        fields = line.split()
        if len(fields) < 6:
            continue
        address = fields[3].rpartition(":")[0].strip("[]")
        for part in fields[5].split("pid=")[1:]:
            pid = int(part.split(",")[0])
            if pid in pids:
                found.append((address, pid))
    return found


def test_the_cluster_listens_on_loopback_only(on_dask: Path, dask_cluster: Any) -> None:
    from distributed import Client

    assert Wide.run(n=4).successful
    with Client(dask_cluster, set_as_default=False) as client:
        client.wait_for_workers(2, timeout=60)  # one may be restarting after an earlier kill
        worker_pids = set(client.run(os.getpid).values())
        pids = _tree(os.getpid())  # this process (scheduler, moto), nannies and workers
        listeners = _listening(pids)
    assert len(worker_pids) == 2 and worker_pids <= pids
    assert {pid for _, pid in listeners} & worker_pids, "no worker listener found: ss changed?"
    assert os.getpid() in {pid for _, pid in listeners}, "the scheduler's listener is missing"
    outside = [(a, p) for a, p in listeners if a == "*" or not ipaddress.ip_address(a).is_loopback]
    assert not outside, f"listening beyond loopback: {outside}"


def test_an_unreachable_scheduler_is_a_clear_error(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dask

    monkeypatch.setenv("LIMELIGHT_CLUSTER_ADDRESS", "tcp://127.0.0.1:9")
    with (
        dask.config.set({"distributed.comm.timeouts.connect": "1s"}),
        pytest.raises(
            ConfigError, match=r"cannot reach the Dask scheduler at tcp://127\.0\.0\.1:9"
        ),
    ):
        Wide.run(n=1, executor="dask")


def test_ray_without_ray_installed_says_how_to_get_it(home: Path) -> None:
    if "ray" in sys.modules or _importable("ray"):
        pytest.skip("ray is installed here")
    with pytest.raises(ConfigError, match=r"pip install 'limelight\[ray\]'"):
        Wide.run(n=1, executor="ray")


def _importable(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


CLI_FLOW = """
import os
from limelight.flows import Flow, Param, step


class Squares(Flow):
    n = Param(default=3)

    @step
    def start(self):
        self.items = list(range(self.n))
        self.next(self.work, foreach="items")

    @step
    def work(self):
        self.square = self.input * self.input
        self.pid = os.getpid()
        self.next(self.join)

    @step
    def join(self, inputs):
        self.total = sum(i.square for i in inputs)
        self.pids = sorted({i.pid for i in inputs})
        self.next(self.end)

    @step
    def end(self):
        pass
"""


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    from limelight.cli import main

    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_runs_on_the_cluster_it_is_given(
    home: Path,
    tmp_path: Path,
    dask_cluster: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("LIMELIGHT_CLUSTER_ADDRESS", "")  # restored after the CLI sets it
    flow = tmp_path / "squares.py"
    flow.write_text(CLI_FLOW)
    address = dask_cluster.scheduler_address
    code, out, err = _cli(
        capsys,
        "run",
        str(flow),
        "--executor",
        "dask",
        "--cluster-address",
        address,
        "--quiet",
        "--n",
        "4",
    )
    assert code == 0, err
    assert "Squares/1 succeeded" in out
    run = Run("Squares/1")
    assert run.data.total == 0 + 1 + 4 + 9
    assert os.getpid() not in run.data.pids


def test_cli_rejects_an_unknown_executor(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flow = tmp_path / "squares.py"
    flow.write_text(CLI_FLOW)
    code, _, err = _cli(capsys, "run", str(flow), "--executor", "spark")
    assert code == 2
    assert "'spark' is not one of" in err and "dask" in err


def test_a_remote_worker_keeps_its_cache_in_a_home_of_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from limelight.core.config import resolve_config
    from limelight.flows._distributed import _worker_config

    here = resolve_config(home=tmp_path, db="sqlite:///x.db", artifacts="s3://b/p", environ={})
    assert _worker_config(here) is here  # the launcher's home exists here: the same machine
    elsewhere = here.with_(home=tmp_path / "on" / "the" / "laptop")
    monkeypatch.setenv("LIMELIGHT_HOME", str(tmp_path / "worker-home"))
    moved = _worker_config(elsewhere)
    assert moved.home == tmp_path / "worker-home"
    assert (moved.db, moved.artifacts, moved.events) == (
        elsewhere.db,
        elsewhere.artifacts,
        elsewhere.events,
    )


def test_resources_become_engine_amounts() -> None:
    from limelight.flows._distributed import _needs

    assert _needs({}) == {"CPU": 1.0}
    assert _needs({"cpu": 2, "gpu": 0, "memory": 512}) == {"CPU": 2.0, "MEMORY": 512 * 2**20}
    assert _needs({"cpu": 0.5, "gpu": 1}) == {"CPU": 0.5, "GPU": 1.0}


def test_the_ray_executor_drives_ray_as_documented(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.scale._fake_ray import FakeRay  # not at the top: workers import this file

    fake = FakeRay()
    monkeypatch.setitem(sys.modules, "ray", fake)
    try:
        with pytest.raises(ConfigError, match="runs on an existing Ray cluster"):
            Behaviours.run(executor="ray")
        monkeypatch.setenv("RAY_ADDRESS", "ray://head:10001")
        run = Behaviours.run(executor="ray")
    finally:
        fake.pool.shutdown()
    assert fake.inits == ["ray://head:10001"] and not fake.initialized
    assert run.data.problem["type"] == "KeyError"
    assert run["flaky"].task.attempts == 2 and run.data.seen == 1
    assert run.data.heavy_pid != os.getpid()
    assert all(o["max_retries"] == 0 for o in fake.submitted)
    assert {"num_cpus": 2.0, "num_gpus": 0, "memory": 64 * 2**20} in [
        {k: o[k] for k in ("num_cpus", "num_gpus", "memory") if k in o} for o in fake.submitted
    ]


def test_without_an_address_a_loopback_cluster_is_started_for_the_run(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("LIMELIGHT_CLUSTER_ADDRESS", "DASK_SCHEDULER_ADDRESS"):
        monkeypatch.delenv(name, raising=False)
    before = _tree(os.getpid())
    run = Wide.run(n=6, executor="dask", max_workers=2)
    assert run.data.total == sum(i * i for i in range(6))
    assert os.getpid() not in run.data.pids
    deadline = time.monotonic() + 30
    while _tree(os.getpid()) - before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _tree(os.getpid()) - before, "the run's cluster left processes behind"


def test_a_cluster_whose_workers_are_gone_is_healed_for_the_next_test(
    dask_cluster: Any, on_dask: Path
) -> None:
    from tests.scale._clusters import WORKERS, healthy

    for nanny in list(dask_cluster.workers.values()):
        dask_cluster.sync(nanny.close)  # as a nanny that gave up on restarting its worker
    assert healthy(dask_cluster, patience=1) is dask_cluster
    from distributed import Client

    with Client(dask_cluster.scheduler_address, set_as_default=False) as client:
        assert len(client.nthreads()) == WORKERS
    run = Wide.run(n=4)
    assert run.successful and len(run.data.pids) >= 1
