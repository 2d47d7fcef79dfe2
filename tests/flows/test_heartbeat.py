"""A running run's heartbeat is written while a long step runs in the scheduler's process."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from limelight.flows import Flow, current, step
from limelight.store import open_store
from limelight.store.schema import runs


class SlowInline(Flow):
    @step
    def start(self):
        time.sleep(1.5)  # far longer than the heartbeat interval the test sets
        with open_store().metadata.connect() as conn:
            beat = conn.execute(
                sa.select(runs.c.heartbeat_at).where(runs.c.id == current.run_id)
            ).scalar_one()
        self.age = time.time() - beat
        self.next(self.end)

    @step
    def end(self):
        pass


def test_an_inline_step_does_not_stop_the_heartbeat(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("limelight.flows._records.HEARTBEAT_SECONDS", 0.2)
    run = SlowInline.run(executor="inline")
    # written at creation only, the heartbeat would be 1.5 s old by the end of the step
    assert run.data.age < 1.0
