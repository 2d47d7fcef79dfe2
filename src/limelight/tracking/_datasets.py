"""Datasets a run read, with their licence and usage rights (lineage for the registry's gates)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from limelight.core.errors import InvalidInputError
from limelight.store import MetadataStore
from limelight.store.metadata import inserted_id
from limelight.store.schema import datasets, run_datasets

__all__ = ["USAGES", "Dataset", "record_dataset_use", "run_datasets_of"]

USAGES = {
    "research-only": "research and teaching; never in production (e.g. MovieLens)",
    "production": "may train models that serve members",
    "consented-likeness": "derived from performers' images or voices with their consent",
    "internal": "internal analysis only; not for models that serve members",
}


@dataclass(frozen=True)
class Dataset:
    id: int
    name: str
    version: str
    path: str | None
    license: str | None
    usage: str


def record_dataset_use(
    metadata: MetadataStore,
    run_id: int,
    name: str,
    *,
    version: str | None = None,
    path: str | None = None,
    license: str | None = None,
    usage: str,
) -> Dataset:
    """Record that run ``run_id`` read dataset ``name`` (at ``version`` or ``path``)."""
    if not isinstance(name, str) or not name:
        raise InvalidInputError(f"a dataset name is a non-empty string, not {name!r}")
    if usage not in USAGES:
        known = "; ".join(f"{k}: {v}" for k, v in USAGES.items())
        raise InvalidInputError(f"dataset {name!r}: unknown usage {usage!r}. Known usages: {known}")
    version_text = str(version) if version is not None else (str(path) if path else "")

    def work(conn: sa.Connection) -> Dataset:
        row = conn.execute(
            sa.select(datasets).where(datasets.c.name == name, datasets.c.version == version_text)
        ).first()
        if row is None:
            dataset_id = inserted_id(
                conn.execute(
                    datasets.insert().values(
                        name=name,
                        version=version_text,
                        path=str(path) if path else None,
                        license=license,
                        usage=usage,
                        created_at=time.time(),
                    )
                )
            )
        else:
            dataset_id = row.id
            if row.usage != usage or (license is not None and row.license != license):
                raise InvalidInputError(
                    f"dataset {name!r} version {version_text!r} is already recorded with usage "
                    f"{row.usage!r} and licence {row.license!r}; a new usage or licence needs a new version"
                )
        linked = conn.execute(
            sa.select(run_datasets).where(
                run_datasets.c.run_id == run_id, run_datasets.c.dataset_id == dataset_id
            )
        ).first()
        if linked is None:
            conn.execute(run_datasets.insert().values(run_id=run_id, dataset_id=dataset_id))
        return Dataset(
            dataset_id,
            name,
            version_text,
            str(path) if path else None,
            license if row is None else row.license,
            usage,
        )

    return metadata.transaction(work)


def run_datasets_of(conn: sa.Connection, run_id: int) -> list[Dataset]:
    rows = conn.execute(
        sa.select(datasets)
        .join(run_datasets, run_datasets.c.dataset_id == datasets.c.id)
        .where(run_datasets.c.run_id == run_id)
        .order_by(datasets.c.name)
    ).all()
    return [Dataset(r.id, r.name, r.version, r.path, r.license, r.usage) for r in rows]


def use_dataset_hook(
    task: Any,
    name: str,
    version: str | None = None,
    *,
    path: str | None = None,
    license: str | None = None,
    usage: str,
) -> Dataset:
    """``current.use_dataset(...)`` inside a step."""
    return record_dataset_use(
        task.store.metadata,
        task.run_id,
        name,
        version=version,
        path=path,
        license=license,
        usage=usage,
    )
