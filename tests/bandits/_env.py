"""A small synthetic contextual environment whose every policy value is known exactly."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


@dataclass
class LinearEnv:
    """Contexts drawn uniformly from a fixed population; click probability z . M[a], linear.

    Each context z lies on the simplex, so every probability is a convex mix of the entries
    of M (in [0.05, 0.6]); each feature has its own best action, so context matters.
    """

    n_actions: int = 10
    n_features: int = 5
    population: int = 1000
    seed: int = 0

    def __post_init__(self) -> None:
        rng = np.random.default_rng(self.seed)
        self.z = rng.dirichlet(np.full(self.n_features, 0.3), size=self.population)
        self.m = rng.uniform(0.05, 0.25, size=(self.n_actions, self.n_features))
        for j in range(self.n_features):
            self.m[j % self.n_actions, j] = 0.6
        self.q = self.z @ self.m.T  # (population, K): the true expected rewards

    def draw(self, n: int, rng: np.random.Generator) -> NDArray[np.int64]:
        """Indices into the population for ``n`` rounds."""
        return rng.integers(0, self.population, size=n)

    def rewards(
        self, who: NDArray[np.int64], actions: NDArray[np.int64], rng: np.random.Generator
    ) -> NDArray[np.float64]:
        """Bernoulli clicks for the chosen actions."""
        return (rng.random(who.size) < self.q[who, actions]).astype(np.float64)

    def value(self, dist: NDArray[np.float64]) -> float:
        """The exact value of a policy given its action distribution on the population."""
        return float(np.mean(np.sum(dist * self.q, axis=1)))

    def logging_dist(self) -> NDArray[np.float64]:
        """A context-dependent logging policy with every propensity at least 0.5 / K."""
        soft = np.exp(4.0 * self.z @ self.m.T)
        soft /= soft.sum(axis=1, keepdims=True)
        return 0.5 / self.n_actions + 0.5 * soft

    def target_dist(self) -> NDArray[np.float64]:
        """A better target policy: mostly the true best action, some uniform exploration."""
        best = np.zeros_like(self.q)
        best[np.arange(self.population), self.q.argmax(axis=1)] = 1.0
        return 0.7 * best + 0.3 / self.n_actions
