"""MLflow's model registry over Limelight's: models, versions, aliases (through the gates).

A version registered through MLflow stores its files (the logged model's directory) as a
``mlflow-model`` artifact: a manifest of blobs that :mod:`limelight.store.mlflow_models`
loads, so ``limelight serve`` answers ``/v1/predict/NAME`` for it. MLflow's extras (source,
model id, description, tags, stage, update time) live in ``mlflow_versions``; version 0 holds
the model's own tags and update time. Stages (deprecated by MLflow for aliases, still used by
older code) are kept as labels: serving follows aliases, which go through the promotion gates.
Deleting and renaming go through :class:`Registry`, which refuses while an alias or a monitor
refers to the model or version by name.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

import sqlalchemy as sa

from limelight.core.errors import InvalidInputError, NotFoundError
from limelight.core.names import check_alias, check_name
from limelight.registry import GateRefused, Registry
from limelight.store.mlflow_models import MlflowModelFiles
from limelight.store.schema import (
    aliases,
    mlflow_logged_models,
    mlflow_runs,
    mlflow_versions,
    model_versions,
    models,
    runs,
)
from limelight.ui._mlflow._artifacts import artifact_dir
from limelight.ui._mlflow._experiments import (
    page_token,
    read_page_token,
    text_match,
    text_matches,
)
from limelight.ui._mlflow._protocol import (
    MAX_RESULTS,
    Fields,
    MlflowError,
    Protocol,
    bad,
    ms,
)

__all__ = ["HANDLERS", "source_dir"]


def _name(f: Fields, field: str = "name") -> str:
    name = f.string(field, required=True)
    try:
        return check_name(name)
    except Exception as exc:
        raise bad(f"Invalid model name {name!r}: {exc}") from None


def _not_found(name: str) -> MlflowError:
    return MlflowError("RESOURCE_DOES_NOT_EXIST", f"Registered Model with name={name} not found")


def _version_number(f: Fields) -> int:
    text = f.data.get("version")
    if text is None:
        raise bad("Missing value for required parameter 'version'.")
    try:
        number = int(str(text))
    except ValueError:
        raise bad(f"Parameter 'version' must be an integer, got '{text}'.") from None
    if not 1 <= number < 2**31:
        raise bad(f"Parameter 'version' must be a positive integer, got '{text}'.")
    return number


def _extras(conn: sa.Connection, name: str) -> dict[int, Any]:
    return {
        r.version: r
        for r in conn.execute(sa.select(mlflow_versions).where(mlflow_versions.c.model == name))
    }


STAGES = ("None", "Staging", "Production", "Archived")
MODEL_VERSIONS_TAG = "mlflow.modelVersions"  # on a logged model: the versions made from it
_STAGE_NAMES = {stage.lower(): stage for stage in STAGES}


def _stage(text: str) -> str:
    """MLflow's stage name for ``text`` (any case), or INVALID_PARAMETER_VALUE."""
    stage = _STAGE_NAMES.get(text.strip().lower())
    if stage is None:
        raise bad(f"Invalid Model Version stage: {text}. Value must be one of {', '.join(STAGES)}.")
    return stage


def _version_json(row: Any, extra: Any, alias_names: list[str]) -> dict[str, Any]:
    updated = extra.updated_at if extra is not None and extra.updated_at else row.created_at
    out = {
        "name": row.model,
        "version": str(row.version),
        "creation_timestamp": ms(row.created_at),
        "last_updated_timestamp": ms(max(updated, row.created_at)),
        "current_stage": (extra.stage if extra is not None else None) or "None",
        "description": (extra.description if extra is not None else None) or "",
        "source": (extra.source if extra is not None else None)
        or f"limelight:{row.model}/{row.version}",
        "run_id": str(row.run_id)
        if row.run_id is not None
        else ((extra.run_id if extra is not None else None) or ""),
        "status": "READY",
        "tags": [
            {"key": k, "value": v}
            for k, v in sorted(((extra.tags if extra is not None else None) or {}).items())
        ],
        "aliases": sorted(alias_names),
        "user_id": row.created_by or "",
    }
    if extra is not None and extra.model_id:
        out["model_id"] = extra.model_id
    return out


def _alias_rows(conn: sa.Connection, name: str) -> list[Any]:
    """(alias, version) of each alias of the model, by alias."""
    return list(
        conn.execute(
            sa.select(aliases.c.alias, aliases.c.version)
            .where(aliases.c.model == name)
            .order_by(aliases.c.alias)
        )
    )


def _versions_json(
    versions: list[Any], extras: dict[int, Any], alias_rows: list[Any]
) -> list[dict[str, Any]]:
    """MLflow's JSON of each version row, with its extras and its aliases."""
    by_version: dict[int, list[str]] = {}
    for a, v in alias_rows:
        by_version.setdefault(v, []).append(a)
    return [
        _version_json(v, extras.get(v.version), by_version.get(v.version, [])) for v in versions
    ]


def _model_json(conn: sa.Connection, row: Any, *, latest: bool = True) -> dict[str, Any]:
    extras = _extras(conn, row.name)
    alias_rows = _alias_rows(conn, row.name)
    versions = _latest_per_stage(conn, row.name, extras)
    own = extras.get(0)
    updated = max(
        [row.created_at, *(v.created_at for v in versions), (own.updated_at if own else 0) or 0]
    )
    out: dict[str, Any] = {
        "name": row.name,
        "creation_timestamp": ms(row.created_at),
        "last_updated_timestamp": ms(updated),
        "description": row.description or "",
        "tags": [
            {"key": k, "value": v} for k, v in sorted(((own.tags if own else None) or {}).items())
        ],
        "aliases": [{"alias": a, "version": str(v)} for a, v in alias_rows],
    }
    if latest and versions:
        out["latest_versions"] = _versions_json(versions, extras, alias_rows)
    return out


def _latest_per_stage(
    conn: sa.Connection, name: str, extras: dict[int, Any], stages: list[str] | None = None
) -> list[Any]:
    """The newest version in each stage (MLflow's ``latest_versions``), in the order of
    :data:`STAGES`; only ``stages`` when given and not empty."""
    newest: dict[str, Any] = {}
    for v in conn.execute(
        sa.select(model_versions)
        .where(model_versions.c.model == name)
        .order_by(model_versions.c.version)
    ):
        extra = extras.get(v.version)
        newest[(extra.stage if extra is not None else None) or "None"] = v
    wanted = stages or list(STAGES)
    return [newest[stage] for stage in STAGES if stage in newest and stage in wanted]


def _touch_model(conn: sa.Connection, name: str) -> None:
    """Mark the registered model updated now (a rename, a stage change, a deleted version)."""
    _set_extra(conn, name, 0, updated_at=time.time())


def _in_use(exc: InvalidInputError) -> MlflowError:
    return MlflowError("INVALID_STATE", str(exc))


def _model_row(conn: sa.Connection, name: str) -> Any:
    row = conn.execute(sa.select(models).where(models.c.name == name)).first()
    if row is None:
        raise _not_found(name)
    return row


def _tags(f: Fields) -> dict[str, str]:
    out = {}
    for tag in f.objects("tags"):
        out[tag.string("key", required=True, max_length=250)] = (
            tag.string("value", max_length=100_000) or ""
        )
    return out


def create_model(p: Protocol, f: Fields) -> dict[str, Any]:
    name = _name(f)
    tags = _tags(f)
    description = f.string("description")

    def work(conn: sa.Connection) -> dict[str, Any]:
        if conn.execute(sa.select(models.c.name).where(models.c.name == name)).first() is not None:
            raise MlflowError(
                "RESOURCE_ALREADY_EXISTS", f"Registered Model (name={name}) already exists."
            )
        conn.execute(
            models.insert().values(name=name, created_at=time.time(), description=description)
        )
        conn.execute(mlflow_versions.insert().values(model=name, version=0, tags=tags))
        return _model_json(conn, _model_row(conn, name))

    return {"registered_model": p.store.metadata.transaction(work)}


def get_model(p: Protocol, f: Fields) -> dict[str, Any]:
    name = _name(f)
    with p.store.metadata.connect() as conn:
        return {"registered_model": _model_json(conn, _model_row(conn, name))}


def update_model(p: Protocol, f: Fields) -> dict[str, Any]:
    name = _name(f)
    description = f.string("description")

    def work(conn: sa.Connection) -> dict[str, Any]:
        _model_row(conn, name)
        if description is not None:
            conn.execute(
                models.update().where(models.c.name == name).values(description=description)
            )
            _touch_model(conn, name)
        return _model_json(conn, _model_row(conn, name))

    return {"registered_model": p.store.metadata.transaction(work)}


def delete_model(p: Protocol, f: Fields) -> dict[str, Any]:
    name = _name(f)
    try:
        Registry(store=p.store).delete_model(name, who=_who(f), why="deleted through MLflow's API")
    except NotFoundError:
        raise _not_found(name) from None
    except InvalidInputError as exc:
        raise _in_use(exc) from None
    return {}


def _set_extra(conn: sa.Connection, name: str, version: int, **values: Any) -> None:
    done = conn.execute(
        mlflow_versions.update()
        .where(mlflow_versions.c.model == name, mlflow_versions.c.version == version)
        .values(**values)
    ).rowcount
    if not done:
        conn.execute(mlflow_versions.insert().values(model=name, version=version, **values))


def _tag_change(version_level: bool, delete: bool) -> Any:
    def handler(p: Protocol, f: Fields) -> dict[str, Any]:
        name = _name(f)
        version = _version_number(f) if version_level else 0
        key = f.string("key", required=True, max_length=250)
        value = None if delete else (f.string("value", required=True, max_length=100_000))

        def work(conn: sa.Connection) -> None:
            _model_row(conn, name)
            if version:
                _version_row(conn, name, version)
            extra = _extras(conn, name).get(version)
            tags = dict((extra.tags if extra is not None else None) or {})
            if delete:
                tags.pop(key, None)
            else:
                tags[key] = value
            _set_extra(conn, name, version, tags=tags)

        p.store.metadata.transaction(work)
        return {}

    return handler


_MODEL_CLAUSE = re.compile(
    r"\s*(name|attributes\.name|tags?\.(?:`[^`]+`|\"[^\"]+\"|[\w.\-]+))\s*"
    r"(=|==|!=|<>|LIKE|ILIKE)\s*('[^']*'|\"[^\"]*\")\s*",
    re.IGNORECASE,
)


def search_models(p: Protocol, f: Fields) -> dict[str, Any]:
    """Registered models by ``name`` and ``tags.KEY`` clauses joined by AND (MLflow 3's client
    adds ``tag.`mlflow.prompt.is_prompt` != 'true'``: a model without the tag matches ``!=``)."""
    limit = f.integer("max_results", low=1, high=MAX_RESULTS) or 100
    offset = read_page_token(f)
    text = (f.string("filter") or "").strip()
    query = sa.select(models)
    tag_clauses: list[tuple[str, str, str]] = []
    for clause in [c for c in re.split(r"\s+and\s+", text, flags=re.IGNORECASE) if c.strip()]:
        match = _MODEL_CLAUSE.fullmatch(clause)
        if match is None:
            raise bad(
                f"Invalid filter '{text}': registered models filter on name or tags.KEY with "
                "= != LIKE ILIKE and a quoted value, joined by AND"
            )
        field, op, raw = match.group(1), match.group(2).upper(), match.group(3)[1:-1]
        if field.lower().endswith("name") and "." not in field.lower().removeprefix("attributes."):
            query = query.where(text_match(models.c.name, op, raw))
        else:
            tag_clauses.append((field.split(".", 1)[1].strip('`"'), op, raw))
    query = query.order_by(models.c.name)
    with p.store.metadata.connect() as conn:
        rows = conn.execute(query).all()
        if tag_clauses:
            own = {
                r.model: (r.tags or {})
                for r in conn.execute(
                    sa.select(mlflow_versions.c.model, mlflow_versions.c.tags).where(
                        mlflow_versions.c.version == 0
                    )
                )
            }
            rows = [
                r
                for r in rows
                if all(
                    (op in ("!=", "<>") and key not in own.get(r.name, {}))
                    or (
                        key in own.get(r.name, {})
                        and text_matches(str(own[r.name][key]), op, value)
                    )
                    for key, op, value in tag_clauses
                )
            ]
        page = rows[offset : offset + limit + 1]
        out: dict[str, Any] = {"registered_models": [_model_json(conn, r) for r in page[:limit]]}
    if len(page) > limit:
        out["next_page_token"] = page_token(offset + limit)
    return out


def _version_row(conn: sa.Connection, name: str, version: int) -> Any:
    row = conn.execute(
        sa.select(model_versions).where(
            model_versions.c.model == name, model_versions.c.version == version
        )
    ).first()
    if row is None:
        raise MlflowError(
            "RESOURCE_DOES_NOT_EXIST", f"Model Version (name={name}, version={version}) not found"
        )
    return row


def _one_version(conn: sa.Connection, name: str, version: int) -> dict[str, Any]:
    row = _version_row(conn, name, version)
    return _versions_json([row], _extras(conn, name), _alias_rows(conn, name))[0]


_REGISTERED = re.compile(r"models:/([^/@]+)/(\d{1,9})/?")


def registered_source(conn: sa.Connection, source: str, depth: int = 0) -> str:
    """The source behind ``models:/NAME/VERSION`` (a copied version), followed to its origin."""
    match = _REGISTERED.fullmatch(source)
    if match is None or depth > 20:
        return source
    found = conn.execute(
        sa.select(mlflow_versions.c.source).where(
            mlflow_versions.c.model == match.group(1),
            mlflow_versions.c.version == int(match.group(2)),
        )
    ).scalar()
    return source if not found else registered_source(conn, found, depth + 1)


def source_dir(conn: sa.Connection, source: str) -> str | None:
    """The ``mlflow-artifacts`` folder a version's source names (None when it is elsewhere)."""
    source = registered_source(conn, source)
    if source.startswith("models:/"):
        model_id = source.removeprefix("models:/").strip("/")
        location = conn.execute(
            sa.select(mlflow_logged_models.c.artifact_location).where(
                mlflow_logged_models.c.id == model_id
            )
        ).scalar()
        return artifact_dir(location) if location else None
    if source.startswith("runs:/"):
        run, _, rest = source.removeprefix("runs:/").partition("/")
        experiment = conn.execute(
            sa.select(mlflow_runs.c.experiment_id).where(
                mlflow_runs.c.run_id == (int(run) if run.isdigit() else -1)
            )
        ).scalar()
        return None if experiment is None else f"{experiment}/{run}/artifacts/{rest}".rstrip("/")
    if source.startswith("mlflow-artifacts:"):
        return artifact_dir(source)
    return None


def _files(conn: sa.Connection, folder: str | None) -> dict[str, tuple[str, int]]:
    from limelight.store.schema import mlflow_files

    if folder is None:
        return {}
    prefix = f"{folder}/"
    return {
        path[len(prefix) :]: (key, size)
        for path, key, size in conn.execute(
            sa.select(mlflow_files.c.path, mlflow_files.c.key, mlflow_files.c.size).where(
                mlflow_files.c.path.startswith(prefix, autoescape=True)
            )
        )
    }


def create_version(p: Protocol, f: Fields) -> dict[str, Any]:
    name = _name(f)
    source = f.string("source", required=True, max_length=5000)
    run_text = f.string("run_id", max_length=64)
    model_id = f.string("model_id", max_length=64)
    description = f.string("description")
    tags = _tags(f)
    run_id = None
    foreign_run = None  # MLflow's run id when it names no Limelight run: kept, no lineage
    with p.store.metadata.connect() as conn:
        _model_row(conn, name)
        if run_text:
            if (
                run_text.isdigit()
                and len(run_text) <= 18
                and conn.execute(sa.select(runs.c.id).where(runs.c.id == int(run_text))).first()
            ):
                run_id = int(run_text)
            else:  # MLflow's server takes any run id (the run may live on another server)
                foreign_run = run_text
        if model_id and source == "":
            source = f"models:/{model_id}"
        folder = source_dir(conn, source)
        if folder is None and model_id:
            folder = source_dir(conn, f"models:/{model_id}")
        logged = model_id or (
            source.removeprefix("models:/") if source.startswith("models:/") else ""
        )
        if run_id is None and logged:  # MLflow 3 registers a logged model: its run is the lineage
            run_id = conn.execute(
                sa.select(mlflow_logged_models.c.run_id).where(mlflow_logged_models.c.id == logged)
            ).scalar()
        files = _files(conn, folder)
    ref = p.store.artifacts.save(MlflowModelFiles(files, source), serializer="mlflow-model")
    registry = Registry(store=p.store)
    version = registry.register_ref(name, ref, run_id=run_id, description=None)

    def work(conn: sa.Connection) -> dict[str, Any]:
        _set_extra(
            conn,
            name,
            version.version,
            source=source,
            model_id=model_id,
            description=description,
            tags=tags,
            run_id=foreign_run,
        )
        if model_id:
            _tag_logged_model(conn, model_id, name, version.version)
        return _one_version(conn, name, version.version)

    return {"model_version": p.store.metadata.transaction(work)}


def _tag_logged_model(conn: sa.Connection, model_id: str, name: str, version: int) -> None:
    """Add the version to the logged model's ``mlflow.modelVersions`` tag, as MLflow's server
    does (a JSON list of name and version, in Python's ``json.dumps`` spelling)."""
    row = conn.execute(
        sa.select(mlflow_logged_models.c.tags).where(mlflow_logged_models.c.id == model_id)
    ).first()
    if row is None:  # a model id from elsewhere: MLflow's server keeps it without a model
        return
    tags = dict(row.tags or {})
    try:
        registered = json.loads(tags.get(MODEL_VERSIONS_TAG, "[]"))
    except ValueError:
        registered = []
    if not isinstance(registered, list):
        registered = []
    tags[MODEL_VERSIONS_TAG] = json.dumps([*registered, {"name": name, "version": version}])
    conn.execute(
        mlflow_logged_models.update().where(mlflow_logged_models.c.id == model_id).values(tags=tags)
    )


def get_version(p: Protocol, f: Fields) -> dict[str, Any]:
    name = _name(f)
    version = _version_number(f)
    with p.store.metadata.connect() as conn:
        _model_row(conn, name)
        return {"model_version": _one_version(conn, name, version)}


def update_version(p: Protocol, f: Fields) -> dict[str, Any]:
    name = _name(f)
    version = _version_number(f)
    description = f.string("description")

    def work(conn: sa.Connection) -> dict[str, Any]:
        _model_row(conn, name)
        _version_row(conn, name, version)
        if description is not None:
            _set_extra(conn, name, version, description=description, updated_at=time.time())
        return _one_version(conn, name, version)

    return {"model_version": p.store.metadata.transaction(work)}


def delete_version(p: Protocol, f: Fields) -> dict[str, Any]:
    name = _name(f)
    version = _version_number(f)
    with p.store.metadata.connect() as conn:
        _model_row(conn, name)
        _version_row(conn, name, version)
    try:
        Registry(store=p.store).delete_version(
            f"{name}/{version}", who=_who(f), why="deleted through MLflow's API"
        )
    except NotFoundError:
        raise MlflowError(
            "RESOURCE_DOES_NOT_EXIST", f"Model Version (name={name}, version={version}) not found"
        ) from None
    except InvalidInputError as exc:
        raise _in_use(exc) from None
    p.store.metadata.transaction(lambda conn: _touch_model(conn, name))
    return {}


def latest_versions(p: Protocol, f: Fields) -> dict[str, Any]:
    name = _name(f)
    stages = [_stage(s) for s in f.strings("stages")]
    with p.store.metadata.connect() as conn:
        _model_row(conn, name)
        extras = _extras(conn, name)
        versions = _latest_per_stage(conn, name, extras, stages)
        return {"model_versions": _versions_json(versions, extras, _alias_rows(conn, name))}


_VERSION_CLAUSE = re.compile(
    r"\s*(?:attributes\.)?(name|run_id|source_path|version_number)\s*"
    r"(=|==|!=|<>|LIKE|ILIKE)\s*('(?:[^']*)'|\"(?:[^\"]*)\"|\d+)\s*",
    re.IGNORECASE,
)
_VERSION_ORDER = {
    "name": model_versions.c.model,
    "version_number": model_versions.c.version,
    "creation_timestamp": model_versions.c.created_at,
    "last_updated_timestamp": model_versions.c.created_at,  # versions change only by alias
}


def _version_condition(text: str, clause: str) -> Any:
    match = _VERSION_CLAUSE.fullmatch(clause)
    if match is None:
        raise bad(
            f"Invalid filter '{text}': use name, run_id, source_path or version_number with "
            "=, != (and LIKE, ILIKE on text), values in quotes"
        )
    key, op, raw = match.group(1).lower(), match.group(2).upper(), match.group(3)
    value = raw[1:-1] if raw[0] in "'\"" else raw
    if key == "version_number":
        if not value.isdigit() or op not in ("=", "==", "!=", "<>"):
            raise bad(f"Invalid filter '{text}': version_number compares = or != to a number")
        number = int(value)
        return (
            model_versions.c.version == number
            if op in ("=", "==")
            else (model_versions.c.version != number)
        )
    column: Any
    if key == "run_id":  # a Limelight run's id, or the run id MLflow gave
        own = sa.cast(model_versions.c.run_id, sa.Text)
        column = sa.func.coalesce(own, mlflow_versions.c.run_id, "")
    elif key == "source_path":
        column = sa.func.coalesce(mlflow_versions.c.source, "")
    else:
        column = model_versions.c.model
    return text_match(column, op, value)


def search_versions(p: Protocol, f: Fields) -> dict[str, Any]:
    limit = f.integer("max_results", low=1, high=200_000) or 10_000
    offset = read_page_token(f)
    text = (f.string("filter") or "").strip()
    query = (
        sa.select(model_versions.c.model, model_versions.c.version)
        .select_from(model_versions)
        .outerjoin(
            mlflow_versions,
            (mlflow_versions.c.model == model_versions.c.model)
            & (mlflow_versions.c.version == model_versions.c.version),
        )
    )
    for clause in [c for c in re.split(r"\s+and\s+", text, flags=re.IGNORECASE) if c.strip()]:
        query = query.where(_version_condition(text, clause))
    for order in f.strings("order_by"):
        words = order.split()
        column = _VERSION_ORDER.get(words[0].lower().removeprefix("attributes.")) if words else None
        if (
            column is None
            or len(words) > 2
            or (len(words) == 2 and words[1].upper() not in ("ASC", "DESC"))
        ):
            raise bad(
                f"Invalid order_by clause '{order}': use one of {', '.join(_VERSION_ORDER)}, "
                "then ASC or DESC"
            )
        query = query.order_by(column.desc() if words[-1].upper() == "DESC" else column.asc())
    if not f.strings("order_by"):  # MLflow's default: the last updated first
        query = query.order_by(model_versions.c.created_at.desc())
    # and its tie-breakers after any order: name, then the newest version
    query = query.order_by(model_versions.c.model, model_versions.c.version.desc())
    query = query.offset(offset).limit(limit + 1)
    with p.store.metadata.connect() as conn:
        rows = conn.execute(query).all()
        out: dict[str, Any] = {
            "model_versions": [_one_version(conn, r.model, r.version) for r in rows[:limit]]
        }
    if len(rows) > limit:
        out["next_page_token"] = page_token(offset + limit)
    return out


def download_uri(p: Protocol, f: Fields) -> dict[str, Any]:
    name = _name(f)
    version = _version_number(f)
    with p.store.metadata.connect() as conn:
        _model_row(conn, name)
        _version_row(conn, name, version)
        extra = _extras(conn, name).get(version)
        source = registered_source(conn, (extra.source if extra is not None else None) or "")
        folder = source_dir(conn, source)
    return {"artifact_uri": f"mlflow-artifacts:/{folder}" if folder else source}


def _who(f: Fields) -> str:
    return "mlflow-client"


def set_alias(p: Protocol, f: Fields) -> dict[str, Any]:
    name = _name(f)
    alias = f.string("alias", required=True)
    version = _version_number(f)
    try:
        check_alias(alias)
    except Exception as exc:
        raise bad(f"Invalid alias {alias!r}: {exc}") from None
    with p.store.metadata.connect() as conn:
        _model_row(conn, name)
        _version_row(conn, name, version)
    try:
        Registry(store=p.store).set_alias(name, alias, version, who=_who(f))
    except GateRefused as exc:
        gates = ", ".join(d.gate for d in exc.decisions if not d.passed)
        raise MlflowError(
            "RESOURCE_CONFLICT", f"refused by promotion gate {gates}: {exc}"
        ) from None
    return {}


def delete_alias(p: Protocol, f: Fields) -> dict[str, Any]:
    name = _name(f)
    alias = f.string("alias", required=True)
    with p.store.metadata.connect() as conn:
        _model_row(conn, name)
    Registry(store=p.store).remove_alias(name, alias, why="removed through MLflow's API")
    return {}


def get_by_alias(p: Protocol, f: Fields) -> dict[str, Any]:
    name = _name(f)
    alias = f.string("alias", required=True)
    with p.store.metadata.connect() as conn:
        _model_row(conn, name)
        version = conn.execute(
            sa.select(aliases.c.version).where(aliases.c.model == name, aliases.c.alias == alias)
        ).scalar()
        if version is None:
            raise MlflowError(
                "RESOURCE_DOES_NOT_EXIST", f"Registered model alias {alias} not found."
            )
        return {"model_version": _one_version(conn, name, version)}


def rename_model(p: Protocol, f: Fields) -> dict[str, Any]:
    name = _name(f)
    new_name = _name(f, "new_name")
    with p.store.metadata.connect() as conn:
        _model_row(conn, name)
        if conn.execute(sa.select(models.c.name).where(models.c.name == new_name)).first():
            raise MlflowError(
                "RESOURCE_ALREADY_EXISTS", f"Registered Model (name={new_name}) already exists."
            )
    try:
        Registry(store=p.store).rename_model(name, new_name, who=_who(f))
    except NotFoundError:
        raise _not_found(name) from None
    except InvalidInputError as exc:
        raise _in_use(exc) from None

    def work(conn: sa.Connection) -> dict[str, Any]:
        _touch_model(conn, new_name)
        return _model_json(conn, _model_row(conn, new_name))

    return {"registered_model": p.store.metadata.transaction(work)}


def transition_stage(p: Protocol, f: Fields) -> dict[str, Any]:
    """Move a version to a stage (a label: serving follows aliases); with
    ``archive_existing_versions``, the other versions in Staging or Production move to Archived."""
    name = _name(f)
    version = _version_number(f)
    stage = _stage(f.string("stage", required=True))
    archive = f.data.get("archive_existing_versions") in (True, "true", "True")

    def work(conn: sa.Connection) -> dict[str, Any]:
        _model_row(conn, name)
        _version_row(conn, name, version)
        now = time.time()
        if archive and stage in ("Staging", "Production"):
            for other, extra in _extras(conn, name).items():
                if other not in (0, version) and extra.stage == stage:
                    _set_extra(conn, name, other, stage="Archived", updated_at=now)
        _set_extra(conn, name, version, stage=stage, updated_at=now)
        _touch_model(conn, name)
        return _one_version(conn, name, version)

    return {"model_version": p.store.metadata.transaction(work)}


HANDLERS = {
    ("registered-models/create", "POST"): create_model,
    ("registered-models/get", "GET"): get_model,
    ("registered-models/update", "PATCH"): update_model,
    ("registered-models/delete", "DELETE"): delete_model,
    ("registered-models/rename", "POST"): rename_model,
    ("registered-models/search", "GET"): search_models,
    ("registered-models/get-latest-versions", "POST"): latest_versions,
    ("registered-models/get-latest-versions", "GET"): latest_versions,
    ("registered-models/set-tag", "POST"): _tag_change(False, False),
    ("registered-models/delete-tag", "DELETE"): _tag_change(False, True),
    ("registered-models/alias", "POST"): set_alias,
    ("registered-models/alias", "DELETE"): delete_alias,
    ("registered-models/alias", "GET"): get_by_alias,
    ("model-versions/create", "POST"): create_version,
    ("model-versions/get", "GET"): get_version,
    ("model-versions/update", "PATCH"): update_version,
    ("model-versions/delete", "DELETE"): delete_version,
    ("model-versions/search", "GET"): search_versions,
    ("model-versions/get-download-uri", "GET"): download_uri,
    ("model-versions/set-tag", "POST"): _tag_change(True, False),
    ("model-versions/delete-tag", "DELETE"): _tag_change(True, True),
    ("model-versions/transition-stage", "POST"): transition_stage,
}
