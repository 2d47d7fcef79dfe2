"""Deployments: a flow, a snapshot of its code (an artifact) and what makes it fire.

``deploy`` checks everything it can before it records anything: the file imports, the graph is
sound, the cron and timezone parse, mapped parameters exist, every ``@trigger_on_finish`` flow is
deployed on the same branch, and no chain of triggers loops back. A scheduled run runs the
snapshot, not whatever is on disk later: the flow's file and the Python files of its folder and
below (its code package, as Metaflow packages a flow's folder), so the modules it imports from
beside it are the ones it was deployed with.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from limelight.core import clock
from limelight.core.config import Config
from limelight.core.errors import InvalidInputError, LimelightError, NotFoundError
from limelight.core.hashing import hash_chunks
from limelight.scheduling._spec import (
    ScheduleSpec,
    TriggerSpec,
    schedule_from_json,
    spec_of,
    triggers_from_json,
)
from limelight.store import ArtifactRef, Store, open_store
from limelight.store.schema import deployments, firings, published_events

__all__ = [
    "Deployment",
    "delete_deployment",
    "deploy",
    "deployment_name",
    "get_deployment",
    "list_deployments",
    "set_paused",
]

_BRANCH = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}")


@dataclass(frozen=True)
class Deployment:
    id: int
    name: str
    flow: str
    branch: str | None
    file_name: str
    code: dict[str, Any]
    code_hash: str
    spec: dict[str, Any]
    status: str
    since_event: int
    created_at: float
    updated_at: float

    @classmethod
    def from_row(cls, row: Any) -> Deployment:
        return cls(**{c: getattr(row, c) for c in cls.__dataclass_fields__})

    @cached_property
    def schedule(self) -> ScheduleSpec | None:
        return schedule_from_json(self.spec.get("schedule"))

    @cached_property
    def triggers(self) -> list[TriggerSpec]:
        return triggers_from_json(self.spec.get("triggers", []))

    @property
    def upstream(self) -> list[str]:
        """The deployments whose runs finishing fire this one."""
        return [deployment_name(f, self.branch) for t in self.triggers for f in t.on_finish]

    def source(self, store: Store) -> str:
        """The deployed snapshot of the flow's file."""
        return str(store.artifacts.load(ArtifactRef.from_json(self.code))["source"])

    def files(self, store: Store) -> dict[str, str]:
        """The deployed code package: relative path -> text, the flow's file among them."""
        snapshot = store.artifacts.load(ArtifactRef.from_json(self.code))
        return {**snapshot.get("package", {}), snapshot["file"]: snapshot["source"]}


def deployment_name(flow: str, branch: str | None) -> str:
    return flow if branch is None else f"{flow}@{branch}"


def _check_branch(branch: object) -> str | None:
    if branch is None:
        return None
    if not isinstance(branch, str) or not _BRANCH.fullmatch(branch):
        raise InvalidInputError(
            f"--branch {branch!r} is not a branch name: letters, digits, '_', '-', '.' "
            "(at most 100, a letter or digit first)"
        )
    return branch


def _load(path: Path, flow: str | None) -> type:
    from limelight.flows._loading import load_flow_class

    try:
        return load_flow_class(path, flow)
    except LimelightError:
        raise
    except Exception as exc:  # the user's module raised while importing
        raise InvalidInputError(
            f"{path}: the flow does not import, so it cannot be deployed: "
            f"{type(exc).__name__}: {exc}"
        ) from exc


def _check_parameters(name: str, flow_class: Any, spec: dict[str, Any]) -> None:
    declared = flow_class.params()
    for trig in triggers_from_json(spec["triggers"]):
        for event in trig.events:
            unknown = sorted(set(event.parameters) - set(declared))
            if unknown:
                raise InvalidInputError(
                    f"deployment {name}: event {event.name!r} maps its payload to parameter(s) "
                    f"{', '.join(map(repr, unknown))}, which {flow_class.__name__} does not have "
                    f"(its parameters: {', '.join(sorted(declared)) or 'none'})"
                )


PACKAGE_LIMIT = 10 * 2**20  # bytes of Python a deployment's code package may hold
_NOT_PACKAGED = {"__pycache__", "node_modules", "site-packages"}


def code_package(file: Path, *, home: Path | None = None) -> dict[str, str]:
    """Every ``.py`` file in the folder of the flow's ``file`` and below but the flow's own
    (relative path -> text). Hidden folders, caches, virtual environments and Limelight's
    ``home`` (where deployments are unpacked) are left out; more than ``PACKAGE_LIMIT`` bytes is
    refused, naming the folder."""
    root = file.resolve().parent
    skipped = home.resolve() if home is not None else None
    package: dict[str, str] = {}
    total = 0
    for folder, subfolders, names in os.walk(root):
        here = Path(folder)
        subfolders[:] = sorted(
            d
            for d in subfolders
            if not d.startswith(".")
            and d not in _NOT_PACKAGED
            and not (here / d / "pyvenv.cfg").exists()
            and (here / d).resolve() != skipped
        )
        for name in sorted(names):
            path = here / name
            if not name.endswith(".py") or path == file.resolve():
                continue
            data = path.read_bytes()
            total += len(data)
            if total > PACKAGE_LIMIT:
                raise InvalidInputError(
                    f"{file}: its folder {root} holds more than {PACKAGE_LIMIT // 2**20} MB of "
                    "Python, all of which a deployment snapshots; deploy from a folder that "
                    "holds the flow and the modules it imports"
                )
            try:
                package[path.relative_to(root).as_posix()] = data.decode()
            except UnicodeDecodeError as exc:
                raise InvalidInputError(
                    f"{file}: {path} is not UTF-8 text, so it cannot go into the deployment's "
                    f"code package ({exc.reason} at byte {exc.start})"
                ) from exc
    return package


def _package_hash(file_name: str, source: str, package: dict[str, str]) -> str:
    files = sorted({**package, file_name: source}.items())
    return hash_chunks(part.encode() for item in files for part in (*item, "\0"))


def _check_upstream(conn: Connection, new: Deployment) -> None:
    """Every flow of @trigger_on_finish is deployed, and no chain of triggers is a cycle.

    A cycle through ``new`` leaves it by one of its own upstream flows, so a deployment without
    any (the many schedules and event triggers) reads nothing here.
    """
    if not new.upstream:
        return
    rows = conn.execute(sa.select(deployments)).all()
    by_name = {r.name: Deployment.from_row(r) for r in rows}
    by_name[new.name] = new
    for upstream in new.upstream:
        if upstream not in by_name:
            raise InvalidInputError(
                f"deployment {new.name}: @trigger_on_finish waits for {upstream}, which is not "
                f"deployed; deploy it first (limelight deploy <its file>"
                + (f" --branch {new.branch})" if new.branch else ")")
            )

    seen: set[str] = set()  # a flow already walked from leads back to new by no other path

    def walk(name: str, path: list[str]) -> None:
        for upstream in by_name[name].upstream if name in by_name else []:
            if upstream == new.name:
                cycle = " -> ".join([*path, upstream])
                raise InvalidInputError(
                    f"deployment {new.name}: its triggers form a cycle ({cycle}, each fires on "
                    "the one before it finishing); remove one @trigger_on_finish"
                )
            if upstream not in seen:
                seen.add(upstream)
                walk(upstream, [*path, upstream])

    walk(new.name, [new.name])


def deploy(
    path: str | Path,
    *,
    branch: str | None = None,
    flow: str | None = None,
    config: Config | None = None,
) -> Deployment:
    """Deploy the flow in ``path`` (a snapshot of the file); redeploying replaces the snapshot."""
    branch = _check_branch(branch)
    file = Path(path)
    flow_class = _load(file, flow)
    flow_class.graph()  # type: ignore[attr-defined]  # a bad graph is a GraphError naming the step
    name = deployment_name(flow_class.__name__, branch)
    spec = spec_of(flow_class)
    _check_parameters(name, flow_class, spec)
    source = file.read_text()
    store = open_store(config)
    package = code_package(file, home=store.config.home)
    ref = store.artifacts.save({"file": file.name, "source": source, "package": package})
    now = clock.now()

    def work(conn: Connection) -> Deployment:
        old = conn.execute(sa.select(deployments).where(deployments.c.name == name)).first()
        latest = conn.execute(sa.select(sa.func.max(published_events.c.id))).scalar() or 0
        values: dict[str, Any] = {
            "name": name,
            "flow": flow_class.__name__,
            "branch": branch,
            "file_name": file.name,
            "code": ref.to_json(),
            "code_hash": _package_hash(file.name, source, package),
            "spec": spec,
            "status": old.status if old else "active",
            "since_event": old.since_event if old else int(latest),
            "created_at": old.created_at if old else now,
            "updated_at": now,
        }
        _check_upstream(conn, Deployment(id=old.id if old else 0, **values))
        if old is None:
            conn.execute(deployments.insert().values(**values))
        else:
            conn.execute(deployments.update().where(deployments.c.id == old.id).values(**values))
        row = conn.execute(sa.select(deployments).where(deployments.c.name == name)).one()
        return Deployment.from_row(row)

    return store.metadata.transaction(work)


def list_deployments(config: Config | None = None) -> list[Deployment]:
    with open_store(config).metadata.connect() as conn:
        rows = conn.execute(sa.select(deployments).order_by(deployments.c.name)).all()
    return [Deployment.from_row(r) for r in rows]


def get_deployment(name: str, config: Config | None = None) -> Deployment:
    with open_store(config).metadata.connect() as conn:
        row = conn.execute(sa.select(deployments).where(deployments.c.name == name)).first()
    if row is None:
        raise NotFoundError(_not_deployed(name, config))
    return Deployment.from_row(row)


def _not_deployed(name: str, config: Config | None) -> str:
    known = ", ".join(d.name for d in list_deployments(config)) or "none"
    return f"there is no deployment {name!r} (deployed: {known})"


def set_paused(name: str, paused: bool, config: Config | None = None) -> Deployment:
    """Pause (no firings at all; ticks and events while paused are skipped) or resume."""
    get_deployment(name, config)
    store = open_store(config)

    def work(conn: Connection) -> None:
        conn.execute(
            deployments.update()
            .where(deployments.c.name == name)
            .values(status="paused" if paused else "active", updated_at=clock.now())
        )
        if not paused:  # what was published while paused does not fire it later
            latest = conn.execute(sa.select(sa.func.max(published_events.c.id))).scalar() or 0
            conn.execute(
                deployments.update()
                .where(deployments.c.name == name)
                .values(since_event=int(latest))
            )

    store.metadata.transaction(work)
    return get_deployment(name, config)


def delete_deployment(name: str, config: Config | None = None) -> None:
    """Delete a deployment and its firings' records (its runs stay)."""
    deployment = get_deployment(name, config)
    store = open_store(config)

    def work(conn: Connection) -> None:
        dependants = [
            d.name
            for d in (Deployment.from_row(r) for r in conn.execute(sa.select(deployments)))
            if deployment.name in d.upstream
        ]
        if dependants:
            raise InvalidInputError(
                f"deployment {name}: {', '.join(dependants)} fire(s) when it finishes; delete "
                "those first"
            )
        conn.execute(firings.delete().where(firings.c.deployment_id == deployment.id))
        conn.execute(deployments.delete().where(deployments.c.id == deployment.id))

    store.metadata.transaction(work)
