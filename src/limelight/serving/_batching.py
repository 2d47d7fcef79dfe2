"""Micro-batching: recommend calls that arrive in the same turn of the event loop share one call.

Under load, several requests are parsed in one turn of the loop before any of them computes.
Each parks a future; the first schedules a flush with ``call_soon``, which runs after them and
asks the model for all their users at once (``recommend(user_ids, k)`` takes many users: one
matrix product and one top-k instead of one per request, and the per-call overhead once). A
model that refuses the batch is asked again user by user, so every request gets its own answer
or its own error. With one request in flight, the flush runs at once: no added latency.

Every answer is checked against the recommend contract (:mod:`limelight.serving._contract`):
a batch answer that breaks it is asked again user by user too, and a single answer that
breaks it is that request's :class:`ContractError`.
"""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np

from limelight.serving._contract import Result, check_many, check_one

__all__ = ["RecommendBatcher"]


class RecommendBatcher:
    """Coalesces ``model.recommend(user, n, exclude_seen=True)`` calls of one event loop.

    Each caller gets its (item ids, scores) as Python lists: one ``tolist`` per batch.
    """

    def __init__(self, max_batch: int = 64) -> None:
        self.max_batch = max_batch
        self._pending: dict[
            tuple[int, int, type], tuple[Any, list[tuple[Any, asyncio.Future[Result]]]]
        ] = {}
        self.batches = 0
        self.batched_requests = 0

    async def recommend(self, model: Any, user_id: Any, n: int) -> Result:
        loop = asyncio.get_running_loop()
        key = (id(model), n, type(user_id))
        future: asyncio.Future[Result] = loop.create_future()
        entry = self._pending.get(key)
        if entry is None:
            entry = self._pending[key] = (model, [])
            loop.call_soon(self._flush, key)
        entry[1].append((user_id, future))
        if len(entry[1]) >= self.max_batch:
            self._flush(key)
        return await future

    def _flush(self, key: tuple[int, int, type]) -> None:
        entry = self._pending.pop(key, None)
        if entry is None:
            return
        model, waiting = entry
        n = key[1]
        rows = _batch(model, [u for u, _ in waiting], n) if len(waiting) > 1 else None
        if rows is not None:
            self.batches += 1
            self.batched_requests += len(waiting)
            for (_, future), row in zip(waiting, rows, strict=True):
                if not future.done():
                    future.set_result(row)
            return
        for user_id, future in waiting:  # one at a time: each gets its own answer or error
            if future.done():
                continue
            try:
                future.set_result(check_one(model.recommend(user_id, n, exclude_seen=True), n))
            except Exception as exc:
                future.set_exception(exc)


def _batch(model: Any, users: list[Any], n: int) -> list[Result] | None:
    """Each user's (item ids, scores) from one call, or None when the model refuses the batch
    or answers it against the contract (not one row per user, NaN scores, ...)."""
    try:
        return check_many(model.recommend(np.asarray(users), n, exclude_seen=True), len(users), n)
    except Exception:  # a model that takes one user at a time, or a bad user among them
        return None
