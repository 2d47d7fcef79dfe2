"""The lexical layer of the filter grammar: tokens, quoted texts and numbers, read strictly.

Quoted text takes the escapes ``\\\\ \\' \\" \\n \\t`` and ``\\uXXXX`` (exactly four hex digits;
a surrogate only as the first half of a pair). Raw control characters inside quotes, lone
surrogates anywhere and NUL are refused, since neither SQLite nor PostgreSQL can compare them.
Numbers are ASCII digits only; an integer must fit in 64 bits and a float must be finite, and a
number longer than :data:`MAX_NUMBER_CHARS` is refused before it is converted. Every refusal is a
:class:`FilterError` that points at the offending place.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass

from limelight.core.errors import InvalidInputError

__all__ = [
    "INT64_MAX",
    "INT64_MIN",
    "MAX_FILTER_CHARS",
    "MAX_NUMBER_CHARS",
    "FilterError",
    "Token",
    "check_text",
    "decode_number",
    "decode_text",
    "field_name",
    "filter_error",
    "tokenize",
]

MAX_FILTER_CHARS = 20_000
MAX_NUMBER_CHARS = 100
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
_CONTROL = "\x00-\x1f\x7f-\x9f"
_TOKEN = re.compile(
    rf"""(?:
        (?P<op><=|>=|==|!=|=|<|>)
      | (?P<string>'(?:[^'\\]|\\[\s\S])*'|"(?:[^"\\]|\\[\s\S])*")
      | (?P<number>-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![\w.]))
      | (?P<field>(?:metrics|params)\.(?:`[^`]+`|[^\s=!<>`{_CONTROL}]+)|[A-Za-z_]\w*)
    )""",
    re.VERBOSE | re.ASCII,
)
_SPACE = re.compile(r"\s*", re.ASCII)
_ESCAPES = {"\\": "\\", "'": "'", '"': '"', "n": "\n", "t": "\t"}
_HEX = frozenset("0123456789abcdefABCDEF")
_ESCAPE_HELP = "use \\\\, \\', \\\", \\n, \\t or \\uXXXX"


class FilterError(InvalidInputError):
    """A filter or ordering that does not follow the grammar."""


@dataclass(frozen=True)
class Token:
    kind: str  # op, string, number or field
    text: str
    position: int


def _visible(text: str) -> str:
    """``text`` with what a terminal cannot show (controls, surrogates) as ``?``, one column each."""
    return "".join(c if c.isprintable() else "?" for c in text)


def filter_error(text: str, position: int, message: str) -> FilterError:
    """An error that quotes the text around ``position`` (at most 40 characters each side)."""
    start, end = max(0, position - 40), min(len(text), position + 40)
    before = ("…" if start else "") + _visible(text[start:position])
    after = _visible(text[position:end]) + ("…" if end < len(text) else "")
    return FilterError(
        f"{message} at position {position}:\n  {before}{after}\n  {' ' * len(before)}^"
    )


def check_text(value: str, what: str) -> None:
    """Refuse text that no database can compare: lone surrogates and NUL characters."""
    for position, char in enumerate(value):
        if "\ud800" <= char <= "\udfff":
            raise filter_error(
                value,
                position,
                f"{what} holds a lone surrogate (U+{ord(char):04X}), which is not text",
            )
        if char == "\x00":
            raise filter_error(value, position, f"{what} holds a NUL character")


def _unexpected(text: str, position: int) -> FilterError:
    char = text[position]
    if char in "'\"":
        return filter_error(text, position, f"the text opened by {char} is never closed")
    if "`" in text[position : position + 2]:
        return filter_error(text, position, "a `name in backticks` is never closed")
    if char.isdigit() or unicodedata.category(char) in ("Nd", "No", "Nl"):
        return filter_error(
            text, position, f"{char!r} is not an ASCII digit: numbers are written with 0-9"
        )
    return filter_error(text, position, "unexpected text")


def _end_of_space(text: str, position: int) -> int:
    match = _SPACE.match(text, position)
    return match.end() if match else position


def tokenize(text: str, what: str = "the filter") -> list[Token]:
    """The tokens of ``text``; anything that is not a token is an error that points at it."""
    if len(text) > MAX_FILTER_CHARS:
        raise FilterError(
            f"{what} has {len(text)} characters; at most {MAX_FILTER_CHARS} are accepted"
        )
    check_text(text, what)
    found: list[Token] = []
    position = _end_of_space(text, 0)
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise _unexpected(text, position)
        kind = match.lastgroup or ""
        found.append(Token(kind, match.group(kind), position))
        position = _end_of_space(text, match.end())
    return found


def field_name(token: Token, text: str) -> str:
    """The NAME of ``metrics.NAME`` or ``params.NAME`` (backticks removed)."""
    name = token.text.split(".", 1)[1]
    if name.startswith("`"):
        name = name[1:-1]
        for offset, char in enumerate(name):
            if unicodedata.category(char) == "Cc":
                raise filter_error(
                    text,
                    token.position + token.text.index("`") + 1 + offset,
                    f"a control character (U+{ord(char):04X}) in a name",
                )
    return name


def _unicode_escape(body: str, i: int, text: str, base: int) -> tuple[str, int]:
    """The character of the ``\\uXXXX`` escape at ``body[i]`` (a pair for a surrogate), and its length."""

    def code_at(j: int) -> int | None:
        digits = body[j + 2 : j + 6]
        if body[j : j + 2] != "\\u" or len(digits) != 4 or not _HEX.issuperset(digits):
            return None
        return int(digits, 16)

    code = code_at(i)
    if code is None:
        raise filter_error(text, base + i, "\\u takes exactly four hex digits, as in \\u00e9")
    if 0xDC00 <= code <= 0xDFFF:
        raise filter_error(text, base + i, f"\\u{code:04x} is a lone surrogate, not a character")
    if 0xD800 <= code <= 0xDBFF:
        low = code_at(i + 6)
        if low is None or not 0xDC00 <= low <= 0xDFFF:
            raise filter_error(
                text,
                base + i,
                f"\\u{code:04x} is a lone surrogate: a low \\uDC00-\\uDFFF must follow",
            )
        return chr(0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)), 12
    if code == 0:
        raise filter_error(text, base + i, "\\u0000 (NUL) cannot be stored or compared")
    return chr(code), 6


def decode_text(token: Token, text: str) -> str:
    """The text a quoted token stands for, escapes applied."""
    body, base = token.text[1:-1], token.position + 1
    out: list[str] = []
    i = 0
    while i < len(body):
        char = body[i]
        if char == "\\":
            follower = body[i + 1]  # the token's pattern puts a character after every backslash
            if follower in _ESCAPES:
                out.append(_ESCAPES[follower])
                i += 2
                continue
            if follower == "u":
                decoded, length = _unicode_escape(body, i, text, base)
                out.append(decoded)
                i += length
                continue
            raise filter_error(
                text,
                base + i,
                f"unknown escape \\{_visible(follower)} in quoted text: {_ESCAPE_HELP}",
            )
        if unicodedata.category(char) == "Cc":
            raise filter_error(
                text,
                base + i,
                f"a raw control character (U+{ord(char):04X}) inside quotes: write it as an "
                "escape (\\t, \\n or \\uXXXX)",
            )
        out.append(char)
        i += 1
    return "".join(out)


def decode_number(token: Token, text: str) -> int | float:
    """An int that fits in 64 bits, or a finite float."""
    if len(token.text) > MAX_NUMBER_CHARS:
        raise filter_error(
            text,
            token.position,
            f"a number of {len(token.text)} characters; at most {MAX_NUMBER_CHARS} are accepted",
        )
    if any(c in token.text for c in ".eE"):
        number = float(token.text)
        if not math.isfinite(number):
            raise filter_error(text, token.position, f"{token.text} is too large for a float")
        return number
    value = int(token.text)
    if not INT64_MIN <= value <= INT64_MAX:
        raise filter_error(
            text,
            token.position,
            f"{token.text} does not fit in 64 bits (integers go from {INT64_MIN} to {INT64_MAX})",
        )
    return value
