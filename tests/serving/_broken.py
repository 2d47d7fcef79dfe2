"""Recommenders that keep or break the recommend contract on purpose (saved as pickles).

Each ranks a catalogue of six titles 0..5 in that order (scores 0, -1, ..., -5) and knows
users u0, u1, u2 (``user_ids_``), unless its ``mode`` says otherwise.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

N_ITEMS = 6
MODES = (
    "good",  # keeps the contract; states no catalogue size
    "single_2d",  # one user answered as shape (1, k): the easy mistake
    "short_scores",  # one score fewer than item ids
    "nan",  # a NaN score
    "inf",  # a +inf score
    "float_ids",  # item ids as floats
    "too_many",  # k + 1 titles
    "raises",  # raises on every call
    "slow",  # takes 5 s
    "bad_rows",  # a batch answered with one row too few
    "no_pair",  # answers a dict
    "bad_users",  # breaks only for users named "bad...": raises on a batch, 2-D for one
    "str_users",  # raises TypeError on a string user id
)


class Ranker:
    """Ranks titles 0..5 for anyone; ``mode`` chooses how it breaks the contract."""

    def __init__(self, mode: str = "good", *, knows_users: bool = True) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}")
        self.mode = mode
        if knows_users:
            self.user_ids_ = np.array(["u0", "u1", "u2"])

    def _row(self, user: Any, k: int) -> tuple[np.ndarray, np.ndarray]:
        if self.mode == "str_users" and isinstance(user, str):
            raise TypeError(f"user ids must be integers, got {user!r}")
        scores = -np.arange(N_ITEMS, dtype=np.float64)
        top = np.argpartition(-scores, k - 1)[:k]  # kth out of bounds beyond the catalogue
        top = top[np.argsort(-scores[top])]
        items, values = top, scores[top]
        if self.mode == "short_scores":
            values = values[:-1]
        elif self.mode == "nan":
            values = np.where(np.arange(len(values)) == 1, np.nan, values)
        elif self.mode == "inf":
            values = np.where(np.arange(len(values)) == 0, np.inf, values)
        elif self.mode == "float_ids":
            items = items.astype(np.float64)
        elif self.mode == "too_many":
            items, values = np.append(items, 5), np.append(values, -9.0)
        return items, values

    def recommend(self, user_ids: Any, k: int = 10, *, exclude_seen: bool = True) -> Any:
        if self.mode == "raises":
            raise RuntimeError("this model always fails")
        if self.mode == "slow":
            time.sleep(5)
        if self.mode == "no_pair":
            return {"items": [0]}
        single = np.ndim(user_ids) == 0
        users = [user_ids] if single else list(np.asarray(user_ids).tolist())
        bad = self.mode == "bad_users" and any(str(u).startswith("bad") for u in users)
        if bad and not single:
            raise ValueError("a bad user in the batch")
        rows = [self._row(u, k) for u in users]
        items, scores = np.array([r[0] for r in rows]), np.array([r[1] for r in rows])
        if single and self.mode != "single_2d" and not bad:
            return items[0], scores[0]
        if self.mode == "bad_rows":
            return items[1:], scores[1:]
        return items, scores


class FailingPredictor:
    """A ``predict`` model that fails with an error other than a refusal of its input."""

    def predict(self, X: Any) -> Any:
        raise RuntimeError("secret customer data in a message")


class FailingPolicy:
    """An artwork policy whose ``choose`` always fails."""

    def choose(self, context: Any, candidates: Any) -> tuple[int, float]:
        raise KeyError("no artwork")
