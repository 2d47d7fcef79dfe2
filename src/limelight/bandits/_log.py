"""Logged bandit feedback: what a behaviour policy chose, with which propensity, and the reward."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

from limelight.core.errors import InvalidInputError

__all__ = ["BanditLog"]

USAGES = ("production", "research-only", "unknown")


def _as_1d(name: str, values: ArrayLike, n: int | None, dtype: type) -> NDArray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise InvalidInputError(f"{name} must be a 1-d array, got shape {arr.shape}")
    if n is not None and arr.shape[0] != n:
        raise InvalidInputError(
            f"{name} has {arr.shape[0]} rows but action has {n}: every column of a log needs "
            "one value per logged round"
        )
    if dtype is np.int64:
        whole = np.issubdtype(arr.dtype, np.integer) or (
            np.all(np.isfinite(arr)) and np.all(arr == np.round(arr))
        )
        if arr.size and not whole:
            raise InvalidInputError(f"{name} must hold whole numbers (indices)")
        return arr.astype(np.int64)
    out = arr.astype(np.float64)
    if not np.all(np.isfinite(out)):
        bad = int(np.flatnonzero(~np.isfinite(out))[0])
        raise InvalidInputError(
            f"{name} has a missing or infinite value at row {bad}: drop those rows or fill them"
        )
    return out


@dataclass(frozen=True)
class BanditLog:
    """Rounds logged by a behaviour policy: context, action, position, reward and propensity.

    ``pscore`` is the probability with which the behaviour policy chose the logged action (at the
    logged position); it must lie in (0, 1]. ``n_actions`` is the size of the behaviour policy's
    action set and ``len_list`` the number of positions of a slate (1 for a single choice).
    ``licence`` and ``usage`` record the data's terms so the registry can refuse to promote a
    policy learned from research-only data.
    """

    context: NDArray[np.float64]
    action: NDArray[np.int64]
    reward: NDArray[np.float64]
    pscore: NDArray[np.float64]
    n_actions: int
    position: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    len_list: int = 1
    action_context: NDArray[np.float64] | None = None
    licence: str = "unknown"
    usage: str = "unknown"
    source: str = ""

    def __post_init__(self) -> None:
        action = _as_1d("action", self.action, None, np.int64)
        n = action.shape[0]
        if n == 0:
            raise InvalidInputError("a bandit log needs at least one round; got an empty action")
        if int(self.n_actions) < 1:
            raise InvalidInputError(f"n_actions must be at least 1, got {self.n_actions}")
        n_actions = int(self.n_actions)
        if action.min() < 0 or action.max() >= n_actions:
            bad = int(action[(action < 0) | (action >= n_actions)][0])
            raise InvalidInputError(
                f"logged action {bad} is outside the action set 0..{n_actions - 1}: "
                "pass n_actions equal to the behaviour policy's number of actions"
            )
        context = np.asarray(self.context, dtype=np.float64)
        if context.ndim == 1:
            context = context.reshape(-1, 1)
        if context.ndim != 2 or context.shape[0] != n:
            raise InvalidInputError(
                f"context must have shape (n_rounds, n_features) = ({n}, d), got {context.shape}"
            )
        if not np.all(np.isfinite(context)):
            raise InvalidInputError("context has missing or infinite values: fill or drop them")
        reward = _as_1d("reward", self.reward, n, np.float64)
        pscore_raw = np.asarray(self.pscore, dtype=np.float64)
        if pscore_raw.ndim != 1 or pscore_raw.shape[0] != n:
            raise InvalidInputError(f"pscore must be a 1-d array of {n} propensities")
        bad_p = ~np.isfinite(pscore_raw) | (pscore_raw <= 0.0) | (pscore_raw > 1.0)
        if bad_p.any():
            i = int(np.flatnonzero(bad_p)[0])
            raise InvalidInputError(
                f"pscore[{i}] = {pscore_raw[i]!r}: propensities must be in (0, 1]. A zero or "
                "missing propensity makes importance weights infinite; drop those rows, or if "
                "the behaviour policy really could choose the action, floor them explicitly "
                "(np.clip(pscore, floor, 1)) and accept the bias"
            )
        len_list = int(self.len_list)
        if len_list < 1:
            raise InvalidInputError(f"len_list must be at least 1, got {self.len_list}")
        position_in = np.asarray(self.position)
        if position_in.size == 0:
            position = np.zeros(n, dtype=np.int64)
        else:
            position = _as_1d("position", position_in, n, np.int64)
            if position.min() < 0 or position.max() >= len_list:
                raise InvalidInputError(
                    f"positions must lie in 0..{len_list - 1} (len_list={len_list}); "
                    f"got {int(position.min())}..{int(position.max())}"
                )
        action_context = self.action_context
        if action_context is not None:
            action_context = np.asarray(action_context, dtype=np.float64)
            if action_context.ndim != 2 or action_context.shape[0] != n_actions:
                raise InvalidInputError(
                    f"action_context must have one row per action ({n_actions}), "
                    f"got shape {action_context.shape}"
                )
        if self.usage not in USAGES:
            raise InvalidInputError(f"usage must be one of {USAGES}, got {self.usage!r}")
        for name, value in (
            ("context", context),
            ("action", action),
            ("reward", reward),
            ("pscore", pscore_raw),
            ("position", position),
            ("action_context", action_context),
            ("n_actions", n_actions),
            ("len_list", len_list),
        ):
            object.__setattr__(self, name, value)

    @property
    def n_rounds(self) -> int:
        """The number of logged rounds."""
        return int(self.action.shape[0])

    @property
    def n_features(self) -> int:
        """The number of context features."""
        return int(self.context.shape[1])

    def subset(self, rows: ArrayLike) -> BanditLog:
        """The log restricted to ``rows`` (indices or a boolean mask), same terms and action set."""
        idx = np.asarray(rows)
        return BanditLog(
            context=self.context[idx],
            action=self.action[idx],
            reward=self.reward[idx],
            pscore=self.pscore[idx],
            n_actions=self.n_actions,
            position=self.position[idx],
            len_list=self.len_list,
            action_context=self.action_context,
            licence=self.licence,
            usage=self.usage,
            source=self.source,
        )
