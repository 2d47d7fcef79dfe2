import math
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import limelight
from limelight import Flow, Param, current, step
from limelight.core.config import resolve_config
from limelight.core.errors import InvalidInputError, NotFoundError
from limelight.tracking import FilterError, metric_history, search_runs, start_run


class Tracked(Flow):
    l2 = Param(default=100.0)
    ndcg = Param(default=0.3)

    @step
    def start(self):
        for i in range(20):
            current.log_metric("loss", 1.0 / (i + 1))
        current.log_metric("ndcg", self.ndcg)
        current.log_metric("weird", float("nan"))
        current.log_param("solver", "closed-form")
        current.set_tag("nightly")
        current.use_dataset("ml-100k", "1998", license="GroupLens terms", usage="research-only")
        self.next(self.end)

    @step
    def end(self):
        pass


def test_metrics_logged_in_a_step_are_read_back_in_order(home: Path) -> None:
    run = Tracked.run(ndcg=0.42)
    history = metric_history(run)
    np.testing.assert_allclose(history["loss"].values, [1.0 / (i + 1) for i in range(20)])
    np.testing.assert_array_equal(history["loss"].steps, np.arange(20))
    assert history["ndcg"].last == pytest.approx(0.42)
    assert math.isnan(history["weird"].last), "NaN is stored and shown as NaN"
    found = search_runs(flow="Tracked")
    assert found[0].params["solver"] == "closed-form" and "nightly" in found[0].tags


def test_notebook_runs_use_the_same_store_and_reader(home: Path) -> None:
    with start_run(experiment="ease-notebook", params={"l2": 500}) as run:
        run.log_metric("recall", 0.2)
        run.log_metric("recall", 0.3)
        run.log_metric("inf", float("inf"))
        run.set_tag("manual")
    assert run.status == "succeeded"
    history = metric_history(f"ease-notebook/{run.id}")
    np.testing.assert_allclose(history["recall"].values, [0.2, 0.3])
    assert history["inf"].last == math.inf
    summary = search_runs(flow="ease-notebook")[0]
    assert summary.kind == "notebook" and summary.params == {"l2": 500}
    assert summary.metrics["recall"] == pytest.approx(0.3)
    with pytest.raises(limelight.LimelightError, match="has ended"):
        run.log_metric("late", 1.0)


def test_a_failing_block_marks_the_run_failed_and_keeps_its_metrics(home: Path) -> None:
    with pytest.raises(RuntimeError), start_run(experiment="boom") as run:
        run.log_metric("before", 1.0)
        raise RuntimeError("bad batch")
    summary = search_runs(flow="boom")[0]
    assert summary.status == "failed" and summary.metrics == {"before": 1.0}


def _seed_runs(n: int) -> None:
    for i in range(n):
        with start_run(
            experiment="grid", params={"l2": [10, 100, 500][i % 3], "name": f"m{i}"}
        ) as run:
            run.log_metric("ndcg", i / 10)
            if i % 2:
                run.set_tag("odd")


def test_search_filters_and_sorts(home: Path) -> None:
    _seed_runs(9)
    found = search_runs(
        where="metrics.ndcg > 0.4 and params.l2 = 500", order_by="metrics.ndcg desc"
    )
    assert [r.metrics["ndcg"] for r in found] == [0.8, 0.5]
    assert [r.params["name"] for r in search_runs(where="params.name = 'm3'")] == ["m3"]
    assert len(search_runs(where="tag = 'odd'")) == 4
    assert len(search_runs(where="tag != 'odd' and status = 'succeeded'")) == 5
    ordered = search_runs(flow="grid", order_by="params.l2 asc")
    assert [r.params["l2"] for r in ordered][:3] == [10, 10, 10]
    assert len(search_runs(flow="grid", limit=2)) == 2
    assert search_runs(flow="nothing-like-this") == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("metrics.ndcg >", "expected a comparison"),
        ("metrics.ndcg > 'high'", "compare it with a number"),
        ("colour = 'red'", "unknown field 'colour'"),
        ("metrics.ndcg > 0.4 or params.l2 = 1", "expected 'and'"),
        ("metrics.ndcg > 0.4; drop table runs", "unexpected text"),
        ("params.name < 'm'", "takes = or != only"),
        ("status = 3", "quote the value"),
    ],
)
def test_bad_filters_are_rejected_with_a_pointer(home: Path, text: str, message: str) -> None:
    with pytest.raises(FilterError, match=message) as caught:
        search_runs(where=text)
    assert "^" in str(caught.value)


def test_bad_sort_and_unknown_run(home: Path) -> None:
    with pytest.raises(FilterError, match="cannot sort by"):
        search_runs(order_by="colour")
    with pytest.raises(NotFoundError):
        metric_history(12345)
    with pytest.raises(InvalidInputError):
        metric_history("not-a-run")


@pytest.mark.parametrize("value", ["high", None, True])
def test_metric_values_must_be_numbers(home: Path, value: object) -> None:
    with (
        start_run(experiment="bad") as run,
        pytest.raises(InvalidInputError, match="must be a number"),
    ):
        run.log_metric("m", value)  # type: ignore[arg-type]


def test_unknown_dataset_usage_is_refused(home: Path) -> None:
    with (
        start_run(experiment="data") as run,
        pytest.raises(InvalidInputError, match="unknown usage 'any'"),
    ):
        run.use_dataset("x", usage="any")


def test_buffered_logging_flushes_on_a_timer(home: Path) -> None:
    run = start_run(experiment="timer")
    run._recorder.flush_seconds = 0.2
    for i in range(10_000):
        run.log_metric("x", float(i))
    deadline = time.time() + 10
    while time.time() < deadline and "x" not in metric_history(run.id):
        time.sleep(0.1)
    assert len(metric_history(run.id)["x"].values) == 10_000, "the timer flushed everything"
    run.end()


_CHILD = """
import sys, time
from limelight.tracking import start_run
run = start_run(experiment="exit")
for i in range(500):
    run.log_metric("x", i)
print(run.id, flush=True)
if sys.argv[1] == "kill":
    time.sleep(60)
"""


def test_nothing_acknowledged_is_lost_on_a_normal_exit(home: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, "exit"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "LIMELIGHT_HOME": str(home)},
    )
    run_id = int(out.stdout.strip())
    assert len(metric_history(run_id)["x"].values) == 500


def test_kill_9_loses_at_most_the_unflushed_window(home: Path) -> None:
    with subprocess.Popen(
        [sys.executable, "-c", _CHILD, "kill"],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "LIMELIGHT_HOME": str(home)},
    ) as child:
        assert child.stdout is not None
        run_id = int(child.stdout.readline())
        time.sleep(6.5)  # past one flush interval (5 s)
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    assert len(metric_history(run_id)["x"].values) == 500, "the timer had flushed before the kill"


def _writer(home: str, worker: int) -> None:
    os.environ["LIMELIGHT_HOME"] = home
    with start_run(experiment="parallel", config=resolve_config()) as run:
        for i in range(2000):
            run.log_metric(f"w{worker}", float(i))


def test_four_processes_log_at_once(home: Path) -> None:
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(home), w)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0] * 4
    runs = search_runs(flow="parallel")
    assert (
        sorted(len(metric_history(r.id)[next(iter(r.metrics))].values) for r in runs) == [2000] * 4
    )
