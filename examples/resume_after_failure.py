"""A flow that fails half-way, and a resume that reuses everything before the failure.

    LIMELIGHT_EXAMPLE_FAIL=1 limelight run examples/resume_after_failure.py   # 'evaluate' fails
    limelight resume examples/resume_after_failure.py                        # reuses prepare, train

The resumed run re-runs only ``evaluate`` and ``end``; ``prepare`` and ``train`` are taken from
the failed run by reference (their artifacts are not copied).
"""

import os
import time

import numpy as np

from limelight.flows import Flow, current, step


class FlakyTraining(Flow):
    @step
    def start(self):
        self.next(self.prepare)

    @step
    def prepare(self):
        rng = np.random.default_rng(0)
        self.features = rng.normal(size=(1000, 8))
        self.target = self.features @ np.arange(8.0)
        self.next(self.train)

    @step
    def train(self):
        time.sleep(0.5)  # pretend this is the expensive part
        self.weights = np.linalg.lstsq(self.features, self.target, rcond=None)[0]
        self.next(self.evaluate)

    @step
    def evaluate(self):
        if os.environ.get("LIMELIGHT_EXAMPLE_FAIL") == "1":
            raise RuntimeError("evaluation data is not ready (unset LIMELIGHT_EXAMPLE_FAIL)")
        self.error = float(np.abs(self.weights - np.arange(8.0)).max())
        print(
            f"run {current.run_id} (resumed from {current.origin_run_id}): error {self.error:.2e}"
        )
        self.next(self.end)

    @step
    def end(self):
        pass
