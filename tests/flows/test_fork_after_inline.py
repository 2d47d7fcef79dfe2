"""A local-executor run in a process that already ran a flow inline (as a scheduler does)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

FLOW = '''
import numpy as np

from limelight import Flow, step


class Big(Flow):
    """Saves an artifact large enough for the content hash to run on several threads."""

    @step
    def start(self):
        self.parts = [0, 1]
        self.next(self.each, foreach="parts")

    @step
    def each(self):
        self.array = np.full(4_000_000, float(self.input))
        self.next(self.join)

    @step
    def join(self, inputs):
        self.total = float(sum(i.array.sum() for i in inputs))
        self.next(self.end)

    @step
    def end(self):
        pass
'''


def test_a_local_run_after_an_inline_run_in_one_process_finishes(tmp_path: Path) -> None:
    (tmp_path / "bigflow.py").write_text(FLOW)
    script = textwrap.dedent(
        """
        import sys

        sys.path.insert(0, ".")
        from bigflow import Big

        first = Big.run(executor="inline")
        second = Big.run(executor="local")
        print(first.data.total, second.data.total)
        """
    )
    env = {**os.environ, "LIMELIGHT_HOME": str(tmp_path / "home")}
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=150,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["4000000.0", "4000000.0"]
