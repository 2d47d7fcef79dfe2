"""PostgreSQL as the metadata store of a team: many processes write at once and lose nothing.

Eight processes start together (a barrier), and each logs metrics in a tracked run and registers
versions of one shared model and of a model of its own. The database runs them at the default
isolation and at SERIALIZABLE, where it asks for retries (SQLSTATE 40001): none may reach the
user, and every metric and every version must be there once.
"""

from __future__ import annotations

import multiprocessing as mp
import traceback
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from limelight.core.config import resolve_config

pytestmark = pytest.mark.postgres

PROCESSES = 8
VERSIONS = 4  # of the shared model, per process
METRICS = 200  # per process


def _writer(index: int, db: str, home: str, barrier: Any, results: Any) -> None:
    try:
        import limelight.store.metadata as metadata_module
        from limelight.registry import Registry
        from limelight.tracking import start_run

        asked = []
        plain = metadata_module._is_retryable

        def counting(exc: Any) -> bool:
            retry = plain(exc)
            asked.append(retry)
            return retry

        metadata_module._is_retryable = counting  # count the retries the database asked for
        config = resolve_config(home=home, db=db, environ={})
        registry = Registry(config)
        registry.store.metadata.schema_revision()  # connect (and migrate) before the start line
        barrier.wait(60)
        with start_run("concurrency", params={"writer": index}, config=config) as run:
            for step in range(METRICS):
                run.log_metric("loss", 1.0 / (step + 1), step=step)
                if step % 50 == 0:
                    run.flush()  # several metric transactions per run, interleaved
            for k in range(VERSIONS):
                registry.register("shared", [index, k], metrics={"writer": index, "k": k})
            registry.register(f"own-{index}", {"writer": index})
        results.put((index, sum(asked), None))
    except BaseException:
        results.put((index, None, traceback.format_exc()))


def _url(base: str, isolation: str | None) -> str:
    if isolation is None:
        return base
    return base + f"%20-cdefault_transaction_isolation%3D{isolation}"


@pytest.mark.parametrize("isolation", [None, "serializable"], ids=["default", "serializable"])
def test_eight_processes_write_metrics_and_register_models_at_once(
    postgres_url: str, tmp_path: Path, isolation: str | None
) -> None:
    from limelight.registry import Registry
    from limelight.store.schema import metrics, runs

    db = _url(postgres_url, isolation)
    config = resolve_config(home=tmp_path / "home", db=db, environ={})
    Registry(config).store.metadata.schema_revision()  # the schema exists before the race
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(PROCESSES), ctx.Queue()
    workers = [
        ctx.Process(target=_writer, args=(i, db, str(tmp_path / "home"), barrier, results))
        for i in range(PROCESSES)
    ]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=240) for _ in workers]
    for worker in workers:
        worker.join(30)
    errors = [error for _, _, error in outcomes if error]
    assert not errors, errors[0]
    if isolation == "serializable":  # the database did ask (typically some 50 times here)
        assert sum(n for _, n, _ in outcomes) > 0
    assert all(w.exitcode == 0 for w in workers)

    registry = Registry(config)
    shared = registry.versions("shared")
    assert sorted(v.version for v in shared) == list(range(1, PROCESSES * VERSIONS + 1))
    written = sorted((int(v.metrics["writer"]), int(v.metrics["k"])) for v in shared)
    assert written == [(i, k) for i in range(PROCESSES) for k in range(VERSIONS)]
    for i in range(PROCESSES):
        assert [v.version for v in registry.versions(f"own-{i}")] == [1]
    with registry.store.metadata.connect() as conn:
        counts = dict(
            conn.execute(
                sa.select(metrics.c.run_id, sa.func.count())
                .where(metrics.c.name == "loss")
                .group_by(metrics.c.run_id)
            ).all()
        )
        statuses = conn.execute(sa.select(runs.c.status).where(runs.c.flow == "concurrency"))
        assert sorted(s for (s,) in statuses) == ["succeeded"] * PROCESSES
    assert sorted(counts.values()) == [METRICS] * PROCESSES
    registry.store.dispose()
