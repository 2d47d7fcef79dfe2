"""Lazy package exports: ``from limelight import Flow`` without importing the whole platform.

A package lists what it exports and the module that defines each name; the module is imported
the first time the name is read (PEP 562). Writing a flow needs only the flows package;
SQLAlchemy, the registry and tracking load when something asks for them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, namespace: dict[str, Any], exports: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package`` serving ``exports`` (name -> module).

    A module path ending in ``:attr`` exports that attribute under another name; a module
    path alone exports the module itself when the name is the module's last part.
    """

    def __getattr__(name: str) -> Any:
        target = exports.get(name)
        if target is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module_name, _, attr = target.partition(":")
        module = importlib.import_module(module_name)
        value = module if module_name.rsplit(".", 1)[-1] == name and not attr else None
        if value is None:
            value = getattr(module, attr or name)
        namespace[name] = value  # later reads skip this function
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(exports))

    return __getattr__, __dir__
