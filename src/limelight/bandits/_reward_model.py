"""A reward model for the direct method and doubly robust: ridge regression per action."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from limelight.bandits._linear import RewardModelPolicy
from limelight.bandits._log import BanditLog
from limelight.core.errors import InvalidInputError

__all__ = ["estimate_rewards"]


def _features(
    context: NDArray[np.float64], position: int | NDArray[np.int64], len_list: int
) -> NDArray[np.float64]:
    n = context.shape[0]
    onehot = np.zeros((n, len_list - 1))
    if len_list > 1:
        pos = np.broadcast_to(position, (n,))
        rows = np.flatnonzero(pos > 0)
        onehot[rows, pos[rows] - 1] = 1.0
    return np.hstack([context, onehot, np.ones((n, 1))])


def estimate_rewards(
    log: BanditLog, *, l2: float = 1.0, n_folds: int = 1, random_state: int | None = None
) -> NDArray[np.float64]:
    """Predicted reward of every action at every position for every logged round.

    Shape (n_rounds, n_actions, len_list). One ridge model per action on the context, a
    position indicator and an intercept. With ``n_folds > 1`` each round is predicted by a
    model that did not see it (cross-fitting), as doubly robust estimators prefer.
    """
    if not isinstance(log, BanditLog):
        raise InvalidInputError(f"expected a BanditLog, got {type(log).__name__}")
    if int(n_folds) != n_folds or not 1 <= n_folds <= log.n_rounds:
        raise InvalidInputError(f"n_folds must be a whole number in 1..n_rounds, got {n_folds!r}")
    n, k, length = log.n_rounds, log.n_actions, log.len_list
    x = _features(log.context, log.position, length)
    folds = np.zeros(n, dtype=np.int64)
    if n_folds > 1:
        folds = np.random.default_rng(random_state).permutation(n) % n_folds
    out = np.empty((n, k, length))
    for fold in range(int(n_folds)):
        test = folds == fold
        train = ~test if n_folds > 1 else test
        model = RewardModelPolicy(n_actions=k, n_features=x.shape[1], l2=l2)
        model.update_many(x[train], log.action[train], log.reward[train])
        for pos in range(length):
            out[test, :, pos] = model.predict_rewards(_features(log.context[test], pos, length))
    return out
