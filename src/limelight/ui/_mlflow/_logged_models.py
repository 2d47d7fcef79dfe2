"""MLflow 3's logged models: what ``mlflow.<flavor>.log_model`` creates before it uploads files.

A logged model lives in ``mlflow_logged_models``; its files go to
``mlflow-artifacts:/<experiment>/models/<id>/artifacts`` like any other artifact, and
registering it (``models:/<id>``) turns those files into a Limelight model version.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import sqlalchemy as sa

from limelight.store.schema import mlflow_logged_models, mlflow_model_metrics, runs
from limelight.ui._mlflow._experiments import (
    ensure_default,
    experiment_row,
    page_token,
    read_page_token,
)
from limelight.ui._mlflow._protocol import (
    MAX_RESULTS,
    Fields,
    MlflowError,
    Protocol,
    bad,
    ms,
    parse_experiment_id,
    parse_run_id,
)
from limelight.ui._mlflow._runs import metric_json

__all__ = ["HANDLERS"]

STATUSES = {
    0: "LOGGED_MODEL_STATUS_UNSPECIFIED",
    1: "LOGGED_MODEL_PENDING",
    2: "LOGGED_MODEL_READY",
    3: "LOGGED_MODEL_UPLOAD_FAILED",
}


def _metrics(conn: sa.Connection, model_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """The metrics logged with each of ``model_ids`` (MLflow 3's model metrics), oldest first."""
    found: dict[str, list[dict[str, Any]]] = {}
    if not model_ids:
        return found
    for r in conn.execute(
        sa.select(mlflow_model_metrics)
        .where(mlflow_model_metrics.c.model_id.in_(model_ids))
        .order_by(mlflow_model_metrics.c.id)
    ):
        metric: dict[str, Any] = {
            "key": r.key,
            "value": metric_json(r.value, r.value_text),
            "timestamp": r.timestamp,
            "step": r.step,
            "model_id": r.model_id,
            "run_id": str(r.run_id),
        }
        if r.dataset_name is not None:
            metric["dataset_name"] = r.dataset_name
        if r.dataset_digest is not None:
            metric["dataset_digest"] = r.dataset_digest
        found.setdefault(r.model_id, []).append(metric)
    return found


def _json(row: Any, metrics: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    info: dict[str, Any] = {
        "model_id": row.id,
        "experiment_id": str(row.experiment_id),
        "name": row.name,
        "creation_timestamp_ms": ms(row.created_at),
        "last_updated_timestamp_ms": ms(row.updated_at),
        "artifact_uri": row.artifact_location,
        "status": row.status,
        "tags": [{"key": k, "value": v} for k, v in sorted((row.tags or {}).items())],
    }
    if row.model_type:
        info["model_type"] = row.model_type
    if row.run_id is not None:
        info["source_run_id"] = str(row.run_id)
    params = [{"key": k, "value": v} for k, v in sorted((row.params or {}).items())]
    data: dict[str, Any] = {"params": params} if params else {}
    if metrics:
        data["metrics"] = metrics
    return {"info": info, "data": data}


def _full_json(conn: sa.Connection, row: Any) -> dict[str, Any]:
    return _json(row, _metrics(conn, [row.id]).get(row.id))


def _pairs(f: Fields, name: str) -> dict[str, str]:
    out = {}
    for item in f.objects(name):
        out[item.string("key", required=True, max_length=250)] = item.string("value") or ""
    return out


def _row(conn: sa.Connection, model_id: str) -> Any:
    row = conn.execute(
        sa.select(mlflow_logged_models).where(mlflow_logged_models.c.id == model_id)
    ).first()
    if row is None:
        raise MlflowError(
            "RESOURCE_DOES_NOT_EXIST", f"Logged model with ID '{model_id}' not found."
        )
    return row


def create(p: Protocol, f: Fields) -> dict[str, Any]:
    experiment_id = parse_experiment_id(f.string("experiment_id", required=True))
    # MLflow names an unnamed model at random, so that names tell models apart
    name = f.string("name", max_length=250) or f"model-{secrets.token_hex(4)}"
    run_text = f.string("source_run_id")
    run_id = parse_run_id(run_text) if run_text else None
    model_type = f.string("model_type", max_length=100)
    tags, params = _pairs(f, "tags"), _pairs(f, "params")
    model_id = f"m-{secrets.token_hex(16)}"
    now = time.time()

    def work(conn: sa.Connection) -> dict[str, Any]:
        ensure_default(conn)
        experiment = experiment_row(conn, experiment_id)
        if (
            run_id is not None
            and conn.execute(sa.select(runs.c.id).where(runs.c.id == run_id)).first() is None
        ):
            raise MlflowError("RESOURCE_DOES_NOT_EXIST", f"Run with id={run_id} not found")
        location = f"{experiment.artifact_location.rstrip('/')}/models/{model_id}/artifacts"
        conn.execute(
            mlflow_logged_models.insert().values(
                id=model_id,
                experiment_id=experiment_id,
                name=name,
                run_id=run_id,
                model_type=model_type,
                status="LOGGED_MODEL_PENDING",
                artifact_location=location,
                created_at=now,
                updated_at=now,
                params=params,
                tags=tags,
            )
        )
        return _json(_row(conn, model_id))  # a model just made has no metrics yet

    return {"model": p.store.metadata.transaction(work)}


def _model_id(f: Fields) -> str:
    model_id = f.string("model_id", required=True)
    if len(model_id) > 64:
        raise MlflowError(
            "RESOURCE_DOES_NOT_EXIST", f"Logged model with ID '{model_id[:64]}' not found."
        )
    return model_id


def get(p: Protocol, f: Fields) -> dict[str, Any]:
    model_id = _model_id(f)
    with p.store.metadata.connect() as conn:
        return {"model": _full_json(conn, _row(conn, model_id))}


def _change(p: Protocol, model_id: str, change: Any) -> dict[str, Any]:
    def work(conn: sa.Connection) -> dict[str, Any]:
        row = _row(conn, model_id)
        values = change(row)
        conn.execute(
            mlflow_logged_models.update()
            .where(mlflow_logged_models.c.id == model_id)
            .values(updated_at=time.time(), **values)
        )
        return _full_json(conn, _row(conn, model_id))

    return p.store.metadata.transaction(work)


def finalize(p: Protocol, f: Fields) -> dict[str, Any]:
    model_id = _model_id(f)
    status = f.data.get("status")
    if isinstance(status, int) and not isinstance(status, bool):
        status = STATUSES.get(status)
    if status not in STATUSES.values():
        raise bad(
            f"Invalid status {f.data.get('status')!r}: use one of {', '.join(STATUSES.values())}"
        )
    return {"model": _change(p, model_id, lambda row: {"status": status})}


def set_tags(p: Protocol, f: Fields) -> dict[str, Any]:
    model_id = _model_id(f)
    tags = _pairs(f, "tags")
    _change(p, model_id, lambda row: {"tags": {**(row.tags or {}), **tags}})
    return {}


def delete_tag(p: Protocol, f: Fields) -> dict[str, Any]:
    model_id = _model_id(f)
    key = f.string("tag_key", required=True)

    def change(row: Any) -> dict[str, Any]:
        if key not in (row.tags or {}):
            raise MlflowError(
                "RESOURCE_DOES_NOT_EXIST", f"No tag with key {key!r} on model {model_id}"
            )
        return {"tags": {k: v for k, v in row.tags.items() if k != key}}

    _change(p, model_id, change)
    return {}


def log_params(p: Protocol, f: Fields) -> dict[str, Any]:
    model_id = _model_id(f)
    params = _pairs(f, "params")
    _change(p, model_id, lambda row: {"params": {**(row.params or {}), **params}})
    return {}


def delete(p: Protocol, f: Fields) -> dict[str, Any]:
    model_id = _model_id(f)

    def work(conn: sa.Connection) -> None:
        _row(conn, model_id)
        conn.execute(
            mlflow_model_metrics.delete().where(mlflow_model_metrics.c.model_id == model_id)
        )
        conn.execute(mlflow_logged_models.delete().where(mlflow_logged_models.c.id == model_id))

    p.store.metadata.transaction(work)
    return {}


_ORDER = {
    "creation_timestamp": mlflow_logged_models.c.created_at,
    "last_updated_timestamp": mlflow_logged_models.c.updated_at,
    "name": mlflow_logged_models.c.name,
}


def search(p: Protocol, f: Fields) -> dict[str, Any]:
    ids = [parse_experiment_id(e, "experiment_ids") for e in f.items("experiment_ids")]
    limit = f.integer("max_results", low=1, high=MAX_RESULTS) or 100
    offset = read_page_token(f)
    query = sa.select(mlflow_logged_models).where(mlflow_logged_models.c.experiment_id.in_(ids))
    text = (f.string("filter") or "").strip()
    if text:
        words = text.split(None, 2)
        if len(words) == 3 and words[0] in ("name", "source_run_id") and words[1] == "=":
            value = words[2].strip("'\"")
            column = (
                mlflow_logged_models.c.name if words[0] == "name" else mlflow_logged_models.c.run_id
            )
            query = query.where(
                column == (value if words[0] == "name" else int(value) if value.isdigit() else -1)
            )
        else:
            raise bad(f"Invalid filter '{text}': logged models filter on name = or source_run_id =")
    wanted = [
        (d.string("dataset_name", required=True), d.string("dataset_digest"))
        for d in f.objects("datasets")
    ]
    if wanted:  # models with a metric logged on one of these datasets
        on = mlflow_model_metrics.c
        query = query.where(
            mlflow_logged_models.c.id.in_(
                sa.select(on.model_id).where(
                    sa.or_(
                        *(
                            sa.and_(
                                on.dataset_name == name,
                                *([on.dataset_digest == digest] if digest else []),
                            )
                            for name, digest in wanted
                        )
                    )
                )
            )
        )
    orders = f.objects("order_by")
    for order in orders:
        field = order.string("field_name", required=True)
        by = _ORDER.get(field)
        if by is None:
            raise bad(f"Invalid order_by field {field!r}: use one of {', '.join(_ORDER)}")
        ascending = order.data.get("ascending", True) not in (False, "false", "False")
        query = query.order_by(by.asc() if ascending else by.desc())
    if not orders:
        query = query.order_by(mlflow_logged_models.c.created_at.desc())
    query = query.order_by(mlflow_logged_models.c.id)
    with p.store.metadata.connect() as conn:
        rows = conn.execute(query.offset(offset).limit(limit + 1)).all()
        metrics = _metrics(conn, [r.id for r in rows[:limit]])
    out: dict[str, Any] = {"models": [_json(r, metrics.get(r.id)) for r in rows[:limit]]}
    if len(rows) > limit:
        out["next_page_token"] = page_token(offset + limit)
    return out


HANDLERS = {
    ("logged-models", "POST"): create,
    ("logged-models/search", "POST"): search,
    ("logged-models/{model_id}", "GET"): get,
    ("logged-models/{model_id}", "PATCH"): finalize,
    ("logged-models/{model_id}", "DELETE"): delete,
    ("logged-models/{model_id}/tags", "PATCH"): set_tags,
    ("logged-models/{model_id}/tags/{tag_key}", "DELETE"): delete_tag,
    ("logged-models/{model_id}/params", "POST"): log_params,
}
