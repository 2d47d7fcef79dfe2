"""Starting the run of one claimed firing, exactly once (``python -m limelight.scheduling._runner ID``).

The runner takes the firing from ``claimed`` to ``starting`` with a compare-and-set, so however
many schedulers hand it out after crashes, one runner proceeds. The run's row and the firing's
``run_id`` are written in one transaction (``launch(on_created=...)``): a firing with a run
started never starts another, and a firing without one is started again by a scheduler's
recovery pass once its runner is gone.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from limelight.core.config import Config, resolve_config
from limelight.core.errors import LimelightError
from limelight.scheduling._deploy import Deployment
from limelight.store import open_store
from limelight.store.schema import deployments, firings

__all__ = ["run_firing", "runner_id"]


def runner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _finish(config: Config, firing_id: int, status: str, error: str | None) -> None:
    def work(conn: Connection) -> None:
        conn.execute(
            firings.update()
            .where(firings.c.id == firing_id)
            .values(status=status, error=error, finished_at=time.time())
        )

    open_store(config).metadata.transaction(work)


def _take(config: Config, firing_id: int) -> bool:
    def work(conn: Connection) -> bool:
        taken = conn.execute(
            firings.update()
            .where(firings.c.id == firing_id, firings.c.status == "claimed")
            .values(status="starting", runner=runner_id(), started_at=time.time())
        )
        return bool(taken.rowcount)

    return open_store(config).metadata.transaction(work)


def _materialize(config: Config, deployment: Deployment) -> Path:
    """The deployed code package as files, the flow's own among them: one folder per code
    version, written whole into a temporary folder and renamed into place (a reader sees all of
    it or none; two runners writing it at once keep the first)."""
    folder = config.home / "deployments" / deployment.code_hash[:16]
    path = folder / deployment.file_name
    if not path.exists():
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = folder.parent / f".{folder.name}.{os.getpid()}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        for name, text in deployment.files(open_store(config)).items():
            target = tmp / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        try:
            os.rename(tmp, folder)
        except OSError:  # another runner put it there first (or an old single-file snapshot)
            shutil.rmtree(tmp, ignore_errors=True)
            if not path.exists():
                raise
    return path


def _tags(deployment: Deployment, firing: Any) -> list[str]:
    fired_by = (
        f"tick:{int(firing.tick)}" if firing.reason == "schedule" else f"event:{firing.event_id}"
    )
    tags = [f"deployment:{deployment.name}", f"firing:{firing.id}", f"fired-by:{fired_by}"]
    if deployment.branch:
        tags.append(f"branch:{deployment.branch}")
    return tags


def run_firing(firing_id: int, config: Config | None = None) -> str:
    """Start (and run to its end) the run of firing ``firing_id``; its final status.

    ``taken`` when another runner has it. Errors are recorded on the firing, naming the
    deployment; they are not raised.
    """
    from limelight.flows._launch import launch
    from limelight.flows._loading import load_flow_class

    config = config or resolve_config()
    if not _take(config, firing_id):
        return "taken"
    with open_store(config).metadata.connect() as conn:
        firing = conn.execute(sa.select(firings).where(firings.c.id == firing_id)).one()
        row = conn.execute(
            sa.select(deployments).where(deployments.c.id == firing.deployment_id)
        ).one()
    deployment = Deployment.from_row(row)
    try:
        flow_class = load_flow_class(_materialize(config, deployment), deployment.flow)
    except Exception as exc:
        last = traceback.format_exception_only(exc)[-1].strip()
        _finish(
            config,
            firing_id,
            "failed",
            f"deployment {deployment.name}: its code does not import: {last}",
        )
        return "failed"

    def record(conn: Connection, run_id: int) -> None:
        conn.execute(
            firings.update()
            .where(firings.c.id == firing_id)
            .values(run_id=run_id, status="running")
        )

    try:
        launch(
            flow_class,
            params=dict(firing.params or {}),
            max_workers=None,
            tags=_tags(deployment, firing),
            executor=None,
            config=config,
            progress=False,
            on_created=record,
        )
    except LimelightError as exc:
        from limelight.flows._launch import FlowFailed

        status = "failed"
        error = str(exc) if isinstance(exc, FlowFailed) else f"deployment {deployment.name}: {exc}"
        _finish(config, firing_id, status, error)
        return status
    except Exception:
        _finish(
            config, firing_id, "failed", f"deployment {deployment.name}: {traceback.format_exc()}"
        )
        return "failed"
    _finish(config, firing_id, "succeeded", None)
    return "succeeded"


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not argv[0].isdigit():
        print("usage: python -m limelight.scheduling._runner FIRING_ID", file=sys.stderr)
        return 2
    status = run_firing(int(argv[0]))
    return 0 if status in ("succeeded", "taken") else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
