"""An artwork policy together with each title's candidate artworks, served as one model."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from limelight.bandits import Policy, policy_from_state
from limelight.core.errors import InvalidInputError

__all__ = ["TitleArtworkPolicy"]

_PREFIX = "policy."


class TitleArtworkPolicy:
    """``choose(context, candidates)`` of a bandit policy, plus ``candidates_for(item_ids)``.

    Serving asks ``candidates_for`` which artworks each recommended title has (when the request
    does not say) and lets the policy choose among them.
    """

    def __init__(
        self, policy: Policy, title_ids: NDArray[np.int64], candidates: NDArray[np.int64]
    ) -> None:
        if candidates.ndim != 2 or len(candidates) != len(title_ids):
            raise InvalidInputError(
                "candidates must be (n_titles, n_artworks), one row per title id"
            )
        self.policy = policy
        self.title_ids = np.asarray(title_ids, dtype=np.int64)
        self.candidates = np.asarray(candidates, dtype=np.int64)
        self._row = {int(t): i for i, t in enumerate(self.title_ids)}

    def candidates_for(self, item_ids: list[Any]) -> list[NDArray[np.int64] | None]:
        rows = [self._row.get(int(i)) if str(i).lstrip("-").isdigit() else None for i in item_ids]
        return [None if r is None else self.candidates[r] for r in rows]

    def choose(self, context: Any, candidates: Any = None) -> tuple[int, float]:
        choice, propensity = self.policy.choose(context, candidates)
        return int(choice), float(propensity)

    def action_probabilities(self, context: Any, candidates: Any = None) -> NDArray[np.float64]:
        return self.policy.action_probabilities(context, candidates)

    def get_state(self) -> dict[str, Any]:
        state: dict[str, Any] = {_PREFIX + k: v for k, v in self.policy.get_state().items()}
        state["title_ids"], state["candidates"] = self.title_ids, self.candidates
        return state

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> TitleArtworkPolicy:
        policy = policy_from_state(
            {k[len(_PREFIX) :]: v for k, v in state.items() if k.startswith(_PREFIX)}
        )
        return cls(policy, np.asarray(state["title_ids"]), np.asarray(state["candidates"]))
