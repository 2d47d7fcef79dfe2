"""``runs/search``: MLflow's filter grammar and ``order_by`` over Limelight's tables.

::

    filter     := comparison (AND comparison)*
    comparison := entity.KEY operator value
    entity     := metrics | params | tags | attributes (also metric, param, tag, attribute, run)
    operator   := = | != | < | <= | > | >= | LIKE | ILIKE | IN | NOT IN | IS NULL | IS NOT NULL
    value      := number | 'text' | "text" | ('text', ...)

Keys with spaces or symbols go in backticks or double quotes. Metrics compare a run's latest
value as Limelight's own filter does (:func:`limelight.tracking._filters.latest_metric`);
params compare as text (:func:`~limelight.tracking._filters.param_string`). The result is a
SQLAlchemy expression, never SQL text. Pages are offsets in an opaque token.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from limelight.store.schema import mlflow_experiments, mlflow_runs, run_tags, runs
from limelight.tracking._filters import MAX_CLAUSES, latest_metric, param_string
from limelight.ui._mlflow._experiments import page_token, read_page_token, text_match
from limelight.ui._mlflow._protocol import MAX_RESULTS, Fields, Protocol, bad, parse_experiment_id
from limelight.ui._mlflow._runs import _run_query, runs_json

__all__ = ["HANDLERS", "parse_mlflow_filter", "parse_mlflow_order"]

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<ident>[A-Za-z_][A-Za-z_]*\.(?:`[^`]*`|"[^"]*"|[A-Za-z0-9_\-./:@]+)|[A-Za-z_][A-Za-z_]*)
    | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
    | (?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)
    | (?P<op>>=|<=|!=|<>|==|=|<|>)
    | (?P<paren>[(),])
    )""",
    re.VERBOSE,
)
_ENTITIES = {
    "metrics": "metric",
    "metric": "metric",
    "params": "param",
    "param": "param",
    "parameters": "param",
    "parameter": "param",
    "tags": "tag",
    "tag": "tag",
    "attributes": "attr",
    "attribute": "attr",
    "attr": "attr",
    "run": "attr",
}
_TEXT_ATTRS = ("run_id", "run_name", "status", "user_id", "artifact_uri", "lifecycle_stage")
_NUMBER_ATTRS = ("start_time", "end_time", "created")


@dataclass(frozen=True)
class _Tok:
    kind: str
    text: str
    at: int


def _tokens(text: str) -> list[_Tok]:
    found, i = [], 0
    while i < len(text):
        if text[i:].strip() == "":
            break
        match = _TOKEN.match(text, i)
        if match is None or match.end() == i:
            raise bad(f"Invalid filter '{text}': cannot read it at character {i + 1}")
        kind = match.lastgroup or ""
        found.append(_Tok(kind, match.group(kind), match.start(kind)))
        i = match.end()
    return found


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "`\"'":
        return text[1:-1].replace("\\" + text[0], text[0])
    return text


def _split(ident: str, text: str) -> tuple[str, str]:
    entity, dot, key = ident.partition(".")
    if not dot:
        if ident in _TEXT_ATTRS or ident in _NUMBER_ATTRS:
            return "attr", ident
        raise bad(
            f"Invalid filter '{text}': invalid identifier {ident!r}; use metrics.KEY, "
            "params.KEY, tags.KEY or attributes.NAME"
        )
    kind = _ENTITIES.get(entity.lower())
    if kind is None:
        raise bad(
            f"Invalid entity type '{entity}'. Valid values are "
            "['metric', 'parameter', 'tag', 'attribute', 'dataset']"
        )
    return kind, _unquote(key)


def _attribute(name: str, text: str) -> tuple[Any, bool]:
    """(column, is_number) of an attribute."""
    lowered = {"created": "start_time", "run_uuid": "run_id"}.get(name, name)
    columns = {
        "run_id": sa.cast(runs.c.id, sa.Text),
        "run_name": sa.func.coalesce(
            mlflow_runs.c.name, runs.c.flow + "/" + sa.cast(runs.c.id, sa.Text)
        ),
        "status": mlflow_runs.c.status,
        "user_id": runs.c.user,
        "lifecycle_stage": sa.func.coalesce(mlflow_runs.c.lifecycle_stage, "active"),
        "start_time": sa.cast(sa.func.round(runs.c.created_at * 1000), sa.BigInteger),
        "end_time": sa.cast(sa.func.round(runs.c.finished_at * 1000), sa.BigInteger),
        "artifact_uri": mlflow_experiments.c.artifact_location
        + "/"
        + sa.cast(runs.c.id, sa.Text)
        + "/artifacts",
    }
    if lowered not in columns:
        raise bad(
            f"Invalid attribute key '{name}' specified. Valid keys are "
            f"'{sorted(set(_TEXT_ATTRS) | set(_NUMBER_ATTRS))}'"
        )
    if lowered == "status":  # Limelight's own runs have no MLflow status: map theirs
        mapped = sa.case(
            *(
                (runs.c.status == lime, mlf)
                for lime, mlf in (
                    ("running", "RUNNING"),
                    ("succeeded", "FINISHED"),
                    ("failed", "FAILED"),
                )
            ),
            else_="KILLED",
        )
        return sa.func.coalesce(mlflow_runs.c.status, mapped), False
    return columns[lowered], lowered in ("start_time", "end_time")


def _compare(column: Any, op: str, value: Any) -> Any:
    op = op.upper()
    if op in ("=", "=="):
        return column == value
    if op in ("!=", "<>"):
        return column != value
    if op == "<":
        return column < value
    if op == "<=":
        return column <= value
    if op == ">":
        return column > value
    if op == ">=":
        return column >= value
    if op in ("LIKE", "ILIKE"):
        return text_match(column, op, str(value))
    if op == "IN":
        return column.in_(value)
    if op == "NOT IN":
        return column.not_in(value)
    raise AssertionError(op)  # pragma: no cover


def _tag_value(key: str) -> Any:
    t = run_tags.alias("t")
    return (
        sa.select(t.c.value)
        .where(t.c.run_id == runs.c.id, t.c.key == key)
        .limit(1)
        .scalar_subquery()
    )


def _clause(toks: list[_Tok], i: int, text: str) -> tuple[Any, int]:
    if i >= len(toks) or toks[i].kind != "ident":
        raise bad(f"Invalid filter '{text}': expected an identifier such as metrics.KEY")
    kind, key = _split(toks[i].text, text)
    i += 1
    words = []
    while (
        i < len(toks)
        and toks[i].kind == "ident"
        and toks[i].text.upper() in ("LIKE", "ILIKE", "IN", "NOT", "IS", "NULL")
    ):
        words.append(toks[i].text.upper())
        i += 1
    if words:
        op = " ".join(words)
    elif i < len(toks) and toks[i].kind == "op":
        op = toks[i].text
        i += 1
    else:
        raise bad(f"Invalid filter '{text}': expected a comparison operator after {key!r}")
    if op in ("IS NULL", "IS NOT NULL"):
        if kind not in ("tag", "param", "metric"):
            raise bad(f"Invalid filter '{text}': IS NULL applies to metrics, params and tags")
        column = _column(kind, key, text)[0]
        return (column.is_(None) if op == "IS NULL" else column.is_not(None)), i
    if op not in ("=", "==", "!=", "<>", "<", "<=", ">", ">=", "LIKE", "ILIKE", "IN", "NOT IN"):
        raise bad(f"Invalid filter '{text}': invalid comparator '{op}'")
    if op in ("IN", "NOT IN"):
        if i >= len(toks) or toks[i].text != "(":
            raise bad(f"Invalid filter '{text}': IN takes a parenthesized list of strings")
        i += 1
        items = []
        while i < len(toks) and toks[i].text != ")":
            if toks[i].kind != "string":
                raise bad(f"Invalid filter '{text}': IN lists hold quoted strings")
            items.append(_unquote(toks[i].text))
            i += 1
            if i < len(toks) and toks[i].text == ",":
                i += 1
        if i >= len(toks):
            raise bad(f"Invalid filter '{text}': the IN list is not closed")
        i += 1
        in_attribute = kind == "attr" and key in ("run_id", "run_name", "status", "user_id")
        if not in_attribute and kind not in ("param", "tag"):
            raise bad(
                f"Invalid filter '{text}': IN applies to run_id, run_name, status, "
                "user_id, params and tags"
            )
        column, _ = _column(kind, key, text)
        return _compare(column, op, items), i
    if i >= len(toks) or toks[i].kind not in ("string", "number"):
        raise bad(f"Invalid filter '{text}': expected a value after '{op}'")
    value_tok = toks[i]
    i += 1
    column, numeric = _column(kind, key, text)
    if numeric:
        if value_tok.kind != "number":
            raise bad(
                f"Invalid filter '{text}': expected numeric value type for {kind} "
                f"'{key}'. Found {value_tok.text}"
            )
        if op.upper() in ("LIKE", "ILIKE"):
            raise bad(f"Invalid comparator '{op}' for numeric '{key}'")
        return _compare(column, op, float(value_tok.text)), i
    if value_tok.kind != "string":
        raise bad(
            f"Invalid filter '{text}': expected a quoted string value for {kind} '{key}'. "
            f"Found {value_tok.text}"
        )
    if op in ("<", "<=", ">", ">=") and kind != "attr":
        raise bad(f"Invalid comparator '{op}' not one of '['=', '!=', 'LIKE', 'ILIKE']'")
    return _compare(column, op, _unquote(value_tok.text)), i


def _column(kind: str, key: str, text: str) -> tuple[Any, bool]:
    if kind == "metric":
        return latest_metric(key), True
    if kind == "param":
        return param_string(key), False
    if kind == "tag":
        return _tag_value(key), False
    return _attribute(key, text)


def parse_mlflow_filter(text: str) -> Any:
    """The SQLAlchemy condition for MLflow's ``filter`` (None when empty)."""
    toks = _tokens(text)
    if not toks:
        return None
    conditions: list[Any] = []
    i = 0
    while True:
        if len(conditions) == MAX_CLAUSES:
            raise bad(f"Invalid filter '{text}': at most {MAX_CLAUSES} comparisons")
        condition, i = _clause(toks, i, text)
        conditions.append(condition)
        if i == len(toks):
            break
        if toks[i].kind != "ident" or toks[i].text.upper() != "AND":
            raise bad(
                f"Invalid filter '{text}': expected AND between comparisons, "
                f"found '{toks[i].text}' (OR is not supported)"
            )
        i += 1
    return sa.and_(*conditions)


def parse_mlflow_order(text: str) -> tuple[Any, bool]:
    toks = _tokens(text)
    descending = False
    if len(toks) == 2 and toks[1].kind == "ident" and toks[1].text.upper() in ("ASC", "DESC"):
        descending = toks[1].text.upper() == "DESC"
        toks = toks[:1]
    if len(toks) != 1 or toks[0].kind != "ident":
        raise bad(f"Invalid order_by clause '{text}'. Could not be parsed.")
    kind, key = _split(toks[0].text, text)
    column, _ = _column(kind, key, text)
    return column, descending


def search(p: Protocol, f: Fields) -> dict[str, Any]:
    ids = [parse_experiment_id(e, "experiment_ids") for e in f.items("experiment_ids")]
    view = f.data.get("run_view_type") or "ACTIVE_ONLY"
    stages = {
        "ACTIVE_ONLY": ["active"],
        "DELETED_ONLY": ["deleted"],
        "ALL": ["active", "deleted"],
        1: ["active"],
        2: ["deleted"],
        3: ["active", "deleted"],
    }.get(view)
    if stages is None:
        raise bad(f"Invalid run_view_type {view!r}: use ACTIVE_ONLY, DELETED_ONLY or ALL")
    limit = f.integer("max_results", low=1, high=MAX_RESULTS) or 1000
    offset = read_page_token(f)
    query = _run_query().where(
        mlflow_experiments.c.id.in_(ids),
        sa.func.coalesce(mlflow_runs.c.lifecycle_stage, "active").in_(stages),
    )
    condition = parse_mlflow_filter(f.string("filter") or "")
    if condition is not None:
        query = query.where(condition)
    orders = f.strings("order_by")
    for text in orders:
        column, descending = parse_mlflow_order(text)
        query = query.order_by(
            column.desc().nulls_last() if descending else column.asc().nulls_last()
        )
    if not any("start_time" in o or "created" in o for o in orders):
        query = query.order_by(runs.c.created_at.desc())
    # ties in the order: MLflow's run ids are text and sort as text; so do these
    query = query.order_by(sa.cast(runs.c.id, sa.Text).asc()).offset(offset).limit(limit + 1)
    with p.store.metadata.connect() as conn:
        rows = conn.execute(query).all()
        out: dict[str, Any] = {"runs": runs_json(conn, list(rows[:limit]))}
    if len(rows) > limit:
        out["next_page_token"] = page_token(offset + limit)
    if not out["runs"]:
        del out["runs"]
    return out


HANDLERS = {("runs/search", "POST"): search}
