"""``limelight import mlflow``: copy an MLflow tracking store into Limelight's tables.

Reads MLflow's SQL store (``sqlite:///mlflow.db``, ``postgresql://...``) with SQLAlchemy or its
file store (a ``mlruns`` folder) directly: MLflow is never imported. Copies experiments (with
tags), runs (name, status, times, lifecycle), every metric value, params, tags, registered
models, versions (with the model's files when they are on this machine) and aliases. Runs get
new Limelight ids; each keeps its MLflow id in the tag ``mlflow.importedRunId`` and a second
import skips runs it already copied. Aliases are copied as they are (audit row "imported from
MLflow"): an import copies state, it does not promote.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from limelight.core.errors import InvalidInputError, NotFoundError
from limelight.registry import Registry
from limelight.store import Store
from limelight.store.metadata import inserted_id
from limelight.store.mlflow_models import MlflowModelFiles
from limelight.store.recording import insert_metric_rows, metric_value_columns
from limelight.store.schema import (
    alias_events,
    aliases,
    mlflow_experiments,
    mlflow_runs,
    mlflow_versions,
    models,
    params,
    run_tags,
    runs,
)
from limelight.ui._mlflow._experiments import ensure_default, insert_experiment
from limelight.ui._mlflow._runs import TO_LIMELIGHT

__all__ = ["ImportReport", "MlflowSource", "import_mlflow", "open_source"]

IMPORTED = "mlflow.importedRunId"


@dataclass
class SourceRun:
    uuid: str
    experiment: str
    name: str
    user: str
    status: str
    start: int | None
    end: int | None
    lifecycle: str
    params: dict[str, str]
    tags: dict[str, str]
    metrics: list[tuple[str, float, int, int]]  # key, value, timestamp ms, step


@dataclass
class SourceVersion:
    model: str
    version: int
    source: str
    run_uuid: str | None
    description: str
    tags: dict[str, str]
    folder: Path | None  # the model's files when they are on this machine
    stage: str = "None"  # MLflow's stage: None, Staging, Production or Archived


DELETED_STAGE = "Deleted_Internal"  # how MLflow's stores mark a deleted version they keep


@dataclass
class MlflowSource:
    experiments: list[dict[str, Any]]  # name, artifact_location, lifecycle, created, tags
    runs: Iterator[SourceRun]
    models: list[dict[str, Any]]  # name, created, description, tags, aliases {alias: version}
    versions: list[SourceVersion]


@dataclass
class ImportReport:
    experiments: int = 0
    runs: int = 0
    skipped_runs: int = 0
    metrics: int = 0
    params: int = 0
    tags: int = 0
    models: int = 0
    versions: int = 0
    aliases: int = 0
    without_files: list[str] = field(default_factory=list)


def _local_folder(uri: str) -> Path | None:
    path = uri.removeprefix("file://") if uri.startswith("file://") else uri
    if "://" in path or path.startswith(("models:", "runs:", "mlflow-artifacts:")):
        return None
    folder = Path(path)
    return folder if folder.is_dir() else None


# -- the SQL store -----------------------------------------------------------------------------
def _sql_source(url: str) -> MlflowSource:
    engine = sa.create_engine(url)
    meta = sa.MetaData()
    try:
        meta.reflect(engine)
    except sa.exc.SQLAlchemyError as exc:
        raise InvalidInputError(f"cannot read an MLflow database at {url}: {exc}") from None
    need = {"experiments", "runs", "metrics", "params", "tags"}
    if not need <= set(meta.tables):
        raise InvalidInputError(
            f"{url} is not an MLflow tracking database (it lacks {', '.join(sorted(need - set(meta.tables)))})"
        )
    t = meta.tables
    with engine.connect() as conn:
        names = {r.experiment_id: r.name for r in conn.execute(sa.select(t["experiments"]))}
        exp_tags: dict[Any, dict[str, str]] = {}
        if "experiment_tags" in t:
            for r in conn.execute(sa.select(t["experiment_tags"])):
                exp_tags.setdefault(r.experiment_id, {})[r.key] = r.value
        experiments = [
            {
                "name": r.name,
                "artifact_location": r.artifact_location or "",
                "lifecycle": r.lifecycle_stage or "active",
                "created": (r.creation_time or 0) / 1000
                if "creation_time" in r._fields
                else time.time(),
                "tags": exp_tags.get(r.experiment_id, {}),
            }
            for r in conn.execute(sa.select(t["experiments"]))
        ]
        run_rows = conn.execute(sa.select(t["runs"])).all()
        grouped: dict[str, dict[str, Any]] = {
            r.run_uuid: {"params": {}, "tags": {}, "metrics": []} for r in run_rows
        }
        for r in conn.execute(sa.select(t["params"])):
            grouped.get(r.run_uuid, {}).setdefault("params", {})[r.key] = r.value
        for r in conn.execute(sa.select(t["tags"])):
            grouped.get(r.run_uuid, {}).setdefault("tags", {})[r.key] = r.value
        for r in conn.execute(sa.select(t["metrics"])):
            value = float("nan") if getattr(r, "is_nan", False) else float(r.value)
            grouped.get(r.run_uuid, {}).setdefault("metrics", []).append(
                (r.key, value, int(r.timestamp), int(r.step or 0))
            )
        models_: list[dict[str, Any]] = []
        versions: list[SourceVersion] = []
        if "registered_models" in t:
            model_tags: dict[str, dict[str, str]] = {}
            for r in (
                conn.execute(sa.select(t["registered_model_tags"]))
                if "registered_model_tags" in t
                else []
            ):
                model_tags.setdefault(r.name, {})[r.key] = r.value
            alias_map: dict[str, dict[str, int]] = {}
            for r in (
                conn.execute(sa.select(t["registered_model_aliases"]))
                if "registered_model_aliases" in t
                else []
            ):
                alias_map.setdefault(r.name, {})[r.alias] = int(r.version)
            for r in conn.execute(sa.select(t["registered_models"])):
                models_.append(
                    {
                        "name": r.name,
                        "created": (r.creation_time or 0) / 1000,
                        "description": r.description,
                        "tags": model_tags.get(r.name, {}),
                        "aliases": alias_map.get(r.name, {}),
                    }
                )
            version_tags: dict[tuple[str, int], dict[str, str]] = {}
            for r in (
                conn.execute(sa.select(t["model_version_tags"]))
                if "model_version_tags" in t
                else []
            ):
                version_tags.setdefault((r.name, int(r.version)), {})[r.key] = r.value
            logged = {}
            if "logged_models" in t:
                logged = {
                    r.model_id: r.artifact_location
                    for r in conn.execute(sa.select(t["logged_models"]))
                }
            for r in conn.execute(
                sa.select(t["model_versions"]).order_by(
                    t["model_versions"].c.name, t["model_versions"].c.version
                )
            ):
                stage = getattr(r, "current_stage", None) or "None"
                if stage == DELETED_STAGE:
                    continue
                where = getattr(r, "storage_location", None) or r.source or ""
                if where.startswith("models:/"):
                    where = logged.get(where.removeprefix("models:/").strip("/"), "") or ""
                versions.append(
                    SourceVersion(
                        r.name,
                        int(r.version),
                        r.source or "",
                        r.run_id or None,
                        r.description or "",
                        version_tags.get((r.name, int(r.version)), {}),
                        _local_folder(where),
                        stage,
                    )
                )
    engine.dispose()

    def iterate() -> Iterator[SourceRun]:
        for r in run_rows:
            g = grouped[r.run_uuid]
            yield SourceRun(
                r.run_uuid,
                names.get(r.experiment_id, "Default"),
                r.name or g["tags"].get("mlflow.runName", ""),
                r.user_id or "unknown",
                r.status or "FINISHED",
                r.start_time,
                r.end_time,
                r.lifecycle_stage or "active",
                g["params"],
                g["tags"],
                g["metrics"],
            )

    return MlflowSource(experiments, iterate(), models_, versions)


# -- the file store ----------------------------------------------------------------------------
def _meta(path: Path) -> dict[str, Any]:
    import yaml

    data = yaml.safe_load(path.read_text()) if path.exists() else None
    return data if isinstance(data, dict) else {}


def _files_under(folder: Path) -> dict[str, str]:
    if not folder.is_dir():
        return {}
    return {
        p.relative_to(folder).as_posix(): p.read_text().strip()
        for p in folder.rglob("*")
        if p.is_file()
    }


def _file_source(root: Path) -> MlflowSource:
    experiments, run_dirs = [], []
    for exp_dir in sorted(
        p for p in root.iterdir() if p.is_dir() and p.name not in ("models", ".trash")
    ):
        meta = _meta(exp_dir / "meta.yaml")
        if not meta.get("name"):
            continue
        experiments.append(
            {
                "name": meta["name"],
                "artifact_location": meta.get("artifact_location", ""),
                "lifecycle": meta.get("lifecycle_stage", "active"),
                "created": (meta.get("creation_time") or 0) / 1000,
                "tags": _files_under(exp_dir / "tags"),
            }
        )
        run_dirs += [
            (meta["name"], d)
            for d in sorted(exp_dir.iterdir())
            if (d / "meta.yaml").exists() and d.name not in ("tags",)
        ]

    def iterate() -> Iterator[SourceRun]:
        for experiment, d in run_dirs:
            meta = _meta(d / "meta.yaml")
            status = meta.get("status", 3)
            status = {1: "RUNNING", 2: "SCHEDULED", 3: "FINISHED", 4: "FAILED", 5: "KILLED"}.get(
                status, status
            )
            metrics: list[tuple[str, float, int, int]] = []
            for key, text in _files_under(d / "metrics").items():
                # MLflow's SQL store keeps one row per (key, timestamp, step, value): so here
                for line in dict.fromkeys(text.splitlines()):
                    pieces = line.split()
                    if len(pieces) >= 2:
                        metrics.append(
                            (
                                key,
                                float(pieces[1]),
                                int(pieces[0]),
                                int(pieces[2]) if len(pieces) > 2 else 0,
                            )
                        )
            tags = _files_under(d / "tags")
            yield SourceRun(
                meta.get("run_id") or d.name,
                experiment,
                meta.get("run_name") or tags.get("mlflow.runName", ""),
                meta.get("user_id") or "unknown",
                str(status),
                meta.get("start_time"),
                meta.get("end_time"),
                meta.get("lifecycle_stage", "active"),
                _files_under(d / "params"),
                tags,
                metrics,
            )

    logged = {
        path.parent.name: str(_meta(path).get("artifact_location", ""))
        for path in root.glob("*/models/*/meta.yaml")
    }
    models_, versions = [], []
    for model_dir in sorted((root / "models").iterdir()) if (root / "models").is_dir() else []:
        meta = _meta(model_dir / "meta.yaml")
        if not meta.get("name"):
            continue
        alias_map = {
            k: int(v) for k, v in _files_under(model_dir / "aliases").items() if v.isdigit()
        }
        models_.append(
            {
                "name": meta["name"],
                "created": (meta.get("creation_timestamp") or 0) / 1000,
                "description": meta.get("description"),
                "tags": _files_under(model_dir / "tags"),
                "aliases": alias_map,
            }
        )
        for vdir in sorted(model_dir.glob("version-*"), key=lambda p: int(p.name.split("-")[1])):
            vmeta = _meta(vdir / "meta.yaml")
            if vmeta.get("current_stage") == DELETED_STAGE:
                continue
            where = vmeta.get("storage_location") or vmeta.get("source") or ""
            if where.startswith("models:/"):
                where = logged.get(where.removeprefix("models:/").strip("/"), "")
            versions.append(
                SourceVersion(
                    meta["name"],
                    int(vmeta.get("version", vdir.name.split("-")[1])),
                    vmeta.get("source", ""),
                    vmeta.get("run_id") or None,
                    vmeta.get("description") or "",
                    _files_under(vdir / "tags"),
                    _local_folder(where),
                    str(vmeta.get("current_stage") or "None"),
                )
            )
    return MlflowSource(experiments, iterate(), models_, versions)


def open_source(where: str) -> MlflowSource:
    """The MLflow store at ``where``: a database URL or a file store folder (``mlruns``)."""
    if not isinstance(where, str) or not where:
        raise InvalidInputError(
            "--from needs an MLflow store: sqlite:///mlflow.db or a mlruns folder"
        )
    if "://" in where and not where.startswith("file://"):
        if where.startswith("sqlite:///") and not Path(where.removeprefix("sqlite:///")).is_file():
            raise NotFoundError(
                f"there is no MLflow database at {where.removeprefix('sqlite:///')}"
            )
        return _sql_source(where)
    folder = Path(where.removeprefix("file://"))
    if not folder.is_dir():
        raise NotFoundError(f"there is no MLflow file store at {folder}")
    return _file_source(folder)


# -- writing into Limelight --------------------------------------------------------------------
def _experiment_ids(conn: sa.Connection, source: MlflowSource, report: ImportReport) -> None:
    ensure_default(conn)
    have = set(conn.execute(sa.select(mlflow_experiments.c.name)).scalars())
    for e in source.experiments:
        if e["name"] in have:
            continue
        new = insert_experiment(conn, e["name"], None, e["tags"])
        if e["lifecycle"] == "deleted":
            conn.execute(
                mlflow_experiments.update()
                .where(mlflow_experiments.c.id == new)
                .values(lifecycle_stage="deleted")
            )
        report.experiments += 1


def _write_run(conn: sa.Connection, *, run: SourceRun, report: ImportReport) -> int | None:
    done = conn.execute(
        sa.select(run_tags.c.run_id).where(run_tags.c.key == IMPORTED, run_tags.c.value == run.uuid)
    ).scalar()
    if done is not None:
        report.skipped_runs += 1
        return int(done)
    experiment = conn.execute(
        sa.select(mlflow_experiments.c.id).where(mlflow_experiments.c.name == run.experiment)
    ).scalar()
    if experiment is None:
        experiment = insert_experiment(conn, run.experiment)
    status = run.status if run.status in TO_LIMELIGHT else "FINISHED"
    created = (run.start or 0) / 1000
    run_id = inserted_id(
        conn.execute(
            runs.insert().values(
                flow=run.experiment,
                kind="notebook",
                status=TO_LIMELIGHT[status],
                user=run.user[:200],
                created_at=created,
                heartbeat_at=created,
                finished_at=None if run.end is None else run.end / 1000,
            )
        )
    )
    conn.execute(
        mlflow_runs.insert().values(
            run_id=run_id,
            experiment_id=experiment,
            name=run.name or f"run-{run_id}",
            lifecycle_stage=run.lifecycle,
            status=status,
        )
    )
    tags = {**run.tags, IMPORTED: run.uuid}
    conn.execute(
        run_tags.insert(), [{"run_id": run_id, "key": k[:250], "value": v} for k, v in tags.items()]
    )
    if run.params:
        conn.execute(
            params.insert(),
            [{"run_id": run_id, "name": k[:200], "value": v} for k, v in run.params.items()],
        )
    rows = []
    for key, value, timestamp, step in run.metrics:
        stored, text = (value, None) if math.isfinite(value) else metric_value_columns(value)
        rows.append((run_id, None, key[:200], step, stored, text, timestamp / 1000))
    if rows:
        insert_metric_rows(conn, rows)
    report.runs += 1
    report.metrics += len(rows)
    report.params += len(run.params)
    report.tags += len(run.tags)
    return run_id


def _model_files(store: Store, folder: Path | None) -> dict[str, tuple[str, int]]:
    if folder is None:
        return {}
    files = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            files[path.relative_to(folder).as_posix()] = (
                store.artifacts.blobs.put(data),
                len(data),
            )
    return files


def _insert(conn: sa.Connection, *, table: sa.Table, row: dict[str, Any]) -> None:
    conn.execute(table.insert().values(**row))


def import_mlflow(
    store: Store, where: str, *, progress: Callable[[str], None] | None = None
) -> ImportReport:
    """Copy the MLflow store at ``where`` into ``store``; say what was copied."""
    source = open_source(where)
    report = ImportReport()
    say = progress or (lambda _: None)
    store.metadata.transaction(lambda conn: _experiment_ids(conn, source, report))
    uuid_to_id: dict[str, int] = {}
    for count, run in enumerate(source.runs, 1):
        new = store.metadata.transaction(partial(_write_run, run=run, report=report))
        if new is not None:
            uuid_to_id[run.uuid] = new
        if count % 100 == 0:
            say(f"{count} runs copied")
    registry = Registry(store=store)
    for model in source.models:
        with store.metadata.connect() as conn:
            exists = conn.execute(
                sa.select(models.c.name).where(models.c.name == model["name"])
            ).first()
        if exists is not None:
            say(f"model {model['name']!r} is already in Limelight: skipped")
            continue
        mine = [v for v in source.versions if v.model == model["name"]]
        numbering: dict[int, int] = {}
        for v in sorted(mine, key=lambda v: v.version):
            files = _model_files(store, v.folder)
            if not files:
                report.without_files.append(f"{v.model}/{v.version}")
            ref = store.artifacts.save(MlflowModelFiles(files, v.source), serializer="mlflow-model")
            made = registry.register_ref(
                v.model,
                ref,
                run_id=uuid_to_id.get(v.run_uuid or ""),
                description=model["description"],
            )
            numbering[v.version] = made.version
            row = {
                "model": v.model,
                "version": made.version,
                "source": v.source,
                "description": v.description,
                "tags": v.tags,
                "stage": v.stage if v.stage != "None" else None,
            }
            store.metadata.transaction(partial(_insert, table=mlflow_versions, row=row))
            report.versions += 1
        if not mine:
            row = {
                "name": model["name"],
                "created_at": model["created"] or time.time(),
                "description": model["description"],
            }
            store.metadata.transaction(partial(_insert, table=models, row=row))

        def finish(
            conn: sa.Connection,
            model: dict[str, Any] = model,
            numbering: dict[int, int] = numbering,
        ) -> None:
            conn.execute(
                mlflow_versions.insert().values(model=model["name"], version=0, tags=model["tags"])
            )
            now = time.time()
            for alias, version in sorted(model["aliases"].items()):
                if version not in numbering:
                    continue
                conn.execute(
                    aliases.insert().values(
                        model=model["name"], alias=alias, version=numbering[version], moved_at=now
                    )
                )
                conn.execute(
                    alias_events.insert().values(
                        model=model["name"],
                        alias=alias,
                        from_version=None,
                        to_version=numbering[version],
                        who="limelight import mlflow",
                        why="imported from MLflow",
                        at=now,
                        outcome="moved",
                        gates=[],
                    )
                )
                report.aliases += 1

        store.metadata.transaction(finish)
        report.models += 1
    return report
