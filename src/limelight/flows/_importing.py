"""Importing a flow's Python file as a module (what ``limelight run`` and the workers share)."""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from limelight.core.errors import InvalidInputError

__all__ = ["import_file"]


def import_file(path: str | Path) -> ModuleType:
    """Import the ``.py`` file at ``path`` (its folder first on ``sys.path``) and return it."""
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
    except BaseException:
        del sys.modules[module_name]
        raise
    return module
