"""Query parameters, form fields and numbers of the dashboard, read strictly.

A number is ASCII digits only (``int()`` also takes ``'٣'``, ``' 3 '``, ``'1_0'`` and ``'²'`` is
a digit to ``str.isdigit``) and fits in a signed 64-bit integer, the widest id the databases
hold. An unknown or repeated parameter is an error that names the accepted ones, so a typo such
as ``sort=`` for ``order=`` is not silently ignored.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from limelight.core.errors import InvalidInputError, NotFoundError

__all__ = [
    "INT64_MAX",
    "check_names",
    "parse_run_ref",
    "path_number",
    "whole_number",
]

INT64_MAX = 2**63 - 1
_DIGITS = frozenset("0123456789")


def _ascii_int(text: str) -> int | None:
    """The value of ``text`` if it is ASCII digits within int64, else None."""
    if not text or len(text) > 19 or not _DIGITS.issuperset(text):
        return None
    value = int(text)
    return value if value <= INT64_MAX else None


def whole_number(text: str, what: str, *, low: int = 1) -> int:
    """``text`` as a whole number of at least ``low``; anything else is a clear error."""
    value = _ascii_int(text)
    if value is None:
        raise InvalidInputError(
            f"{what} must be a whole number written with the digits 0-9 and at most "
            f"{INT64_MAX}, not {text!r}"
        )
    if value < low:
        raise InvalidInputError(f"{what} must be {low} or more, not {value}")
    return value


def path_number(text: str, thing: str) -> int:
    """A number in a URL path: a page that is not a number (or past int64) does not exist."""
    value = _ascii_int(text)
    if value is None or value < 1:
        raise NotFoundError(f"there is no {thing}: ids are whole numbers from 1 to {INT64_MAX}")
    return value


def parse_run_ref(text: str) -> tuple[str | None, int]:
    """``FLOW/ID`` (the flow must match) or a bare ``ID`` (a run of any flow).

    Text of another shape is an :class:`InvalidInputError`; an id of the right shape that no
    run can have (0, or past int64) is a :class:`NotFoundError`.
    """
    flow, slash, number = text.rpartition("/")
    if not number or not _DIGITS.issuperset(number) or (slash and not flow):
        raise InvalidInputError(
            f"{text!r} is not a run: give FLOW/ID or ID, the id in the digits 0-9"
        )
    value = _ascii_int(number)
    if value is None or value < 1:
        raise NotFoundError(f"there is no run {text}: run ids go from 1 to {INT64_MAX}")
    return (flow if slash else None), value


def check_names(
    given: Iterable[tuple[str, str]], accepted: Sequence[str], repeatable: Sequence[str], where: str
) -> None:
    """Refuse names that ``where`` does not take, and a single-valued one given twice."""
    seen: set[str] = set()
    for name, _ in given:
        if name not in accepted:
            takes = f"it takes {', '.join(accepted)}" if accepted else "it takes none"
            raise InvalidInputError(f"{where} has no parameter {name!r}: {takes}")
        if name in seen and name not in repeatable:
            raise InvalidInputError(f"{where}: give {name!r} once, not several times")
        seen.add(name)
