"""``@step`` and the step decorators: ``@retry``, ``@catch``, ``@timeout``, ``@resources``."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

from limelight.core.errors import InvalidInputError

__all__ = ["StepOptions", "catch", "options_of", "resources", "retry", "step", "timeout"]

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class StepOptions:
    """What the decorators of one step asked for."""

    retries: int = 0
    retry_delay: float = 0.0
    catch_var: str | None = None
    timeout: float | None = None
    resources: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def options_of(func: Callable[..., Any]) -> StepOptions:
    options = getattr(func, "_ll_options", None)
    if options is None:
        options = StepOptions()
        func._ll_options = options  # type: ignore[attr-defined]
    return options


def step(func: F) -> F:
    """Mark a method of a flow as a step."""
    params = list(inspect.signature(func).parameters)
    if not params or params[0] != "self" or len(params) > 2:
        raise InvalidInputError(
            f"step {func.__name__!r} must be 'def {func.__name__}(self)' or, for a join, "
            f"'def {func.__name__}(self, inputs)'"
        )
    func._ll_step = True  # type: ignore[attr-defined]
    func._ll_is_join = len(params) == 2  # type: ignore[attr-defined]
    options_of(func)
    return func


def _positive(name: str, value: float, *, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInputError(f"{name} must be a number, not {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        raise InvalidInputError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, not {value!r}")
    return value


def retry(*, times: int = 3, delay: float = 0.0) -> Callable[[F], F]:
    """Run the step again, up to ``times`` more times, ``delay`` seconds apart, when it fails."""
    if isinstance(times, bool) or not isinstance(times, int) or times < 0:
        raise InvalidInputError(f"@retry(times=...) must be an int >= 0, not {times!r}")
    _positive("@retry(delay=...)", delay, allow_zero=True)

    def apply(func: F) -> F:
        options = options_of(func)
        options.retries, options.retry_delay = times, float(delay)
        return func

    return apply


def catch(*, var: str = "error") -> Callable[[F], F]:
    """When the step fails for good, store the error in artifact ``var`` and carry on."""
    if not isinstance(var, str) or not var.isidentifier() or var.startswith("_"):
        raise InvalidInputError(f"@catch(var=...) must be a public attribute name, not {var!r}")

    def apply(func: F) -> F:
        options_of(func).catch_var = var
        return func

    return apply


def timeout(*, seconds: float) -> Callable[[F], F]:
    """Fail an attempt of the step that runs longer than ``seconds``."""
    _positive("@timeout(seconds=...)", seconds)

    def apply(func: F) -> F:
        options_of(func).timeout = float(seconds)
        return func

    return apply


def resources(*, cpu: float = 1, memory: float | None = None, gpu: float = 0) -> Callable[[F], F]:
    """Record what one task of the step needs (cpu cores, memory in MB, gpus)."""
    _positive("@resources(cpu=...)", cpu)
    _positive("@resources(gpu=...)", gpu, allow_zero=True)
    if memory is not None:
        _positive("@resources(memory=...)", memory)

    def apply(func: F) -> F:
        wanted: dict[str, float] = {"cpu": cpu, "gpu": gpu}
        if memory is not None:
            wanted["memory"] = memory
        options_of(func).resources = wanted
        return func

    return apply
