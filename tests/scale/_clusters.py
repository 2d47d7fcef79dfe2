"""The scale tests' Dask cluster, kept healthy from one test to the next."""

from __future__ import annotations

import time
from typing import Any

import pytest

WORKERS = 2


def _running(cluster: Any, n: int, seconds: float) -> bool:
    """Whether ``cluster`` has ``n`` workers within ``seconds``, asked of its scheduler.

    Not ``cluster.wait_for_workers``: it replaces the cluster's own view of its workers, which
    the cluster's watcher of worker events keeps, and the watcher then fails on the removal of
    a worker that the new view never had (a KeyError when the cluster closes).
    """
    from distributed import Client

    deadline = time.monotonic() + seconds
    with Client(cluster.scheduler_address, set_as_default=False) as client:
        while len(client.nthreads()) != n:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
    return True


def healthy(cluster: Any, patience: float = 30.0) -> Any:
    """``cluster`` with its two workers running, replaced if an earlier test lost them for good.

    A worker killed for a ``@timeout`` is restarted by its nanny; a nanny that gave up (on a
    loaded machine its restart can time out) leaves the cluster short, and no later test may
    inherit that.
    """
    if _running(cluster, WORKERS, patience):  # a nanny may be restarting one
        return cluster
    cluster.scale(0)
    _running(cluster, 0, 60)
    # and until every old nanny has closed: one still restarting its worker would register it
    # (counted among the new ones) and then, closing, take it away in the middle of the test
    deadline = time.monotonic() + 60
    while cluster.workers and time.monotonic() < deadline:
        time.sleep(0.05)
    cluster.scale(WORKERS)
    if not _running(cluster, WORKERS, 120):
        pytest.fail(f"the Dask cluster could not be given {WORKERS} workers again: {cluster}")
    return cluster


def use_dask(cluster: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Send the flows of this test to ``cluster`` (healthy), chosen by environment as a user would."""
    monkeypatch.setenv("LIMELIGHT_EXECUTOR", "dask")
    monkeypatch.setenv("LIMELIGHT_CLUSTER_ADDRESS", healthy(cluster).scheduler_address)
