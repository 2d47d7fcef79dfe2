"""The filter grammar of ``search_runs``: a few comparisons joined by ``and``.

::

    filter     := comparison ("and" comparison)*
    comparison := field operator value
    field      := metrics.NAME | params.NAME | tag | status | flow | kind | id | created_at
    operator   := = | == | != | < | <= | > | >=
    value      := number | 'text' | "text" | true | false

``metrics.NAME`` is a run's latest value of that metric; ``params.NAME`` compares as a number
when the value is a number and as text otherwise; ``tag = 'x'`` keeps runs with that tag. Names
with spaces or operators go in backticks: ``metrics.`ndcg@10` > 0.4``. ``id`` and
``created_at`` take numbers, ``status``, ``flow`` and ``kind`` quoted text. Texts, numbers and
their limits are read by :mod:`limelight.tracking._filter_lexer`; a filter holds at most
:data:`MAX_CLAUSES` comparisons. Anything else is an error that points at the offending place.
The result is a SQLAlchemy expression, never SQL text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from limelight.store.schema import metrics, params, runs, tags
from limelight.tracking._filter_lexer import (
    FilterError,
    Token,
    decode_number,
    decode_text,
    field_name,
    filter_error,
    tokenize,
)

__all__ = [
    "MAX_CLAUSES",
    "FilterError",
    "Ordering",
    "case_sensitive_like",
    "latest_metric",
    "param_number",
    "param_string",
    "parse_filter",
    "parse_order",
]

MAX_CLAUSES = 200  # far below SQLite's expression depth limit (1000), and more than a person types
_ATTRIBUTES = {
    "status": runs.c.status,
    "flow": runs.c.flow,
    "kind": runs.c.kind,
    "id": runs.c.id,
    "created_at": runs.c.created_at,
}
_TEXT_ATTRIBUTES = ("status", "flow", "kind")
_EQUALITY = ("=", "==", "!=")


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


class _JsonText(FunctionElement[str]):
    """A JSON value as text without the quotes of a JSON string (``"a"`` -> ``a``, ``5`` -> ``5``)."""

    type = sa.Text()
    inherit_cache = True
    name = "json_text"


@compiles(_JsonText, "sqlite")
def _json_text_sqlite(element: _JsonText, compiler: Any, **kw: Any) -> str:
    return f"CAST(json_extract({compiler.process(element.clauses, **kw)}, '$') AS TEXT)"


@compiles(_JsonText, "postgresql")
def _json_text_postgresql(element: _JsonText, compiler: Any, **kw: Any) -> str:
    return f"(({compiler.process(element.clauses, **kw)}) #>> '{{}}')"


class _CaseSensitiveLike(FunctionElement[bool]):
    """``column LIKE pattern``, case-sensitive on every dialect (SQLite's LIKE folds ASCII case).

    Its clauses are (column, the LIKE pattern, the same pattern as a GLOB); SQLite compiles the
    GLOB, every other dialect the LIKE (PostgreSQL's LIKE is case-sensitive).
    """

    type = sa.Boolean()
    inherit_cache = True
    name = "case_sensitive_like"


@compiles(_CaseSensitiveLike, "sqlite")
def _like_sqlite(element: _CaseSensitiveLike, compiler: Any, **kw: Any) -> str:
    column, _, glob = element.clauses.clauses
    return f"({compiler.process(column, **kw)} GLOB {compiler.process(glob, **kw)})"


@compiles(_CaseSensitiveLike)
def _like_default(element: _CaseSensitiveLike, compiler: Any, **kw: Any) -> str:
    column, like, _ = element.clauses.clauses
    return f"({compiler.process(column, **kw)} LIKE {compiler.process(like, **kw)})"


def _glob(pattern: str) -> str:
    """A LIKE pattern as a GLOB: ``%`` -> ``*``, ``_`` -> ``?``; GLOB's own specials taken
    literally."""
    out = []
    for char in pattern:
        if char == "%":
            out.append("*")
        elif char == "_":
            out.append("?")
        elif char in "*?[]":
            out.append(f"[{char}]")
        else:
            out.append(char)
    return "".join(out)


def case_sensitive_like(column: Any, pattern: str) -> Any:
    """``column LIKE pattern`` with SQL's case-sensitive meaning, on SQLite too."""
    return _CaseSensitiveLike(column, sa.literal(pattern), sa.literal(_glob(pattern)))


def param_string(name: str) -> Any:
    """A run's parameter ``name`` as plain text (MLflow's view of a parameter)."""
    p = params.alias("p")
    return (
        sa.select(_JsonText(p.c.value))
        .where(p.c.run_id == runs.c.id, p.c.name == name)
        .limit(1)
        .scalar_subquery()
    )


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


def _value(token: Token, text: str) -> Any:
    if token.kind == "number":
        return decode_number(token, text)
    if token.kind == "string":
        return decode_text(token, text)
    if token.kind == "field" and token.text.lower() in ("true", "false"):
        return token.text.lower() == "true"
    raise filter_error(text, token.position, "expected a number, a 'quoted' text, true or false")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


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


def _comparison(field: Token, op: Token, value_token: Token, text: str) -> Any:
    value = _value(value_token, text)
    name = field.text
    if name.startswith("metrics."):
        if not _is_number(value):
            raise filter_error(
                text, value_token.position, f"{name} is a number; compare it with a number"
            )
        return _compare(latest_metric(field_name(field, text)), op.text, value)
    if name.startswith("params."):
        if _is_number(value):
            return _compare(param_number(field_name(field, text)), op.text, value)
        if op.text not in _EQUALITY:
            raise filter_error(text, op.position, f"{name} compared with text takes = or != only")
        return _compare(param_text(field_name(field, text)), op.text, json.dumps(value))
    attribute = name.lower()
    if attribute == "tag":
        if op.text not in _EQUALITY or not isinstance(value, str):
            raise filter_error(text, op.position, "tag takes = or != and a 'quoted' tag")
        has = sa.exists().where(tags.c.run_id == runs.c.id, tags.c.tag == value)
        return has if op.text != "!=" else ~has
    column = _ATTRIBUTES.get(attribute)
    if column is None:
        known = ", ".join(["metrics.NAME", "params.NAME", "tag", *_ATTRIBUTES])
        raise filter_error(text, field.position, f"unknown field {name!r} (known: {known})")
    if attribute in _TEXT_ATTRIBUTES:
        if not isinstance(value, str):
            raise filter_error(text, value_token.position, f"{name} is text; quote the value")
    elif not _is_number(value):
        raise filter_error(
            text, value_token.position, f"{name} is a number; compare it with a number"
        )
    return _compare(column, op.text, value)


def parse_filter(text: str) -> Any:
    """The SQLAlchemy condition for ``text`` (None for an empty filter)."""
    if not isinstance(text, str):
        raise FilterError(f"a filter is text, not {type(text).__name__}")
    tokens = tokenize(text)
    if not tokens:
        return None
    conditions: list[Any] = []
    i = 0
    while True:
        if len(conditions) == MAX_CLAUSES:
            raise filter_error(
                text,
                tokens[i].position,
                f"a filter holds at most {MAX_CLAUSES} comparisons; this one has more",
            )
        if len(tokens) - i < 3:
            at = len(text.rstrip())
            raise filter_error(text, at, "expected a comparison such as metrics.ndcg > 0.4")
        field, op, value = tokens[i : i + 3]
        if field.kind != "field":
            raise filter_error(
                text, field.position, "expected a field such as metrics.NAME or params.NAME"
            )
        if op.kind != "op":
            raise filter_error(text, op.position, "expected an operator (=, !=, <, <=, >, >=)")
        conditions.append(_comparison(field, op, value, text))
        i += 3
        if i == len(tokens):
            break
        if tokens[i].kind != "field" or tokens[i].text.lower() != "and":
            raise filter_error(text, tokens[i].position, "expected 'and' between comparisons")
        i += 1
        if i == len(tokens):
            raise filter_error(text, len(text), "expected a comparison after 'and'")
    return sa.and_(*conditions)


@dataclass(frozen=True)
class Ordering:
    expression: Any
    descending: bool


def parse_order(text: str) -> Ordering:
    """``metrics.NAME [asc|desc]``, ``params.NAME``, or an attribute such as ``created_at desc``."""
    if not isinstance(text, str):
        raise FilterError(f"an ordering is text, not {type(text).__name__}")
    tokens = tokenize(text, "the ordering")
    direction = "asc"
    if len(tokens) == 2 and tokens[1].kind == "field" and tokens[1].text.lower() in ("asc", "desc"):
        direction = tokens[1].text.lower()
        tokens = tokens[:1]
    field = tokens[0] if len(tokens) == 1 and tokens[0].kind == "field" else None
    if field is not None and field.text.startswith("metrics."):
        expression = latest_metric(field_name(field, text))
    elif field is not None and field.text.startswith("params."):
        expression = param_number(field_name(field, text))
    elif field is not None and field.text.lower() in _ATTRIBUTES:
        expression = _ATTRIBUTES[field.text.lower()]
    else:
        raise FilterError(
            f"cannot sort by {text.strip()!r}: use metrics.NAME, params.NAME (a NAME with spaces "
            f"in `backticks`) or one of {', '.join(_ATTRIBUTES)}, then optionally asc or desc"
        )
    return Ordering(expression, direction == "desc")
