"""MLflow runs over Limelight's ``runs``, ``params``, ``metrics``, ``tags`` and ``run_tags``.

A run's MLflow id is Limelight's integer run id as text. A run created through MLflow is a
notebook run (``kind = "notebook"``) of the experiment's name; its MLflow name, status and
lifecycle stage are kept in ``mlflow_runs``. Limelight's own runs read back through MLflow too:
their plain tags become tags with an empty value.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

import sqlalchemy as sa

from limelight.store.metadata import inserted_id
from limelight.store.recording import (
    insert_metric_rows,
    metric_value_columns,
    metric_value_from_row,
)
from limelight.store.schema import (
    metrics,
    mlflow_experiments,
    mlflow_logged_models,
    mlflow_model_metrics,
    mlflow_runs,
    params,
    run_tags,
    runs,
    tags,
)
from limelight.ui._mlflow._experiments import (
    DEFAULT_ID,
    ensure_default,
    experiment_row,
    insert_experiment,
    page_token,
    read_page_token,
)
from limelight.ui._mlflow._protocol import (
    Fields,
    MlflowError,
    Protocol,
    bad,
    json_number,
    missing,
    ms,
    parse_experiment_id,
)

__all__ = ["HANDLERS", "metric_json", "param_text", "runs_json"]

MAX_METRICS, MAX_PARAMS_TAGS, MAX_ENTITIES = 1000, 100, 1000
MAX_KEY = 200  # Limelight's metric and param names hold 200 characters (MLflow's 250)
MAX_PARAM_VALUE, MAX_TAG_VALUE = 6000, 8000
TO_LIMELIGHT = {
    "RUNNING": "running",
    "SCHEDULED": "running",
    "FINISHED": "succeeded",
    "FAILED": "failed",
    "KILLED": "interrupted",
}
FROM_LIMELIGHT = {"running": "RUNNING", "succeeded": "FINISHED", "failed": "FAILED"}


def param_text(value: Any) -> str:
    """A parameter as MLflow shows it: text as is, anything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value)


def _status(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = {1: "RUNNING", 2: "SCHEDULED", 3: "FINISHED", 4: "FAILED", 5: "KILLED"}.get(value)
    if value not in TO_LIMELIGHT:
        raise bad(f"Invalid run status {value!r}: use one of {', '.join(TO_LIMELIGHT)}")
    return str(value)


def _run_query() -> Any:
    return (
        sa.select(
            runs,
            mlflow_runs.c.name.label("m_name"),
            mlflow_runs.c.lifecycle_stage,
            mlflow_runs.c.status.label("m_status"),
            mlflow_runs.c.inputs,
            mlflow_experiments.c.id.label("experiment_id"),
            mlflow_experiments.c.artifact_location,
        )
        .select_from(runs)
        .outerjoin(mlflow_runs, mlflow_runs.c.run_id == runs.c.id)
        .outerjoin(mlflow_experiments, mlflow_experiments.c.name == runs.c.flow)
    )


def _info(row: Any) -> dict[str, Any]:
    experiment = str(row.experiment_id) if row.experiment_id is not None else str(DEFAULT_ID)
    location = row.artifact_location or f"mlflow-artifacts:/{experiment}"
    status = row.m_status or FROM_LIMELIGHT.get(row.status, "KILLED")
    info = {
        "run_id": str(row.id),
        "run_uuid": str(row.id),
        "run_name": row.m_name or f"{row.flow}/{row.id}",
        "experiment_id": experiment,
        "user_id": row.user or "",
        "status": status,
        "start_time": ms(row.created_at),
        "artifact_uri": f"{location.rstrip('/')}/{row.id}/artifacts",
        "lifecycle_stage": row.lifecycle_stage or "active",
    }
    if row.finished_at is not None and status != "RUNNING":
        info["end_time"] = ms(row.finished_at)
    return info


def _param_value(raw: str | None) -> str:
    """A parameter's stored JSON text as MLflow's text (a JSON string's quotes dropped)."""
    if raw is None:
        return param_text(None)
    if len(raw) >= 2 and raw[0] == '"' and raw[-1] == '"' and "\\" not in raw:
        return raw[1:-1]
    return param_text(json.loads(raw))


_CHUNK = 900  # run ids per IN list (SQLite's oldest bound is 999 variables)


def runs_json(conn: sa.Connection, rows: list[Any]) -> list[dict[str, Any]]:
    """MLflow's Run objects for ``rows`` of :func:`_run_query`: params, tags, latest metrics.

    Built as MLflow's server shows them: empty inputs are ``{}``. Param values come back as the
    stored JSON text and only non-string values are decoded (a search returns thousands).
    """
    found: dict[int, dict[str, Any]] = {}
    params_of: dict[int, list[dict[str, Any]]] = {}
    tags_of: dict[int, list[dict[str, Any]]] = {}
    metrics_of: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        run_params: list[dict[str, Any]] = []
        run_tags_: list[dict[str, Any]] = []
        run_metrics: list[dict[str, Any]] = []
        params_of[row.id], tags_of[row.id], metrics_of[row.id] = run_params, run_tags_, run_metrics
        logged = row.inputs or {}
        inputs = {
            field: logged[key]
            for field, key in (("dataset_inputs", "datasets"), ("model_inputs", "models"))
            if logged.get(key)
        }
        found[row.id] = {
            "info": _info(row),
            "data": {"metrics": run_metrics, "params": run_params, "tags": run_tags_},
            "inputs": inputs,
        }
        if logged.get("outputs"):
            found[row.id]["outputs"] = {"model_outputs": logged["outputs"]}
    ids = list(found)
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        for run_id, name, raw in conn.execute(
            sa.select(params.c.run_id, params.c.name, sa.cast(params.c.value, sa.Text))
            .where(params.c.run_id.in_(chunk))
            .order_by(params.c.name)
        ):
            params_of[run_id].append({"key": name, "value": _param_value(raw)})
        for run_id, key, value in conn.execute(
            sa.select(run_tags.c.run_id, run_tags.c.key, run_tags.c.value)
            .where(run_tags.c.run_id.in_(chunk))
            .order_by(run_tags.c.key)
        ):
            tags_of[run_id].append({"key": key, "value": value})
        for run_id, tag in conn.execute(
            sa.select(tags.c.run_id, tags.c.tag)
            .where(tags.c.run_id.in_(chunk))
            .order_by(tags.c.tag)
        ):
            tags_of[run_id].append({"key": tag, "value": ""})
        latest = (
            sa.select(
                metrics.c.run_id,
                metrics.c.name,
                metrics.c.value,
                metrics.c.value_text,
                metrics.c.timestamp,
                metrics.c.step,
                sa.func.row_number()
                .over(
                    partition_by=(metrics.c.run_id, metrics.c.name),
                    order_by=(
                        metrics.c.step.desc(),
                        metrics.c.timestamp.desc(),
                        metrics.c.id.desc(),
                    ),
                )
                .label("rank"),
            )
            .where(metrics.c.run_id.in_(chunk))
            .subquery()
        )
        for run_id, name, value, text, timestamp, step in conn.execute(
            sa.select(
                latest.c.run_id,
                latest.c.name,
                latest.c.value,
                latest.c.value_text,
                latest.c.timestamp,
                latest.c.step,
            )
            .where(latest.c.rank == 1)
            .order_by(latest.c.name)
        ):
            metrics_of[run_id].append(
                {
                    "key": name,
                    "value": metric_json(value, text),
                    "timestamp": round(timestamp * 1000),
                    "step": step or 0,
                }
            )
    return list(found.values())


def metric_json(value: float | None, text: str | None) -> float | str:
    """A stored metric value as MLflow's JSON shows it."""
    return json_number(metric_value_from_row(value, text))


def _row(conn: sa.Connection, run_id: int) -> Any:
    row = conn.execute(_run_query().where(runs.c.id == run_id)).first()
    if row is None:
        raise MlflowError("RESOURCE_DOES_NOT_EXIST", f"Run with id={run_id} not found")
    return row


def _active(conn: sa.Connection, run_id: int) -> None:
    stage = conn.execute(
        sa.select(runs.c.id, mlflow_runs.c.lifecycle_stage)
        .select_from(runs)
        .outerjoin(mlflow_runs, mlflow_runs.c.run_id == runs.c.id)
        .where(runs.c.id == run_id)
    ).first()
    if stage is None:
        raise MlflowError("RESOURCE_DOES_NOT_EXIST", f"Run with id={run_id} not found")
    if stage.lifecycle_stage == "deleted":
        raise bad(f"The run {run_id} must be in the 'active' state. Current state is deleted.")


def _key(value: str | None, what: str) -> str:
    if value is None or value == "":
        raise bad(f"Missing value for required parameter '{what}'.")
    if len(value) > MAX_KEY:
        raise bad(f"{what} '{value[:50]}...' exceeds the maximum length of {MAX_KEY} characters")
    if value.startswith("/") or ".." in value.split("/"):
        raise bad(
            f"Invalid value '{value}' for parameter '{what}': names may not start with '/' "
            "or hold '..'"
        )
    return value


def _tag_rows(conn: sa.Connection, run_id: int, pairs: dict[str, str]) -> None:
    if not pairs:
        return
    conn.execute(
        run_tags.delete().where(run_tags.c.run_id == run_id, run_tags.c.key.in_(list(pairs)))
    )
    conn.execute(
        run_tags.insert(), [{"run_id": run_id, "key": k, "value": v} for k, v in pairs.items()]
    )


def create(p: Protocol, f: Fields) -> dict[str, Any]:
    experiment_id = parse_experiment_id(f.string("experiment_id") or str(DEFAULT_ID))
    start = f.integer("start_time")
    user = f.string("user_id", max_length=200) or "unknown"
    name = f.string("run_name", max_length=250)
    pairs = _tags_of(f)
    name = name or pairs.get("mlflow.runName")
    created = start / 1000 if start is not None else time.time()

    def work(conn: sa.Connection) -> Any:
        ensure_default(conn)
        experiment = experiment_row(conn, experiment_id)
        if experiment.lifecycle_stage != "active":
            raise bad(
                f"The experiment {experiment_id} must be in the 'active' state. "
                "Current state is deleted."
            )
        result = conn.execute(
            runs.insert().values(
                flow=experiment.name,
                kind="notebook",
                status="running",
                user=user,
                created_at=created,
                heartbeat_at=created,
            )
        )
        run_id = inserted_id(result)
        run_name = name or f"run-{run_id}"
        conn.execute(
            mlflow_runs.insert().values(
                run_id=run_id,
                experiment_id=experiment_id,
                name=run_name,
                lifecycle_stage="active",
                status="RUNNING",
            )
        )
        _tag_rows(conn, run_id, {**pairs, "mlflow.runName": run_name})
        return runs_json(conn, [_row(conn, run_id)])[0]

    return {"run": p.store.metadata.transaction(work)}


def get(p: Protocol, f: Fields) -> dict[str, Any]:
    run_id = f.run_id()
    with p.store.metadata.connect() as conn:
        return {"run": runs_json(conn, [_row(conn, run_id)])[0]}


def update(p: Protocol, f: Fields) -> dict[str, Any]:
    run_id = f.run_id()
    status = f.data.get("status")
    end = f.integer("end_time")
    name = f.string("run_name", max_length=250)

    def work(conn: sa.Connection) -> Any:
        _active(conn, run_id)
        values: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        if status is not None:
            mlflow_status = _status(status)
            values["status"] = TO_LIMELIGHT[mlflow_status]
            extra["status"] = mlflow_status
        if end is not None:
            values["finished_at"] = end / 1000
        elif status is not None and extra["status"] not in ("RUNNING", "SCHEDULED"):
            values["finished_at"] = time.time()
        if name:
            extra["name"] = name
            _tag_rows(conn, run_id, {"mlflow.runName": name})
        if values:
            conn.execute(runs.update().where(runs.c.id == run_id).values(**values))
        _upsert_mlflow_run(conn, run_id, extra)
        return _info(_row(conn, run_id))

    return {"run_info": p.store.metadata.transaction(work)}


def _upsert_mlflow_run(conn: sa.Connection, run_id: int, values: dict[str, Any]) -> None:
    if not values:
        return
    done = conn.execute(
        mlflow_runs.update().where(mlflow_runs.c.run_id == run_id).values(**values)
    ).rowcount
    if not done:
        row = _row(conn, run_id)
        experiment_id = row.experiment_id
        if experiment_id is None:  # a flow's run seen by MLflow: its experiment is the flow
            experiment_id = insert_experiment(conn, row.flow)
        base = {
            "name": f"{row.flow}/{row.id}",
            "lifecycle_stage": "active",
            "status": FROM_LIMELIGHT.get(row.status, "KILLED"),
        }
        conn.execute(
            mlflow_runs.insert().values(
                run_id=run_id, experiment_id=experiment_id, **{**base, **values}
            )
        )


def _lifecycle(stage: str) -> Any:
    def handler(p: Protocol, f: Fields) -> dict[str, Any]:
        run_id = f.run_id()

        def work(conn: sa.Connection) -> None:
            _row(conn, run_id)
            _upsert_mlflow_run(conn, run_id, {"lifecycle_stage": stage})

        p.store.metadata.transaction(work)
        return {}

    return handler


_INT64 = 2**63


def _metric_row(run_id: int, m: Fields, now: float) -> tuple[Any, ...]:
    d = m.data
    key, value, timestamp, step = d.get("key"), d.get("value"), d.get("timestamp"), d.get("step")
    if (  # what MLflow's client sends, checked without the general readers (a batch is 1,000)
        type(key) is str
        and type(value) is float
        and value - value == 0.0
        and type(timestamp) is int
        and -_INT64 <= timestamp < _INT64
        and (step is None or (type(step) is int and -_INT64 <= step < _INT64))
        and "\x00" not in key
    ):
        return (run_id, None, _key(key, "key"), step or 0, value, None, timestamp / 1000)
    key = _key(m.string("key"), "key")
    value = m.number("value", required=True)
    timestamp = m.integer("timestamp")
    step = m.integer("step") or 0
    stored, text = metric_value_columns(value) if not math.isfinite(value) else (value, None)
    return (
        run_id,
        None,
        key,
        step,
        stored,
        text,
        timestamp / 1000 if timestamp is not None else now,
    )


def _check_params(conn: sa.Connection, run_id: int, values: dict[str, str]) -> dict[str, str]:
    """The params not yet logged; a changed value is refused as MLflow refuses it."""
    if not values:
        return {}
    existing = dict(
        conn.execute(
            sa.select(params.c.name, params.c.value).where(
                params.c.run_id == run_id, params.c.name.in_(list(values))
            )
        ).all()
    )
    for key, value in values.items():
        if key in existing and param_text(existing[key]) != value:
            raise bad(
                f"Changing param values is not allowed. Param with key='{key}' was already "
                f"logged with value='{param_text(existing[key])}' for run ID='{run_id}'. "
                f"Attempted logging new value '{value}'."
            )
    return {k: v for k, v in values.items() if k not in existing}


def _param(m: Fields) -> tuple[str, str]:
    key = _key(m.string("key"), "key")
    value = m.data.get("value")
    if value is None:
        value = ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise bad(f"Invalid value {json.dumps(value)[:100]} for param '{key}': expected a string")
    value = str(value)
    if len(value) > MAX_PARAM_VALUE:
        raise bad(
            f"Param value '{value[:50]}...' had length {len(value)}, which exceeded "
            f"length limit of {MAX_PARAM_VALUE}"
        )
    return key, value


def _tag(m: Fields) -> tuple[str, str]:
    key = _key(m.string("key", max_length=250), "key")
    value = m.string("value") or ""
    if len(value) > MAX_TAG_VALUE:
        raise bad(
            f"Tag value '{value[:50]}...' had length {len(value)}, which exceeded "
            f"length limit of {MAX_TAG_VALUE}"
        )
    return key, value


def _tags_of(f: Fields) -> dict[str, str]:
    return dict(_tag(t) for t in f.objects("tags"))


def _model_metrics(
    metric_fields: list[Fields], rows: list[tuple[Any, ...]]
) -> list[dict[str, Any]]:
    """The metrics that name a logged model (``model_id``, MLflow 3), as model-metric rows."""
    found = []
    for m, row in zip(metric_fields, rows, strict=True):
        if m.data.get("model_id") in (None, ""):
            continue
        found.append(
            {
                "model_id": m.string("model_id", max_length=64),
                "run_id": row[0],
                "key": row[2],
                "value": row[4],
                "value_text": row[5],
                "timestamp": round(row[6] * 1000),
                "step": row[3],
                "dataset_name": m.string("dataset_name", max_length=500),
                "dataset_digest": m.string("dataset_digest", max_length=36),
            }
        )
    return found


def _write(
    p: Protocol,
    run_id: int,
    rows: list[tuple[Any, ...]],
    values: dict[str, str],
    pairs: dict[str, str],
    model_rows: list[dict[str, Any]] | None = None,
) -> None:
    def work(conn: sa.Connection) -> None:
        _active(conn, run_id)
        fresh = _check_params(conn, run_id, values)
        if rows:
            insert_metric_rows(conn, rows)
        if model_rows:
            wanted = {r["model_id"] for r in model_rows}
            known = set(
                conn.execute(
                    sa.select(mlflow_logged_models.c.id).where(
                        mlflow_logged_models.c.id.in_(wanted)
                    )
                ).scalars()
            )
            if wanted - known:
                raise MlflowError(
                    "RESOURCE_DOES_NOT_EXIST",
                    f"Logged model with ID '{sorted(wanted - known)[0]}' not found.",
                )
            conn.execute(mlflow_model_metrics.insert(), model_rows)
        if fresh:
            conn.execute(
                params.insert(),
                [{"run_id": run_id, "name": k, "value": v} for k, v in fresh.items()],
            )
        _tag_rows(conn, run_id, pairs)
        if "mlflow.runName" in pairs:
            _upsert_mlflow_run(conn, run_id, {"name": pairs["mlflow.runName"]})

    p.store.metadata.transaction(work)


def log_metric(p: Protocol, f: Fields) -> dict[str, Any]:
    run_id = f.run_id()
    rows = [_metric_row(run_id, f, time.time())]
    _write(p, run_id, rows, {}, {}, _model_metrics([f], rows))
    return {}


def log_param(p: Protocol, f: Fields) -> dict[str, Any]:
    run_id = f.run_id()
    key, value = _param(f)
    _write(p, run_id, [], {key: value}, {})
    return {}


def set_tag(p: Protocol, f: Fields) -> dict[str, Any]:
    run_id = f.run_id()
    key, value = _tag(f)
    _write(p, run_id, [], {}, {key: value})
    return {}


def delete_tag(p: Protocol, f: Fields) -> dict[str, Any]:
    run_id = f.run_id()
    key = f.string("key", required=True)

    def work(conn: sa.Connection) -> None:
        _active(conn, run_id)
        gone = conn.execute(
            run_tags.delete().where(run_tags.c.run_id == run_id, run_tags.c.key == key)
        ).rowcount
        gone += conn.execute(
            tags.delete().where(tags.c.run_id == run_id, tags.c.tag == key)
        ).rowcount
        if not gone:
            raise MlflowError(
                "RESOURCE_DOES_NOT_EXIST", f"No tag with name: {key} in run with id {run_id}"
            )

    p.store.metadata.transaction(work)
    return {}


def log_batch(p: Protocol, f: Fields) -> dict[str, Any]:
    run_id = f.run_id()
    metric_fields, param_fields, tag_fields = (
        f.objects("metrics"),
        f.objects("params"),
        f.objects("tags"),
    )
    for index, m in enumerate(metric_fields):  # a timestamp is required in a batch
        if m.data.get("timestamp") is None:
            raise missing(f"metrics[{index}].timestamp")
    if len(metric_fields) > MAX_METRICS:
        raise bad(
            f"A batch logging request can contain at most {MAX_METRICS} metrics. "
            f"Got {len(metric_fields)} metrics. Please split up metrics across multiple "
            "requests and try again."
        )
    for what, items in (("params", param_fields), ("tags", tag_fields)):
        if len(items) > MAX_PARAMS_TAGS:
            raise bad(
                f"A batch logging request can contain at most {MAX_PARAMS_TAGS} {what}. "
                f"Got {len(items)} {what}. Please split up {what} across multiple requests "
                "and try again."
            )
    total = len(metric_fields) + len(param_fields) + len(tag_fields)
    if total > MAX_ENTITIES:
        raise bad(
            f"A batch logging request can contain at most {MAX_ENTITIES} metrics, params, "
            f"and tags in total. Got {total} in total."
        )
    now = time.time()
    rows = [_metric_row(run_id, m, now) for m in metric_fields]
    values: dict[str, str] = {}
    for item in param_fields:
        key, value = _param(item)
        if key in values and values[key] != value:
            raise bad(f"Duplicate parameter keys have been submitted: ['{key}']")
        values[key] = value
    pairs = dict(_tag(t) for t in tag_fields)
    _write(p, run_id, rows, values, pairs, _model_metrics(metric_fields, rows))
    return {}


def log_inputs(p: Protocol, f: Fields) -> dict[str, Any]:
    run_id = f.run_id()
    datasets = [d.data for d in f.objects("datasets")]
    models = [m.data for m in f.objects("models")]

    def work(conn: sa.Connection) -> None:
        _active(conn, run_id)
        row = _row(conn, run_id)
        inputs = dict(row.inputs or {})
        inputs["datasets"] = [*inputs.get("datasets", []), *datasets]
        inputs["models"] = [*inputs.get("models", []), *models]
        _upsert_mlflow_run(conn, run_id, {"inputs": inputs})

    p.store.metadata.transaction(work)
    return {}


def log_outputs(p: Protocol, f: Fields) -> dict[str, Any]:
    run_id = f.run_id()
    models = [m.data for m in f.objects("models")]

    def work(conn: sa.Connection) -> None:
        _active(conn, run_id)
        row = _row(conn, run_id)
        inputs = dict(row.inputs or {})
        inputs["outputs"] = [*inputs.get("outputs", []), *models]
        _upsert_mlflow_run(conn, run_id, {"inputs": inputs})

    p.store.metadata.transaction(work)
    return {}


def history(p: Protocol, f: Fields) -> dict[str, Any]:
    run_id = f.run_id()
    key = f.string("metric_key", required=True)
    limit = f.integer("max_results", low=1, high=10_000_000)
    offset = read_page_token(f)
    with p.store.metadata.connect() as conn:
        _row(conn, run_id)
        query = (
            sa.select(metrics.c.value, metrics.c.value_text, metrics.c.timestamp, metrics.c.step)
            .where(metrics.c.run_id == run_id, metrics.c.name == key)
            .order_by(metrics.c.step, metrics.c.timestamp, metrics.c.id)
            .offset(offset)
        )
        if limit is not None:
            query = query.limit(limit + 1)
        rows = conn.execute(query).all()
    out: dict[str, Any] = {}
    if limit is not None and len(rows) > limit:
        rows = rows[:limit]
        out["next_page_token"] = page_token(offset + limit)
    out["metrics"] = [_history_entry(key, r) for r in rows]
    return out


def _history_entry(key: str, row: Any) -> dict[str, Any]:
    """One value of a metric's history as MLflow's JSON shows it."""
    return {
        "key": key,
        "value": metric_json(row.value, row.value_text),
        "timestamp": ms(row.timestamp),
        "step": row.step or 0,
    }


MAX_BULK_RUNS = 100  # MLflow's limit on the runs of one bulk history request
MAX_BULK_RESULTS = 25_000  # MLflow's default and cap of metrics per bulk request
MAX_INTERVAL_RESULTS = 2_500  # MLflow's cap of sampled steps per run
DEFAULT_INTERVAL_RESULTS = 320


def _bulk_metrics(conn: sa.Connection, run_texts: list[str], key: str) -> list[dict[str, Any]]:
    """The history of ``key`` in each run (MLflow's order: by run id as text, then step and
    time), each entry with its run's id. Unknown runs have none."""
    ids = {int(t): t for t in run_texts if t.isdigit() and len(t) <= 18}
    if not ids:
        return []
    query = sa.select(
        metrics.c.run_id, metrics.c.value, metrics.c.value_text, metrics.c.timestamp, metrics.c.step
    ).where(metrics.c.run_id.in_(list(ids)), metrics.c.name == key)
    rows = sorted(  # stable: step and time order within a run
        conn.execute(query.order_by(metrics.c.step, metrics.c.timestamp, metrics.c.id)),
        key=lambda r: ids[r.run_id],
    )
    return [{**_history_entry(key, r), "run_id": ids[r.run_id]} for r in rows]


def history_bulk(p: Protocol, f: Fields) -> dict[str, Any]:
    """``metrics/get-history-bulk`` (MLflow's web UI): one metric's history in several runs."""
    run_texts = f.strings("run_id")
    if not run_texts:
        raise bad("GetMetricHistoryBulk request must specify at least one run_id.")
    if len(run_texts) > MAX_BULK_RUNS:
        raise bad(
            f"GetMetricHistoryBulk request cannot specify more than {MAX_BULK_RUNS} run_ids. "
            f"Received {len(run_texts)} run_ids."
        )
    key = f.string("metric_key")
    if not key:
        raise bad("GetMetricHistoryBulk request must specify a metric_key.")
    limit = f.integer("max_results", low=1, high=MAX_BULK_RESULTS) or MAX_BULK_RESULTS
    with p.store.metadata.connect() as conn:
        return {"metrics": _bulk_metrics(conn, run_texts, key)[:limit]}


def sampled_steps(steps: list[int], max_results: int, ends: set[int]) -> set[int]:
    """MLflow's sample of the distinct sorted ``steps``: ``max_results`` evenly spaced ones and
    the last, with each run's first and last step (``ends``) added."""
    if len(steps) <= max_results:
        return set(steps) | ends
    interval = len(steps) / max_results
    return {steps[int(i * interval)] for i in range(max_results)} | {steps[-1]} | ends


def history_bulk_interval(p: Protocol, f: Fields) -> dict[str, Any]:
    """``metrics/get-history-bulk-interval``: a sample of steps of one metric in several runs,
    as MLflow's charts ask for it."""
    run_texts = f.strings("run_ids")
    if not run_texts:
        raise missing("run_ids")
    if len(run_texts) > MAX_BULK_RUNS:
        raise bad(
            f"GetMetricHistoryBulkInterval request must specify at most {MAX_BULK_RUNS} run_ids."
        )
    limit = f.integer("max_results")
    if limit is None:
        limit = DEFAULT_INTERVAL_RESULTS
    if not 1 <= limit <= MAX_INTERVAL_RESULTS:
        raise bad(f"max_results must be between 1 and {MAX_INTERVAL_RESULTS}.")
    key = f.string("metric_key")
    if not key:
        raise missing("metric_key")
    start, end = f.integer("start_step"), f.integer("end_step")
    if (start is None) != (end is None):
        raise bad("If either start step or end step are specified, both must be specified.")
    if start is not None and end is not None and end < start:
        raise bad(
            "end_step must be greater than start_step. "
            f"Found start_step={start} and end_step={end}."
        )
    with p.store.metadata.connect() as conn:
        every = _bulk_metrics(conn, run_texts, key)
    if not every:
        return {"metrics": []}
    low = start if start is not None else min(m["step"] for m in every)
    high = end if end is not None else max(m["step"] for m in every)
    inside = [m for m in every if low <= m["step"] <= high]
    spans: dict[str, tuple[int, int]] = {}  # each run's first and last step in the range
    for m in inside:
        first, last = spans.get(m["run_id"], (m["step"], m["step"]))
        spans[m["run_id"]] = (min(first, m["step"]), max(last, m["step"]))
    ends = {step for span in spans.values() for step in span}
    chosen = sampled_steps(sorted({m["step"] for m in inside}), limit, ends)
    return {"metrics": [m for m in inside if m["step"] in chosen]}


HANDLERS = {
    ("runs/create", "POST"): create,
    ("runs/get", "GET"): get,
    ("runs/update", "POST"): update,
    ("runs/delete", "POST"): _lifecycle("deleted"),
    ("runs/restore", "POST"): _lifecycle("active"),
    ("runs/log-metric", "POST"): log_metric,
    ("runs/log-parameter", "POST"): log_param,
    ("runs/log-batch", "POST"): log_batch,
    ("runs/log-inputs", "POST"): log_inputs,
    ("runs/outputs", "POST"): log_outputs,
    ("runs/set-tag", "POST"): set_tag,
    ("runs/delete-tag", "POST"): delete_tag,
    ("metrics/get-history", "GET"): history,
    ("metrics/get-history-bulk", "GET"): history_bulk,
    ("metrics/get-history-bulk-interval", "GET"): history_bulk_interval,
}
