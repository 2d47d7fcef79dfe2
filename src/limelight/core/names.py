"""Names and references shared by the packages: model and experiment names, aliases, versions.

A name appears in URLs, file paths and the dashboard's links, so every package holds names to
one rule (:func:`check_name`). A model reference is ``name@alias``, ``name/N`` or ``name``;
``name@latest`` is the newest version, like a bare ``name``, so ``latest`` is not an alias
anyone can set. Versions are parsed strictly (:func:`parse_version`): ASCII digits only, from
1 up to the largest 64-bit integer, so a version never overflows a database column.
"""

from __future__ import annotations

import re

from limelight.core.errors import InvalidInputError

__all__ = [
    "LATEST",
    "MAX_VERSION",
    "check_alias",
    "check_name",
    "model_ref_name",
    "parse_model_ref",
    "parse_version",
]

LATEST = "latest"
MAX_VERSION = 2**63 - 1

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,199}")
_ALIAS = re.compile(r"[A-Za-z][A-Za-z0-9_\-]{0,99}")
_DIGITS = re.compile(r"[0-9]+")


def check_name(name: object, what: str = "model") -> str:
    """``name`` if it is a valid name of a ``what`` (a model, an experiment), else a clear error.

    A letter or digit first, then letters, digits, ``_``, ``-`` and ``.``: at most 200 in all.
    """
    if not isinstance(name, str) or not name.isascii() or not _NAME.fullmatch(name):
        shown = name if not isinstance(name, str) or len(name) <= 60 else f"{name[:60]}..."
        length = f" ({len(name)} characters)" if isinstance(name, str) and len(name) > 60 else ""
        raise InvalidInputError(
            f"{shown!r}{length} is not {_article(what)} {what} name: start with a letter or digit, "
            "then use letters, digits, '_', '-', '.' (at most 200)"
        )
    return name


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def check_alias(alias: object) -> str:
    """``alias`` if it is a valid alias name (a letter first; letters, digits, ``_``, ``-``)."""
    if not isinstance(alias, str) or not alias.isascii() or not _ALIAS.fullmatch(alias):
        raise InvalidInputError(
            f"{alias!r} is not an alias: start with a letter; letters, digits, '_', '-' (at most 100)"
        )
    return alias


def parse_version(value: object) -> int:
    """A model version from text or an int: ASCII digits only, from 1 to 2**63 - 1.

    ``" 3"``, ``"3_0"``, ``"+3"``, ``"٣"`` and ``"0"`` are refused with an error that says so,
    instead of becoming a number that a database cannot hold.
    """
    if isinstance(value, bool):
        raise InvalidInputError(f"{value!r} is not a version: a version is a positive integer")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.isascii() and _DIGITS.fullmatch(value):
        digits = value.lstrip("0") or "0"  # int() refuses over 4,300 digits: too big anyway
        number = int(digits) if len(digits) <= len(str(MAX_VERSION)) else MAX_VERSION + 1
    else:
        shown = value if not isinstance(value, str) or len(value) <= 40 else f"{value[:40]}..."
        raise InvalidInputError(
            f"{shown!r} is not a version: a version is a positive integer written with the "
            "digits 0-9 only (no sign, space or '_')"
        )
    if not 1 <= number <= MAX_VERSION:
        raise InvalidInputError(
            f"{value!r} is not a version: a version is a positive integer from 1 to {MAX_VERSION}"
        )
    return number


def parse_model_ref(ref: object) -> tuple[str, str | None, int | None]:
    """``name@alias`` -> (name, alias, None); ``name/3`` -> (name, None, 3); ``name`` and
    ``name@latest`` -> (name, None, None), the newest version."""
    if not isinstance(ref, str) or not ref:
        raise InvalidInputError(
            f"a model reference is text like recs@champion, recs/3 or recs, not {ref!r}"
        )
    if "@" in ref:
        name, _, alias = ref.partition("@")
        check_name(name)
        check_alias(alias)
        return (name, None, None) if alias == LATEST else (name, alias, None)
    if "/" in ref:
        name, _, version = ref.partition("/")
        check_name(name)
        try:
            number = parse_version(version)
        except InvalidInputError as exc:
            raise InvalidInputError(f"{ref!r}: {exc}") from None
        return name, None, number
    check_name(ref)
    return ref, None, None


def model_ref_name(value: object) -> str | None:
    """The model a value such as ``recs@challenger`` or ``recs/3`` names; None for plain data.

    A bare word is data, not a model: only text with ``@`` or ``/`` that parses is a reference.
    """
    if not isinstance(value, str) or ("@" not in value and "/" not in value):
        return None
    try:
        return parse_model_ref(value)[0]
    except InvalidInputError:
        return None
