"""``limelight demo``: until the end-to-end demo lands, a walk through the storage layer."""

from __future__ import annotations

import time

import click
import numpy as np
import sqlalchemy as sa

from limelight.cli._main import cli
from limelight.core.config import resolve_config
from limelight.store import open_store
from limelight.store.metadata import inserted_id
from limelight.store.schema import metrics, runs


@cli.command()
@click.option("--seed", default=0, show_default=True, help="Seed of the generated data.")
def demo(seed: int) -> None:
    """Store an array and some metrics, read them back, and say where they went."""
    config = resolve_config()
    store = open_store(config)
    click.echo(f"home: {config.home}")
    weights = np.random.default_rng(seed).random((2_000, 64), dtype=np.float32)
    started = time.perf_counter()
    ref = store.artifacts.save(weights)
    loaded = store.artifacts.load(ref)
    click.echo(
        f"stored a {weights.nbytes / 1e6:.1f} MB array as blob {ref.key[:12]} and loaded it back "
        f"memory-mapped ({type(loaded).__name__}) in {time.perf_counter() - started:.3f} s"
    )

    def record(conn: sa.Connection) -> int:
        run_id = inserted_id(
            conn.execute(
                runs.insert().values(
                    flow="StorageDemo",
                    kind="notebook",
                    status="succeeded",
                    created_at=time.time(),
                    finished_at=time.time(),
                )
            )
        )
        conn.execute(
            metrics.insert(),
            [
                {
                    "run_id": run_id,
                    "name": "loss",
                    "step": i,
                    "value": 1 / (i + 1),
                    "timestamp": time.time(),
                }
                for i in range(100)
            ],
        )
        return run_id

    run_id = store.metadata.transaction(record)
    with store.metadata.connect() as conn:
        count = conn.execute(
            sa.select(sa.func.count()).select_from(metrics).where(metrics.c.run_id == run_id)
        ).scalar()
    click.echo(f"recorded run StorageDemo/{run_id} with {count} metric values in {config.db}")
    click.echo("The end-to-end demo (develop, deploy, improve) replaces this walk-through.")
