"""Named hooks: how ``current.register_model`` reaches the registry without flows importing it.

The top-level package wires them (``limelight/__init__.py``), so packages that must not import
each other still meet inside a running step.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

__all__ = ["get_hook", "register_hook"]

_hooks: dict[str, Callable[..., Any] | str] = {}


def register_hook(name: str, function: Callable[..., Any] | str) -> None:
    """Let ``function`` serve ``current.<name>(...)``; it receives the running task first.

    ``function`` may be a ``"module:attribute"`` path, imported on the hook's first use (so
    that importing Limelight does not import the package that serves it).
    """
    _hooks[name] = function


def get_hook(name: str) -> Callable[..., Any] | None:
    hook = _hooks.get(name)
    if isinstance(hook, str):
        module, _, attr = hook.partition(":")
        hook = _hooks[name] = getattr(importlib.import_module(module), attr)
    return hook
