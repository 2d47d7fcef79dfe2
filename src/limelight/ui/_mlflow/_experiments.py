"""MLflow experiments over Limelight: an experiment names the runs whose ``runs.flow`` it is.

Experiment ``0`` ("Default") exists from the first request on, as in MLflow. Artifacts of an
experiment live under ``mlflow-artifacts:/<id>``, served by :mod:`._artifacts`.
"""

from __future__ import annotations

import base64
import json
import os
import re
import time
from typing import Any

import sqlalchemy as sa

from limelight.store.metadata import inserted_id
from limelight.store.schema import mlflow_experiments, runs
from limelight.tracking._filters import case_sensitive_like
from limelight.ui._mlflow._protocol import (
    MAX_RESULTS,
    Fields,
    MlflowError,
    Protocol,
    bad,
    ms,
    parse_experiment_id,
)

__all__ = [
    "HANDLERS",
    "ensure_default",
    "experiment_row",
    "insert_experiment",
    "page_token",
    "read_page_token",
    "text_match",
    "text_matches",
]

DEFAULT_ID = 0
MAX_NAME = 200  # Limelight's runs.flow holds 200 characters (MLflow's limit is 500)


def page_token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def read_page_token(fields: Fields) -> int:
    token = fields.string("page_token")
    if not token:
        return 0
    try:
        offset = json.loads(base64.urlsafe_b64decode(token.encode()))["offset"]
    except (ValueError, KeyError, TypeError):
        raise bad(f"Invalid page token {token!r}: it was not made by this server") from None
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise bad(f"Invalid page token {token!r}")
    return offset


def ensure_default(conn: sa.Connection) -> None:
    found = conn.execute(
        sa.select(mlflow_experiments.c.id).where(mlflow_experiments.c.id == DEFAULT_ID)
    ).first()
    if found is None:
        now = time.time()
        conn.execute(
            mlflow_experiments.insert().values(
                id=DEFAULT_ID,
                name="Default",
                artifact_location=f"mlflow-artifacts:/{DEFAULT_ID}",
                lifecycle_stage="active",
                created_at=now,
                updated_at=now,
                tags={},
            )
        )


def insert_experiment(
    conn: sa.Connection, name: str, location: str | None = None, tags: dict[str, str] | None = None
) -> int:
    """A new active experiment (its artifacts under ``mlflow-artifacts:/<id>`` by default)."""
    now = time.time()
    new_id = inserted_id(
        conn.execute(
            mlflow_experiments.insert().values(
                name=name,
                artifact_location=location or "",
                lifecycle_stage="active",
                created_at=now,
                updated_at=now,
                tags=tags or {},
            )
        )
    )
    if not location:
        conn.execute(
            mlflow_experiments.update()
            .where(mlflow_experiments.c.id == new_id)
            .values(artifact_location=f"mlflow-artifacts:/{new_id}")
        )
    return new_id


def _json(row: Any) -> dict[str, Any]:
    return {
        "experiment_id": str(row.id),
        "name": row.name,
        "artifact_location": row.artifact_location,
        "lifecycle_stage": row.lifecycle_stage,
        "creation_time": ms(row.created_at),
        "last_update_time": ms(row.updated_at),
        "tags": [{"key": k, "value": v} for k, v in sorted((row.tags or {}).items())],
    }


def experiment_row(conn: sa.Connection, experiment_id: int) -> Any:
    row = conn.execute(
        sa.select(mlflow_experiments).where(mlflow_experiments.c.id == experiment_id)
    ).first()
    if row is None:
        raise MlflowError(
            "RESOURCE_DOES_NOT_EXIST", f"No Experiment with id={experiment_id} exists"
        )
    return row


def _check_name(name: str) -> str:
    if not name.strip():
        raise bad("Invalid experiment name: ''. Experiment name must be a non-empty string.")
    if len(name) > MAX_NAME:
        raise bad(f"Experiment name exceeds the maximum length of {MAX_NAME} characters.")
    return name


def _tags(fields: Fields) -> dict[str, str]:
    tags = {}
    for tag in fields.objects("tags"):
        key = tag.string("key", required=True, max_length=250)
        tags[key] = tag.string("value", max_length=20000) or ""
    return tags


def local_location(location: str | None) -> str | None:
    """A relative local path made absolute against the server's working directory, as MLflow's
    server does (``my_location`` -> ``/srv/mlflow/my_location``); URIs and absolute paths stay."""
    if not location or re.match(r"^[A-Za-z][\w+.-]*:", location) or os.path.isabs(location):
        return location
    return os.path.abspath(location)


def create(p: Protocol, f: Fields) -> dict[str, Any]:
    name = _check_name(f.string("name", required=True))
    location = local_location(f.string("artifact_location"))
    tags = _tags(f)

    def work(conn: sa.Connection) -> int:
        ensure_default(conn)
        taken = conn.execute(
            sa.select(mlflow_experiments.c.lifecycle_stage).where(mlflow_experiments.c.name == name)
        ).first()
        if taken is not None:
            raise MlflowError(
                "RESOURCE_ALREADY_EXISTS",
                f"Experiment '{name}' already exists"
                + (" in deleted state." if taken[0] == "deleted" else "."),
            )
        return insert_experiment(conn, name, location, tags)

    return {"experiment_id": str(p.store.metadata.transaction(work))}


def get(p: Protocol, f: Fields) -> dict[str, Any]:
    experiment_id = parse_experiment_id(f.string("experiment_id", required=True))
    p.store.metadata.transaction(ensure_default)
    with p.store.metadata.connect() as conn:
        return {"experiment": _json(experiment_row(conn, experiment_id))}


def get_by_name(p: Protocol, f: Fields) -> dict[str, Any]:
    name = f.string("experiment_name", required=True)
    p.store.metadata.transaction(ensure_default)
    with p.store.metadata.connect() as conn:
        row = conn.execute(
            sa.select(mlflow_experiments).where(mlflow_experiments.c.name == name)
        ).first()
    if row is None:
        raise MlflowError(
            "RESOURCE_DOES_NOT_EXIST", f"Could not find experiment with name '{name}'"
        )
    return {"experiment": _json(row)}


_VIEW = {"ACTIVE_ONLY": ("active",), "DELETED_ONLY": ("deleted",), "ALL": ("active", "deleted")}
_FILTER = re.compile(
    r"\s*(?:attributes\.|attribute\.)?(name|tags?\.\S+?)\s*(=|!=|LIKE|ILIKE)\s*'([^']*)'\s*",
    re.IGNORECASE,
)


def _view(f: Fields) -> tuple[str, ...]:
    view = f.data.get("view_type") or f.data.get("run_view_type") or "ACTIVE_ONLY"
    if isinstance(view, int) and not isinstance(view, bool):
        view = {1: "ACTIVE_ONLY", 2: "DELETED_ONLY", 3: "ALL"}.get(view, "?")
    if view not in _VIEW:
        raise bad(f"Invalid view type {view!r}: use ACTIVE_ONLY, DELETED_ONLY or ALL")
    return _VIEW[str(view)]


def text_match(column: Any, op: str, value: str) -> Any:
    """``column OP 'value'`` for MLflow's text comparisons: LIKE is case-sensitive, ILIKE not."""
    op = op.upper()
    if op in ("=", "=="):
        return column == value
    if op in ("!=", "<>"):
        return column != value
    if op == "LIKE":
        return case_sensitive_like(column, value)
    if op == "ILIKE":
        return sa.func.lower(column).like(value.lower())
    raise bad(f"Invalid comparator '{op}': use =, !=, LIKE or ILIKE")


def text_matches(value: str, op: str, pattern: str) -> bool:
    """MLflow's text comparison in Python (for tags, kept as JSON): LIKE is case-sensitive."""
    if op in ("=", "=="):
        return value == pattern
    if op in ("!=", "<>"):
        return value != pattern
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    flags = re.IGNORECASE | re.DOTALL if op == "ILIKE" else re.DOTALL
    return re.fullmatch(regex, value, flags) is not None


def search(p: Protocol, f: Fields) -> dict[str, Any]:
    stages = _view(f)
    limit = f.integer("max_results", low=1, high=MAX_RESULTS) or 1000
    offset = read_page_token(f)
    query = sa.select(mlflow_experiments).where(mlflow_experiments.c.lifecycle_stage.in_(stages))
    text = f.string("filter") or ""
    rows_filter: list[tuple[str, str, str]] = []
    for clause in re.split(r"\s+and\s+", text.strip(), flags=re.IGNORECASE) if text.strip() else []:
        match = _FILTER.fullmatch(clause)
        if match is None:
            raise bad(f"Invalid experiment filter {clause!r}: use name or tags.KEY with = != LIKE")
        field, op, value = match.groups()
        if field.lower() == "name":
            query = query.where(text_match(mlflow_experiments.c.name, op, value))
        else:
            key = field.split(".", 1)[1].strip('`"')
            rows_filter.append((key, op.upper(), value))
    for order in f.strings("order_by") or ["last_update_time DESC"]:
        words = order.split()
        column = {
            "name": mlflow_experiments.c.name,
            "experiment_id": mlflow_experiments.c.id,
            "creation_time": mlflow_experiments.c.created_at,
            "last_update_time": mlflow_experiments.c.updated_at,
        }.get(words[0].removeprefix("attributes.") if words else "")
        if (
            column is None
            or len(words) > 2
            or (len(words) == 2 and words[1].upper() not in ("ASC", "DESC"))
        ):
            raise bad(f"Invalid order_by clause {order!r}")
        query = query.order_by(column.desc() if words[-1].upper() == "DESC" else column.asc())
    query = query.order_by(mlflow_experiments.c.id.asc())
    p.store.metadata.transaction(ensure_default)
    with p.store.metadata.connect() as conn:
        rows = [
            r
            for r in conn.execute(query).all()
            if all(
                k in (r.tags or {}) and text_matches(str(r.tags[k]), op, v)
                for k, op, v in rows_filter
            )
        ]
    page = rows[offset : offset + limit]
    out: dict[str, Any] = {"experiments": [_json(r) for r in page]}
    if offset + limit < len(rows):
        out["next_page_token"] = page_token(offset + limit)
    return out


def _change(p: Protocol, experiment_id: int, *, touch: bool = True, **values: Any) -> None:
    """Change an experiment; ``touch``: its last update time too (MLflow's server leaves it as
    it was when an experiment is deleted or restored)."""

    def work(conn: sa.Connection) -> None:
        ensure_default(conn)
        row = experiment_row(conn, experiment_id)
        if "name" in values:
            name = values["name"]
            clash = conn.execute(
                sa.select(mlflow_experiments.c.id).where(
                    mlflow_experiments.c.name == name, mlflow_experiments.c.id != experiment_id
                )
            ).first()
            if clash is not None:
                raise MlflowError("RESOURCE_ALREADY_EXISTS", f"Experiment '{name}' already exists.")
            conn.execute(runs.update().where(runs.c.flow == row.name).values(flow=name))
        if "tags" in values:
            values["tags"] = {**(row.tags or {}), **values["tags"]}
        if touch:
            values["updated_at"] = time.time()
        conn.execute(
            mlflow_experiments.update()
            .where(mlflow_experiments.c.id == experiment_id)
            .values(**values)
        )

    p.store.metadata.transaction(work)


def update(p: Protocol, f: Fields) -> dict[str, Any]:
    experiment_id = parse_experiment_id(f.string("experiment_id", required=True))
    name = f.string("new_name")
    if name is not None:
        _change(p, experiment_id, name=_check_name(name))
    return {}


def delete(p: Protocol, f: Fields) -> dict[str, Any]:
    experiment_id = parse_experiment_id(f.string("experiment_id", required=True))
    if experiment_id == DEFAULT_ID:
        raise bad(
            "Cannot delete the default experiment '0'. This is an internally reserved experiment."
        )
    _change(p, experiment_id, touch=False, lifecycle_stage="deleted")
    return {}


def restore(p: Protocol, f: Fields) -> dict[str, Any]:
    experiment_id = parse_experiment_id(f.string("experiment_id", required=True))
    _change(p, experiment_id, touch=False, lifecycle_stage="active")
    return {}


def set_tag(p: Protocol, f: Fields) -> dict[str, Any]:
    experiment_id = parse_experiment_id(f.string("experiment_id", required=True))
    key = f.string("key", required=True, max_length=250)
    value = f.string("value", required=True, max_length=20000)
    _change(p, experiment_id, tags={key: value})
    return {}


def delete_tag(p: Protocol, f: Fields) -> dict[str, Any]:
    experiment_id = parse_experiment_id(f.string("experiment_id", required=True))
    key = f.string("key", required=True)

    def work(conn: sa.Connection) -> None:
        row = experiment_row(conn, experiment_id)
        tags = dict(row.tags or {})
        if key not in tags:
            raise MlflowError("RESOURCE_DOES_NOT_EXIST", f"No tag with name: {key} in experiment")
        tags.pop(key)
        conn.execute(
            mlflow_experiments.update()
            .where(mlflow_experiments.c.id == experiment_id)
            .values(tags=tags, updated_at=time.time())
        )

    p.store.metadata.transaction(work)
    return {}


HANDLERS = {
    ("experiments/create", "POST"): create,
    ("experiments/get", "GET"): get,
    ("experiments/get-by-name", "GET"): get_by_name,
    ("experiments/search", "POST"): search,
    ("experiments/search", "GET"): search,
    ("experiments/update", "POST"): update,
    ("experiments/delete", "POST"): delete,
    ("experiments/restore", "POST"): restore,
    ("experiments/set-experiment-tag", "POST"): set_tag,
    ("experiments/delete-experiment-tag", "POST"): delete_tag,
}
