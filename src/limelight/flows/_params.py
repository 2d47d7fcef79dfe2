"""``Param``: a flow parameter with a default, a type and help; JSON on the command line."""

from __future__ import annotations

import json
from typing import Any

from limelight.core.errors import InvalidInputError

__all__ = ["MISSING", "Param"]


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


class Param:
    """A run parameter, declared as a class attribute of a flow.

    ``type`` defaults to the type of ``default``; values from the command line are read as JSON
    (``--lambdas '[10, 100]'``), and a bare word is taken as a string where a string is expected.
    """

    def __init__(self, default: Any = MISSING, *, type: type | None = None, help: str = "") -> None:
        self.default = default
        self.type = (
            type
            if type is not None
            else (None if default is MISSING or default is None else _type_of(default))
        )
        self.help = help
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, instance: object, owner: type | None = None) -> Any:
        if instance is None:
            return self
        values = getattr(instance, "_ll_params", None)
        if values is None or self.name not in values:
            return self.default
        return values[self.name]

    def __set__(self, instance: object, value: Any) -> None:
        raise AttributeError(f"parameter {self.name!r} is read-only inside a step")

    @property
    def required(self) -> bool:
        return self.default is MISSING

    def parse(self, text: str) -> Any:
        """The value of ``text`` as given on the command line."""
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            if self.type in (None, str):
                return text
            raise InvalidInputError(
                f"--{self.name}: {text!r} is not valid JSON; expected {self.type.__name__}, "
                f"such as {json.dumps(self.default) if self.default is not MISSING else '...'}"
            ) from None
        if self.type is str and not isinstance(value, str):
            return text  # e.g. --dataset 100k: a string that happens to parse as JSON
        return self.check(value)

    def check(self, value: Any) -> Any:
        """``value`` converted to the parameter's type, or a clear error."""
        expected = self.type
        if expected is None or value is None or isinstance(value, expected):
            if expected is int and isinstance(value, bool):
                raise InvalidInputError(f"parameter {self.name!r} expects an int, not {value!r}")
            return value
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if expected in (list, tuple) and isinstance(value, (list, tuple)):
            return expected(value)
        raise InvalidInputError(
            f"parameter {self.name!r} expects a {expected.__name__}, not {value!r} "
            f"({type(value).__name__})"
        )

    def __repr__(self) -> str:
        return f"Param(default={self.default!r}, type={getattr(self.type, '__name__', None)})"


def _type_of(value: Any) -> type:
    return type(value)
