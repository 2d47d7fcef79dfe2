"""Finding the flow class in a Python file, as ``limelight run flow.py`` does."""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import sys
from pathlib import Path

from limelight.core.errors import InvalidInputError
from limelight.flows._flow import Flow

__all__ = ["load_flow_class"]


def load_flow_class(path: str | Path, name: str | None = None) -> type[Flow]:
    """Import ``path`` and return its flow class (the one called ``name`` if it has several)."""
    file = Path(path).resolve()
    if not file.is_file():
        raise InvalidInputError(f"{path}: no such file")
    if file.suffix != ".py":
        raise InvalidInputError(f"{path}: a flow is a Python file ending in .py")
    module_name = file.stem if file.stem.isidentifier() else "flow"
    if module_name in sys.modules and getattr(sys.modules[module_name], "__file__", None) != str(
        file
    ):
        module_name = f"limelight_flow_{hashlib.sha1(str(file).encode()).hexdigest()[:10]}"
    spec = importlib.util.spec_from_file_location(module_name, file)
    if spec is None or spec.loader is None:
        raise InvalidInputError(f"{path}: cannot be imported as Python")
    module = importlib.util.module_from_spec(spec)
    if str(file.parent) not in sys.path:
        sys.path.insert(0, str(file.parent))  # so the flow can import its neighbours
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        del sys.modules[module_name]
        raise InvalidInputError(f"{path}:{exc.lineno}: syntax error: {exc.msg}") from exc
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
