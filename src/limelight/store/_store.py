"""One object that holds the configured metadata and artifact stores."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from limelight.core.config import Config, resolve_config
from limelight.store.metadata import MetadataStore

if TYPE_CHECKING:
    import pyarrow as pa

    from limelight.store._event_table import EventLog
    from limelight.store.artifacts import ArtifactStore
    from limelight.store.events import EventWriter

__all__ = ["Store", "open_store"]


class Store:
    """The metadata store and the artifact store of one configuration, opened lazily."""

    def __init__(self, config: Config) -> None:
        self.config = config

    @cached_property
    def metadata(self) -> MetadataStore:
        return MetadataStore(self.config.db)

    @cached_property
    def artifacts(self) -> ArtifactStore:
        from limelight.store.artifacts import ArtifactStore  # fsspec: imported on first use

        return ArtifactStore(self.config.artifacts, cache_dir=self.config.home / "cache")

    @property
    def event_log(self) -> EventLog:
        """The event log's Iceberg tables (catalog in the metadata database)."""
        from limelight.store._event_table import open_event_log

        return open_event_log(self.config)

    def event_writer(self, kind: str, **options: float) -> EventWriter:
        """A durable writer of ``impressions`` or ``feedback`` into the configured event log
        (its buffer under ``<home>/eventbuf``)."""
        from limelight.store.events import EventWriter

        return EventWriter(
            self.config.events,
            kind,
            buffer=self.config.home / "eventbuf",
            log=self.event_log,
            sync=self.config.event_sync,
            **options,  # type: ignore[arg-type]
        )

    def read_events(
        self, kind: str, *, since: float | None = None, until: float | None = None
    ) -> pa.Table:
        """Every committed event of ``kind`` (optionally between ``since`` and ``until``)."""
        return self.event_log.read(kind, since=since, until=until)

    def dispose(self) -> None:
        if "metadata" in self.__dict__:
            self.metadata.dispose()


_stores: dict[Config, Store] = {}


def open_store(config: Config | None = None) -> Store:
    """The store of ``config`` (resolved from the environment when not given), one per process."""
    config = config or resolve_config()
    store = _stores.get(config)
    if store is None:
        store = _stores[config] = Store(config)
    return store
