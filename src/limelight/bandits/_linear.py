"""Contextual policies on a ridge regression per action: LinUCB, linear Thompson sampling, and a
softmax/greedy policy on the learned reward model (off-policy learning from logs)."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from numpy.typing import NDArray

from limelight.bandits._base import (
    Policy,
    greedy_probabilities,
    sampled_argmax_probabilities,
    uniform_probabilities,
)

__all__ = ["LinUCB", "LinearThompsonSampling", "RewardModelPolicy"]


class _RidgePolicy(Policy):
    """Shared sufficient statistics: per action, A = l2 I + sum x x^T and b = sum r x."""

    contextual = True
    _state_arrays = ("A_", "b_")

    n_features: int
    l2: float

    def _init_state(self) -> None:
        k, d = self.n_actions, self.n_features
        self.A_ = np.tile(np.eye(d) * self.l2, (k, 1, 1))
        self.b_ = np.zeros((k, d))
        self._after_load()

    def _after_load(self) -> None:
        # theta_ and A_inv_ are views into one (K + K d, d) matrix, so a single decision needs
        # one matrix-vector product for every arm's mean and A^-1 x.
        k, d = self.n_actions, self.n_features
        self._stacked = np.empty((k + k * d, d))
        self.theta_ = self._stacked[:k]
        self.A_inv_ = self._stacked[k:].reshape(k, d, d)
        self.A_inv_[:] = np.linalg.inv(self.A_)
        self.theta_[:] = np.einsum("kde,ke->kd", self.A_inv_, self.b_)

    def _learn_one(self, x: NDArray[np.float64], k: int, r: float) -> None:
        """Sherman-Morrison: O(d^2) per update."""
        xi = x[0]
        a_inv = self.A_inv_[k]
        u = a_inv @ xi
        a_inv -= np.outer(u, u / (1.0 + xi @ u))
        self.A_[k] += np.outer(xi, xi)
        b = self.b_[k]
        b += r * xi
        self.theta_[k] = a_inv @ b

    def _learn(
        self,
        x: NDArray[np.float64],
        a: NDArray[np.int64],
        r: NDArray[np.float64],
    ) -> None:
        if a.size == 1:
            self._learn_one(x, int(a[0]), float(r[0]))
            return
        order = np.argsort(a, kind="stable")
        arms, starts = np.unique(a[order], return_index=True)
        for arm, rows in zip(arms, np.split(order, starts[1:]), strict=True):
            xk = x[rows]
            self.A_[arm] += xk.T @ xk
            self.b_[arm] += xk.T @ r[rows]
        self.A_inv_[arms] = np.linalg.inv(self.A_[arms])
        self.theta_[arms] = np.einsum("kde,ke->kd", self.A_inv_[arms], self.b_[arms])

    def predict_rewards(self, contexts: NDArray[np.float64]) -> NDArray[np.float64]:
        """The reward model's prediction for every action: shape (n_rounds, n_actions)."""
        self._ensure_state()
        x = self._contexts(contexts, single=False)
        return x @ self.theta_.T

    def _mean_var(self, x: NDArray[np.float64]) -> tuple[NDArray, NDArray]:
        """Predicted reward and its variance factor x^T A^-1 x, per round and action."""
        mean = x @ self.theta_.T
        if x.shape[0] == 1:
            var = (self.A_inv_ @ x[0]) @ x[0]
            return mean, np.maximum(var, 0.0)[None, :]
        var = np.empty_like(mean)
        for start in range(0, x.shape[0], 512):  # chunks keep the (K, n, d) product in cache
            xs = x[start : start + 512]
            var[start : start + 512] = np.einsum("knd,nd->nk", xs @ self.A_inv_, xs)
        return mean, np.maximum(var, 0.0)


class LinUCB(_RidgePolicy):
    """Disjoint LinUCB (Li et al. 2010): the action with the highest upper confidence bound
    ``x.theta_a + alpha * sqrt(x^T A_a^-1 x)``; ties split evenly, so propensities are exact."""

    _constraints: ClassVar = {
        "n_actions": ("int", 1, None),
        "n_features": ("int", 1, None),
        "alpha": ("float", 0.0, None),
        "l2": ("float", 1e-12, None),
        "random_state": ("seed", None, None),
    }

    def __init__(
        self,
        *,
        n_actions: int,
        n_features: int,
        alpha: float = 1.0,
        l2: float = 1.0,
        random_state: int | None = None,
    ) -> None:
        self.n_actions = n_actions
        self.n_features = n_features
        self.alpha = alpha
        self.l2 = l2
        self.random_state = random_state

    def _probabilities(self, x: NDArray[np.float64], mask: NDArray[np.bool_]) -> NDArray:
        mean, var = self._mean_var(x)
        return greedy_probabilities(mean + self.alpha * np.sqrt(var), mask)

    def _choose_one(self, x: NDArray[np.float64], mask: NDArray[np.bool_]) -> tuple[int, float]:
        if mask is not self._all_actions:
            return super()._choose_one(x, mask)
        xi = x[0]  # the common case, kept to a few array operations
        k = self.n_actions
        y = self._stacked @ xi
        var = y[k:].reshape(k, -1) @ xi
        ucb = y[:k] + self.alpha * np.sqrt(np.maximum(var, 0.0))
        best = int(ucb.argmax())
        ties = np.flatnonzero(ucb == ucb[best])
        if ties.size == 1:
            return best, 1.0
        return int(ties[self.rng_.integers(ties.size)]), 1.0 / ties.size


class LinearThompsonSampling(_RidgePolicy):
    """Linear Thompson sampling (Agrawal & Goyal 2013) with a Gaussian posterior per action.

    A draw of ``x.theta_a`` is normal with mean ``x.theta_a`` and variance
    ``v^2 x^T A_a^-1 x``; action probabilities are estimated from ``n_samples`` draws (in
    antithetic pairs) and the choice is made from them, so logged propensities are exact for
    the choice made.
    """

    _constraints: ClassVar = {
        "n_actions": ("int", 1, None),
        "n_features": ("int", 1, None),
        "v": ("float", 0.0, None),
        "l2": ("float", 1e-12, None),
        "n_samples": ("int", 1, None),
        "random_state": ("seed", None, None),
    }

    def __init__(
        self,
        *,
        n_actions: int,
        n_features: int,
        v: float = 1.0,
        l2: float = 1.0,
        n_samples: int = 256,
        random_state: int | None = None,
    ) -> None:
        self.n_actions = n_actions
        self.n_features = n_features
        self.v = v
        self.l2 = l2
        self.n_samples = n_samples
        self.random_state = random_state

    def _normals(self) -> NDArray[np.float64]:
        """(n_samples, n_actions) standard normals in antithetic pairs (z, -z): half the
        draws, and the pairs' negative correlation lowers the estimate's error."""
        half = self.rng_.standard_normal(((self.n_samples + 1) // 2, self.n_actions))
        return np.concatenate([half, -half])[: self.n_samples]

    def _probabilities(self, x: NDArray[np.float64], mask: NDArray[np.bool_]) -> NDArray:
        mean, var = self._mean_var(x)
        scale = self.v * np.sqrt(var)
        k = self.n_actions

        # Common random numbers: the rounds of a batch share one set of standard normal
        # draws. Each round's estimate keeps at most its binomial error, and the choice is
        # drawn from the estimate, so the logged propensity is exact for the choice made.
        noise = np.ascontiguousarray(self._normals().T)

        def draw(arm: int, rows: NDArray[np.int64], m: int) -> NDArray[np.float64]:
            scores = scale[rows, arm][:, None] * noise[arm]
            scores += mean[rows, arm][:, None]
            return scores

        return sampled_argmax_probabilities(draw, mask, x.shape[0], k, self.n_samples)

    def _choose_one(self, x: NDArray[np.float64], mask: NDArray[np.bool_]) -> tuple[int, float]:
        if mask is not self._all_actions:
            return super()._choose_one(x, mask)
        k = self.n_actions  # one round: all draws at once, as in _probabilities
        mean, var = self._mean_var(x)
        scores = mean[0] + (self.v * np.sqrt(var[0])) * self._normals()
        probs = np.bincount(scores.argmax(axis=1), minlength=k) / self.n_samples
        cum = np.cumsum(probs)
        choice = int(np.argmax(cum > self.rng_.random() * cum[-1]))
        return choice, float(probs[choice])


class RewardModelPolicy(_RidgePolicy):
    """Act on a learned reward model: greedy (``temperature=0``) or softmax over predicted
    rewards, mixed with ``epsilon`` uniform exploration. ``fit`` learns it from logged data."""

    _constraints: ClassVar = {
        "n_actions": ("int", 1, None),
        "n_features": ("int", 1, None),
        "temperature": ("float", 0.0, None),
        "epsilon": ("float", 0.0, 1.0),
        "l2": ("float", 1e-12, None),
        "random_state": ("seed", None, None),
    }

    def __init__(
        self,
        *,
        n_actions: int,
        n_features: int,
        temperature: float = 0.0,
        epsilon: float = 0.0,
        l2: float = 1.0,
        random_state: int | None = None,
    ) -> None:
        self.n_actions = n_actions
        self.n_features = n_features
        self.temperature = temperature
        self.epsilon = epsilon
        self.l2 = l2
        self.random_state = random_state

    def _probabilities(self, x: NDArray[np.float64], mask: NDArray[np.bool_]) -> NDArray:
        q = x @ self.theta_.T
        if self.temperature > 0:
            z = np.where(mask, q / self.temperature, -np.inf)
            z = np.exp(z - z.max(axis=1, keepdims=True))
            probs = z / z.sum(axis=1, keepdims=True)
        else:
            probs = greedy_probabilities(q, mask)
        if self.epsilon > 0:
            n, k = x.shape[0], self.n_actions
            probs = self.epsilon * uniform_probabilities(mask, n, k) + (1 - self.epsilon) * probs
        return probs
