"""Named hooks: how ``current.register_model`` reaches the registry without flows importing it.

The top-level package wires them (``limelight/__init__.py``), so packages that must not import
each other still meet inside a running step.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["get_hook", "register_hook"]

_hooks: dict[str, Callable[..., Any]] = {}


def register_hook(name: str, function: Callable[..., Any]) -> None:
    """Let ``function`` serve ``current.<name>(...)``; it receives the running task first."""
    _hooks[name] = function


def get_hook(name: str) -> Callable[..., Any] | None:
    return _hooks.get(name)
