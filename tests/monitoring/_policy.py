"""A contextual artwork policy that names its context features (saved as a pickle; tests only)."""

from __future__ import annotations

from typing import Any

import numpy as np


class NamedContextPolicy:
    """Shows artwork 0 or 1 by the sign of the first feature; names its features."""

    contextual = True

    def __init__(self, feature_names: list[str]) -> None:
        self.feature_names = list(feature_names)
        self.n_features = len(feature_names)

    def choose(self, context: Any, candidates: Any = None) -> tuple[int, float]:
        x = np.asarray(context, dtype=np.float64)
        return (0 if x[0] < 0 else 1), 0.9
