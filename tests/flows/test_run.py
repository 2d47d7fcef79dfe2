"""Running flows through the Python API: steps, branches, foreach, params, current, logs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from limelight.core.errors import InvalidInputError
from limelight.flows import Flow, FlowFailed, Param, Run, current, step
from limelight.store import open_store
from limelight.store.schema import metrics, params


class Linear(Flow):
    greeting = Param(default="hello", help="what to say")
    times = Param(default=2, type=int)

    @step
    def start(self):
        self.words = [self.greeting] * self.times
        self.next(self.middle)

    @step
    def middle(self):
        self.sentence = " ".join(self.words)
        self.next(self.end)

    @step
    def end(self):
        self.length = len(self.sentence)


class Branches(Flow):
    @step
    def start(self):
        self.shared = 10
        self.next(self.a, self.b)

    @step
    def a(self):
        self.value = self.shared + 1
        self.next(self.join)

    @step
    def b(self):
        self.value = self.shared + 2
        self.next(self.join)

    @step
    def join(self, inputs):
        self.values = sorted(i.value for i in inputs)
        self.from_a = inputs.a.value
        self.merge_artifacts(inputs, exclude=["value"])
        self.next(self.end)

    @step
    def end(self):
        pass


class Nested(Flow):
    @step
    def start(self):
        self.outer = ["x", "y"]
        self.next(self.fan, foreach="outer")

    @step
    def fan(self):
        self.letter = self.input
        self.inner = [1, 2, 3]
        self.next(self.work, foreach="inner")

    @step
    def work(self):
        self.item = f"{self.letter}{self.input}"
        self.where = (self.index, self.letter)
        self.next(self.inner_join)

    @step
    def inner_join(self, inputs):
        self.items = [i.item for i in inputs]
        self.merge_artifacts(inputs, include=["letter"])
        self.next(self.outer_join)

    @step
    def outer_join(self, inputs):
        self.all = [i.items for i in inputs]
        self.letters = [i.letter for i in inputs]
        self.next(self.end)

    @step
    def end(self):
        pass


class Recording(Flow):
    @step
    def start(self):
        self.seen = {
            "flow": current.flow_name,
            "run": current.run_id,
            "step": current.step_name,
            "task": current.task_id,
            "retry": current.retry_count,
            "pathspec": current.pathspec,
        }
        current.log_metric("loss", 0.5, step=1)
        current.log_metric("loss", 0.25, step=2)
        current.log_param("lr", 0.01)
        print("to stdout from start")
        print("to stderr from start", file=sys.stderr)
        self.next(self.end)

    @step
    def end(self):
        print("end says bye")


def test_linear_flow_passes_artifacts_and_params(home: Path) -> None:
    run = Linear.run(greeting="hi", times=3)
    assert run.successful and run.status == "succeeded"
    assert run.data.sentence == "hi hi hi"
    assert run.data.length == 8
    assert run["start"].task.data.words == ["hi", "hi", "hi"]
    assert run.params == {"greeting": "hi", "times": 3}
    assert [s.name for s in sorted(run.steps(), key=lambda s: s.started_at)] == [
        "start",
        "middle",
        "end",
    ]
    assert run.duration is not None and run.duration > 0


class Required(Flow):
    size = Param(type=int, help="rows to make")

    @step
    def start(self):
        self.rows = list(range(self.size))
        self.next(self.end)

    @step
    def end(self):
        pass


def test_a_required_param(home: Path) -> None:
    with pytest.raises(InvalidInputError, match="needs a value for parameter 'size' \\(rows to"):
        Required.run()
    assert Required.run(size=3).data.rows == [0, 1, 2]


def test_defaults_and_bad_params(home: Path) -> None:
    assert Linear.run().data.sentence == "hello hello"
    with pytest.raises(InvalidInputError, match="no parameter 'colour'"):
        Linear.run(colour="red")
    with pytest.raises(InvalidInputError, match="'times' expects a int"):
        Linear.run(times="three")


def test_branches_join_and_merge(home: Path) -> None:
    run = Branches.run()
    data = run.data
    assert data.values == [11, 12]
    assert data.from_a == 11
    assert data.shared == 10  # merged: both branches agree
    assert "value" not in data


def test_merge_artifacts_refuses_disagreement(home: Path) -> None:
    class Disagree(Branches):
        @step
        def join(self, inputs):
            self.merge_artifacts(inputs)
            self.next(self.end)

    with pytest.raises(FlowFailed) as failed:
        Disagree.run()
    assert "disagree on value" in str(failed.value.failures[0][1])


def test_nested_foreach(home: Path) -> None:
    run = Nested.run(max_workers=2)
    assert run.data.all == [["x1", "x2", "x3"], ["y1", "y2", "y3"]]
    assert run.data.letters == ["x", "y"]
    work = run["work"].tasks
    assert [t.path for t in work] == ["0.0", "0.1", "0.2", "1.0", "1.1", "1.2"]
    assert [t.data.where for t in work] == [
        (0, "x"),
        (1, "x"),
        (2, "x"),
        (0, "y"),
        (1, "y"),
        (2, "y"),
    ] or [tuple(t.data.where) for t in work] == [(i, c) for c in "xy" for i in range(3)]
    assert work[4].index == 1


def test_current_metrics_params_and_logs(home: Path) -> None:
    run = Recording.run()
    task = run["start"].task
    seen = task.data.seen
    assert seen == {
        "flow": "Recording",
        "run": run.id,
        "step": "start",
        "task": task.id,
        "retry": 0,
        "pathspec": task.pathspec,
    }
    assert "to stdout from start" in task.stdout
    assert "to stderr from start" in task.stderr
    assert "to stdout" not in task.stderr
    assert run["end"].task.stdout == "end says bye\n"
    store = open_store()
    with store.metadata.connect() as conn:
        rows = conn.execute(
            sa.select(metrics.c.name, metrics.c.step, metrics.c.value, metrics.c.task_id)
            .where(metrics.c.run_id == run.id)
            .order_by(metrics.c.step)
        ).all()
        logged = dict(
            conn.execute(
                sa.select(params.c.name, params.c.value).where(params.c.run_id == run.id)
            ).all()
        )
    assert [(r.name, r.step, r.value, r.task_id) for r in rows] == [
        ("loss", 1, 0.5, task.id),
        ("loss", 2, 0.25, task.id),
    ]
    assert logged["lr"] == 0.01


def test_current_outside_a_step_is_an_error() -> None:
    with pytest.raises(Exception, match="only available inside a running step"):
        _ = current.run_id
    assert not current.is_running


def test_inline_executor_runs_in_this_process_and_captures_logs(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = Recording.run(executor="inline")
    assert run.successful
    task = run["start"].task
    assert "to stdout from start" in task.stdout
    assert "to stderr from start" in task.stderr
    out = capsys.readouterr()
    assert "to stdout from start" in out.out  # tee'd to the terminal as well
    assert "to stderr from start" in out.err


def test_inline_nested_foreach(home: Path) -> None:
    run = Nested.run(executor="inline")
    assert run.data.all == [["x1", "x2", "x3"], ["y1", "y2", "y3"]]


def test_two_runs_of_one_flow_at_once(home: Path) -> None:
    import threading

    results: list[Run] = []
    errors: list[BaseException] = []

    def go(n: int) -> None:
        try:
            results.append(Linear.run(times=n, max_workers=1))
        except BaseException as exc:
            errors.append(exc)

    # from two processes: the realistic case, each with its own scheduler
    import subprocess

    tests_dir = Path(__file__).resolve().parent.parent
    code = (
        f"import sys; sys.path.insert(0, {str(tests_dir)!r}); "
        "from flows.test_run import Linear; print(Linear.run(times=int(sys.argv[1])).id)"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(n)], stdout=subprocess.PIPE, text=True)
        for n in (4, 5)
    ]
    thread = threading.Thread(target=go, args=(6,))
    thread.start()
    outs = [p.communicate(timeout=120)[0] for p in procs]
    thread.join(120)
    assert not errors
    assert all(p.returncode == 0 for p in procs)
    ids = {int(o.strip()) for o in outs} | {results[0].id}
    assert len(ids) == 3
    lengths = sorted(Run(f"Linear/{i}").data.length for i in ids)
    assert lengths == [len(" ".join(["hello"] * n)) for n in (4, 5, 6)]


def test_run_inside_a_step_is_refused_nicely(home: Path) -> None:
    with pytest.raises(InvalidInputError, match="max_workers"):
        Linear.run(max_workers=0)


class Interrupted(Flow):
    @step
    def start(self):
        self.next(self.stop)

    @step
    def stop(self):
        raise KeyboardInterrupt
        self.next(self.end)

    @step
    def end(self):
        pass


def test_ctrl_c_in_an_inline_run_stops_it_as_interrupted(home: Path) -> None:
    with pytest.raises(KeyboardInterrupt):
        Interrupted.run(executor="inline")
    run = Run("Interrupted/1")
    assert run.status == "interrupted"
    assert run["start"].task.status == "succeeded"
    assert run["stop"].task.status == "interrupted"
    assert "end" not in {s.name for s in run.steps() if s.status == "succeeded"}


class Sleepers(Flow):
    @step
    def start(self):
        self.naps = [0.6, 0.6]
        self.next(self.nap, foreach="naps")

    @step
    def nap(self):
        import time

        time.sleep(self.input)
        self.next(self.join)

    @step
    def join(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass


def _overlap(run: Run) -> bool:
    first, second = run["nap"].tasks
    return first.started_at < second.finished_at and second.started_at < first.finished_at


def test_foreach_tasks_run_in_parallel_up_to_max_workers(home: Path) -> None:
    assert _overlap(Sleepers.run(max_workers=2))
    assert not _overlap(Sleepers.run(max_workers=1))
