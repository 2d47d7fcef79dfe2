"""One object that holds the configured metadata and artifact stores."""

from __future__ import annotations

from functools import cached_property

from limelight.core.config import Config, resolve_config
from limelight.store.artifacts import ArtifactStore
from limelight.store.metadata import MetadataStore

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
        return ArtifactStore(self.config.artifacts, cache_dir=self.config.home / "cache")

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
