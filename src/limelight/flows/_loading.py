"""Finding the flow class in a Python file, as ``limelight run flow.py`` does."""

from __future__ import annotations

import inspect
from pathlib import Path

from limelight.core.errors import InvalidInputError
from limelight.flows._flow import Flow
from limelight.flows._importing import import_file

__all__ = ["load_flow_class"]


def load_flow_class(path: str | Path, name: str | None = None) -> type[Flow]:
    """Import ``path`` and return its flow class (the one called ``name`` if it has several)."""
    module = import_file(path)
    module_name = module.__name__
    found = [
        value
        for value in vars(module).values()
        if inspect.isclass(value)
        and issubclass(value, Flow)
        and value is not Flow
        and value.__module__ == module_name
    ]
    if name is not None:
        chosen = [c for c in found if c.__name__ == name]
        if not chosen:
            raise InvalidInputError(
                f"{path} has no flow called {name!r}; "
                f"it has {', '.join(c.__name__ for c in found) or 'none'}"
            )
        return chosen[0]
    if not found:
        raise InvalidInputError(f"{path} defines no flow (a subclass of limelight.Flow)")
    if len(found) > 1:
        raise InvalidInputError(
            f"{path} defines several flows ({', '.join(c.__name__ for c in found)}); "
            "choose one with --flow"
        )
    return found[0]
