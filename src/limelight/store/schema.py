"""The metadata schema (SQLAlchemy Core), one for SQLite and PostgreSQL.

Changes to these tables go through a new Alembic migration in ``store/migrations/versions``.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

__all__ = [
    "SCHEMA_HEAD",
    "alias_events",
    "aliases",
    "artifacts",
    "attempts",
    "datasets",
    "deployments",
    "event_log_audit",
    "experiment_variants",
    "experiments",
    "firings",
    "flows",
    "metadata",
    "metrics",
    "mlflow_experiments",
    "mlflow_files",
    "mlflow_logged_models",
    "mlflow_model_metrics",
    "mlflow_runs",
    "mlflow_versions",
    "model_versions",
    "models",
    "monitor_alerts",
    "monitor_values",
    "monitors",
    "params",
    "published_events",
    "run_datasets",
    "run_tags",
    "runs",
    "schedulers",
    "steps",
    "tags",
    "tasks",
]

naming = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=naming)
Id = BigInteger().with_variant(Integer, "sqlite")  # SQLite's rowid alias must be INTEGER

flows = Table(
    "flows",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("created_at", Float, nullable=False),
    Column("graph", JSON),  # the static graph of the latest run, for display
)

runs = Table(
    "runs",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column(
        "flow", String(200), nullable=False
    ),  # a flow's name, or an experiment's for notebook runs
    Column("kind", String(20), nullable=False, default="flow"),  # flow | notebook
    Column("status", String(20), nullable=False),  # running | succeeded | failed | interrupted
    Column("origin_run_id", Id, ForeignKey("runs.id")),  # the run a resume reuses
    Column("code_hash", String(64)),
    Column("code_path", Text),
    Column("user", String(200)),
    Column("executor", String(20)),
    Column("pid", Integer),
    Column("created_at", Float, nullable=False),
    Column("heartbeat_at", Float),
    Column("finished_at", Float),
    Column("error", Text),
    Index("ix_runs_flow_id", "flow", "id"),
)

steps = Table(
    "steps",
    metadata,
    Column("run_id", Id, ForeignKey("runs.id"), primary_key=True),
    Column("name", String(200), primary_key=True),
    Column("kind", String(20)),  # start | linear | branch | foreach | join | end
    Column("status", String(20), nullable=False),
    Column("started_at", Float),
    Column("finished_at", Float),
    Column("decorators", JSON),
    Column("code_hash", String(64)),  # of the step's source: resume re-runs changed steps
)

tasks = Table(
    "tasks",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("run_id", Id, ForeignKey("runs.id"), nullable=False),
    Column("step", String(200), nullable=False),
    Column(
        "path", String(400), nullable=False
    ),  # the task's place: foreach indices, e.g. "3" or "3.1"
    Column("status", String(20), nullable=False),  # pending | running | succeeded | failed | reused
    Column("origin_task_id", Id, ForeignKey("tasks.id")),  # for tasks reused by a resume
    Column("input_task_ids", JSON),
    Column("foreach_stack", JSON),
    Column("foreach_count", Integer),  # how many tasks a foreach split task fanned out to
    Column("attempts", Integer, nullable=False, default=0),
    Column("started_at", Float),
    Column("finished_at", Float),
    Column("error", Text),
    Column("stdout_key", String(64)),
    Column("stderr_key", String(64)),
    UniqueConstraint("run_id", "step", "path", name="uq_tasks_run_step_path"),
)

attempts = Table(
    "attempts",
    metadata,
    Column("task_id", Id, ForeignKey("tasks.id"), primary_key=True),
    Column("attempt", Integer, primary_key=True),
    Column("status", String(20), nullable=False),
    Column("started_at", Float),
    Column("finished_at", Float),
    Column("worker", String(100)),
    Column("error", Text),
)

artifacts = Table(
    "artifacts",
    metadata,
    Column("task_id", Id, ForeignKey("tasks.id"), primary_key=True),
    Column("name", String(200), primary_key=True),
    Column("key", String(64), nullable=False),
    Column("serializer", String(20), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("meta", JSON),
)

params = Table(
    "params",
    metadata,
    Column("run_id", Id, ForeignKey("runs.id"), primary_key=True),
    Column("name", String(200), primary_key=True),
    Column("value", JSON),
)

metrics = Table(
    "metrics",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("run_id", Id, ForeignKey("runs.id"), nullable=False),
    Column("task_id", Id, ForeignKey("tasks.id")),
    Column("name", String(200), nullable=False),
    Column("step", BigInteger),
    Column("value", Float),  # NaN and infinities are stored as the text below
    Column("value_text", String(10)),
    Column("timestamp", Float, nullable=False),
    Index("ix_metrics_run_name", "run_id", "name", "step"),
)

tags = Table(
    "tags",
    metadata,
    Column("run_id", Id, ForeignKey("runs.id"), primary_key=True),
    Column("tag", String(400), primary_key=True),
)

datasets = Table(
    "datasets",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False),
    Column("version", String(200), nullable=False, default=""),
    Column("path", Text),
    Column("license", Text),
    Column("usage", String(100), nullable=False),  # research-only | production | ...
    Column("created_at", Float, nullable=False),
    UniqueConstraint("name", "version", name="uq_datasets_name_version"),
)

run_datasets = Table(
    "run_datasets",
    metadata,
    Column("run_id", Id, ForeignKey("runs.id"), primary_key=True),
    Column("dataset_id", Id, ForeignKey("datasets.id"), primary_key=True),
)

models = Table(
    "models",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("created_at", Float, nullable=False),
    Column("description", Text),
    Column("gates", JSON),  # promotion gates declared for this name
    # the highest version number ever given (a deleted version's number is never given again)
    Column("last_version", Integer),
)

model_versions = Table(
    "model_versions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("model", String(200), ForeignKey("models.name"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("artifact", JSON, nullable=False),  # an ArtifactRef
    Column("run_id", Id, ForeignKey("runs.id")),
    Column("task_id", Id, ForeignKey("tasks.id")),
    Column("code_hash", String(64)),
    Column("metrics", JSON),
    Column("signature", JSON),
    Column("lineage", JSON),  # params and datasets at registration
    Column("created_at", Float, nullable=False),
    Column("created_by", String(200)),
    UniqueConstraint("model", "version", name="uq_model_versions_model_version"),
)

aliases = Table(
    "aliases",
    metadata,
    Column("model", String(200), ForeignKey("models.name"), primary_key=True),
    Column("alias", String(100), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("moved_at", Float, nullable=False),
)

alias_events = Table(
    "alias_events",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("model", String(200), ForeignKey("models.name"), nullable=False),
    Column("alias", String(100), nullable=False),
    Column("from_version", Integer),
    Column("to_version", Integer),
    Column("who", String(200)),
    Column("why", Text),
    Column("at", Float, nullable=False),
    Column("outcome", String(20), nullable=False),  # moved | refused
    Column("gates", JSON),  # each gate's decision
)

experiments = Table(
    "experiments",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("salt", String(200), nullable=False),
    Column("layer", String(200)),
    Column("status", String(20), nullable=False),  # draft | running | stopped
    Column("start_at", Float),
    Column("stop_at", Float),
    Column("primary_metric", String(200)),
    Column("secondary_metrics", JSON),
    Column("spec", JSON),
    Column("created_at", Float, nullable=False),
)

experiment_variants = Table(
    "experiment_variants",
    metadata,
    Column("experiment", String(200), ForeignKey("experiments.name"), primary_key=True),
    Column("name", String(200), primary_key=True),
    Column("share", Float, nullable=False),
    Column("value", JSON),
    Column("position", Integer, nullable=False),
)

# -- scheduling: deployments, published events, firings (claims) and scheduler leases ----------

deployments = Table(
    "deployments",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(300), nullable=False, unique=True),  # Flow or Flow@branch
    Column("flow", String(200), nullable=False),
    Column("branch", String(100)),
    Column("file_name", String(300), nullable=False),
    Column("code", JSON, nullable=False),  # ArtifactRef of the snapshot of the flow's file
    Column("code_hash", String(64), nullable=False),
    Column("spec", JSON, nullable=False),  # schedule and triggers, as the decorators said
    Column("status", String(20), nullable=False),  # active | paused
    Column("since_event", BigInteger, nullable=False),  # events up to this id predate it
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

published_events = Table(
    "published_events",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("source", String(300)),  # who published it: a run, the CLI, the scheduler
    Column("dedup_key", String(300), unique=True),  # set: published once, whoever tries
    Column("created_at", Float, nullable=False),
    Index("ix_published_events_name_id", "name", "id"),
)

firings = Table(
    "firings",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("deployment_id", Id, ForeignKey("deployments.id"), nullable=False),
    Column("claim_key", String(300), nullable=False),  # tick:<time> or event:<id>
    Column("reason", String(20), nullable=False),  # schedule | event | manual
    Column("tick", Float),
    Column("event_id", BigInteger),
    Column("params", JSON),
    Column(
        "status", String(20), nullable=False
    ),  # claimed | starting | running | succeeded | failed
    Column("claimed_by", String(300), nullable=False),
    Column("claimed_at", Float, nullable=False),
    Column("runner", String(300)),  # host:pid of the process that starts the run
    Column("started_at", Float),
    Column("run_id", Id, ForeignKey("runs.id")),
    Column("finished_at", Float),
    Column("error", Text),
    UniqueConstraint("deployment_id", "claim_key", name="uq_firings_deployment_id_claim_key"),
    Index("ix_firings_status", "status"),
)

schedulers = Table(
    "schedulers",
    metadata,
    Column("name", String(200), primary_key=True),  # one live scheduler per name
    Column("host", String(300), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started_at", Float, nullable=False),
    Column("heartbeat_at", Float, nullable=False),
)


# -- what MLflow's REST protocol needs beyond the tables above (migration 0003_mlflow) ----------
# An MLflow experiment names the runs whose ``runs.flow`` is its name; a run keeps its MLflow name
# and lifecycle here; MLflow's key/value tags live beside Limelight's plain tags.

mlflow_experiments = Table(
    "mlflow_experiments",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("artifact_location", Text, nullable=False),
    Column("lifecycle_stage", String(20), nullable=False),  # active | deleted
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("tags", JSON),  # {key: value}
)

mlflow_runs = Table(
    "mlflow_runs",
    metadata,
    Column("run_id", Id, ForeignKey("runs.id"), primary_key=True),
    Column("experiment_id", Id, ForeignKey("mlflow_experiments.id"), nullable=False),
    Column("name", String(250)),
    Column("lifecycle_stage", String(20), nullable=False),  # active | deleted
    Column("status", String(20), nullable=False),  # MLflow's: RUNNING, SCHEDULED, FINISHED, ...
    Column("inputs", JSON),  # dataset inputs logged with log-inputs
    Index("ix_mlflow_runs_experiment", "experiment_id"),
)

run_tags = Table(
    "run_tags",
    metadata,
    Column("run_id", Id, ForeignKey("runs.id"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
)

mlflow_files = Table(
    "mlflow_files",
    metadata,
    Column("path", String(1000), primary_key=True),  # under mlflow-artifacts:/
    Column("key", String(64), nullable=False),  # the blob in the artifact store
    Column("size", BigInteger, nullable=False),
)

mlflow_logged_models = Table(
    "mlflow_logged_models",
    metadata,
    Column("id", String(64), primary_key=True),  # m-<hex>
    Column("experiment_id", Id, ForeignKey("mlflow_experiments.id"), nullable=False),
    Column("name", String(250), nullable=False),
    Column("run_id", Id, ForeignKey("runs.id")),
    Column("model_type", String(100)),
    Column("status", String(30), nullable=False),
    Column("artifact_location", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("params", JSON),
    Column("tags", JSON),
)

mlflow_versions = Table(
    "mlflow_versions",
    metadata,
    Column("model", String(200), ForeignKey("models.name"), primary_key=True),
    Column("version", Integer, primary_key=True),  # 0 holds the registered model's own tags
    Column("source", Text),
    Column("model_id", String(64)),
    Column("description", Text),
    Column("tags", JSON),
    # MLflow's run id when it names no Limelight run (a run on another server): no lineage
    Column("run_id", String(64)),
    Column("stage", String(20)),  # MLflow's stage: None, Staging, Production or Archived
    Column("updated_at", Float),  # a stage or description change (version 0: the model's own)
)

mlflow_model_metrics = Table(  # a metric logged with a logged model's id (MLflow 3)
    "mlflow_model_metrics",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("model_id", String(64), ForeignKey("mlflow_logged_models.id"), nullable=False),
    Column("run_id", Id, ForeignKey("runs.id"), nullable=False),
    Column("key", String(250), nullable=False),
    Column("value", Float),  # NaN and infinities as the text below, as in ``metrics``
    Column("value_text", String(10)),
    Column("timestamp", BigInteger, nullable=False),  # milliseconds, as MLflow gave it
    Column("step", BigInteger, nullable=False),
    Column("dataset_name", String(500)),
    Column("dataset_digest", String(36)),
    Index("ix_mlflow_model_metrics_model", "model_id"),
)


event_log_audit = Table(
    "event_log_audit",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False),
    Column("who", String(200)),
    Column("action", String(40), nullable=False),  # import | compact | expire
    Column("kind", String(40), nullable=False),  # impressions | feedback
    Column("outcome", String(20), nullable=False),  # started | done | failed
    Column("details", JSON),  # what was asked and what it did (files, rows, hashes)
    Index("ix_event_log_audit_kind_action", "kind", "action"),
)


monitors = Table(
    "monitors",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("model", String(200), nullable=False),
    Column("spec", JSON, nullable=False),  # check, window, reference, thresholds, action, ...
    Column("created_at", Float, nullable=False),
    Column("created_by", String(200)),
)

monitor_values = Table(
    "monitor_values",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("monitor", String(200), nullable=False),
    Column("model", String(200), nullable=False),
    Column("version", Integer),
    Column("window_start", Float, nullable=False),
    Column("window_end", Float, nullable=False),
    Column("value", Float),  # NULL: no value (an empty window); status says why
    Column("status", String(20), nullable=False),  # ok | alert | empty | no-reference
    Column("detail", JSON),
    Column("checked_at", Float, nullable=False),
    Index("ix_monitor_values_monitor_window", "monitor", "window_end"),
)

monitor_alerts = Table(
    "monitor_alerts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("monitor", String(200), nullable=False),
    Column("model", String(200), nullable=False),
    Column("version", Integer),
    Column("value", Float, nullable=False),
    Column("threshold", Float, nullable=False),
    Column("window_start", Float, nullable=False),
    Column("window_end", Float, nullable=False),
    Column("at", Float, nullable=False),
    Column("action", String(20), nullable=False),  # none | rollback
    # none | rolled-back | already-rolled-back | not-serving | no-earlier-version | refused
    Column("outcome", String(30), nullable=False),
    Column("detail", JSON),  # what the rollback, the webhook and the event publication did
    Index("ix_monitor_alerts_monitor_at", "monitor", "at"),
)

SCHEMA_HEAD = "0007_mlflow_registry_lifecycle"  # the newest migration in store/migrations/versions
