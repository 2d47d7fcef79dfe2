"""Artifacts of every serializer pass between steps, and reading them back through the client."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import scipy.sparse as sp

from limelight.core.errors import InvalidInputError, NotFoundError
from limelight.flows import Flow, Run, step
from limelight.flows import Flow as FlowBase


class Scaler:
    """A tiny model with get_state/from_state."""

    def __init__(self, weights: np.ndarray, name: str) -> None:
        self.weights, self.name = weights, name

    def get_state(self) -> dict[str, Any]:
        return {"weights": self.weights, "name": self.name}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Scaler:
        return cls(state["weights"], state["name"])


class Opaque:
    """Only picklable."""

    def __init__(self, value: complex) -> None:
        self.value = value


STRUCTURED = np.array(
    [(1, 2.5, b"ab"), (2, -1.0, b"cd")], dtype=[("id", "i4"), ("x", "f8"), ("s", "S2")]
)


class EveryKind(Flow):
    @step
    def start(self):
        self.js = {"a": [1, 2.5, None, "x"], "b": True}
        self.arr = np.arange(12, dtype=np.float32).reshape(3, 4)
        self.rec = STRUCTURED.copy()
        self.mat = sp.csr_matrix(np.eye(4) * 3)
        self.table = pa.table({"u": [1, 2, 3], "v": ["a", "b", "c"]})
        self.frame = pd.DataFrame({"x": [1.0, 2.0], "y": ["p", "q"]})
        self.model = Scaler(np.array([0.5, 2.0]), "s")
        self.thing = Opaque(1 + 2j)
        self.next(self.use)

    @step
    def use(self):
        self.checks = {
            "js": self.js == {"a": [1, 2.5, None, "x"], "b": True},
            "arr": bool((self.arr == np.arange(12, dtype=np.float32).reshape(3, 4)).all()),
            "rec": self.rec.dtype == STRUCTURED.dtype and bool((self.rec == STRUCTURED).all()),
            "mat": sp.issparse(self.mat) and float(self.mat.sum()) == 12.0,
            "table": self.table.column("v").to_pylist() == ["a", "b", "c"],
            "frame": self.frame["y"].tolist() == ["p", "q"],
            "model": isinstance(self.model, Scaler) and self.model.weights.tolist() == [0.5, 2.0],
            "thing": isinstance(self.thing, Opaque) and self.thing.value == 1 + 2j,
        }
        self.doubled = self.arr * 2  # a new artifact made from a loaded one
        self.next(self.end)

    @step
    def end(self):
        pass


def test_every_serializer_passes_between_steps(home: Path) -> None:
    run = EveryKind.run()
    checks = run["use"].task.data.checks
    assert checks == dict.fromkeys(checks, True)
    assert set(checks) == {"js", "arr", "rec", "mat", "table", "frame", "model", "thing"}
    start = run["start"].task
    kinds = {name: ref.serializer for name, ref in start.artifacts.items()}
    assert kinds == {
        "js": "json",
        "arr": "npy",
        "rec": "npy",
        "mat": "sparse",
        "table": "arrow",
        "frame": "pandas",
        "model": "state",
        "thing": "pickle",
    }
    # unchanged artifacts are carried by reference: the same blob, not a copy
    use = run["use"].task
    for name in kinds:
        assert use.artifacts[name].key == start.artifacts[name].key
    assert (run.data.doubled == np.arange(12).reshape(3, 4) * 2).all()
    assert run.data.frame.equals(pd.DataFrame({"x": [1.0, 2.0], "y": ["p", "q"]}))


def test_client_reads_runs_lazily(home: Path) -> None:
    first = EveryKind.run()
    second = EveryKind.run(tags=["nightly", "v2"])
    runs = FlowBase("EveryKind").runs()
    assert [r.id for r in runs] == [second.id, first.id]
    assert FlowBase("EveryKind").latest_run.id == second.id
    assert FlowBase("EveryKind").latest_successful_run.id == second.id
    assert FlowBase("Nobody").latest_run is None
    again = Run(f"EveryKind/{second.id}")
    assert again.tags == {"nightly", "v2"}
    assert again.status == "succeeded" and again.finished
    assert "use" in again and "nope" not in again
    task = again["use"].task
    assert "checks" in task.data and "checks" in dir(task.data)
    assert task.duration is not None and task.duration >= 0
    with pytest.raises(AttributeError, match="has no artifact 'nope'"):
        _ = task.data.nope
    with pytest.raises(NotFoundError, match="has no step 'nope'"):
        again["nope"]
    with pytest.raises(NotFoundError, match="no run EveryKind/999"):
        Run("EveryKind/999")
    with pytest.raises(InvalidInputError, match="not a path like FLOW/RUN"):
        Run("EveryKind")
    with pytest.raises(InvalidInputError, match="run id must be a number"):
        Run("EveryKind/latest")
    with pytest.raises(TypeError, match="subclass Flow"):
        FlowBase()
