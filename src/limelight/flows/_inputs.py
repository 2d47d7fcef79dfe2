"""``Inputs``: what a join step receives, one item per branch or foreach task."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

__all__ = ["Inputs"]


class Inputs(Sequence[Any]):
    """The inputs of a join step: one per branch or foreach task, in order.

    ``inputs[0].model``, ``[i.score for i in inputs]``, and for branches ``inputs.train_a``.
    """

    def __init__(self, items: list[Any]) -> None:
        self._items = items

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, index: Any) -> Any:
        return self._items[index]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._items)

    def __getattr__(self, name: str) -> Any:
        for item in self._items:
            if item.step_name == name:
                return item
        raise AttributeError(f"no input comes from a step named {name!r}")
