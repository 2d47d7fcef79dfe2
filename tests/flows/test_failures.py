"""Failing tasks: exceptions, @retry, @catch, @timeout, kill -9 of a worker, and resume."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from limelight.flows import (
    Flow,
    FlowFailed,
    Run,
    catch,
    current,
    resources,
    retry,
    step,
    timeout,
)

SYNC = "LL_TEST_SYNC_DIR"


def _sync_dir() -> Path:
    return Path(os.environ[SYNC])


class HalfFails(Flow):
    @step
    def start(self):
        self.base = 1
        self.next(self.good, self.bad)

    @step
    def good(self):
        self.value = "fine"
        self.next(self.join)

    @step
    def bad(self):
        print("about to fail")
        if os.environ.get("LL_TEST_FAIL") == "1":
            raise RuntimeError("bad step failed on purpose")
        self.value = "fixed"
        self.next(self.join)

    @step
    def join(self, inputs):
        self.values = sorted(i.value for i in inputs)
        self.next(self.end)

    @step
    def end(self):
        pass


class Retried(Flow):
    @step
    def start(self):
        self.next(self.flaky)

    @retry(times=2, delay=0.2)
    @step
    def flaky(self):
        self.attempt_seen = current.retry_count
        if current.retry_count < 2:
            raise ValueError(f"attempt {current.retry_count} fails")
        self.next(self.end)

    @step
    def end(self):
        pass


class RetriedOut(Flow):
    @step
    def start(self):
        self.next(self.always)

    @retry(times=1)
    @step
    def always(self):
        raise ValueError("never works")
        self.next(self.end)

    @step
    def end(self):
        pass


class Caught(Flow):
    @step
    def start(self):
        self.next(self.risky)

    @catch(var="problem")
    @step
    def risky(self):
        self.partial = 1
        raise KeyError("missing thing")
        self.next(self.end)

    @step
    def end(self):
        self.saw = self.problem


class TimedOut(Flow):
    @step
    def start(self):
        self.next(self.slow)

    @timeout(seconds=1)
    @step
    def slow(self):
        print("starting to sleep", flush=True)
        time.sleep(60)
        self.next(self.end)

    @step
    def end(self):
        pass


class TimedOutCaught(Flow):
    @step
    def start(self):
        self.next(self.slow)

    @catch(var="err")
    @timeout(seconds=0.5)
    @step
    def slow(self):
        time.sleep(60)
        self.next(self.end)

    @step
    def end(self):
        self.err_type = self.err["type"]


class Resourced(Flow):
    @resources(cpu=2, memory=512)
    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass


class Killed(Flow):
    @step
    def start(self):
        self.items = [0, 1, 2]
        self.next(self.work, foreach="items")

    @step
    def work(self):
        if self.input == 1:
            (_sync_dir() / "victim.pid").write_text(str(os.getpid()))
            time.sleep(60)
        self.out = self.input * 10
        self.next(self.join)

    @step
    def join(self, inputs):
        self.outs = [i.out for i in inputs]
        self.next(self.end)

    @step
    def end(self):
        pass


class Wide(Flow):
    @step
    def start(self):
        self.items = list(range(1000))
        self.next(self.work, foreach="items")

    @step
    def work(self):
        self.square = self.input * self.input
        self.next(self.join)

    @step
    def join(self, inputs):
        self.total = sum(i.square for i in inputs)
        self.next(self.end)

    @step
    def end(self):
        pass


@pytest.fixture
def sync(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "sync"
    folder.mkdir()
    monkeypatch.setenv(SYNC, str(folder))
    return folder


def test_a_failing_task_is_recorded_and_the_rest_finishes(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LL_TEST_FAIL", "1")
    with pytest.raises(FlowFailed) as failed:
        HalfFails.run()
    run = failed.value.run.refresh()
    assert run.status == "failed"
    bad = run["bad"].task
    assert bad.status == "failed"
    assert "RuntimeError: bad step failed on purpose" in bad.error
    assert "Traceback" in bad.error
    assert "about to fail" in bad.stdout
    assert "RuntimeError" in bad.stderr
    assert run["good"].task.status == "succeeded"  # the other branch still ran
    assert run["join"].tasks == []
    assert "bad step failed on purpose" in str(failed.value)
    assert f"limelight logs {bad.pathspec}" in str(failed.value)


def test_resume_reruns_from_the_failed_step_reusing_by_reference(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LL_TEST_FAIL", "1")
    with pytest.raises(FlowFailed) as failed:
        HalfFails.run()
    origin = failed.value.run
    monkeypatch.setenv("LL_TEST_FAIL", "0")
    run = HalfFails.resume()
    assert run.successful and run.origin_run_id == origin.id
    assert run.data.values == ["fine", "fixed"]
    for name in ("start", "good"):
        task, old = run[name].task, origin[name].task
        assert task.reused and task.origin_task_id == old.id
        assert {n: r.key for n, r in task.artifacts.items()} == {
            n: r.key for n, r in old.artifacts.items()
        }
    assert not run["bad"].task.reused
    assert run["bad"].task.attempts == 1


def test_retry_runs_the_step_again(home: Path) -> None:
    started = time.monotonic()
    run = Retried.run()
    task = run["flaky"].task
    assert task.attempts == 3
    assert task.data.attempt_seen == 2
    assert time.monotonic() - started >= 0.4  # two delays of 0.2 s
    assert run["flaky"].decorators["retries"] == 2


def test_retry_gives_up_after_its_attempts(home: Path) -> None:
    with pytest.raises(FlowFailed, match="never works"):
        RetriedOut.run()
    assert Run(f"RetriedOut/{1}")["always"].task.attempts == 2


def test_catch_stores_the_error_and_carries_on(home: Path) -> None:
    run = Caught.run()
    problem = run.data.saw
    assert problem["type"] == "KeyError"
    assert "missing thing" in problem["message"]
    assert "Traceback" in problem["traceback"]
    assert run["risky"].task.data.partial == 1


def test_timeout_fails_the_task_without_stopping_the_scheduler(home: Path) -> None:
    started = time.monotonic()
    with pytest.raises(FlowFailed, match="timed out after 1 s"):
        TimedOut.run()
    assert time.monotonic() - started < 30
    task = Run("TimedOut/1")["slow"].task
    assert task.status == "failed" and "@timeout" in task.error
    assert "starting to sleep" in task.stdout  # the partial log is kept


def test_timeout_with_catch_carries_on(home: Path) -> None:
    run = TimedOutCaught.run()
    assert run.data.err_type == "TaskFailed"
    assert "timed out" in run["slow"].task.data.err["message"]


def test_resources_are_recorded(home: Path) -> None:
    run = Resourced.run()
    assert run["start"].decorators["resources"] == {"cpu": 2, "gpu": 0, "memory": 512}
    assert run["end"].decorators["resources"] == {}


def test_kill_9_of_a_worker_fails_only_its_task(home: Path, sync: Path) -> None:
    victim: list[int] = []

    def killer() -> None:
        deadline = time.monotonic() + 60
        path = sync / "victim.pid"
        while time.monotonic() < deadline:
            if path.exists() and path.read_text():
                victim.append(int(path.read_text()))
                os.kill(victim[0], signal.SIGKILL)
                return
            time.sleep(0.05)

    thread = threading.Thread(target=killer)
    thread.start()
    with pytest.raises(FlowFailed) as failed:
        Killed.run(max_workers=3)
    thread.join()
    run = failed.value.run.refresh()
    tasks = run["work"].tasks
    assert [t.status for t in tasks] == ["succeeded", "failed", "succeeded"]
    assert f"pid {victim[0]}" in tasks[1].error and "SIGKILL" in tasks[1].error
    assert run.status == "failed"


@pytest.mark.slow
def test_foreach_of_a_thousand_tasks(home: Path) -> None:
    run = Wide.run()
    assert run.data.total == sum(i * i for i in range(1000))
    assert len(run["work"].tasks) == 1000


def test_a_second_ctrl_c_during_cleanup_is_held() -> None:
    from limelight.core.processes import sigint_held

    before = signal.getsignal(signal.SIGINT)
    with sigint_held():
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)  # an ignored signal is dropped: no KeyboardInterrupt here
    assert signal.getsignal(signal.SIGINT) is before


def test_an_attempt_after_one_whose_end_was_lost_replaces_its_artifacts(home: Path) -> None:
    """A worker can die after its attempt committed but before the scheduler heard of it (seen
    on Dask: the next task killed the worker). The retry must not fail on the first's rows."""
    from limelight.core.config import resolve_config
    from limelight.flows._task import TaskJob, execute_task
    from limelight.store import Store

    run = Caught.run()
    risky = run["risky"].task  # its attempt saved `partial` and the caught `problem`
    store = Store(resolve_config())
    try:
        job = TaskJob(
            run_id=run.id,
            flow_name="Caught",
            step="risky",
            task_id=risky.id,
            path="",
            attempt=1,
            max_attempts=1,
            input_task_ids=[run["start"].task.id],
            foreach_stack=[],
            params={},
            catch_var="problem",
        )
        result = execute_task(job, Caught, Caught.graph(), store)
    finally:
        store.dispose()
    assert result.ok, result.error
    assert Run(f"Caught/{run.id}")["risky"].task.data.partial == 1
