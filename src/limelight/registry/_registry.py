"""The model registry: versions per name, aliases with an audit log, lineage, gated promotion."""

from __future__ import annotations

import getpass
import time
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from limelight.core.config import Config
from limelight.core.errors import InvalidInputError, LimelightError, NotFoundError
from limelight.core.names import (
    LATEST,
    check_alias,
    check_name,
    parse_model_ref,
    parse_version,
)
from limelight.registry._gates import (
    USAGE_ALIAS,
    Gate,
    GateDecision,
    IntervalGate,
    MetricGate,
    check_gates,
    effective_gates,
    gate_from_json,
)
from limelight.store import ArtifactRef, Store, open_store
from limelight.store.published import record_event
from limelight.store.schema import (
    alias_events,
    aliases,
    artifacts,
    datasets,
    metadata,
    model_versions,
    models,
    monitors,
    params,
    run_datasets,
    runs,
    tasks,
)

__all__ = [
    "AliasEvent",
    "AliasMoved",
    "GateRefused",
    "ModelVersion",
    "Registry",
    "UsageGateStatus",
    "parse_model_ref",
    "parse_version",
]


class GateRefused(LimelightError):
    """An alias move refused by a promotion gate; nothing was moved."""

    def __init__(self, message: str, decisions: list[GateDecision]) -> None:
        super().__init__(message)
        self.decisions = decisions


class AliasMoved(LimelightError):
    """An alias move that expected the alias at one version and found it elsewhere (another
    writer moved it first); nothing was moved."""

    def __init__(self, message: str, current: int | None) -> None:
        super().__init__(message)
        self.current = current


@dataclass
class ModelVersion:
    model: str
    version: int
    artifact: ArtifactRef
    run_id: int | None
    task_id: int | None
    code_hash: str | None
    metrics: dict[str, float]
    signature: dict[str, Any] | None
    lineage: dict[str, Any]
    created_at: float
    created_by: str | None
    aliases: list[str] = field(default_factory=list)

    @property
    def ref(self) -> str:
        return f"{self.model}/{self.version}"


@dataclass
class AliasEvent:
    model: str
    alias: str
    from_version: int | None
    to_version: int | None
    who: str | None
    why: str | None
    at: float
    outcome: str
    gates: list[dict[str, Any]]


USAGE_GATE_OFF = "usage-gate-off"
USAGE_GATE_ON = "usage-gate-on"


@dataclass(frozen=True)
class UsageGateStatus:
    """Whether the usage-rights gate guards a model's ``champion``, and who last switched it."""

    on: bool
    who: str | None = None
    why: str | None = None
    at: float | None = None


def _tables_naming_models() -> list[tuple[sa.Table, sa.Column[Any]]]:
    """Each table with a foreign key to ``models.name``, and that column (versions, aliases,
    the alias audit log, MLflow's extras...), children before the models table itself."""
    found = []
    for table in reversed(metadata.sorted_tables):
        for key in table.foreign_keys:
            if key.column is models.c.name:
                found.append((table, key.parent))
    return found


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _finite_metrics(metrics: dict[str, Any] | None) -> dict[str, float]:
    out = {}
    for name, value in (metrics or {}).items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidInputError(f"metric {name!r} must be a number, not {value!r}")
        out[str(name)] = float(value)
    return out


class Registry:
    """Models in the configured store."""

    def __init__(self, config: Config | None = None, *, store: Store | None = None) -> None:
        self.store = store or open_store(config)

    # -- reading --------------------------------------------------------------------------------
    def _version_from_row(self, row: Any, alias_names: list[str]) -> ModelVersion:
        return ModelVersion(
            model=row.model,
            version=row.version,
            artifact=ArtifactRef.from_json(row.artifact),
            run_id=row.run_id,
            task_id=row.task_id,
            code_hash=row.code_hash,
            metrics={
                k: float(v) if v is not None else float("nan")
                for k, v in (row.metrics or {}).items()
            },
            signature=row.signature,
            lineage=row.lineage or {},
            created_at=row.created_at,
            created_by=row.created_by,
            aliases=alias_names,
        )

    def _aliases_of(self, conn: sa.Connection, name: str) -> dict[int, list[str]]:
        found: dict[int, list[str]] = {}
        for alias, version in conn.execute(
            sa.select(aliases.c.alias, aliases.c.version).where(aliases.c.model == name)
        ):
            found.setdefault(version, []).append(alias)
        return found

    def models(self) -> list[str]:
        with self.store.metadata.connect() as conn:
            return list(conn.execute(sa.select(models.c.name).order_by(models.c.name)).scalars())

    def versions(self, name: str) -> list[ModelVersion]:
        check_name(name)
        with self.store.metadata.connect() as conn:
            self._require_model(conn, name)
            by_version = self._aliases_of(conn, name)
            rows = conn.execute(
                sa.select(model_versions)
                .where(model_versions.c.model == name)
                .order_by(model_versions.c.version)
            ).all()
        return [self._version_from_row(r, sorted(by_version.get(r.version, []))) for r in rows]

    def _require_model(self, conn: sa.Connection, name: str) -> Any:
        row = conn.execute(sa.select(models).where(models.c.name == name)).first()
        if row is None:
            known = list(
                conn.execute(sa.select(models.c.name).order_by(models.c.name).limit(20)).scalars()
            )
            raise NotFoundError(
                f"there is no model {name!r}; registered models: {', '.join(known) or 'none'}"
            )
        return row

    def _resolve(self, conn: sa.Connection, ref: str) -> Any:
        name, alias, version = parse_model_ref(ref)
        self._require_model(conn, name)
        if alias is not None:
            version = conn.execute(
                sa.select(aliases.c.version).where(
                    aliases.c.model == name, aliases.c.alias == alias
                )
            ).scalar()
            if version is None:
                known = list(
                    conn.execute(
                        sa.select(aliases.c.alias).where(aliases.c.model == name)
                    ).scalars()
                )
                raise NotFoundError(
                    f"model {name!r} has no alias {alias!r}; its aliases: {', '.join(known) or 'none'}"
                )
        query = sa.select(model_versions).where(model_versions.c.model == name)
        if version is None:
            row = conn.execute(query.order_by(model_versions.c.version.desc()).limit(1)).first()
        else:
            row = conn.execute(query.where(model_versions.c.version == version)).first()
        if row is None:
            latest = conn.execute(
                sa.select(sa.func.max(model_versions.c.version)).where(
                    model_versions.c.model == name
                )
            ).scalar()
            raise NotFoundError(f"model {name!r} has no version {version}; the latest is {latest}")
        return row

    def get(self, ref: str) -> ModelVersion:
        """The version behind ``recs@champion``, ``recs/3`` or ``recs`` (the latest)."""
        with self.store.metadata.connect() as conn:
            row = self._resolve(conn, ref)
            names = self._aliases_of(conn, row.model).get(row.version, [])
        return self._version_from_row(row, sorted(names))

    def load(self, ref: str) -> Any:
        """The model object behind ``ref``, loaded from the artifact store."""
        return self.store.artifacts.load(self.get(ref).artifact)

    # -- registering ----------------------------------------------------------------------------
    def _lineage(
        self, conn: sa.Connection, run_id: int | None
    ) -> tuple[dict[str, Any], str | None]:
        if run_id is None:
            return {"params": {}, "datasets": []}, None
        run = conn.execute(sa.select(runs).where(runs.c.id == run_id)).first()
        if run is None:
            raise NotFoundError(f"there is no run {run_id}")
        run_params = dict(
            conn.execute(
                sa.select(params.c.name, params.c.value).where(params.c.run_id == run_id)
            ).all()
        )
        used = conn.execute(
            sa.select(datasets.c.name, datasets.c.version, datasets.c.license, datasets.c.usage)
            .join(run_datasets, run_datasets.c.dataset_id == datasets.c.id)
            .where(run_datasets.c.run_id == run_id)
            .order_by(datasets.c.name)
        ).all()
        lineage = {
            "flow": run.flow,
            "run": f"{run.flow}/{run.id}",
            "params": run_params,
            "datasets": [
                {"name": d.name, "version": d.version, "license": d.license, "usage": d.usage}
                for d in used
            ],
        }
        return lineage, run.code_hash

    def register_ref(
        self,
        name: str,
        artifact: ArtifactRef,
        *,
        metrics: dict[str, float] | None = None,
        signature: dict[str, Any] | None = None,
        run_id: int | None = None,
        task_id: int | None = None,
        description: str | None = None,
    ) -> ModelVersion:
        """Register an already stored artifact as the next version of ``name``."""
        check_name(name)
        values = _finite_metrics(metrics)
        if signature is not None and not isinstance(signature, dict):
            raise InvalidInputError(
                "signature must be a dict (e.g. {'inputs': [...], 'outputs': [...]})"
            )
        now = time.time()
        who = _user()

        def work(conn: sa.Connection) -> int:
            if conn.execute(sa.select(models.c.name).where(models.c.name == name)).first() is None:
                conn.execute(
                    models.insert().values(name=name, created_at=now, description=description)
                )
            lineage, code_hash = self._lineage(conn, run_id)
            version = self._next_version(conn, name)
            conn.execute(
                model_versions.insert().values(
                    model=name,
                    version=version,
                    artifact=artifact.to_json(),
                    run_id=run_id,
                    task_id=task_id,
                    code_hash=code_hash,
                    metrics={
                        k: (v if v == v and abs(v) != float("inf") else None)
                        for k, v in values.items()
                    },
                    signature=signature,
                    lineage=lineage,
                    created_at=now,
                    created_by=who,
                )
            )
            record_event(
                conn,
                "model_registered",
                {"model": name, "version": version, "run": run_id},
                source=f"model:{name}/{version}",
            )
            return version

        version = self._retrying(work)
        return self.get(f"{name}/{version}")

    @staticmethod
    def _next_version(conn: sa.Connection, name: str) -> int:
        """One past the highest number ever given: a deleted version's number is not reused."""
        latest = conn.execute(
            sa.select(sa.func.max(model_versions.c.version)).where(model_versions.c.model == name)
        ).scalar()
        given = conn.execute(sa.select(models.c.last_version).where(models.c.name == name)).scalar()
        version = max(latest or 0, given or 0) + 1
        conn.execute(models.update().where(models.c.name == name).values(last_version=version))
        return version

    def _retrying(self, work: Any, attempts: int = 20) -> Any:
        """A transaction, again when a concurrent writer took the same version or alias first."""
        for attempt in range(attempts):
            try:
                return self.store.metadata.transaction(work)
            except LimelightError as exc:
                if not isinstance(exc.__cause__, IntegrityError) or attempt == attempts - 1:
                    raise
                time.sleep(0.01 * (attempt + 1))
        raise AssertionError("unreachable")  # pragma: no cover

    def register(
        self,
        name: str,
        obj: Any,
        *,
        metrics: dict[str, float] | None = None,
        signature: dict[str, Any] | None = None,
        run_id: int | None = None,
        task_id: int | None = None,
        description: str | None = None,
    ) -> ModelVersion:
        """Store ``obj`` and register it as the next version of ``name``."""
        check_name(name)
        _finite_metrics(metrics)  # fail before storing anything
        ref = self.store.artifacts.save(obj)
        return self.register_ref(
            name,
            ref,
            metrics=metrics,
            signature=signature,
            run_id=run_id,
            task_id=task_id,
            description=description,
        )

    def register_artifact(
        self, pathspec: str, name: str, *, metrics: dict[str, float] | None = None
    ) -> ModelVersion:
        """Register ``FLOW/RUN/STEP/TASK:artifact`` (already stored by a run) as a version of ``name``."""
        where, _, artifact_name = pathspec.partition(":")
        pieces = where.strip("/").split("/")
        if (
            len(pieces) != 4
            or not artifact_name
            or not pieces[1].isdigit()
            or not pieces[3].isdigit()
        ):
            raise InvalidInputError(f"{pathspec!r} is not FLOW/RUN/STEP/TASK:artifact")
        flow, run_id, step, task_id = pieces[0], int(pieces[1]), pieces[2], int(pieces[3])
        with self.store.metadata.connect() as conn:
            task = conn.execute(
                sa.select(tasks).where(
                    tasks.c.id == task_id, tasks.c.run_id == run_id, tasks.c.step == step
                )
            ).first()
            run = conn.execute(sa.select(runs.c.flow).where(runs.c.id == run_id)).scalar()
            if task is None or run != flow:
                raise NotFoundError(f"there is no task {flow}/{run_id}/{step}/{task_id}")
            row = conn.execute(
                sa.select(artifacts).where(
                    artifacts.c.task_id == task_id, artifacts.c.name == artifact_name
                )
            ).first()
            if row is None:
                have = list(
                    conn.execute(
                        sa.select(artifacts.c.name).where(artifacts.c.task_id == task_id)
                    ).scalars()
                )
                raise NotFoundError(
                    f"task {where} has no artifact {artifact_name!r}; it has {', '.join(have) or 'none'}"
                )
        ref = ArtifactRef(row.key, row.serializer, row.size, row.meta or {})
        return self.register_ref(name, ref, metrics=metrics, run_id=run_id, task_id=task_id)

    # -- aliases and gates ----------------------------------------------------------------------
    def set_gates(self, name: str, gates: list[Gate]) -> None:
        """Declare the promotion gates of model ``name`` (replacing earlier ones)."""
        check_name(name)
        for gate in gates:
            if not isinstance(gate, Gate):
                raise InvalidInputError(
                    f"{gate!r} is not a gate (MetricGate, IntervalGate, UsageGate, CustomGate)"
                )
        payload = [g.to_json() for g in gates]

        def work(conn: sa.Connection) -> None:
            self._require_model(conn, name)
            conn.execute(models.update().where(models.c.name == name).values(gates=payload))

        self.store.metadata.transaction(work)

    def gates(self, name: str) -> list[Gate]:
        with self.store.metadata.connect() as conn:
            row = self._require_model(conn, name)
        return [gate_from_json(g) for g in (row.gates or [])]

    def _usage_switch(self, conn: sa.Connection, name: str) -> Any:
        """The latest audit row that switched ``name``'s usage-rights gate off or on (or None)."""
        return conn.execute(
            sa.select(alias_events)
            .where(
                alias_events.c.model == name,
                alias_events.c.outcome.in_([USAGE_GATE_OFF, USAGE_GATE_ON]),
            )
            .order_by(alias_events.c.id.desc())
            .limit(1)
        ).first()

    def usage_gate(self, name: str) -> UsageGateStatus:
        """Whether the usage-rights gate guards ``name@champion`` (on unless switched off)."""
        check_name(name)
        with self.store.metadata.connect() as conn:
            self._require_model(conn, name)
            row = self._usage_switch(conn, name)
        if row is None:
            return UsageGateStatus(on=True)
        return UsageGateStatus(row.outcome == USAGE_GATE_ON, row.who, row.why, row.at)

    def set_usage_gate(
        self, name: str, on: bool, *, why: str = "", who: str | None = None
    ) -> UsageGateStatus:
        """Switch the usage-rights gate on ``name@champion`` off (a why is required) or back on.

        The switch is an audit-log row (who, why, when) beside the alias moves.
        """
        check_name(name)
        if not isinstance(on, bool):
            raise InvalidInputError(f"on must be True or False, not {on!r}")
        if not isinstance(why, str):
            raise InvalidInputError(f"why must be text, not {why!r}")
        if not on and not why.strip():
            raise InvalidInputError(
                f"switching off the usage-rights gate of {name!r} needs a why "
                "(--why TEXT): it is kept in the audit log and shown on the model's page"
            )
        actor, now = who or _user(), time.time()

        def work(conn: sa.Connection) -> None:
            self._require_model(conn, name)
            conn.execute(
                alias_events.insert().values(
                    model=name,
                    alias=USAGE_ALIAS,
                    from_version=None,
                    to_version=None,
                    who=actor,
                    why=why,
                    at=now,
                    outcome=USAGE_GATE_ON if on else USAGE_GATE_OFF,
                    gates=[],
                )
            )

        self.store.metadata.transaction(work)
        return UsageGateStatus(on, actor, why, now)

    def set_alias(
        self,
        name: str,
        alias: str,
        version: int,
        *,
        why: str = "",
        who: str | None = None,
        expect: int | None = None,
        restoring: bool = False,
    ) -> AliasEvent:
        """Point ``name@alias`` at ``version`` if every gate allows it; log the move either way.

        ``champion`` passes the usage-rights gate unless it was switched off for the model
        (:meth:`set_usage_gate`); a version with no dataset in its lineage needs a ``why``.
        Raises :class:`GateRefused` naming the gate and its reason; the alias then stays put.
        With ``expect``, the move happens only if the alias still points at that version (in
        the same transaction), else :class:`AliasMoved`: two writers cannot both move it.
        ``restoring`` (a rollback, with ``expect``): the gates that compare the candidate with
        the holder are not asked (the holder is the version being rolled back, and the
        candidate passed them when it took the alias); the others, usage rights among them, are.
        """
        check_name(name)
        check_alias(alias)
        if alias == LATEST:
            raise InvalidInputError(
                f"{alias!r} is reserved: {name}@{LATEST} always means the newest version; "
                "choose another alias name"
            )
        version = parse_version(version)
        if not isinstance(why, str):
            raise InvalidInputError(f"why must be text, not {why!r}")
        if restoring and expect is None:
            raise InvalidInputError("restoring an alias needs expect= (the version it leaves)")
        actor = who or _user()

        def work(conn: sa.Connection) -> AliasEvent:
            model_row = self._require_model(conn, name)
            candidate = self._resolve(conn, f"{name}/{version}")
            query = sa.select(aliases.c.version).where(
                aliases.c.model == name, aliases.c.alias == alias
            )
            if conn.dialect.name == "postgresql":
                query = query.with_for_update()
            current = conn.execute(query).scalar()
            if expect is not None and current != expect:
                raise AliasMoved(
                    f"{name}@{alias} is at version {current}, not {expect}: it was moved already",
                    current,
                )
            holder = self._resolve(conn, f"{name}/{current}") if current is not None else None
            switch = self._usage_switch(conn, name)
            gates = effective_gates(
                [gate_from_json(g) for g in (model_row.gates or [])],
                alias,
                usage_gate_off=switch is not None and switch.outcome == USAGE_GATE_OFF,
            )
            restored = []
            if restoring:
                gates = [g for g in gates if not isinstance(g, MetricGate | IntervalGate)]
                restored = [
                    GateDecision(
                        "rollback",
                        True,
                        f"version {version} held {alias} before version {current}; gates "
                        "comparing with the holder being rolled back are not asked",
                    )
                ]
            decisions = restored + check_gates(
                gates,
                self._version_from_row(candidate, []),
                self._version_from_row(holder, []) if holder is not None else None,
                alias,
                why,
            )
            refused = [d for d in decisions if not d.passed]
            now = time.time()
            event = AliasEvent(
                name,
                alias,
                current,
                version,
                actor,
                why,
                now,
                "refused" if refused else "moved",
                [d.to_json() for d in decisions],
            )
            conn.execute(
                alias_events.insert().values(
                    model=name,
                    alias=alias,
                    from_version=current,
                    to_version=version,
                    who=actor,
                    why=why,
                    at=now,
                    outcome=event.outcome,
                    gates=event.gates,
                )
            )
            if refused:
                return event
            if current is None:
                conn.execute(
                    aliases.insert().values(model=name, alias=alias, version=version, moved_at=now)
                )
            else:
                conn.execute(
                    aliases.update()
                    .where(aliases.c.model == name, aliases.c.alias == alias)
                    .values(version=version, moved_at=now)
                )
            record_event(
                conn,
                "alias_moved",
                {"model": name, "alias": alias, "from_version": current, "to_version": version},
                source=f"alias:{name}@{alias}",
            )
            return event

        event = self._retrying(work)
        if event.outcome == "refused":
            decisions = [GateDecision(**g) for g in event.gates]
            refused = [d for d in decisions if not d.passed]
            lines = "; ".join(f"{d.gate}: {d.reason}" for d in refused)
            where = (
                f"stays at version {event.from_version}"
                if event.from_version is not None
                else "stays unset"
            )
            raise GateRefused(
                f"{name}@{alias} {where}: refused by {lines}",
                decisions,
            )
        return event

    def previous_version(self, name: str, alias: str, version: int) -> int | None:
        """The version ``name@alias`` pointed at before it last moved to ``version`` (None: it
        had none, or never moved there)."""
        check_name(name)
        with self.store.metadata.connect() as conn:
            return conn.execute(
                sa.select(alias_events.c.from_version)
                .where(
                    alias_events.c.model == name,
                    alias_events.c.alias == alias,
                    alias_events.c.to_version == version,
                    alias_events.c.outcome == "moved",
                )
                .order_by(alias_events.c.id.desc())
                .limit(1)
            ).scalar()

    def rollback(
        self, name: str, alias: str, bad_version: int, *, who: str, why: str
    ) -> AliasEvent:
        """Move ``name@alias`` from ``bad_version`` back to the version it held before, through
        the gates and the audit log. :class:`AliasMoved` if the alias no longer points at
        ``bad_version``; :class:`InvalidInputError` if it held no earlier version."""
        previous = self.previous_version(name, alias, bad_version)
        if previous is None:
            raise InvalidInputError(
                f"{name}@{alias} held no version before {bad_version}: there is nothing to roll "
                "back to"
            )
        return self.set_alias(
            name, alias, previous, why=why, who=who, expect=bad_version, restoring=True
        )

    def remove_alias(self, name: str, alias: str, *, why: str = "", who: str | None = None) -> None:
        check_name(name)
        check_alias(alias)

        def work(conn: sa.Connection) -> None:
            current = conn.execute(
                sa.select(aliases.c.version).where(
                    aliases.c.model == name, aliases.c.alias == alias
                )
            ).scalar()
            if current is None:
                raise NotFoundError(f"model {name!r} has no alias {alias!r}")
            conn.execute(aliases.delete().where(aliases.c.model == name, aliases.c.alias == alias))
            conn.execute(
                alias_events.insert().values(
                    model=name,
                    alias=alias,
                    from_version=current,
                    to_version=None,
                    who=who or _user(),
                    why=why,
                    at=time.time(),
                    outcome="removed",
                    gates=[],
                )
            )

        self.store.metadata.transaction(work)

    # -- deleting and renaming -----------------------------------------------------------------
    def _held_by(self, conn: sa.Connection, name: str, version: int | None = None) -> list[str]:
        """What refers to ``name`` (or one of its versions) by name and would break with it:
        its aliases (servers load ``name@alias``) and the monitors that watch it."""
        query = sa.select(aliases.c.alias, aliases.c.version).where(aliases.c.model == name)
        held = [
            f"{name}@{alias} points at version {held_version}"
            for alias, held_version in conn.execute(query.order_by(aliases.c.alias))
            if version is None or held_version == version
        ]
        if version is None:
            held += [
                f"monitor {monitor!r} watches it"
                for monitor in conn.execute(
                    sa.select(monitors.c.name).where(monitors.c.model == name)
                ).scalars()
            ]
        return held

    def delete_version(self, ref: str, *, why: str = "", who: str | None = None) -> ModelVersion:
        """Delete one version (``recs/3``): refused while an alias points at it. Its number is
        never given again; the deletion is published as ``model_version_deleted``; the
        artifact's blobs stay in the store (other versions may share them)."""
        name, alias, number = parse_model_ref(ref)
        if alias is not None or number is None:
            raise InvalidInputError(f"delete a version by its number (recs/3), not {ref!r}")
        actor = who or _user()

        def work(conn: sa.Connection) -> ModelVersion:
            row = self._resolve(conn, f"{name}/{number}")
            deleted = self._version_from_row(row, [])
            held = self._held_by(conn, name, number)
            if held:
                raise InvalidInputError(
                    f"{name}/{number} is in use ({'; '.join(held)}): move or remove the alias "
                    "before deleting the version"
                )
            # the version's rows in every table naming the model by version (the version
            # itself, MLflow's extras; no alias points at it), children first
            for table, column in _tables_naming_models():
                if "version" in table.c:
                    conn.execute(table.delete().where(column == name, table.c.version == number))
            conn.execute(  # remember its number (a version from before last_version had none)
                models.update()
                .where(models.c.name == name)
                .values(
                    last_version=sa.case(
                        (models.c.last_version >= number, models.c.last_version), else_=number
                    )
                )
            )
            record_event(
                conn,
                "model_version_deleted",
                {"model": name, "version": number, "who": actor, "why": why},
                source=f"model:{name}/{number}",
            )
            return deleted

        result: ModelVersion = self.store.metadata.transaction(work)
        return result

    def delete_model(self, name: str, *, why: str = "", who: str | None = None) -> list[int]:
        """Delete a model and all its versions (returns their numbers): refused while it has an
        alias or a monitor. The name can then be registered afresh; the alias audit log is kept
        as a stored JSON artifact that the ``model_deleted`` event points at."""
        check_name(name)
        actor = who or _user()
        with self.store.metadata.connect() as conn:
            self._require_model(conn, name)
            audit = [
                {
                    "alias": r.alias,
                    "from": r.from_version,
                    "to": r.to_version,
                    "who": r.who,
                    "why": r.why,
                    "at": r.at,
                    "outcome": r.outcome,
                }
                for r in conn.execute(
                    sa.select(alias_events)
                    .where(alias_events.c.model == name)
                    .order_by(alias_events.c.id)
                )
            ]
        kept = self.store.artifacts.save(audit, serializer="json")

        def work(conn: sa.Connection) -> list[int]:
            self._require_model(conn, name)
            held = self._held_by(conn, name)
            if held:
                raise InvalidInputError(
                    f"model {name!r} is in use ({'; '.join(held)}): remove its aliases and "
                    "monitors before deleting it"
                )
            moves = conn.execute(
                sa.select(sa.func.count()).where(alias_events.c.model == name)
            ).scalar()
            if moves != len(audit):  # an alias moved meanwhile: it has an alias again
                raise InvalidInputError(f"model {name!r} changed while it was being deleted")
            numbers = list(
                conn.execute(
                    sa.select(model_versions.c.version)
                    .where(model_versions.c.model == name)
                    .order_by(model_versions.c.version)
                ).scalars()
            )
            for table, column in _tables_naming_models():
                conn.execute(table.delete().where(column == name))
            conn.execute(models.delete().where(models.c.name == name))
            record_event(
                conn,
                "model_deleted",
                {
                    "model": name,
                    "versions": numbers,
                    "alias_history": kept.to_json(),
                    "who": actor,
                    "why": why,
                },
                source=f"model:{name}",
            )
            return numbers

        result: list[int] = self.store.metadata.transaction(work)
        return result

    def rename_model(self, name: str, new_name: str, *, who: str | None = None) -> None:
        """Give a model (its versions, gates and alias audit log) a new name: refused while an
        alias or a monitor refers to the old one, or when the new name is taken. Published as
        ``model_renamed``."""
        check_name(name)
        check_name(new_name)
        actor = who or _user()

        def work(conn: sa.Connection) -> None:
            row = self._require_model(conn, name)
            if conn.execute(sa.select(models.c.name).where(models.c.name == new_name)).first():
                raise InvalidInputError(f"there is already a model {new_name!r}")
            held = self._held_by(conn, name)
            if held:
                raise InvalidInputError(
                    f"model {name!r} is in use by name ({'; '.join(held)}): remove its aliases "
                    "and monitors before renaming it"
                )
            conn.execute(models.insert().values({**row._asdict(), "name": new_name}))
            for table, column in _tables_naming_models():
                conn.execute(table.update().where(column == name).values({column.name: new_name}))
            conn.execute(models.delete().where(models.c.name == name))
            record_event(
                conn,
                "model_renamed",
                {"model": new_name, "from": name, "who": actor},
                source=f"model:{new_name}",
            )

        self.store.metadata.transaction(work)

    def history(self, name: str) -> list[AliasEvent]:
        """Every alias move (and refused move) of ``name``, oldest first."""
        check_name(name)
        with self.store.metadata.connect() as conn:
            self._require_model(conn, name)
            rows = conn.execute(
                sa.select(alias_events)
                .where(alias_events.c.model == name)
                .order_by(alias_events.c.id)
            ).all()
        return [
            AliasEvent(
                r.model,
                r.alias,
                r.from_version,
                r.to_version,
                r.who,
                r.why,
                r.at,
                r.outcome,
                r.gates or [],
            )
            for r in rows
        ]

    def alias_versions(self, name: str) -> dict[str, int]:
        with self.store.metadata.connect() as conn:
            return dict(
                conn.execute(
                    sa.select(aliases.c.alias, aliases.c.version).where(aliases.c.model == name)
                ).all()
            )
