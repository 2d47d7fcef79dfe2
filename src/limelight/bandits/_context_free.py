"""Policies that ignore the context: uniform random, epsilon-greedy, Beta-Bernoulli Thompson."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

from limelight.bandits._base import (
    Policy,
    greedy_probabilities,
    sampled_argmax_probabilities,
    uniform_probabilities,
)
from limelight.core.errors import InvalidInputError

__all__ = ["BetaThompsonSampling", "EpsilonGreedy", "UniformRandom"]


class UniformRandom(Policy):
    """Every candidate equally likely: the logging policy that makes replay evaluation unbiased."""

    _constraints: ClassVar = {"n_actions": ("int", 1, None), "random_state": ("seed", None, None)}

    def __init__(self, *, n_actions: int, random_state: int | None = None) -> None:
        self.n_actions = n_actions
        self.random_state = random_state

    def _init_state(self) -> None:
        pass

    def _probabilities(self, x: NDArray[np.float64], mask: NDArray[np.bool_]) -> NDArray:
        return uniform_probabilities(mask, x.shape[0], self.n_actions)

    def _learn(
        self,
        x: NDArray[np.float64],
        a: NDArray[np.int64],
        r: NDArray[np.float64],
    ) -> None:
        pass


class EpsilonGreedy(Policy):
    """The best mean reward so far with probability 1 - epsilon, a uniform candidate otherwise."""

    _constraints: ClassVar = {
        "n_actions": ("int", 1, None),
        "epsilon": ("float", 0.0, 1.0),
        "random_state": ("seed", None, None),
    }
    _state_arrays = ("counts_", "sums_")

    def __init__(
        self, *, n_actions: int, epsilon: float = 0.1, random_state: int | None = None
    ) -> None:
        self.n_actions = n_actions
        self.epsilon = epsilon
        self.random_state = random_state

    def _init_state(self) -> None:
        self.counts_ = np.zeros(self.n_actions)
        self.sums_ = np.zeros(self.n_actions)

    @property
    def means_(self) -> NDArray[np.float64]:
        """The mean reward of each action so far (0 for actions never tried)."""
        return self.sums_ / np.maximum(self.counts_, 1.0)

    def _probabilities(self, x: NDArray[np.float64], mask: NDArray[np.bool_]) -> NDArray:
        n, k = x.shape[0], self.n_actions
        greedy = greedy_probabilities(np.broadcast_to(self.means_, (n, k)), mask)
        return self.epsilon * uniform_probabilities(mask, n, k) + (1 - self.epsilon) * greedy

    def _learn(
        self,
        x: NDArray[np.float64],
        a: NDArray[np.int64],
        r: NDArray[np.float64],
    ) -> None:
        self.counts_ += np.bincount(a, minlength=self.n_actions)
        self.sums_ += np.bincount(a, weights=r, minlength=self.n_actions)


class BetaThompsonSampling(Policy):
    """Beta-Bernoulli Thompson sampling for rewards in [0, 1].

    Its action probabilities are estimated from ``n_samples`` posterior draws, and it chooses
    from those estimates, so each logged propensity is exactly the probability of the logged
    choice; it approximates the ideal Thompson probability with error about
    ``sqrt(p (1 - p) / n_samples)``.
    """

    _constraints: ClassVar = {
        "n_actions": ("int", 1, None),
        "n_samples": ("int", 1, None),
        "random_state": ("seed", None, None),
    }
    _state_arrays = ("alpha_", "beta_")

    def __init__(
        self,
        *,
        n_actions: int,
        alpha: float | ArrayLike = 1.0,
        beta: float | ArrayLike = 1.0,
        n_samples: int = 1000,
        random_state: int | None = None,
    ) -> None:
        self.n_actions = n_actions
        self.alpha = alpha
        self.beta = beta
        self.n_samples = n_samples
        self.random_state = random_state

    def get_params(self) -> dict[str, object]:
        """The constructor parameters (the priors as arrays of one value per action)."""
        params = super().get_params()
        params["alpha"], params["beta"] = self._prior()
        return params

    def _prior(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        out = []
        for name in ("alpha", "beta"):
            value = np.broadcast_to(np.asarray(getattr(self, name), dtype=float), (self.n_actions,))
            if not np.all(np.isfinite(value)) or np.any(value <= 0):
                raise InvalidInputError(
                    f"BetaThompsonSampling: {name} must be positive (a number or one per action)"
                )
            out.append(value.copy())
        return out[0], out[1]

    @classmethod
    def from_state(cls, state: dict) -> BetaThompsonSampling:
        """Rebuild from :meth:`get_state` (the priors are stored with the parameters)."""
        policy = super().from_state({k: v for k, v in state.items() if k not in ("alpha", "beta")})
        policy.alpha = np.asarray(state["alpha"], dtype=float)
        policy.beta = np.asarray(state["beta"], dtype=float)
        return policy

    def _init_state(self) -> None:
        self.alpha_, self.beta_ = self._prior()

    def _probabilities(self, x: NDArray[np.float64], mask: NDArray[np.bool_]) -> NDArray:
        n, k = x.shape[0], self.n_actions
        if mask.ndim == 1:  # one posterior, one candidate set: estimate once for the batch
            probs = sampled_argmax_probabilities(self._draw, mask, 1, k, self.n_samples)
            return np.broadcast_to(probs, (n, k)).copy()
        return sampled_argmax_probabilities(self._draw, mask, n, k, self.n_samples)

    def _draw(self, arm: int, rows: NDArray[np.int64], m: int) -> NDArray[np.float64]:
        return self.rng_.beta(self.alpha_[arm], self.beta_[arm], size=(rows.size, m))

    def _learn(
        self,
        x: NDArray[np.float64],
        a: NDArray[np.int64],
        r: NDArray[np.float64],
    ) -> None:
        if np.any((r < 0) | (r > 1)):
            raise InvalidInputError(
                "BetaThompsonSampling needs rewards in [0, 1] (clicks, plays); rescale them or "
                "use LinearThompsonSampling"
            )
        self.alpha_ += np.bincount(a, weights=r, minlength=self.n_actions)
        self.beta_ += np.bincount(a, weights=1.0 - r, minlength=self.n_actions)

    def rank_probabilities(self, len_list: int, n_samples: int | None = None) -> NDArray:
        """How often each action lands at each of the top ``len_list`` positions when ranking
        by a posterior draw: shape (n_actions, len_list), a slate policy's action distribution."""
        self._ensure_state()
        if not 1 <= len_list <= self.n_actions:
            raise InvalidInputError(f"len_list must be in 1..{self.n_actions}, got {len_list}")
        m = self.n_samples if n_samples is None else int(n_samples)
        if m < 1:
            raise InvalidInputError(f"n_samples must be at least 1, got {n_samples}")
        counts = np.zeros((self.n_actions, len_list))
        for start in range(0, m, 10_000):
            size = min(10_000, m - start)
            draws = self.rng_.beta(self.alpha_, self.beta_, size=(size, self.n_actions))
            top = np.argsort(-draws, axis=1)[:, :len_list]
            for pos in range(len_list):
                counts[:, pos] += np.bincount(top[:, pos], minlength=self.n_actions)
        return counts / m
