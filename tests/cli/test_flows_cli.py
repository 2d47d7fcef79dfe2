"""``limelight run | resume | show | inspect | logs`` on flow files, as a user types them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from tests.cli._run import run_cli

from limelight.flows import Flow, Run
from limelight.flows._progress import Progress

LIMELIGHT = [sys.executable, "-c", "from limelight.cli import main; main()"]

SWEEP = """
import os
from limelight.flows import Flow, Param, step, current


class Sweep(Flow):
    lambdas = Param(default=[1.0, 2.0], help="values to try")
    label = Param(default="base", type=str, help="a name")
    scale = Param(default=1, type=int)

    @step
    def start(self):
        self.next(self.fit, foreach="lambdas")

    @step
    def fit(self):
        print("fitting", self.input)
        self.score = self.input * self.scale
        self.next(self.choose)

    @step
    def choose(self, inputs):
        self.best = max(i.score for i in inputs)
        self.next(self.end)

    @step
    def end(self):
        if os.environ.get("LL_FAIL_END") == "1":
            raise RuntimeError("end fails on request")
        self.summary = f"{self.label}:{self.best}"
"""


def _write(folder: Path, name: str, source: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(source))
    return path


_cli = run_cli


def test_run_with_params_tags_and_plain_progress(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flow = _write(tmp_path, "sweep.py", SWEEP)
    code, out, err = _cli(
        capsys,
        "run",
        str(flow),
        "--lambdas",
        "[3, 5, 4]",
        "--label=best",
        "--scale",
        "2",
        "--max-workers",
        "2",
        "--tag",
        "nightly",
    )
    assert code == 0, err
    assert "run Sweep/1 succeeded" in out
    assert "Sweep/1 fit/2 succeeded" in err  # plain lines when not a terminal
    run = Run("Sweep/1")
    assert run.data.summary == "best:10"
    assert run.params == {"lambdas": [3, 5, 4], "label": "best", "scale": 2}
    assert run.tags == {"nightly"}


def test_show_inspect_and_logs(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flow = _write(tmp_path, "sweep.py", SWEEP)
    code, out, _ = _cli(capsys, "show", str(flow))
    assert code == 0
    assert "start [start] -> fit (foreach lambdas)" in out
    assert "--lambdas [1.0, 2.0]  values to try" in out
    assert _cli(capsys, "run", str(flow), "--quiet")[0] == 0
    code, out, _ = _cli(capsys, "inspect", "Sweep/1")
    assert code == 0
    assert "run Sweep/1: succeeded" in out
    assert 'params: label="base", lambdas=[1.0, 2.0], scale=1' in out
    assert "-0.0" not in out  # no step ends before it starts
    code, out, _ = _cli(capsys, "inspect", "Sweep/1/fit")
    assert code == 0 and out.count("succeeded") == 2
    task = Run("Sweep/1")["fit"].tasks[1]
    code, out, _ = _cli(capsys, "inspect", task.pathspec)
    assert code == 0 and "score" in out and "2.0" in out
    code, out, err = _cli(capsys, "logs", task.pathspec)
    assert code == 0 and out == "fitting 2.0\n"
    code, _, err = _cli(capsys, "logs", "Sweep/1/fit")
    assert code == 2 and "FLOW/RUN/STEP/TASK" in err
    code, _, err = _cli(capsys, "inspect", "Sweep/7")
    assert code == 2 and "no run Sweep/7" in err
    code, _, err = _cli(capsys, "inspect", "Sweep/1/fit/99999")
    assert code == 2 and "has no task 99999" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--colour", "red"], "Sweep has no parameter --colour; its parameters: --label"),
        (["--scale", "two"], "--scale: 'two' is not valid JSON; expected int"),
        (["--scale", "2.5"], "parameter 'scale' expects a int"),
        (["--lambdas", "[1,"], "--lambdas: '[1,' is not valid JSON"),
        (["--scale"], "--scale needs a value"),
        (["stray"], "unexpected argument 'stray'"),
    ],
)
def test_bad_params(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    flow = _write(tmp_path, "sweep.py", SWEEP)
    code, _, err = _cli(capsys, "run", str(flow), *args)
    assert code == 2
    assert message in err


def test_bad_files(home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _cli(capsys, "run", str(tmp_path / "missing.py"))
    assert code == 2 and "missing.py: no such file" in err
    empty = _write(tmp_path, "empty.py", "x = 1\n")
    code, _, err = _cli(capsys, "run", str(empty))
    assert code == 2 and "defines no flow" in err
    two = _write(tmp_path, "two.py", SWEEP + SWEEP.split("\n\n\n")[1].replace("Sweep", "Other"))
    code, _, err = _cli(capsys, "run", str(two))
    assert code == 2 and "several flows (Sweep, Other); choose one with --flow" in err
    code, out, err = _cli(capsys, "run", str(two), "--flow", "Other", "--quiet")
    assert code == 0 and "run Other/1 succeeded" in out
    code, _, err = _cli(capsys, "run", str(two), "--flow", "Third")
    assert code == 2 and "no flow called 'Third'" in err
    broken = _write(tmp_path, "broken.py", "def oops(:\n")
    code, _, err = _cli(capsys, "run", str(broken))
    assert code == 2 and "broken.py:1: syntax error" in err
    text = _write(tmp_path, "notes.txt", "hello")
    code, _, err = _cli(capsys, "run", str(text))
    assert code == 2 and "a flow is a Python file ending in .py" in err


def test_a_param_named_like_a_run_option_is_refused(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flow = _write(tmp_path, "sweep.py", SWEEP.replace("label = Param", "tag = Param"))
    code, _, err = _cli(capsys, "run", str(flow), "--tag", "x")
    assert code == 2
    assert "parameter 'tag' has the name of an option of limelight run (--tag)" in err
    flow = _write(tmp_path, "sweep.py", SWEEP.replace("label = Param", "max_workers = Param"))
    code, _, err = _cli(capsys, "run", str(flow))
    assert code == 2 and "(--max-workers); rename the parameter" in err


def test_failure_then_resume_then_changed_code(
    home: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    flow = _write(tmp_path, "sweep.py", SWEEP)
    monkeypatch.setenv("LL_FAIL_END", "1")
    code, _, err = _cli(capsys, "run", str(flow), "--quiet")
    assert code == 1
    assert "run Sweep/1 failed" in err and "end fails on request" in err
    assert f"limelight resume {flow} --origin 1" in err
    monkeypatch.setenv("LL_FAIL_END", "0")
    code, _, err = _cli(capsys, "resume", str(flow))
    assert code == 0, err
    assert "resuming Sweep/1 as Sweep/2" in err and "reused from the origin run" in err
    run = Run("Sweep/2")
    assert run.origin_run_id == 1 and run.data.summary == "base:2.0"
    assert all(t.reused for name in ("start", "fit", "choose") for t in run[name].tasks)
    assert not run["end"].task.reused
    # a change to one step's code re-runs that step and everything after it
    _write(tmp_path, "sweep.py", SWEEP.replace("self.input * self.scale", "self.input * 10"))
    code, _, err = _cli(capsys, "resume", str(flow), "--origin", "2", "--quiet")
    assert code == 0, err
    run = Run("Sweep/3")
    assert run["start"].task.reused
    assert not any(t.reused for t in run["fit"].tasks)
    assert not run["choose"].task.reused
    assert run.data.summary == "base:20.0"
    code, _, err = _cli(capsys, "resume", str(flow), "--origin", "42")
    assert code == 2 and "no run Sweep/42" in err


def test_live_progress_on_a_terminal() -> None:
    import io

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Terminal()
    progress = Progress("F/1", enabled=True, stream=stream)
    progress.task_created("fit")
    progress.task_created("fit")
    progress.task_started("fit")
    progress.task_started("fit")
    progress.task_succeeded("fit", "0", 0.1)
    progress.task_failed("fit", "1", "Traceback\nValueError: boom")
    progress.close()
    text = stream.getvalue()
    assert "\r\033[K" in text
    assert "F/1 fit/1 FAILED: ValueError: boom" in text
    assert text.rstrip().endswith("F/1: fit 1/2 1 failed")


CRASHY = """
import os, time
from pathlib import Path
from limelight.flows import Flow, step


class Crashy(Flow):
    @step
    def start(self):
        self.items = [1, 2, 3]
        self.next(self.work, foreach="items")

    @step
    def work(self):
        if self.input == 3 and os.environ.get("LL_SLOW") == "1":
            Path(os.environ["LL_PIDS"], str(os.getpid())).write_text("")
            time.sleep(120)
        self.double = self.input * 2
        self.next(self.join)

    @step
    def join(self, inputs):
        self.total = sum(i.double for i in inputs)
        self.next(self.end)

    @step
    def end(self):
        pass
"""


def _start(flow: Path, tmp_path: Path, *extra: str) -> tuple[subprocess.Popen[str], Path]:
    pids = tmp_path / "pids"
    pids.mkdir(exist_ok=True)
    env = {**os.environ, "LL_SLOW": "1", "LL_PIDS": str(pids)}
    process = subprocess.Popen(
        [*LIMELIGHT, "run", str(flow), "--max-workers", "3", *extra],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120  # generous: this machine is shared and often loaded
    while not any(pids.iterdir()):
        if time.monotonic() > deadline or process.poll() is not None:
            process.kill()
            raise AssertionError(f"the slow task never started: {process.communicate()}")
        time.sleep(0.05)
    return process, pids


def _gone(pid: int, within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        # a zombie (dead, not yet reaped by its parent) counts as gone
        try:
            if Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z":
                return True
        except (OSError, IndexError):
            return True
        time.sleep(0.05)
    return False


def test_ctrl_c_marks_the_run_interrupted_and_leaves_no_worker(home: Path, tmp_path: Path) -> None:
    flow = _write(tmp_path, "crashy.py", CRASHY)
    process, pids = _start(flow, tmp_path)
    worker = int(next(pids.iterdir()).name)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "interrupted" in err
    assert _gone(worker), f"worker {worker} is still alive"
    run = Run("Crashy/1")
    assert run.status == "interrupted"
    assert run["work"].tasks[2].status == "interrupted"


def test_kill_9_of_the_scheduler_then_resume(home: Path, tmp_path: Path) -> None:
    flow = _write(tmp_path, "crashy.py", CRASHY)
    process, pids = _start(flow, tmp_path)
    worker = int(next(pids.iterdir()).name)
    # wait until the two quick tasks are recorded as finished
    deadline = time.monotonic() + 60
    while [t.status for t in Run("Crashy/1")["work"].tasks][:2] != ["succeeded"] * 2:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    os.kill(process.pid, signal.SIGKILL)
    process.communicate(timeout=30)
    assert _gone(worker), "the worker outlived its scheduler"
    assert Run("Crashy/1").status == "running"  # nobody could say otherwise
    result = subprocess.run(
        [*LIMELIGHT, "resume", str(flow)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    crashed, resumed = Run("Crashy/1"), Run("Crashy/2")
    assert crashed.status == "failed" and "scheduler stopped" in crashed.error
    lost = crashed["work"].tasks[2]
    assert lost.status == "failed" and "scheduler stopped" in lost.error
    assert resumed.successful and resumed.data.total == 12
    old = {(t.step_name, t.path): t for s in ("start", "work") for t in crashed[s].tasks}
    for name in ("start", "work"):
        for task in resumed[name].tasks:
            if (name, task.path) == ("work", "2"):
                assert not task.reused
            else:
                assert task.origin_task_id == old[(name, task.path)].id
                assert task.artifacts == old[(name, task.path)].artifacts


def test_python_api_from_a_loaded_file(home: Path, tmp_path: Path) -> None:
    from limelight.flows._loading import load_flow_class

    flow_class = load_flow_class(_write(tmp_path, "sweep.py", SWEEP))
    assert issubclass(flow_class, Flow)
    assert flow_class.run(lambdas=[7]).data.summary == "base:7"


def test_a_bad_graph_is_reported_with_file_and_line(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flow = _write(
        tmp_path, "bad.py", SWEEP.replace("self.next(self.choose)", "self.next(self.nope)")
    )
    line = next(i for i, text in enumerate(flow.read_text().splitlines(), 1) if "self.nope" in text)
    for command in ("run", "show"):
        code, _, err = _cli(capsys, command, str(flow))
        assert code == 2
        assert f"step 'fit' ({flow}:{line}) goes next to 'nope', which is not a step" in err
    assert not (home / "limelight.db").exists()  # nothing ran


def test_resume_refuses_a_run_that_is_still_running(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flow = _write(tmp_path, "crashy.py", CRASHY)
    process, _ = _start(flow, tmp_path)
    try:
        code, _, err = _cli(capsys, "resume", str(flow))
        assert code == 2
        assert f"run Crashy/1 is still running (pid {process.pid})" in err
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=60)
    assert Run("Crashy/1").status == "interrupted"
