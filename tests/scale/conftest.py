"""Fixtures for the scale tests: a two-worker Dask cluster and an S3 server, both on loopback."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.scale._clusters import WORKERS, use_dask

S3_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture(scope="session")
def dask_cluster(s3_endpoint: str) -> Iterator[Any]:
    """Two single-threaded worker processes on 127.0.0.1, no dashboard; closed at the end.

    ``allowed-failures: 0`` makes a task whose worker dies fail at once, so that Limelight's
    ``@retry`` decides, as with the local executor. The workers know the local S3 server, as
    workers of a team's cluster know the team's S3. A generous connect timeout: a nanny
    restarting a worker that a ``@timeout`` killed gives up for good if the new worker, or its
    farewell to the scheduler, takes longer than that to connect (30 s by default; seen once in
    CI on a loaded machine), and the cluster then stays short of a worker mid-test.
    """
    import dask
    from distributed import LocalCluster

    # the nannies run in this process and read the connect timeout when they connect, so it
    # holds for the whole session; allowed-failures is read once, by the scheduler it makes
    with dask.config.set({"distributed.comm.timeouts.connect": "180s"}):
        with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
            cluster = LocalCluster(
                n_workers=WORKERS,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
                # the scheduler's HTTP server (health, metrics) runs even without a dashboard, by
                # default on 8787: a free port instead, on loopback, so that two clusters can coexist
                scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                env={**S3_ENV, "AWS_ENDPOINT_URL": s3_endpoint},
            )
        try:
            yield cluster
        finally:
            cluster.close()


@pytest.fixture
def on_dask(home: Path, dask_cluster: Any, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh home whose flows run on the Dask cluster."""
    use_dask(dask_cluster, monkeypatch)
    return home


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A moto S3 server on 127.0.0.1 (a free port) in its own process, stopped by its pid.

    Not in a thread of the test process: flows fork their workers from it, and a fork taken
    while a server thread holds a lock (an import, botocore's caches) can hang the worker.
    """
    import shutil
    import signal
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server_cmd = shutil.which("moto_server", path=str(Path(sys.executable).parent))
    assert server_cmd is not None, "moto[server] is a dev dependency: pip install -e '.[dev]'"
    log = tmp_path_factory.mktemp("moto") / "server.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [server_cmd, "-H", "127.0.0.1", "-p", str(port)], stdout=out, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{url}/moto-api/", timeout=2).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto_server did not start:\n{log.read_text()}") from None
                time.sleep(0.05)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def s3_bucket(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh bucket on the local S3 server; s3fs finds the server through the environment."""
    import uuid

    import boto3

    for name, value in S3_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    name = f"ll-{uuid.uuid4().hex[:12]}"
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    client.create_bucket(Bucket=name)
    yield name
    with contextlib.suppress(Exception):
        import s3fs

        s3fs.S3FileSystem.clear_instance_cache()
