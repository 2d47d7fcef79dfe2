"""The scale tests' Dask cluster, kept healthy from one test to the next."""

from __future__ import annotations

import time
from typing import Any

import pytest

WORKERS = 2


def healthy(cluster: Any, patience: float = 30.0) -> Any:
    """``cluster`` with its two workers running, replaced if an earlier test lost them for good.

    A worker killed for a ``@timeout`` is restarted by its nanny; a nanny that gave up (on a
    loaded machine its restart can time out) leaves the cluster short, and no later test may
    inherit that.
    """
    from distributed import TimeoutError as DaskTimeout

    try:
        cluster.wait_for_workers(WORKERS, timeout=patience)  # a nanny may be restarting one
        return cluster
    except DaskTimeout:
        pass
    cluster.scale(0)
    deadline = time.monotonic() + 60
    while cluster.workers and time.monotonic() < deadline:
        time.sleep(0.1)
    cluster.scale(WORKERS)
    cluster.wait_for_workers(WORKERS, timeout=120)
    return cluster


def use_dask(cluster: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Send the flows of this test to ``cluster`` (healthy), chosen by environment as a user would."""
    monkeypatch.setenv("LIMELIGHT_EXECUTOR", "dask")
    monkeypatch.setenv("LIMELIGHT_CLUSTER_ADDRESS", healthy(cluster).scheduler_address)
