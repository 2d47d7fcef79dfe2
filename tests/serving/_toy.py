"""A tiny model with ``predict`` that the serving tests register (saved through its state)."""

from __future__ import annotations

from typing import Any

import numpy as np


class Linear:
    """``X @ weights + bias``: known answers for the predict endpoint."""

    def __init__(self, weights: np.ndarray, bias: float = 0.0) -> None:
        self.weights = np.asarray(weights, dtype=np.float64)
        self.bias = float(bias)

    def predict(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != len(self.weights):
            raise ValueError(f"expected {len(self.weights)} features, got shape {X.shape}")
        return X @ self.weights + self.bias

    def get_state(self) -> dict[str, Any]:
        return {"weights": self.weights, "bias": self.bias}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Linear:
        return cls(state["weights"], state["bias"])
