"""Micro-batching: concurrent recommend calls share one model call and get their own rows."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest

from limelight.core.errors import InvalidInputError
from limelight.serving._batching import RecommendBatcher


class Shifted:
    """Recommends items user+1..user+k (scores descending); refuses user 13; counts calls."""

    def __init__(self, batches: bool = True) -> None:
        self.calls: list[Any] = []
        self.batches = batches

    def recommend(self, user_ids: Any, k: int, *, exclude_seen: bool = True) -> Any:
        self.calls.append(user_ids)
        users = np.atleast_1d(np.asarray(user_ids))
        if np.ndim(user_ids) and not self.batches:
            raise TypeError("one user at a time")
        if 13 in users:
            raise InvalidInputError("user 13 is refused")
        items = users[:, None] + np.arange(1, k + 1)
        scores = -np.arange(k, dtype=float) + np.zeros((len(users), 1))
        return (items[0], scores[0]) if np.ndim(user_ids) == 0 else (items, scores)


def _run(model: Shifted, users: list[int]) -> list[Any]:
    batcher = RecommendBatcher()

    async def main() -> list[Any]:
        return await asyncio.gather(
            *[batcher.recommend(model, u, 3) for u in users], return_exceptions=True
        )

    return asyncio.run(main())


def test_concurrent_calls_share_one_model_call() -> None:
    model = Shifted()
    results = _run(model, [1, 5, 9])
    assert len(model.calls) == 1 and list(model.calls[0]) == [1, 5, 9]
    for user, (items, scores) in zip([1, 5, 9], results, strict=True):
        assert list(items) == [user + 1, user + 2, user + 3]
        assert list(scores) == [0.0, -1.0, -2.0]


@pytest.mark.parametrize("batches", [True, False])
def test_a_refused_batch_is_asked_user_by_user(batches: bool) -> None:
    model = Shifted(batches=batches)
    results = _run(model, [1, 13, 2])
    assert len(model.calls) == 4, "one batch call, then one call per user"
    assert list(results[0][0]) == [2, 3, 4] and list(results[2][0]) == [3, 4, 5]
    assert isinstance(results[1], InvalidInputError), "only the bad request gets the error"


def test_one_request_alone_is_a_plain_call() -> None:
    model = Shifted()
    ((items, _),) = _run(model, [4])
    assert model.calls == [4] and list(items) == [5, 6, 7]
