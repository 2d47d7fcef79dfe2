"""Worker processes: keep-alive latency, hot swap under load, experiments, drain on SIGTERM."""

from __future__ import annotations

import http.client
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from tests.serving.conftest import MODELS, subprocess_env

from limelight.experiments import ExperimentSpec, Variant
from limelight.experiments.store import create_experiment, set_experiment_status
from limelight.registry import Registry
from limelight.serving import Client, RequestIds, ServerHandle, serve_in_background
from limelight.store import open_store


def test_two_workers_keep_alive_swap_under_load_and_drain(registry: Registry) -> None:
    handle = serve_in_background(
        MODELS,
        workers=2,
        poll_seconds=0.1,
        env=subprocess_env(),
        graceful_seconds=5,
        log_level="info",
    )
    try:
        _check_keep_alive_latency(handle)
        _check_new_connections_reach_every_worker(handle)
        _check_swap_under_load(handle, registry)
        _check_a_killed_worker_is_replaced(handle)
        with Client(handle.url) as client:
            answer = client.recommend("u3", k=2)
            item = answer["items"][0]["item_id"]
            for event in ("click", "play", "like", "share", "click", "play", "click", "play"):
                # new connections land on either worker: each checks the HMAC, and the
                # repeats are logged once whichever worker they reach
                with Client(handle.url) as other:
                    other.feedback(answer["request_id"], item, event)
    finally:
        code = handle.stop()
    assert code == 0, handle.log()
    store = open_store()
    impressions = store.read_events("impressions")
    assert impressions.num_rows > 100, "every answered recommend left an impression"
    assert store.read_events("feedback").num_rows == 4


def _check_keep_alive_latency(handle: ServerHandle) -> None:
    """One request at a time over keep-alive: no ~40 ms delayed-ACK stall (TCP_NODELAY)."""
    host, port = handle.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port))
    times = []
    try:
        for i in range(30):
            start = time.perf_counter()
            conn.request(
                "POST",
                "/v1/recommend",
                body=b'{"user_id": "u1", "k": 3}',
                headers={"content-type": "application/json"},
            )
            response = conn.getresponse()
            response.read()
            assert response.status == 200
            if i >= 5:
                times.append(time.perf_counter() - start)
    finally:
        conn.close()
    assert statistics.median(times) < 0.03, f"median {statistics.median(times) * 1000:.1f} ms"


def _check_new_connections_reach_every_worker(handle: ServerHandle) -> None:
    """Each worker accepts from its own socket: 16 new connections reach both of them.

    (The kernel spreads connections over the sockets by address; all 16 on one worker has a
    chance of 2 in 65,536.)
    """
    assert handle.pid is not None
    answered, listed = set(), set()
    for _ in range(16):
        with Client(handle.url) as client:
            answered.add(client.request("GET", "/healthz")["pid"])
        with Client(handle.url) as client:
            listed.add(client.models()["worker"])  # /v1/models names the worker that answers
    assert answered == _workers(handle.pid)
    assert listed == _workers(handle.pid)


def _workers(pid: int) -> set[int]:
    """The worker processes of the server ``pid`` (its event committer left out)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return {
        int(p)
        for p in children
        if b"limelight-event-committer" not in Path(f"/proc/{p}/cmdline").read_bytes()
    }


def _check_a_killed_worker_is_replaced(handle: ServerHandle) -> None:
    assert handle.pid is not None
    before = _workers(handle.pid)
    assert len(before) == 2
    victim = min(before)
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 20
    while True:
        now = _workers(handle.pid)
        if len(now) == 2 and victim not in now:
            break
        assert time.monotonic() < deadline, "the supervisor did not replace the killed worker"
        time.sleep(0.05)
    with Client(handle.url) as client:
        for _ in range(10):
            assert client.recommend("u1", k=1)["items"]


def _check_swap_under_load(handle: ServerHandle, registry: Registry) -> None:
    """Clients hammer recommend while the champion alias moves twice: no request fails."""
    stop = threading.Event()
    failures: list[str] = []
    seen: set[str] = set()

    def hammer() -> None:
        with Client(handle.url) as client:
            while not stop.is_set():
                try:
                    seen.add(client.recommend("u2", k=2)["models"]["recs"])
                except Exception as exc:
                    failures.append(repr(exc))

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        time.sleep(0.3)
        registry.set_alias("recs", "champion", 2, why="a test model")
        time.sleep(1.0)
        registry.set_alias("recs", "champion", 1, why="a test model")
        time.sleep(1.0)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert failures == []
    assert seen == {"recs/1", "recs/2"}


def test_experiment_variant_chooses_the_model_and_is_logged(registry: Registry) -> None:
    spec = ExperimentSpec(
        name="ranker-test",
        salt="s1",
        variants=(
            Variant("control", 0.5, "recs@champion"),
            Variant("treatment", 0.5, "recs@challenger"),
        ),
    )
    metadata = open_store().metadata
    create_experiment(metadata, spec)
    set_experiment_status(metadata, "ranker-test", "running")
    handle = serve_in_background(MODELS, in_process=True)
    served = {}
    try:
        with Client(handle.url) as client:
            for i in range(40):
                answer = client.recommend(f"user-{i}", k=2)
                served[f"user-{i}"] = (
                    answer["experiments"]["ranker-test"],
                    answer["models"]["recs"],
                )
    finally:
        handle.stop()
    expected = {"control": "recs/1", "treatment": "recs/2"}
    assert all(expected[variant] == model for variant, model in served.values())
    assert {v for v, _ in served.values()} == {"control", "treatment"}
    rows = open_store().read_events("impressions").to_pylist()
    for row in rows:
        assert row["experiments"] == ["ranker-test"]
        assert row["variants"] == [served[row["user_id"]][0]]
        assert row["models"][0] == served[row["user_id"]][1]


def test_request_ids_are_signed_per_home(tmp_path: object) -> None:
    ids = RequestIds(b"k" * 32)
    rid = ids.issue("user-1", now=1000.0)
    issued = ids.verify(rid)
    assert (issued.user_id, issued.issued_at) == ("user-1", 1000.0)
    for bad in (rid + "x", "x" + rid, rid.replace(".", ""), "", "é.é", 42):
        with pytest.raises(ValueError, match="request_id"):
            ids.verify(bad)
    with pytest.raises(ValueError, match="not issued by this service"):
        RequestIds(b"j" * 32).verify(rid)


def test_cli_serve_refuses_bad_models(home: object) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        code = "from limelight.cli._main import main; main()"
        return subprocess.run(
            [sys.executable, "-c", code, "serve", *args], capture_output=True, text=True, timeout=60
        )

    assert "SLOT=REF" in run("--help").stdout
    result = run("--model", "recs=recs@champion", "--port", "0")
    assert result.returncode != 0 and "no model 'recs'" in result.stderr + result.stdout
    result = run("--model", "recs=recs@champion", "--workers", "0")
    assert result.returncode != 0 and "workers must be" in result.stderr + result.stdout


def test_a_port_another_server_listens_on_is_refused_even_with_shared_sockets() -> None:
    from limelight.core.errors import InvalidInputError
    from limelight.serving import bind_sockets

    held = bind_sockets("127.0.0.1", 0, 2)  # the way a server of 2 workers holds its port
    try:
        port = held[0].getsockname()[1]
        assert {s.getsockname()[1] for s in held} == {port}
        with pytest.raises(InvalidInputError, match=f"cannot listen on 127.0.0.1:{port}"):
            bind_sockets("127.0.0.1", port, 2)
    finally:
        for sock in held:
            sock.close()
