"""Most-popular items: the baseline every model must beat, and the fallback for unknown users."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from limelight.recsys._base import Recommender, State

__all__ = ["Popularity"]


class Popularity(Recommender):
    """Recommends the items with the most interactions; the same list for every user."""

    _params = ()

    def __init__(self) -> None:
        pass

    def _fit(self, X: sp.csr_matrix) -> None:
        pass

    def _score_users(self, users: np.ndarray) -> np.ndarray:
        return self._popularity_scores(len(users))

    def _score_history(self, history: sp.csr_matrix) -> np.ndarray:
        return self._popularity_scores(history.shape[0])

    def _similar_scores(self, items: np.ndarray) -> np.ndarray:
        # Popularity has no notion of similarity: the most popular other items.
        return self._popularity_scores(len(items))

    def _model_state(self) -> State:
        return {}

    def _load_model_state(self, state: State) -> None:
        pass
