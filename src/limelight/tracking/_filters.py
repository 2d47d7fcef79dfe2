"""The filter grammar of ``search_runs``: a few comparisons joined by ``and``.

::

    filter     := comparison ("and" comparison)*
    comparison := field operator value
    field      := metrics.NAME | params.NAME | tag | status | flow | kind | id | created_at
    operator   := = | == | != | < | <= | > | >=
    value      := number | 'text' | "text" | true | false

``metrics.NAME`` is a run's latest value of that metric; ``params.NAME`` compares as a number
when the value is a number and as text otherwise; ``tag = 'x'`` keeps runs with that tag. Names
with spaces or operators go in backticks: ``metrics.`ndcg@10` > 0.4``. Anything else is an error
that points at the offending place. The result is a SQLAlchemy expression, never SQL text.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from limelight.core.errors import InvalidInputError
from limelight.store.schema import metrics, params, runs, tags

__all__ = ["FilterError", "Ordering", "parse_filter", "parse_order"]

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<op><=|>=|==|!=|=|<|>)
      | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
      | (?P<number>-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![\w.]))
      | (?P<field>(?:metrics|params)\.(?:`[^`]+`|[^\s=!<>`]+)|[A-Za-z_][\w]*)
    )""",
    re.VERBOSE,
)
_ATTRIBUTES = {
    "status": runs.c.status,
    "flow": runs.c.flow,
    "kind": runs.c.kind,
    "id": runs.c.id,
    "created_at": runs.c.created_at,
}


class FilterError(InvalidInputError):
    """A filter or ordering that does not follow the grammar."""


def _fail(text: str, position: int, message: str) -> FilterError:
    return FilterError(f"{message} at position {position}:\n  {text}\n  {' ' * position}^")


@dataclass
class _Token:
    kind: str
    text: str
    position: int


def _tokens(text: str) -> list[_Token]:
    found: list[_Token] = []
    position = 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            start = len(text[position:]) - len(text[position:].lstrip()) + position
            raise _fail(text, start, "unexpected text")
        kind = match.lastgroup or ""
        found.append(_Token(kind, match.group(kind), match.start(kind)))
        position = match.end()
    return found


def _name(field: str) -> str:
    name = field.split(".", 1)[1]
    return name[1:-1] if name.startswith("`") else name


def latest_metric(name: str) -> Any:
    """A run's latest value of metric ``name`` (by step, then by write order)."""
    m = metrics.alias("m")
    return (
        sa.select(m.c.value)
        .where(m.c.run_id == runs.c.id, m.c.name == name)
        .order_by(m.c.step.desc(), m.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )


def param_text(name: str) -> Any:
    p = params.alias("p")
    return (
        sa.select(sa.cast(p.c.value, sa.Text))
        .where(p.c.run_id == runs.c.id, p.c.name == name)
        .limit(1)
        .scalar_subquery()
    )


class _JsonIsNumber(FunctionElement[bool]):
    """True where a JSON value is a number (compiled per dialect; no call back into Python)."""

    type = sa.Boolean()
    inherit_cache = True
    name = "json_is_number"


@compiles(_JsonIsNumber, "sqlite")
def _json_is_number_sqlite(element: _JsonIsNumber, compiler: Any, **kw: Any) -> str:
    return f"json_type({compiler.process(element.clauses, **kw)}) IN ('integer', 'real')"


@compiles(_JsonIsNumber, "postgresql")
def _json_is_number_postgresql(element: _JsonIsNumber, compiler: Any, **kw: Any) -> str:
    return f"json_typeof({compiler.process(element.clauses, **kw)}) = 'number'"


def param_number(name: str) -> Any:
    """A run's parameter ``name`` as a number, NULL where it is not a number."""
    p = params.alias("p")
    number = sa.case(
        (_JsonIsNumber(p.c.value), sa.cast(sa.cast(p.c.value, sa.Text), sa.Float)), else_=None
    )
    return (
        sa.select(number)
        .where(p.c.run_id == runs.c.id, p.c.name == name)
        .limit(1)
        .scalar_subquery()
    )


def _value(token: _Token, text: str) -> Any:
    if token.kind == "number":
        return float(token.text) if any(c in token.text for c in ".eE") else int(token.text)
    if token.kind == "string":
        return json.loads('"' + token.text[1:-1].replace('"', '\\"').replace("\\'", "'") + '"')
    if token.kind == "field" and token.text.lower() in ("true", "false"):
        return token.text.lower() == "true"
    raise _fail(text, token.position, "expected a number, a 'quoted' text, true or false")


def _compare(column: Any, op: str, value: Any) -> Any:
    ops = {
        "=": column.__eq__,
        "==": column.__eq__,
        "!=": column.__ne__,
        "<": column.__lt__,
        "<=": column.__le__,
        ">": column.__gt__,
        ">=": column.__ge__,
    }
    return ops[op](value)


def _comparison(field: _Token, op: _Token, value_token: _Token, text: str) -> Any:
    value = _value(value_token, text)
    name = field.text
    if name.startswith("metrics."):
        if isinstance(value, str | bool):
            raise _fail(text, value_token.position, f"{name} is a number; compare it with a number")
        return _compare(latest_metric(_name(name)), op.text, value)
    if name.startswith("params."):
        if isinstance(value, int | float) and not isinstance(value, bool):
            return _compare(param_number(_name(name)), op.text, value)
        if op.text not in ("=", "==", "!="):
            raise _fail(text, op.position, f"{name} compared with text takes = or != only")
        return _compare(param_text(_name(name)), op.text, json.dumps(value))
    if name == "tag":
        if op.text not in ("=", "==", "!=") or not isinstance(value, str):
            raise _fail(text, op.position, "tag takes = or != and a 'quoted' tag")
        has = sa.exists().where(tags.c.run_id == runs.c.id, tags.c.tag == value)
        return has if op.text != "!=" else ~has
    column = _ATTRIBUTES.get(name.lower())
    if column is None:
        known = ", ".join(["metrics.NAME", "params.NAME", "tag", *_ATTRIBUTES])
        raise _fail(text, field.position, f"unknown field {name!r} (known: {known})")
    if name in ("status", "flow", "kind") and not isinstance(value, str):
        raise _fail(text, value_token.position, f"{name} is text; quote the value")
    return _compare(column, op.text, value)


def parse_filter(text: str) -> Any:
    """The SQLAlchemy condition for ``text`` (None for an empty filter)."""
    if not isinstance(text, str):
        raise FilterError(f"a filter is text, not {type(text).__name__}")
    tokens = _tokens(text)
    if not tokens:
        return None
    conditions = []
    i = 0
    while True:
        if len(tokens) - i < 3:
            at = len(text.rstrip())
            raise _fail(text, at, "expected a comparison such as metrics.ndcg > 0.4")
        field, op, value = tokens[i : i + 3]
        if field.kind != "field":
            raise _fail(
                text, field.position, "expected a field such as metrics.NAME or params.NAME"
            )
        if op.kind != "op":
            raise _fail(text, op.position, "expected an operator (=, !=, <, <=, >, >=)")
        conditions.append(_comparison(field, op, value, text))
        i += 3
        if i == len(tokens):
            break
        if tokens[i].kind != "field" or tokens[i].text.lower() != "and":
            raise _fail(text, tokens[i].position, "expected 'and' between comparisons")
        i += 1
        if i == len(tokens):
            raise _fail(text, len(text), "expected a comparison after 'and'")
    return sa.and_(*conditions)


@dataclass(frozen=True)
class Ordering:
    expression: Any
    descending: bool


def parse_order(text: str) -> Ordering:
    """``metrics.NAME [asc|desc]``, ``params.NAME``, or an attribute such as ``created_at desc``."""
    parts = text.strip().rsplit(None, 1)
    direction = "asc"
    if len(parts) == 2 and parts[1].lower() in ("asc", "desc"):
        field, direction = parts[0], parts[1].lower()
    else:
        field = text.strip()
    if field.startswith("metrics."):
        expression = latest_metric(_name(field))
    elif field.startswith("params."):
        expression = param_number(_name(field))
    elif field.lower() in _ATTRIBUTES:
        expression = _ATTRIBUTES[field.lower()]
    else:
        raise FilterError(
            f"cannot sort by {field!r}: use metrics.NAME, params.NAME or one of "
            f"{', '.join(_ATTRIBUTES)}, then optionally asc or desc"
        )
    return Ordering(expression, direction == "desc")
